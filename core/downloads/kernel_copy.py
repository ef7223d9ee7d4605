"""Moving body bytes from a socket into the partial file inside the kernel (Linux ``splice``).

A plain-HTTP body (a local mirror, a LAN server, loopback) otherwise costs two copies per byte,
socket -> Python buffer -> page cache, on the receiving thread, which on a fast link is what
bounds the speed.  ``splice`` moves the socket's pages into a pipe and from the pipe into the
file: one copy, about half that thread's CPU.  The sha256 then reads the bytes back from the
page cache (the hasher's read-back path) on its own thread.  TLS bodies, other systems and
files that refuse ``splice`` keep the ordinary path (``body_copy``).
"""
from __future__ import annotations

import errno
import os
import select
import socket

F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux; the constant is missing from older Pythons)
_REFUSED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF)

AVAILABLE = hasattr(os, "splice")


class KernelCopyRefused(Exception):
    """The socket cannot be spliced (nothing was moved): use the ordinary path."""


class FileWriteFailed(Exception):
    """Writing into the file failed after ``written`` bytes of this move had landed."""

    def __init__(self, written: int, error: OSError) -> None:
        super().__init__(str(error))
        self.written, self.error = written, error


class KernelCopy:
    """A pipe that carries one answer's body from its socket into the file."""

    def __init__(self, capacity: int) -> None:
        self._out, self._in = os.pipe()
        self.capacity = 64 * 1024  # the default size of a Linux pipe
        try:
            import fcntl

            fcntl.fcntl(self._in, F_SETPIPE_SZ, capacity)
            self.capacity = capacity
        except (OSError, ImportError):  # over /proc/sys/fs/pipe-max-size: the default pipe works too
            pass
        #: The file refused ``splice`` once; later moves copy through Python.
        self.file_refuses = False

    def move(self, sock: socket.socket, fd: int, offset: int, count: int) -> int:
        """Move up to ``count`` bytes from ``sock`` into ``fd`` at ``offset``; how many (0: the
        peer closed).  No byte for the socket's timeout raises ``socket.timeout``; the socket's
        other failures propagate as ``OSError`` (lost connection), the file's as ``FileWriteFailed``."""
        got = self._from_socket(sock, min(count, self.capacity))
        written = 0
        while written < got:
            try:
                if self.file_refuses:
                    written += self._copy_through(fd, got - written, offset + written)
                else:
                    written += os.splice(self._out, fd, got - written, offset_dst=offset + written)
            except OSError as exc:
                if exc.errno in _REFUSED and not self.file_refuses:
                    self.file_refuses = True
                    continue
                self._drain()
                raise FileWriteFailed(written, exc) from None
        return got

    def _from_socket(self, sock: socket.socket, count: int) -> int:
        fd, timeout = sock.fileno(), sock.gettimeout()
        while True:
            try:
                return os.splice(fd, self._in, count)
            except BlockingIOError:  # a socket with a timeout is non-blocking underneath
                poller = select.poll()
                poller.register(fd, select.POLLIN | select.POLLPRI)
                if not poller.poll(None if timeout is None else timeout * 1000):
                    raise socket.timeout("timed out") from None
            except OSError as exc:
                if exc.errno in _REFUSED:
                    raise KernelCopyRefused(str(exc)) from None
                raise

    def _copy_through(self, fd: int, count: int, offset: int) -> int:
        data = os.read(self._out, count)
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        return len(data)

    def _drain(self) -> None:
        """Empty the pipe (after a failed write) so the next answer does not inherit bytes."""
        os.set_blocking(self._out, False)
        try:
            while os.read(self._out, self.capacity):
                pass
        except BlockingIOError:
            pass
        finally:
            os.set_blocking(self._out, True)

    def close(self) -> None:
        os.close(self._out)
        os.close(self._in)
