"""Positional reads and writes on one file shared by several threads, on every platform.

Linux and macOS have ``os.pwrite``/``os.preadv`` (no shared file position, no lock).  Windows
has neither, so there a lock serialises ``lseek`` + ``write``/``read``.  The file is opened in
binary mode (``O_BINARY`` on Windows: text mode would rewrite newlines and corrupt the model)
and without following a symlink where the platform allows it.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

_HAS_PWRITE = hasattr(os, "pwrite")
_HAS_PREADV = hasattr(os, "preadv")


class PositionalFile:
    def __init__(self, path: Path) -> None:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        self.fd = os.open(path, flags, 0o644)
        self._lock = threading.Lock()

    def write_at(self, data: memoryview, offset: int) -> None:
        """Write all of ``data`` at ``offset`` (OSError such as ENOSPC propagates)."""
        while data:
            if _HAS_PWRITE:
                written = os.pwrite(self.fd, data, offset)
            else:
                with self._lock:
                    os.lseek(self.fd, offset, os.SEEK_SET)
                    written = os.write(self.fd, data)
            data, offset = data[written:], offset + written

    def read_into(self, view: memoryview, offset: int) -> int:
        if _HAS_PREADV:
            return os.preadv(self.fd, [view], offset)
        with self._lock:
            os.lseek(self.fd, offset, os.SEEK_SET)
            data = os.read(self.fd, len(view))
        view[:len(data)] = data
        return len(data)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def fsync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def remove_if_empty(path: Path) -> None:
    """Remove ``path`` if it is an empty file (a transfer that ended before its first byte)."""
    try:
        if path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass
