"""Emptying the trash now and then: entries older than the ``trash_days`` setting go."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .trash import Trash, TrashEntry

log = logging.getLogger(__name__)

DAY = 86400.0


class TrashPurger:
    """Purges entries older than ``days()`` now and then every ``interval`` seconds, in a daemon
    thread, until ``stop``.  ``days()`` of 0 or less keeps everything."""

    def __init__(self, trash: Trash, days: Callable[[], int], interval: float = DAY) -> None:
        self._trash = trash
        self._days = days
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model-manager-trash", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> list[TrashEntry]:
        self._trash.recover_stale()
        days = self._days()
        purged = self._trash.purge_older_than(days) if days > 0 else []
        self.runs += 1
        return purged

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                purged = self.run_once()
                if purged:
                    log.info("emptied %d models older than %d days from the trash", len(purged), self._days())
            except Exception:  # a bad folder must not end the timer
                log.exception("the trash clean-up failed")
            self._stop.wait(self._interval)
