"""Which download tasks a live command-line process is running right now.

The CLI has no daemon: a task runs inside the ``download`` (or ``workflow --download``, ``tasks
resume``) command that asked for it.  That process holds an OS lock on
``<state>/claims/<task_id>.lock`` (the file also names its pid) for as long as it runs the task;
the lock goes away with the process, whatever way it ends (Ctrl-C, kill -9, a crash).  So a
record saved as queued or downloading whose claim nobody holds belongs to a process that is
gone: the task is *interrupted*, and resumable.
"""
from __future__ import annotations

import os
from pathlib import Path

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: msvcrt locks a byte range instead
    fcntl = None  # type: ignore[assignment]
    import msvcrt


class Claims:
    def __init__(self, state_dir: Path) -> None:
        self.folder = Path(state_dir) / "claims"
        self._held: dict[str, int] = {}

    def path_of(self, task_id: str) -> Path:
        return self.folder / f"{task_id}.lock"

    def claim(self, task_id: str) -> bool:
        """Hold the claim on ``task_id`` until ``release``/exit; False when another process has it."""
        if task_id in self._held:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path_of(task_id), os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd, exclusive=True):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._held[task_id] = fd
        return True

    def remember_folder(self, task_id: str, models_dir: Path) -> None:
        """Which models folder a task downloads into (a record names files relative to it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{task_id}.folder").write_text(str(models_dir), encoding="utf-8")

    def folder_of(self, task_id: str) -> Path | None:
        try:
            return Path((self.folder / f"{task_id}.folder").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return None

    def forget(self, task_id: str) -> None:
        try:
            os.unlink(self.folder / f"{task_id}.folder")
        except OSError:
            pass

    def release(self, task_id: str) -> None:
        fd = self._held.pop(task_id, None)
        if fd is None:
            return
        try:
            os.unlink(self.path_of(task_id))
        except OSError:
            pass
        os.close(fd)  # closing drops the lock

    def release_all(self) -> None:
        for task_id in list(self._held):
            self.release(task_id)

    def holder(self, task_id: str) -> int | None:
        """The pid of the live process running ``task_id`` (this one included), else None."""
        if task_id in self._held:
            return os.getpid()
        try:
            fd = os.open(self.path_of(task_id), os.O_RDONLY)
        except OSError:
            return None
        try:
            if _try_lock(fd, exclusive=False):
                return None  # nobody holds it: the process that wrote it is gone
            try:
                return int(os.read(fd, 32).decode() or 0) or -1
            except ValueError:
                return -1
        finally:
            os.close(fd)


def _try_lock(fd: int, exclusive: bool) -> bool:
    """Take a lock without waiting; a shared probe lock is dropped again at once."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError:
            return False
        if not exclusive:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    try:  # pragma: no cover - Windows
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    if not exclusive:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    return True
