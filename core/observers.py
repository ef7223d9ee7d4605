"""A tiny thread-safe publish/subscribe hub and a rate limiter for progress events.

The core emits ``(event_name, payload)`` pairs; the ComfyUI bridge subscribes and forwards
them to ``PromptServer.instance.send_sync``; the CLI subscribes to draw a progress bar.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

Listener = Callable[[str, dict], None]

CREATE_DOWNLOAD_TASK = "model_manager.create_download_task"
UPDATE_DOWNLOAD_TASK = "model_manager.update_download_task"
COMPLETE_DOWNLOAD_TASK = "model_manager.complete_download_task"
DELETE_DOWNLOAD_TASK = "model_manager.delete_download_task"
UPDATE_SCAN_TASK = "model_manager.update_scan_task"
COMPLETE_SCAN_TASK = "model_manager.complete_scan_task"
#: After every delete of a model: ``{"model_type", "name", "trash_id"}`` (None when permanent).
DELETE_MODEL = "model_manager.delete_model"

#: Progress events are sent at most this many times a second per task.
MAX_PROGRESS_EVENTS_PER_SECOND = 4


class EventHub:
    """Fan events out to listeners. A failing listener is logged, never propagated."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event, payload)
            except Exception:  # a broken listener must not break a download
                log.exception("event listener failed for %s", event)


class EventQueue:
    """Hands events to an ``EventHub`` from a thread of its own, in the order they were put.
    An ``App`` has one: the downloads and the model index both put their events here, so every
    listener hears all of them, in order, from this one thread.

    Whoever produces events (a download's worker, a route) only appends here, so a slow
    listener (a busy websocket, a database) never holds up a download, a lock or a request.
    The delivery thread starts with the first event and ends after a second with nothing to do.
    ``wait_delivered`` lets a caller that must see its events handled (an API call returning,
    a waiter seeing a task finish) wait for exactly that.
    """

    IDLE_SECONDS = 1.0

    def __init__(self, hub: EventHub | None = None, on_delivered: Callable[[], None] | None = None) -> None:
        self.hub = hub if hub is not None else EventHub()
        self._on_delivered: list[Callable[[], None]] = [on_delivered] if on_delivered else []
        self._cond = threading.Condition()
        self._queue: list[tuple[int, str, dict]] = []
        self._put = 0
        self._delivered = 0
        self._thread: threading.Thread | None = None

    def on_delivered(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the delivery thread after each batch of events went out (an
        owner's waiters check what was delivered)."""
        with self._cond:
            self._on_delivered.append(callback)

    def put(self, event: str, payload: dict[str, Any]) -> int:
        """Queue one event; returns its number for ``wait_delivered``."""
        with self._cond:
            self._put += 1
            self._queue.append((self._put, event, payload))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mm-events", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return self._put

    @property
    def last(self) -> int:
        with self._cond:
            return self._put

    def delivered(self, number: int) -> bool:
        with self._cond:
            return self._delivered >= number

    def wait_delivered(self, number: int, timeout: float | None = None) -> bool:
        """Until event ``number`` went to every listener (at once on the delivery thread itself:
        a listener that calls back into the manager must not wait for itself)."""
        if threading.current_thread() is self._thread:
            return self.delivered(number)
        with self._cond:
            return self._cond.wait_for(lambda: self._delivered >= number, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(self.IDLE_SECONDS)
                if not self._queue:
                    self._thread = None
                    return
                batch, self._queue = self._queue, []
            for number, event, payload in batch:
                self.hub.emit(event, payload)
                with self._cond:
                    self._delivered = number
                    self._cond.notify_all()
            with self._cond:
                callbacks = list(self._on_delivered)
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("event delivery callback failed")


class Throttle:
    """Allows an action at most ``per_second`` times a second (per key)."""

    def __init__(self, per_second: float = MAX_PROGRESS_EVENTS_PER_SECOND,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / per_second
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def ready(self, key: str = "") -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                return False
            self._last[key] = now
            return True

    def forget(self, key: str) -> None:
        with self._lock:
            self._last.pop(key, None)
