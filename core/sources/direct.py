"""Any http(s) URL: one probe GET (``Range: bytes=0-0``) learns the file name, size, ETag and
whether byte ranges work, without downloading the file.

GET rather than HEAD: some hosts answer HEAD differently (or not at all) from GET, and signed
storage URLs are often valid for GET only.  A probe that fails for a reason that may pass
(connection error, 5xx, 429) is not fatal: the downloader retries with backoff later.
"""
from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from ..content_disposition import filename_from_content_disposition, filename_from_url
from ..errors import AccessDenied, AuthRequired, NotFound, RemoteError
from ..http import HttpClient, check_http_url
from ..redact import redact_url
from ..http_answers import HTML_MESSAGE
from .base import ResolvedDownload

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT = (15.0, 30.0)
_CONTENT_RANGE_TOTAL = re.compile(r"^\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$", re.IGNORECASE)


class DirectSource:
    name = "direct"

    def __init__(self, settings: "Settings | None", http: HttpClient) -> None:
        self.settings = settings
        self.http = http

    def matches(self, url: str) -> bool:
        return (url or "").strip().lower().startswith(("http://", "https://"))

    def resolve(self, url: str) -> ResolvedDownload:
        url = check_http_url(url)
        display = redact_url(url)
        resolved = ResolvedDownload(source=self.name, url=url, display_url=display,
                                    filename=filename_from_url(url))
        try:
            response = self.http.request("GET", url, headers={"Range": "bytes=0-0"}, timeout=PROBE_TIMEOUT)
        except OSError as exc:  # any transport failure
            log.info("probe of %s failed (%s); the download will retry", display, type(exc).__name__)
            return resolved
        with response:
            self._learn(resolved, response.status, response.headers, response.url)
        return resolved

    def _learn(self, resolved: ResolvedDownload, status: int, headers, final_url: str) -> None:
        display = resolved.display_url
        if status in (200, 206):
            content_type = (headers.get("Content-Type") or "").lower()
            if content_type.startswith(("text/html", "application/xhtml")):
                raise RemoteError(f"{display}: {HTML_MESSAGE}")
            name = filename_from_content_disposition(headers.get("Content-Disposition"))
            resolved.filename = name or filename_from_url(final_url) or resolved.filename
            if status == 206:
                match = _CONTENT_RANGE_TOTAL.match(headers.get("Content-Range") or "")
                resolved.size = int(match.group(1)) if match else None
                resolved.accepts_ranges = match is not None
            else:
                length = headers.get("Content-Length")
                resolved.size = int(length) if length and length.isdigit() else None
                resolved.accepts_ranges = False
            etag = (headers.get("ETag") or "").strip()
            resolved.etag = etag if etag.startswith('"') else None
            return
        if status == 416:  # an empty file: "bytes */0"
            match = _CONTENT_RANGE_TOTAL.match(headers.get("Content-Range") or "")
            resolved.size = int(match.group(1)) if match else None
            return
        if status == 401:
            raise AuthRequired(f"{display} answered 401 Unauthorized: an API key or login may be needed")
        if status == 403:
            raise AccessDenied(f"{display} answered 403 Forbidden: an API key may be needed, or you "
                               "have no access to this file")
        if status in (404, 410):
            raise NotFound(f"{display} was not found on the server (HTTP {status}); check the link")
        if status >= 500 or status in (408, 425, 429):
            log.info("probe of %s answered HTTP %s; the download will retry", display, status)
            return
        raise RemoteError(f"{display} answered HTTP {status}; it cannot be downloaded")


def create_source(settings: "Settings | None", http: HttpClient) -> DirectSource:
    return DirectSource(settings, http)
