"""Blocking work inside a node that still honours ComfyUI's Interrupt within a second."""
from __future__ import annotations

from concurrent.futures import Executor, TimeoutError as FutureTimeout
from typing import Callable, TypeVar

from . import comfy_api

T = TypeVar("T")

#: How often a waiting node looks at ComfyUI's interrupt flag (seconds).
POLL_SECONDS = 0.2


def stop_if_interrupted() -> None:
    """Raise ComfyUI's InterruptProcessingException when the user pressed Cancel."""
    if comfy_api.interrupted():
        comfy_api.raise_if_interrupted()


def run_interruptibly(executor: Executor, work: Callable[[], T], poll: float = POLL_SECONDS) -> T:
    """Run ``work`` in ``executor``; stop waiting (not the work) when ComfyUI is interrupted."""
    future = executor.submit(work)
    while True:
        try:
            return future.result(timeout=poll)
        except FutureTimeout:
            stop_if_interrupted()
