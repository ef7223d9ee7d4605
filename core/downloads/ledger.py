"""The download manager's books: its tasks under one lock, their records and their events.

Under the lock, records and events are only queued; the thread writes the records when it lets go
of the lock, and events go to the listeners from a thread of their own.  So a slow disk (fsync on
a NAS) or a slow listener never stalls other tasks or the routes.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from ..errors import NotFound
from ..observers import UPDATE_DOWNLOAD_TASK, EventHub, EventQueue
from .task import ACTIVE, DownloadTask
from .task_store import RecordSnapshot, TaskStore

#: How long an API call or a waiter waits for its events to reach a stuck listener.
LISTENER_PATIENCE = 30.0


class TaskLedger:
    """The tasks, the lock over them, and how their changes are saved and announced."""

    def __init__(self, store: TaskStore, outbox: EventQueue | None = None) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._local = threading.local()  # per thread: records to write, last event queued
        #: the events' delivery thread (the app's one, shared with the model index, or our own)
        self._outbox = outbox if outbox is not None else EventQueue()
        self._outbox.on_delivered(self._wake_waiters)
        self.events: EventHub = self._outbox.hub
        self._task_events: dict[str, int] = {}  # the number of each task's last event
        self._store = store
        self._tasks: dict[str, DownloadTask] = {t.task_id: t for t in store.load()}

    def _task(self, task_id: str) -> DownloadTask:
        task = self._tasks.get(task_id)
        if task is None:
            raise NotFound(f"no download task {task_id!r}")
        return task

    def _set_status(self, task: DownloadTask, new_status: str, save: bool = True,
                    durable: bool | None = None, announce: bool = True) -> None:
        """``durable``: force the record to disk (default: unless downloading or verifying);
        ``announce=False``: the caller sends the event later (once the disk says what it says).

        An fsync can wait long on a disk busy with a download, so a record is forced to disk only
        when a restart could not tell its news otherwise.  Downloading and verifying read back as
        queued, which is what the record said before; a completed file in place is found complete
        again by a restart (the runner checks it), so completion follows the file's own policy."""
        task.status = new_status
        task.message = None
        task.touch()
        if save:
            self._save(task, durable=new_status not in ACTIVE if durable is None else durable)
        self._changed.notify_all()
        if announce:
            self._emit(UPDATE_DOWNLOAD_TASK, task)

    def _emit(self, event: str, task: DownloadTask) -> None:
        self._task_events[task.task_id] = self._queue_event(event, task.event_payload())

    # Under the lock, records and events are only queued; the thread writes the records when it
    # lets go of the lock, and events go to the listeners from a thread of their own.  So a
    # slow disk (fsync on a NAS) or a slow listener never stalls other tasks or the routes.
    @contextmanager
    def _locked(self, wait_events: bool = False) -> Iterator[None]:
        """The manager's lock; on leaving the outermost one, this thread writes the records it
        changed and (``wait_events``) waits until its events reached the listeners."""
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            local.saves, local.disk_work, local.event = [], [], 0
        local.depth = depth + 1
        try:
            with self._lock:
                yield
        finally:
            local.depth = depth
            if depth == 0:
                saves, local.saves = _latest_per_task(local.saves), []
                disk_work, local.disk_work = local.disk_work, []
                event = local.event
                for snapshot in saves:
                    self._store.write(snapshot)
                for work in disk_work:
                    work()
                if wait_events and (event or local.event):
                    self._outbox.wait_delivered(max(event, local.event), timeout=LISTENER_PATIENCE)

    def _after_unlock(self, work: Callable[[], None]) -> None:
        """Run ``work`` (disk work: removing a partial) once this thread lets go of the lock,
        after the records it saved are written."""
        if getattr(self._local, "depth", 0):
            self._local.disk_work.append(work)
        else:
            work()

    def _save(self, task: DownloadTask, durable: bool = True) -> None:
        """Save ``task`` (lock held): written once this thread lets go of the lock."""
        snapshot = self._store.snapshot(task, durable)
        saves = getattr(self._local, "saves", None)
        if getattr(self._local, "depth", 0) and saves is not None:
            saves.append(snapshot)
        else:
            self._store.write(snapshot)

    def _queue_event(self, event: str, payload: dict) -> int:
        number = self._outbox.put(event, payload)
        self._local.event = number
        return number

    def _wake_waiters(self) -> None:
        with self._changed:
            self._changed.notify_all()


def _latest_per_task(saves: list[RecordSnapshot]) -> list[RecordSnapshot]:
    """One write per task: its newest record, forced to disk if any of those it replaces was to
    be (creating a task and starting it in one step writes its record once)."""
    latest: dict[str, RecordSnapshot] = {}
    for snapshot in saves:
        previous = latest.get(snapshot.task_id)
        if previous is not None and previous.durable and not snapshot.durable:
            snapshot = RecordSnapshot(snapshot.task_id, snapshot.record, snapshot.number, True)
        latest[snapshot.task_id] = snapshot
    return list(latest.values())
