"""Error types whose messages are meant for the person using the tool.

Every error carries a stable ``code`` (used in REST error bodies), an HTTP status for the
routes, and a CLI exit status.  Messages say what happened and what to do, and never contain
secrets: callers build them from redacted URLs only.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


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


class FilePermissionDenied(ModelManagerError):
    """The process may not read or change a file of the model library (permissions, a
    read-only folder or filesystem)."""

    code = "permission_denied"
    http_status = 403


def error_for_os_error(exc: OSError, action: str) -> ModelManagerError:
    """The error to show for a file-system failure while trying to ``action`` ("delete
    loras/x.safetensors"): a file that vanished is a 404, permissions a 403, a folder in the way
    a 409, a full disk a 507;
    anything else keeps its reason in the message."""
    import errno

    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return NotFound(f"could not {action}: the file is gone (moved or deleted meanwhile?)")
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return FilePermissionDenied(f"could not {action}: {reason}; check the permissions of the model "
                                    "folder for the user ComfyUI runs as")
    if isinstance(exc, (IsADirectoryError, FileExistsError)):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return Conflict(f"could not {action}: a folder or file is in the way{where}")
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return InsufficientSpace(f"could not {action}: {reason}")
    return ModelManagerError(f"could not {action}: {reason}")


@contextmanager
def file_errors(action: str) -> Iterator[None]:
    """An OSError inside the block (a file vanished, permission denied, read-only folder, disk
    full) becomes the matching error with a message that says what failed."""
    try:
        yield
    except OSError as exc:
        raise error_for_os_error(exc, action) from None
