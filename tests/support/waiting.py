"""Bounded waits and byte counts shared by the tests that watch downloads from outside."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 60.0, what: str = "condition",
             interval: float = 0.02) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in time")


def fetched_bytes(server, path: str) -> int:
    """Body bytes served for ``path`` beyond the one-byte probes each link resolution makes."""
    return sum(r.body_bytes for r in server.requests_for(path) if r.header("Range") != "bytes=0-0")


def served_ranges(server, path: str) -> list[tuple[str | None, int]]:
    """Each request's Range header with the body bytes it got, for failure messages."""
    return [(r.header("Range"), r.body_bytes) for r in server.requests_for(path)]
