"""Free-space checks with messages a user can act on."""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

from .errors import InsufficientSpace

#: Keep this much free beyond the download itself (the index, logs and the OS need room too).
DEFAULT_RESERVE = 16 * 1024 * 1024


def human_bytes(count: float | None) -> str:
    if count is None:
        return "unknown size"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def existing_ancestor(folder: Path) -> Path:
    folder = Path(folder)
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def check_free_space(folder: Path, needed: int, reserve: int = DEFAULT_RESERVE) -> None:
    """Raise ``InsufficientSpace`` naming the folder, the bytes needed and the bytes free."""
    if needed <= 0:
        return
    free = shutil.disk_usage(existing_ancestor(folder)).free
    if free < needed + min(reserve, needed):
        raise InsufficientSpace(
            f"not enough free space in {folder}: the download needs {needed} bytes "
            f"({human_bytes(needed)}) but only {free} bytes ({human_bytes(free)}) are free; "
            "free some space and resume the download"
        )


def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def no_space_error(folder: Path, needed: int | None) -> InsufficientSpace:
    try:
        free = shutil.disk_usage(existing_ancestor(folder)).free
    except OSError:
        free = 0
    need = f"{needed} more bytes ({human_bytes(needed)})" if needed else "more space"
    return InsufficientSpace(
        f"the disk holding {folder} is full: the download needs {need} but only {free} bytes "
        f"({human_bytes(free)}) are free; the partial file was kept, free some space and resume"
    )
