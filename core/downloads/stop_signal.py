"""Stopping a running transfer from another thread (pause, cancel, shutdown, a fatal error)."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..http import HttpResponse


class StopRequested(Exception):
    """The transfer was asked to stop (pause, cancel, shutdown); the partial is kept."""


class StopSignal:
    """Set from another thread to stop a transfer; aborts open sockets so reads return at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._responses: dict[int, "HttpResponse"] = {}
        self._children: list[StopSignal] = []
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self._event.set()
            responses = list(self._responses.values())
            children = list(self._children)
        for response in responses:
            response.abort()
        for child in children:
            child.set(reason)

    def link(self, child: "StopSignal") -> None:
        """``child`` is set whenever this signal is (now, if it already is)."""
        with self._lock:
            self._children.append(child)
            reason = self.reason if self._event.is_set() else None
        if reason is not None:
            child.set(reason)

    def unlink(self, child: "StopSignal") -> None:
        with self._lock:
            if child in self._children:
                self._children.remove(child)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)

    def track(self, response: "HttpResponse") -> None:
        with self._lock:
            self._responses[id(response)] = response
            stopped = self._event.is_set()
        if stopped:
            response.abort()

    def untrack(self, response: "HttpResponse") -> None:
        with self._lock:
            self._responses.pop(id(response), None)
