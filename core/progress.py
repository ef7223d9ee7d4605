"""Smoothed speed and ETA for progress reports, and how a retry is told to the user."""
from __future__ import annotations

import time
from typing import Callable

from .diskspace import human_bytes


def retry_notice(reason: str, attempt: int, max_tries: int, delay: float, position: int | None = None) -> str:
    """``"the connection to host was lost (reset) at 1.2 GiB; retry 2/5 in 4 s"``: what the task
    shows while it waits to try again (the browser shows it, the CLI prints it)."""
    where = f" at {human_bytes(position)}" if position else ""
    wait = f"{delay:.0f} s" if delay >= 1 else f"{delay:.1f} s"
    return f"{reason}{where}; retry {attempt}/{max(1, max_tries - 1)} in {wait}"


class SpeedMeter:
    """Exponential moving average of bytes per second, sampled at most every ``interval`` s.

    ``half_life`` (seconds) sets how fast the average follows changes: short enough that a
    pause or a throttled link shows up within a few seconds, long enough not to flicker.
    """

    def __init__(self, half_life: float = 3.0, interval: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._half_life = half_life
        self._interval = interval
        self._clock = clock
        self._last_time: float | None = None
        self._last_bytes = 0
        self.speed = 0.0

    def reset(self, current_bytes: int) -> None:
        self._last_time = self._clock()
        self._last_bytes = current_bytes
        self.speed = 0.0

    def update(self, current_bytes: int) -> float:
        now = self._clock()
        if self._last_time is None:
            self._last_time, self._last_bytes = now, current_bytes
            return self.speed
        elapsed = now - self._last_time
        if elapsed < self._interval:
            return self.speed
        sample = max(0, current_bytes - self._last_bytes) / elapsed
        weight = 1 - 0.5 ** (elapsed / self._half_life)
        self.speed = sample if self.speed == 0 else self.speed + weight * (sample - self.speed)
        self._last_time, self._last_bytes = now, current_bytes
        return self.speed


def eta_seconds(downloaded: int, total: int | None, speed: float) -> float | None:
    if not total or speed <= 0:
        return None
    return max(0.0, (total - downloaded) / speed)
