"""The one retry rule: bounded tries, exponential backoff with jitter, the server's wait honoured.

Used by the transfer (byte downloads), the Civitai API client, the Hub source and the scanner's
Civitai lookups.  A server that says when to come back (``Retry-After`` as seconds or as an
HTTP date, or the IETF ``RateLimit: …;t=N`` header the Hub sends) is believed, up to a cap, so a
bogus day-long value cannot hang us.
"""
from __future__ import annotations

import email.utils
import random
import re
import time
from dataclasses import dataclass, replace
from typing import Mapping

#: HTTP statuses worth another try (the server may answer differently later).
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_tries`` counts attempts (the first one included); for the transfer, consecutive
    failed attempts without progress, so a download that keeps receiving bytes between failures
    is never given up on."""

    max_tries: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    #: Upper bound for a server-sent wait.
    max_retry_after: float = 120.0
    #: Wait a random time between half the backoff and all of it, so clients that failed together
    #: do not come back together.  Off only where a test needs exact waits.
    jitter: bool = True

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (``attempt`` >= 1)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        if not self.jitter:
            return ceiling
        # "Equal jitter": at least half the backoff, so retries never bunch up at zero.
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)

    def gives_up_after(self, attempt: int) -> bool:
        """True when failed try number ``attempt`` was the last one allowed."""
        return attempt >= self.max_tries

    def with_retries(self, retries: int | None) -> "RetryPolicy":
        """This policy with ``retries`` tries after the first (None: unchanged)."""
        return self if retries is None else replace(self, max_tries=max(0, retries) + 1)


#: Calls to a metadata API (Civitai, the Hub): 1 s doubling to 30 s, a server's wait up to 30 s.
API_RETRY = RetryPolicy(max_tries=5, base_delay=1.0, max_delay=30.0, max_retry_after=30.0)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds (decimals tolerated) or an HTTP date
    (a date in the past is 0).  None for a missing or unreadable value."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


_RATELIMIT_RESET = re.compile(r"(?:^|[;,\s])t=(\d+)")


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """How long the server asks us to wait: ``Retry-After`` first, else the reset time of an
    IETF ``RateLimit`` header (``"api";r=0;t=42``).  ``headers`` may be any mapping; lookups go
    through ``get`` with the usual spellings so plain dicts work as well as case-insensitive ones."""
    if not headers:
        return None
    value = _header(headers, "Retry-After")
    if value:
        return parse_retry_after(value, now)
    match = _RATELIMIT_RESET.search(_header(headers, "RateLimit") or "")
    return float(match.group(1)) if match else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name) or headers.get(name.lower())
