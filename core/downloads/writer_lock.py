"""One writer per partial file, across processes (and between tasks of one process).

The process writing ``.NAME.mmpart`` holds an OS advisory lock on ``.NAME.mmlock`` (``flock`` on
POSIX, ``msvcrt.locking`` on Windows; see ``_FileLock``).  The kernel drops the lock when the process
ends, however it ends, so a ``kill -9`` never leaves a stale lock behind.  Beside it the holder keeps
``.NAME.mmstate``, a small JSON file saying who writes (pid, host, link) and how far it got (bytes,
the byte ranges still missing, ETag).  Another process that wants the same destination reads it to
follow the holder's progress instead of fetching the bytes again, and, when the holder dies, takes
the lock and resumes the partial from exactly that state.

The files are hidden and carry no model extension, so neither ComfyUI's model lists nor the
scanner show them, and they are removed together with the partial (completed, cancelled).
Locks on network filesystems (NFS, SMB) are only as good as the server's lock support.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..paths import partial_path_for
from .stop_signal import StopRequested, StopSignal

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".mmlock"
STATE_SUFFIX = ".mmstate"
#: At most this often (seconds) the holder rewrites its state file while bytes flow.
PUBLISH_INTERVAL = 0.25
#: How often (seconds) a follower looks at the holder's state and tries the lock again.
FOLLOW_POLL = 0.25


def lock_path_for(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}{LOCK_SUFFIX}")


def state_path_for(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}{STATE_SUFFIX}")


@dataclass(frozen=True)
class WriterInfo:
    """What a writer last said about itself and its partial file (read from its state file)."""

    pid: int
    host: str
    url: str
    downloaded: int = 0
    total: int | None = None
    missing: list | None = None  # [[start, end|None], ...] as in the task record
    etag: str | None = None
    segmented: bool = False
    grid: int | None = None  # block grid the partial was written on (lets a resume check the file)
    updated_at: float = 0.0

    @property
    def in_this_process(self) -> bool:
        return self.pid == os.getpid() and self.host == _HOST

    def describe(self) -> str:
        """The user-facing line for a task that waits for this writer."""
        if self.in_this_process:
            return f"being downloaded by another task of this process (pid {self.pid})"
        if self.host != _HOST:
            return f"being downloaded by another process (pid {self.pid} on {self.host})"
        return f"being downloaded by another process (pid {self.pid})"

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "url": self.url, "downloaded": self.downloaded,
                "total": self.total, "missing": self.missing, "etag": self.etag,
                "segmented": self.segmented, "grid": self.grid, "updated_at": self.updated_at}

    @classmethod
    def from_json(cls, data: Any) -> "WriterInfo | None":
        """A state file is written by our own processes, but it sits in a shared folder: anything
        malformed is ignored rather than trusted."""
        if not isinstance(data, dict):
            return None
        pid, host, url = data.get("pid"), data.get("host"), data.get("url")
        downloaded, total = data.get("downloaded", 0), data.get("total")
        if not (_is_int(pid) and isinstance(host, str) and isinstance(url, str) and _is_int(downloaded)):
            return None
        if total is not None and not (_is_int(total) and total >= 0):
            return None
        etag, grid = data.get("etag"), data.get("grid")
        return cls(pid=pid, host=host, url=url, downloaded=max(0, downloaded), total=total,
                   missing=_valid_missing(data.get("missing"), total),
                   etag=etag if isinstance(etag, str) and len(etag) < 256 else None,
                   segmented=data.get("segmented") is True,
                   grid=grid if _is_int(grid) and grid > 0 else None,
                   updated_at=float(data["updated_at"]) if _is_number(data.get("updated_at")) else 0.0)


class WriterLock:
    """The lock (and state file) of one destination's partial.  One instance per attempt to write.

    ``try_acquire`` never blocks; ``release`` lets the next writer in, removing the lock and state
    files when the partial is gone (done or discarded) and keeping the state for a takeover
    otherwise."""

    def __init__(self, destination: Path, url: str = "") -> None:
        self.destination = Path(destination)
        self.partial = partial_path_for(self.destination)
        self.lock_path = lock_path_for(self.destination)
        self.state_path = state_path_for(self.destination)
        self.url = url
        self._lock: "_FileLock | _NoLock | None" = None
        self._last_publish = 0.0
        self._latest: WriterInfo | None = None
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        return self._lock is not None

    # ------------------------------------------------------------------ taking and leaving
    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it.  A filesystem without working locks gives a warning
        and True: downloading unlocked is what happened before locks existed."""
        if self._lock is not None:
            return True
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock = _FileLock.acquire(self.lock_path)
        except FileNotFoundError:  # the holder removed the lock file as we opened it: try again
            return False
        except OSError as exc:
            log.warning("could not lock %s (%s); downloading without the lock that keeps other "
                        "processes from writing the same file", self.lock_path.name, exc)
            self._lock = _NoLock()
            return True
        if lock is None:
            return False
        if not self._same_file_as_path(lock):  # we locked a lock file another writer just removed
            lock.release()
            return False
        self._lock = lock
        return True

    def release(self) -> None:
        """Leave the partial to the next writer (the state file says where this one stopped)."""
        lock = self._lock
        if lock is None:
            return
        try:
            if not os.path.lexists(self.partial):
                _remove(self.state_path)
                _remove(self.lock_path)  # while still holding it: a waiter notices (see try_acquire)
            elif self._latest is not None:
                self._write_state(self._latest)
        finally:
            self._lock = None
            lock.release()

    # ------------------------------------------------------------------ the state file
    def previous(self) -> WriterInfo | None:
        """What the last writer of this partial said (only meaningful while the partial exists)."""
        return WriterInfo.from_json(_read_json(self.state_path))

    def holder(self) -> WriterInfo | None:
        """For a follower: the current holder's last word (``None`` until it has published)."""
        return self.previous()

    def publish(self, *, downloaded: int, total: int | None, missing: list | None, etag: str | None,
                segmented: bool, grid: int | None = None, force: bool = False) -> None:
        """The holder says how far it got (at most every ``PUBLISH_INTERVAL`` unless ``force``)."""
        info = WriterInfo(pid=os.getpid(), host=_HOST, url=self.url, downloaded=downloaded, total=total,
                          missing=missing, etag=etag, segmented=segmented, grid=grid, updated_at=time.time())
        with self._guard:
            # Fewer bytes than last said: the partial was started again, which must not wait.
            force = force or (self._latest is not None and downloaded < self._latest.downloaded)
            self._latest = info
            now = time.monotonic()
            if not force and now - self._last_publish < PUBLISH_INTERVAL:
                return
            self._last_publish = now
        if self._lock is not None:
            self._write_state(info)

    def _write_state(self, info: WriterInfo) -> None:
        temporary = self.state_path.with_name(f"{self.state_path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            temporary.write_text(json.dumps(info.to_json()), encoding="utf-8")
            os.replace(temporary, self.state_path)
        except OSError as exc:  # only costs a follower some accuracy
            log.debug("could not write %s: %s", self.state_path.name, exc)
            _remove(temporary)

    def _same_file_as_path(self, lock: "_FileLock") -> bool:
        try:
            held = os.fstat(lock.fd)
            return held.st_nlink > 0 and os.path.samestat(held, os.stat(self.lock_path))
        except OSError:
            return False


def take_turn(lock: WriterLock, stop: StopSignal, on_wait: Callable[[WriterInfo | None], None],
              poll: float = FOLLOW_POLL) -> bool:
    """Return holding ``lock``.  While another writer holds it, call ``on_wait`` with what that
    writer last published, every ``poll`` seconds.  Returns True when it had to wait; raises
    ``StopRequested`` when ``stop`` is set while waiting."""
    waited = False
    while not lock.try_acquire():
        waited = True
        on_wait(lock.holder())
        if stop.wait(poll):
            raise StopRequested()
    return waited


def other_writer(destination: Path) -> WriterInfo | None:
    """Who else is writing ``destination`` right now, if anyone (without waiting)."""
    probe = WriterLock(destination)
    if not os.path.lexists(probe.partial):
        return None
    if probe.try_acquire():
        probe.release()
        return None
    return probe.holder() or WriterInfo(pid=0, host=_HOST, url="")


def discard_partial(destination: Path) -> bool:
    """Remove the partial of ``destination`` with its lock and state files, unless a writer holds
    it right now (another process's download is never deleted from under it).  True when gone."""
    lock = WriterLock(destination)
    if not any(os.path.lexists(p) for p in (lock.partial, lock.lock_path, lock.state_path)):
        return True
    if not lock.try_acquire():
        return False
    try:
        _remove(lock.partial)
    finally:
        lock.release()
    return True


# ---------------------------------------------------------------------- helpers
_HOST = socket.gethostname()


class _FileLock:
    """An exclusive, non-blocking OS lock on one open lock file.

    The lock belongs to the open file, not to the process or thread: two descriptors of one
    process exclude each other like two processes do (two tasks of one process never share a
    partial), and closing the descriptor, or the process ending, lets go of it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def acquire(cls, path: Path) -> "_FileLock | None":
        """The lock, or None while someone else holds it.  Raises ``FileNotFoundError`` when the
        file vanished as it was opened and another ``OSError`` when the filesystem cannot lock."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            if not _lock_nowait(fd):
                os.close(fd)
                return None
        except BaseException:
            os.close(fd)
            raise
        return cls(fd)

    def release(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            try:
                _unlock(fd)
            finally:
                os.close(fd)  # closing the only descriptor of the open file drops its lock


if os.name == "nt":
    import msvcrt

    def _lock_nowait(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # the first byte stands for the whole file
        except OSError as exc:
            if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EDEADLK):
                return False  # another handle holds it
            raise
        return True

    def _unlock(fd: int) -> None:
        """Windows asks for the region to be unlocked before the file is closed."""
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
else:
    import fcntl

    def _lock_nowait(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # EAGAIN / EWOULDBLOCK: held through another open file
            return False
        return True

    def _unlock(fd: int) -> None:
        pass  # closing the descriptor drops the lock


class _NoLock:
    """Stands in for a lock the filesystem could not give."""

    def release(self) -> None:
        pass


def _read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(64 * 1024)
        return json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.debug("could not remove %s: %s", path, exc)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _valid_missing(value: Any, total: int | None) -> list | None:
    """Byte ranges ``[[start, end|None], ...]``, ascending, inside the file; else None."""
    if not isinstance(value, list) or len(value) > 100_000:
        return None
    ranges: list = []
    previous_end: int | None = 0
    for item in value:
        if previous_end is None or not (isinstance(item, list) and len(item) == 2 and _is_int(item[0])):
            return None  # nothing may follow an open-ended range
        start, end = item
        if end is not None and not (_is_int(end) and end >= start):
            return None
        if start < previous_end or (total is not None and (start > total or (end or 0) > total)):
            return None
        ranges.append([start, end])
        previous_end = end
    return ranges
