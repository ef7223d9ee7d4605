"""Atomic JSON files: write to a temporary file in the same folder, fsync, rename."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


_umask: int | None = None
#: Bytes of the target's name kept in a temporary file's name: with the dot, mkstemp's 8
#: random characters and ``.tmp`` it stays under the 255 bytes a name may have, so a
#: sidecar whose own name fits can always be written.
TEMP_NAME_BYTES = 200


def temp_prefix(name: str) -> str:
    """``.NAME.`` for a temporary file beside ``NAME``, cut to fit the file system's limit."""
    raw = os.fsencode(name)
    if len(raw) > TEMP_NAME_BYTES:
        name = raw[:TEMP_NAME_BYTES].decode("utf-8", "ignore")
    return f".{name}."


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file here: 0o666 less the process umask.

    Temporary files start as 0600; a sidecar, preview or index written through one must end
    up as readable as any other file in its folder (a second user, a container sharing the
    folder), so it gets this mode.  Only secrets ask for 0600 explicitly."""
    global _umask
    if _umask is None:
        _umask = _read_umask()
    return 0o666 & ~_umask


def _read_umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, for every thread, for an instant)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half.

    ``mode`` (e.g. ``0o600``) is applied before the data is written, so a secret file is
    never readable by others, not even for an instant; without it the file gets the usual
    mode of a new file (``new_file_mode``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, new_file_mode() if mode is None else mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any, *, mode: int | None = None) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"), mode=mode)


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON file; a missing or unreadable file gives ``default``."""
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return default
    except (ValueError, UnicodeDecodeError, OSError, RecursionError):  # nested past the parser's depth
        return default


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
