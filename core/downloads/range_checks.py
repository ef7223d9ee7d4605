"""The checks on every answer to a range request, and what each failure means for the transfer.

A first request may get a 206 (ranges work), a 200 (the server ignored the range: start from
byte 0) or a 416 (complete already, or the file changed).  A later request must get a 206 for
exactly the range it asked for.  Each failure is one of the exceptions below: worth another try
(``Retryable``), start over (``RestartFromZero``), a refused URL that may need resolving again
(``UrlRefused``), or nothing left to fetch (``AlreadyComplete``).
"""
from __future__ import annotations

import http.client

from ..errors import AccessDenied, AuthRequired, ModelManagerError, RemoteError
from ..http import ConnectTimeout, HttpResponse, ReadTimeout
from ..http_answers import CONTENT_RANGE, HTML_MESSAGE, UNSATISFIED_RANGE, content_length, host_of, reason_phrase, \
    transport_reason
from ..retry import RETRYABLE_STATUSES, parse_retry_after
from .segments import Block, ByteRanges


class Retryable(Exception):
    """A failure worth another try; ``reason`` is user-facing (already redacted)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RestartFromZero(Exception):
    """The server ignored a range or the file changed: discard the partial and begin again."""


class UrlRefused(Exception):
    """401/403/410 from the URL in use: maybe a signed URL expired."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class AlreadyComplete(Exception):
    """A 416 telling a size equal to what the partial holds: nothing is left to fetch."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def range_headers(offset: int, end: int | None, etag: str | None) -> dict[str, str]:
    """``Range`` for bytes ``offset`` up to ``end`` (exclusive; None: to the end of the file),
    with ``If-Range`` when resuming a file whose ETag is known."""
    headers = {"Range": f"bytes={offset}-{'' if end is None else end - 1}"}
    if etag and offset > 0:
        headers["If-Range"] = etag
    return headers


def transport_failure(exc: BaseException, display: str, stall_timeout: float) -> Retryable:
    """A request that got no answer: the retry reason for it."""
    host = host_of(display)
    if isinstance(exc, ConnectTimeout):
        return Retryable(f"could not connect to {host} (timed out)")
    if isinstance(exc, ReadTimeout):
        return Retryable(f"{host} did not answer for {stall_timeout:g} s")
    return Retryable(f"could not reach {host} ({transport_reason(exc)})")


#: What ``transport_failure`` turns into a retry (anything else is raised as it is).
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


def classify(response: HttpResponse, offset: int, display: str, ranges: ByteRanges | None) -> None:
    """Raise what a non-data answer means; return for a 200 or 206 that carries the file."""
    status = response.status
    if status in (200, 206):
        content_type = (response.headers.get("Content-Type") or "").lower()
        if content_type.startswith(("text/html", "application/xhtml")):
            raise RemoteError(f"{display}: {HTML_MESSAGE}")
        return
    if status == 416:
        raise unsatisfiable(response, offset, ranges)
    if status in (401, 403, 410):
        raise UrlRefused(status)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status in RETRYABLE_STATUSES:
        raise Retryable(f"{host_of(display)} answered HTTP {status} {reason_phrase(status)}", retry_after)
    if status == 404:
        raise RemoteError(f"{display} was not found on the server (HTTP 404); check the link")
    raise RemoteError(f"{display} answered HTTP {status} {reason_phrase(status)}; the download cannot continue")


def unsatisfiable(response: HttpResponse, offset: int, ranges: ByteRanges | None) -> BaseException:
    """A 416: complete when the size it tells is exactly what we hold, else start over."""
    match = UNSATISFIED_RANGE.match(response.headers.get("Content-Range") or "")
    if match and ranges is not None:
        size = int(match.group(1))
        have_all_before = ranges.contiguous_end() >= offset
        if size == offset and have_all_before and (ranges.total in (None, size)):
            return AlreadyComplete(size)
    return RestartFromZero("the server refused the byte range (HTTP 416)")


def check_ranged_response(response: HttpResponse, block: Block, display: str, total: int | None) -> None:
    """A later range request: only a 206 for exactly that range (of a file of ``total``) will do."""
    if response.status != 206:
        raise RestartFromZero("the server stopped honouring byte ranges")
    start, _end, told = content_range(response, display)
    if start != block.position:
        raise Retryable(f"{display} answered with the wrong byte range "
                        f"(asked {block.position}, got {start})")
    if told is not None and total is not None and told != total:
        raise RestartFromZero(f"the file changed on the server (size {total} -> {told})")


def content_range(response: HttpResponse, display: str) -> tuple[int, int, int | None]:
    """``(start, end, total)`` of a 206 (``total`` None when the server says ``*``)."""
    match = CONTENT_RANGE.match(response.headers.get("Content-Range") or "")
    if not match:
        raise Retryable(f"{display} sent a partial answer without a valid Content-Range")
    start, end = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if end < start or (total is not None and end >= total):
        raise Retryable(f"{display} answered with the wrong byte range (an impossible Content-Range)")
    length = content_length(response)
    if length is not None and length != end - start + 1:
        raise Retryable(f"{display} answered with the wrong byte range "
                        "(its Content-Range does not match its length)")
    return start, end, total


def strong_etag(response: HttpResponse) -> str | None:
    """The answer's ETag when it is a strong one (only those may go into ``If-Range``)."""
    etag = (response.headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/") and etag.startswith('"'):
        return etag
    return None


def refused_error(status: int, display: str) -> ModelManagerError:
    """The user-facing error for a 401/403/410 that resolving the link again did not cure."""
    if status == 401:
        return AuthRequired(f"{display} answered 401 Unauthorized: an API key or login may be "
                            "needed; add one in the Model Manager settings and resume")
    if status == 403:
        return AccessDenied(f"{display} answered 403 Forbidden: an API key may be needed, or "
                            "this account has no access to the file")
    return RemoteError(f"{display} is no longer available (HTTP {status})")
