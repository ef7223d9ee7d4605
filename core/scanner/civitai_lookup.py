"""Look models up on Civitai by sha256, politely.

- at most ``1 / min_interval`` API requests a second (default 2), shared by every lookup of the
  index (a ``RateLimiter``), including the model-description request the sidecars need;
- a 429 waits ``Retry-After`` when given, else backs off (``core.retry``: 1 s doubling to 30 s,
  with jitter), up to 6 times;
- "not found" is remembered for 7 days in the hash cache, so a rescan asks nothing again;
- a match writes ``NAME.civitai.info``, the preview and ``NAME.md`` with ``write_civitai_sidecars``
  (never overwriting a user's files; the NSFW setting picks the preview).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import Cancelled, ModelManagerError, RateLimited
from ..http import HttpClient
from ..retry import RetryPolicy
from ..settings import Settings
from .hash_cache import NOT_FOUND_TTL, HashCache

log = logging.getLogger(__name__)

#: The lookups' answer to a 429: six more tries, the server's wait believed up to 30 s.
LOOKUP_RETRY = RetryPolicy(max_tries=7, base_delay=1.0, max_delay=30.0, max_retry_after=30.0)


class RateLimiter:
    """Spaces calls at least ``min_interval`` seconds apart (thread-safe, cancellable waits)."""

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait for the next slot; False when ``should_stop()`` turned true while waiting."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.min_interval
        return sleep_unless(slot - self._clock(), should_stop)

    def push_back(self, seconds: float) -> None:
        """Nobody calls before ``seconds`` from now (after a 429)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


def sleep_unless(seconds: float, should_stop: Callable[[], bool], step: float = 0.05) -> bool:
    deadline = time.monotonic() + max(seconds, 0.0)
    while True:
        if should_stop():
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(step, left))


@dataclass
class LookupResult:
    matched: bool = False
    not_found: bool = False
    skipped: bool = False  # "not found" remembered from an earlier scan
    written: tuple[Path, ...] = ()
    error: str | None = None


class CivitaiLookup:
    def __init__(self, settings: Settings, http: HttpClient, cache: HashCache, *, base_url: str | None = None,
                 min_interval: float = 0.5, retry: RetryPolicy = LOOKUP_RETRY,
                 not_found_ttl: float = NOT_FOUND_TTL) -> None:
        from ..sources.civitai_client import CivitaiClient

        self.settings = settings
        self.http = http
        self.cache = cache
        self.limiter = RateLimiter(min_interval)
        self.retry = retry
        self.not_found_ttl = not_found_ttl
        # retries=0: the limiter and ``self.retry`` below own the pacing.
        self.client = CivitaiClient(settings, http, base_url, retries=0)

    def lookup(self, model_path: Path, sha256: str, should_stop: Callable[[], bool] = lambda: False, *,
               has_info: bool = False) -> LookupResult:
        """Look ``sha256`` up and write missing sidecars.  ``has_info``: the model already has
        Civitai info and only lacks a preview (skipped while that was checked recently)."""
        if self.cache.recently_not_found(sha256, self.not_found_ttl):
            return LookupResult(skipped=True)
        level = self.settings.civitai_nsfw_level
        if has_info and self.cache.recently_without_preview(sha256, level, self.not_found_ttl):
            return LookupResult(skipped=True)
        try:
            version = self._call(lambda: self.client.version_by_hash(sha256), should_stop)
        except Cancelled:
            raise
        except ModelManagerError as exc:
            return LookupResult(error=f"Civitai lookup failed: {self.settings.redactor(exc.message)}")
        if version is None:
            self.cache.remember_not_found(sha256)
            return LookupResult(not_found=True)
        model = self._model_of(version, should_stop)
        try:
            from ..sources.civitai_sidecars import existing_preview, write_civitai_sidecars

            written = write_civitai_sidecars(model_path, version, settings=self.settings, http=self.http,
                                             model=model, base_url=self.client.base_url)
        except Exception as exc:  # a sidecar that cannot be written must not end the scan
            return LookupResult(matched=True, error=f"could not write Civitai sidecars: "
                                                    f"{self.settings.redactor(str(exc))}")
        if existing_preview(model_path) is None:
            self.cache.remember_no_preview(sha256, level)
        return LookupResult(matched=True, written=tuple(written))

    def _model_of(self, version: dict, should_stop: Callable[[], bool]) -> dict:
        """The model JSON (for its description), fetched through the limiter; best effort.
        Always returns a dict with ``description`` so the sidecar writer does not fetch again."""
        inner = version.get("model") if isinstance(version.get("model"), dict) else {}
        fallback = {"name": inner.get("name"), "type": inner.get("type"), "description": None}
        model_id = version.get("modelId")
        if not model_id:
            return fallback
        try:
            model = self._call(lambda: self.client.get_model(model_id), should_stop)
        except Cancelled:
            raise
        except ModelManagerError as exc:
            log.info("no Civitai model description for %s: %s", model_id, self.settings.redactor(exc.message))
            return fallback
        return model if isinstance(model, dict) and "description" in model else {**fallback, **(model or {})}

    def _call(self, request, should_stop: Callable[[], bool]):
        """One API request through the limiter; 429 waits and retries."""
        attempt = 0
        while True:
            attempt += 1
            if not self.limiter.acquire(should_stop):
                raise Cancelled("the Civitai lookup was cancelled")
            try:
                return request()
            except RateLimited as exc:
                if self.retry.gives_up_after(attempt):
                    raise
                wait = self.retry.delay(attempt, exc.retry_after)
                log.info("Civitai is rate limiting; waiting %.1f s", wait)
                self.limiter.push_back(wait)
