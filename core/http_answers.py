"""Reading HTTP answers for a download: Content-Range, lengths, short user-facing reasons."""
from __future__ import annotations

import errno
import http.client
import re
from urllib.parse import urlsplit

from .http import HttpResponse

CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)
HTML_MESSAGE = ("the server sent a web page instead of the model file — a login or API key may be "
                "needed (open the link in a browser to check)")


_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


def looks_like_html(first_bytes: memoryview | bytes) -> bool:
    """A body that starts like a web page (some servers send login pages as octet-stream).

    Model files never start with ``<``: safetensors begins with an 8-byte length, pickles and
    zips with binary magic, GGUF with ``GGUF``."""
    head = bytes(first_bytes[:64]).lstrip().lower()
    return head.startswith(_HTML_STARTS)


def body_end(response: HttpResponse) -> int:
    """The file offset where this response's body ends (0 when unknown)."""
    match = CONTENT_RANGE.match(response.headers.get("Content-Range") or "")
    if match:
        return int(match.group(2)) + 1
    if response.status == 200:
        return content_length(response) or 0
    return 0


def content_length(response: HttpResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def host_of(display_url: str) -> str:
    return urlsplit(display_url).netloc or display_url


def reason_phrase(status: int) -> str:
    try:
        return http.client.responses[status]
    except KeyError:
        return ""

def transport_reason(exc: BaseException) -> str:
    text = type(exc).__name__
    for candidate in (exc, getattr(exc, "__cause__", None), getattr(exc, "__context__", None)):
        if isinstance(candidate, OSError) and candidate.errno:
            return f"{text}: {errno.errorcode.get(candidate.errno, candidate.errno)}"
    return text
