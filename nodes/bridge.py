"""Forward core events to ComfyUI's websocket (``PromptServer.instance.send_sync``).

``send_sync`` only queues the message onto the server's event loop (``call_soon_threadsafe``),
so it is safe from download worker threads.  Progress updates are throttled per task (at most
``MAX_PROGRESS_EVENTS_PER_SECOND``); status changes, creations, completions and deletions always
go through.  Events are broadcast to every connected browser (sid ``None``): downloads belong to
the ComfyUI instance, not to the tab that started them.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ..core.observers import (
    COMPLETE_DOWNLOAD_TASK, COMPLETE_SCAN_TASK, DELETE_DOWNLOAD_TASK,
    MAX_PROGRESS_EVENTS_PER_SECOND, UPDATE_DOWNLOAD_TASK, UPDATE_SCAN_TASK, Throttle,
)
from ..core.redact import Redactor

log = logging.getLogger(__name__)

Send = Callable[[str, dict], None]
JITTER_SLACK = 1.08


def _redact_values(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {key: _redact_values(item, redactor) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_values(item, redactor) for item in value]
    return value


class EventBridge:
    """Listener for the manager's and the index's ``EventHub``s."""

    def __init__(self, send: Send, redactor: Redactor | None = None,
                 per_second: float = MAX_PROGRESS_EVENTS_PER_SECOND,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._redactor = redactor or Redactor()
        # The manager and the index already pace progress at ``per_second``; this is the safety
        # net.  A few percent of slack keeps scheduling jitter (an event that reaches us 1 ms
        # "early") from dropping every other update of a well-paced emitter.
        self._throttle = Throttle(per_second * JITTER_SLACK, clock=clock)
        self._lock = threading.Lock()
        self._last_status: dict[str, str] = {}
        self._requesters: dict[str, tuple[str | None, str | None]] = {}

    def attach(self, task_id: str, node_id: str | None, prompt_id: str | None) -> None:
        """A graph node now waits on ``task_id``: its events carry that node and prompt."""
        with self._lock:
            self._requesters[task_id] = (node_id, prompt_id)

    def __call__(self, event: str, payload: dict) -> None:
        payload = dict(payload)
        key = str(payload.get("task_id") or payload.get("scan_id") or "")
        if not self._should_send(event, key, payload):
            return
        if "task_id" in payload and event != DELETE_DOWNLOAD_TASK:  # delete: just {"task_id"}
            self._fill_requester(key, payload)
        elif "scan_id" in payload:  # the index names the asking node; a REST/CLI scan has none
            payload.setdefault("node_id", None)
            payload.setdefault("prompt_id", None)
        if event in (COMPLETE_DOWNLOAD_TASK, DELETE_DOWNLOAD_TASK, COMPLETE_SCAN_TASK):
            self._forget(key)
        try:
            self._send(event, _redact_values(payload, self._redactor))
        except RuntimeError:  # the server's loop is closed (ComfyUI is exiting)
            log.debug("dropped %s: event loop closed", event)

    # -- internals --------------------------------------------------------------------
    def _should_send(self, event: str, key: str, payload: dict) -> bool:
        """Progress events: at most ``per_second`` per task/scan, but a status change (queued ->
        downloading -> paused ..., scanning -> hashing ...) always goes out at once."""
        if event not in (UPDATE_DOWNLOAD_TASK, UPDATE_SCAN_TASK):
            return True
        status = str(payload.get("status"))
        with self._lock:
            changed = self._last_status.get(key) != status
            self._last_status[key] = status
        if changed:
            self._throttle.forget(key)
            self._throttle.ready(key)  # the status change counts as this period's event
            return True
        return self._throttle.ready(key)

    def _fill_requester(self, task_id: str, payload: dict) -> None:
        with self._lock:
            requester = self._requesters.get(task_id)
        if requester is not None:
            node_id, prompt_id = requester
            payload["node_id"] = node_id
            payload["prompt_id"] = prompt_id
        else:
            payload.setdefault("prompt_id", None)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._last_status.pop(key, None)
            self._requesters.pop(key, None)
        self._throttle.forget(key)


def comfy_sender(server: Any) -> Send:
    """A ``send`` that broadcasts through ``PromptServer.instance``."""

    def send(event: str, payload: dict) -> None:
        server.send_sync(event, payload, None)

    return send
