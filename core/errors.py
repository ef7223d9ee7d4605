"""Error types whose messages are meant for the person using the tool.

Every error carries a stable ``code`` (used in REST error bodies), an HTTP status for the
routes, and a CLI exit status.  Messages say what happened and what to do, and never contain
secrets: callers build them from redacted URLs only.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


class ModelManagerError(Exception):
    """Base class: a failure with a message a user can act on.

    A kind of error names what sets it apart in its class line:
    ``class NotFound(ModelManagerError, code="not_found", http_status=404)``; what it does not
    name it inherits.
    """

    code = "error"
    http_status = 500
    exit_code = 1

    def __init_subclass__(cls, code: str | None = None, http_status: int | None = None,
                          exit_code: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if http_status is not None:
            cls.http_status = http_status
        if exit_code is not None:
            cls.exit_code = exit_code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidInput(ModelManagerError, code="invalid_input", http_status=400, exit_code=2):
    """The request itself is wrong (bad URL, unknown type, bad file name)."""


class UnsafePath(InvalidInput, code="unsafe_path"):
    """A path would leave its model folder (``..``, absolute, symlink escape)."""


class NotFound(ModelManagerError, code="not_found", http_status=404):
    """What was asked for is not there (a model, a task, a trash entry)."""


class Conflict(ModelManagerError, code="conflict", http_status=409):
    """The request clashes with what is there (a file in the way, a task in another state)."""


class MethodNotAllowed(ModelManagerError, code="method_not_allowed", http_status=405):
    """The path exists but not with that method (REST routes)."""


class PayloadTooLarge(ModelManagerError, code="payload_too_large", http_status=413):
    """A request body over its size limit (REST routes)."""


class AuthRequired(ModelManagerError, code="auth_required", http_status=401):
    """The remote needs a key or token that we do not have (or that it refused)."""


class AccessDenied(ModelManagerError, code="access_denied", http_status=403):
    """The remote refused access even with credentials (gated, early access, no grant)."""


class RemoteError(ModelManagerError, code="remote_error", http_status=502):
    """The remote answered with something we cannot use."""


class RateLimited(RemoteError, code="rate_limited", http_status=429):
    """The remote asks us to slow down; ``retry_after`` is its wait in seconds, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChecksumMismatch(ModelManagerError, code="checksum_mismatch", http_status=502):
    """The downloaded bytes are not the file the sha256 names."""


class InsufficientSpace(ModelManagerError, code="no_space", http_status=507):
    """The disk (or the quota) has no room for the file."""


class Cancelled(ModelManagerError, code="cancelled", http_status=409):
    """The operation was cancelled before it finished."""


class FilePermissionDenied(ModelManagerError, code="permission_denied", http_status=403):
    """The process may not read or change a file of the model library (permissions, a
    read-only folder or filesystem)."""


def error_for_os_error(exc: OSError, action: str) -> ModelManagerError:
    """The error to show for a file-system failure while trying to ``action`` ("delete
    loras/x.safetensors"): a file that vanished is a 404, permissions a 403, a folder or a
    symlink loop in the way a 409, a full disk a 507, a name too long for the file system a 400;
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
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidInput(f"could not {action}: {reason} (the file system takes at most 255 bytes a name)")
    if exc.errno == errno.ELOOP:
        return Conflict(f"could not {action}: {reason} (a symlink that leads back to itself is in the way)")
    return ModelManagerError(f"could not {action}: {reason}")


@contextmanager
def file_errors(action: str) -> Iterator[None]:
    """An OSError inside the block (a file vanished, permission denied, read-only folder, disk
    full) becomes the matching error with a message that says what failed."""
    try:
        yield
    except OSError as exc:
        raise error_for_os_error(exc, action) from None
