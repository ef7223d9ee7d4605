"""Retry policy: bounded tries, exponential backoff with jitter, ``Retry-After`` honoured."""
from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

#: HTTP statuses worth another try (the server may answer differently later).
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_tries`` counts consecutive failed attempts without progress; a transfer that
    keeps receiving bytes between failures is never given up on."""

    max_tries: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    #: Upper bound for a server-sent ``Retry-After`` (a bogus day-long value must not hang us).
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` >= 1)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        # "Equal jitter": at least half the backoff, so retries never bunch up at zero.
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
