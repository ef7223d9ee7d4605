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
