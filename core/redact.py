"""Keep secrets out of everything a user or a log can see.

``redact_url`` drops credentials from URLs (query tokens, signed-URL signatures, user:password),
``Redactor`` replaces known secret values in any text (used by the logging filter and by the
error paths that quote remote messages).
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters that carry credentials or signatures (compared case-insensitively).
_SECRET_PARAM = re.compile(
    r"^(token|access_token|api_key|apikey|key|auth|authorization|password|secret|sig|signature"
    r"|policy|key-pair-id|x-amz-.*|x-goog-.*|se|sp|sv|sr|skoid|sktid|hmac.*|expires|b2.*token)$",
    re.IGNORECASE,
)
MASK = "***"


def redact_url(url: str) -> str:
    """Return ``url`` without userinfo and without secret query parameters.

    Parameters that only select a file (Civitai's ``type``/``format``/``size``/``fp``/``fileId``,
    the Hub's ``download``) are kept, so the URL still identifies the download.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _SECRET_PARAM.match(k)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))


class Redactor:
    """Replaces every registered secret value in a text with ``***``.

    One instance is shared by the manager and the logging filter; settings register the
    keys they load so that even a remote error that echoes a key back is cleaned.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 6:
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _scrub_inline_credentials(text)


_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:token|access_token|api_key|x-amz-signature|x-amz-credential"
                           r"|signature|sig|authorization)=)[^&\s\"']+")


def _scrub_inline_credentials(text: str) -> str:
    text = _BEARER.sub(r"\1" + MASK, text)
    return _QUERY_SECRET.sub(r"\1" + MASK, text)


class RedactingFilter(logging.Filter):
    """Logging filter that redacts every record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg = self._redactor(message)
        record.args = None
        return True
