"""How the trash moves files: never over an existing file, and removes only its own folders."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

#: ``link`` failing with one of these means "no hard links here" (exFAT, some shares), not "exists".
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def move_no_replace(source: Path, target: Path) -> None:
    """Move ``source`` to ``target`` unless ``target`` exists (``FileExistsError``)."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(target):  # no hard links here (exFAT, some shares): check, then rename
            raise FileExistsError(errno.EEXIST, "exists", str(target)) from None
        os.rename(source, target)
        return
    os.unlink(source)


def remove_entry_folder(path: Path) -> None:
    """Remove a trash entry folder; only entries of our own layout are ever removed."""
    if path.is_symlink():
        path.unlink()
        return
    shutil.rmtree(path)
