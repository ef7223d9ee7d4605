"""Error types whose messages are meant for the person using the tool.

Every error carries a stable ``code`` (used in REST error bodies), an HTTP status for the
routes, and a CLI exit status.  Messages say what happened and what to do, and never contain
secrets: callers build them from redacted URLs only.
"""
from __future__ import annotations


class ModelManagerError(Exception):
    """Base class: a failure with a message a user can act on."""

    code = "error"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidInput(ModelManagerError):
    """The request itself is wrong (bad URL, unknown type, bad file name)."""

    code = "invalid_input"
    http_status = 400
    exit_code = 2


class UnsafePath(InvalidInput):
    """A path would leave its model folder (``..``, absolute, symlink escape)."""

    code = "unsafe_path"


class NotFound(ModelManagerError):
    code = "not_found"
    http_status = 404


class Conflict(ModelManagerError):
    code = "conflict"
    http_status = 409


class MethodNotAllowed(ModelManagerError):
    """The path exists but not with that method (REST routes)."""

    code = "method_not_allowed"
    http_status = 405


class PayloadTooLarge(ModelManagerError):
    """A request body over its size limit (REST routes)."""

    code = "payload_too_large"
    http_status = 413


class AuthRequired(ModelManagerError):
    """The remote needs a key or token that we do not have (or that it refused)."""

    code = "auth_required"
    http_status = 401


class AccessDenied(ModelManagerError):
    """The remote refused access even with credentials (gated, early access, no grant)."""

    code = "access_denied"
    http_status = 403


class RemoteError(ModelManagerError):
    """The remote answered with something we cannot use."""

    code = "remote_error"
    http_status = 502


class RateLimited(RemoteError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChecksumMismatch(ModelManagerError):
    code = "checksum_mismatch"
    http_status = 502


class InsufficientSpace(ModelManagerError):
    code = "no_space"
    http_status = 507


class Cancelled(ModelManagerError):
    code = "cancelled"
    http_status = 409
