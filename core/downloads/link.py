"""The link a transfer asks for byte ranges, shared by its connections.

After a redirect to another origin (a signed storage URL) later ranges go straight there, and
the link's credentials go only to their own origin.  A URL that answers 401/403/410 is given up
in this order: the cached signed URL first, then the link resolved again once, then the error.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from ..errors import ModelManagerError
from ..http import HttpClient, HttpResponse, origin_of
from ..redact import redact_url
from ..sources.base import ResolvedDownload
from .range_checks import TRANSPORT_ERRORS, UrlRefused, classify, range_headers, refused_error, transport_failure
from .segments import ByteRanges
from .stop_signal import StopSignal
from .transfer_config import TransferConfig

log = logging.getLogger(__name__)


class Link:
    def __init__(self, http: HttpClient, resolved: ResolvedDownload, config: TransferConfig,
                 refresh: Callable[[], ResolvedDownload] | None = None) -> None:
        self.http = http
        self.resolved = resolved
        self.config = config
        #: The link as messages show it (no keys).
        self.display = resolved.display_url or redact_url(resolved.url)
        self._refresh = refresh
        self._lock = threading.Lock()
        self._signed_url: str | None = None  # final URL after a cross-origin redirect, reused by segments

    def _target(self) -> tuple[str, dict[str, str]]:
        with self._lock:
            signed, resolved = self._signed_url, self.resolved
        if signed:
            same = origin_of(signed) == origin_of(resolved.url)
            return signed, (resolved.auth_headers if same else {})
        return resolved.url, resolved.auth_headers

    def open(self, offset: int, end: int | None, etag: str | None, halt: StopSignal,
             ranges: ByteRanges | None) -> HttpResponse:
        """GET bytes ``offset`` up to ``end`` (exclusive); the answer is checked (``classify``)
        and tracked by ``halt`` so that a stop aborts its reads."""
        url, auth = self._target()
        try:
            response = self.http.request(
                "GET", url, headers=range_headers(offset, end, etag), auth_headers=auth,
                timeout=(self.config.connect_timeout, self.config.stall_timeout),
            )
        except ModelManagerError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise transport_failure(exc, self.display, self.config.stall_timeout) from None
        halt.track(response)
        try:
            classify(response, offset, self.display, ranges)
        except BaseException:
            halt.untrack(response)
            response.close()
            raise
        if response.redirected_cross_origin:
            with self._lock:  # later ranges go straight to the signed storage URL
                self._signed_url = self._signed_url or response.url
        return response

    def recover_refused(self, refused: UrlRefused, refreshed: bool) -> bool:
        """401/403/410: drop a cached signed URL, then re-resolve the link once, then give up.

        Returns the new ``refreshed`` flag; raises the user-facing error when out of options."""
        with self._lock:
            if self._signed_url:
                self._signed_url = None
                return refreshed
        if refreshed or self._refresh is None:
            raise refused_error(refused.status, self.display)
        log.info("%s refused access (HTTP %s); resolving the link again", self.display, refused.status)
        fresh = self._refresh()
        with self._lock:
            self.resolved = fresh
            self._signed_url = None
        return True
