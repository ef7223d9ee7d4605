"""The one HTTP client of the pack.

Why not plain ``requests.get(..., allow_redirects=True)``: we must control what follows a
redirect.  Credentials (``auth_headers``) are sent only to the origin they were given for and
never across a redirect to another scheme/host/port (Civitai's signed storage answers 400/403
when it sees an Authorization header); every hop must be http(s); and the final URL is kept
so that a segmented download can reuse a signed URL without asking the API again.

Proxies come from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) through
requests' ``trust_env``, or from the ``proxy`` setting, which wins when set.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import requests

from .errors import InvalidInput, RemoteError
from .redact import redact_url

USER_AGENT = "comfyui-model-manager/0.1"
CONNECT_TIMEOUT = 15.0
#: A read that sees no byte for this long counts as a stall (60 s: slow links still send something every few seconds).
READ_TIMEOUT = 60.0
MAX_REDIRECTS = 10
_REDIRECTS = {301, 302, 303, 307, 308}


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def check_http_url(url: str) -> str:
    """Refuse anything but absolute http(s) URLs with a host."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("a URL is required")
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInput(f"not a valid URL: {redact_url(url)!r}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(
            f"only http:// and https:// URLs can be downloaded (got {parts.scheme or 'no'} scheme)"
        )
    if not parts.hostname:
        raise InvalidInput(f"the URL has no host: {redact_url(url)!r}")
    return url


@dataclass
class HttpResponse:
    """A streamed response; always ``close()`` it (or use it as a context manager)."""

    status: int
    headers: Mapping[str, str]
    url: str  # the final URL after redirects (may hold a signature: never show it)
    redirected_cross_origin: bool
    _response: requests.Response = field(repr=False)

    def __enter__(self) -> "HttpResponse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._response.close()

    def read(self, amount: int) -> bytes:
        """Read up to ``amount`` raw bytes (no content decoding); b"" at the end."""
        return self._response.raw.read(amount, decode_content=False)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Read raw body bytes into ``buffer``; return how many (0 at the end of the body).

        Returns as soon as one network read delivered data (so a slow link still reports
        progress often), without allocating a new bytes object per read: the download
        hot path.  An early close by the server shows up as 0 before the announced
        Content-Length was reached; callers compare against it.
        """
        view = memoryview(buffer).cast("B")
        inner = getattr(self._response.raw, "_fp", None)  # the http.client.HTTPResponse
        reader = getattr(inner, "fp", None)
        if inner is not None and reader is None:
            return 0  # already read to its end (or cut)
        if (inner is not None and reader is not None and not getattr(inner, "chunked", True)
                and isinstance(getattr(inner, "length", None), int) and hasattr(reader, "readinto1")):
            if inner.length <= 0:
                inner.close()
                return 0
            view = view[:min(len(view), inner.length)]
            count = reader.readinto1(view)
            if count:
                inner.length -= count
            if not count or inner.length <= 0:
                inner.close()  # body done (or cut): lets the connection go back to the pool
            return count
        data = self.read(len(view))
        view[:len(data)] = data
        return len(data)

    def release(self) -> None:
        """Give the connection back to the pool when the body was read to its end, else close it."""
        inner = getattr(self._response.raw, "_fp", None)
        if inner is not None and getattr(inner, "fp", None) is None:
            release = getattr(self._response.raw, "release_conn", None)
            if release is not None:
                release()
                return
        self.close()

    def abort(self) -> None:
        """Shut the socket down from another thread, so a blocked read returns at once."""
        import socket

        try:
            sock = self._response.raw._fp.fp.raw._sock  # type: ignore[union-attr]
            sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass

    def iter_chunks(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        while True:
            chunk = self.read(chunk_size)
            if not chunk:
                return
            yield chunk

    def text(self, limit: int = 1 << 20) -> str:
        """Up to ``limit`` bytes of the body as text (for error messages and JSON)."""
        data = self._response.raw.read(limit, decode_content=True)
        return data.decode(self._response.encoding or "utf-8", errors="replace")

    def json(self, limit: int = 16 << 20) -> object:
        import json

        try:
            return json.loads(self.text(limit))
        except ValueError:
            raise RemoteError(f"{redact_url(self.url)} did not answer with JSON (HTTP {self.status})") from None


class HttpClient:
    """Thread-safe: each thread gets its own ``requests.Session`` (connection pool)."""

    def __init__(self, proxy: str | None = None, user_agent: str = USER_AGENT) -> None:
        self._proxy = proxy or None
        self._user_agent = user_agent
        self._local = threading.local()

    def set_proxy(self, proxy: str | None) -> None:
        self._proxy = proxy or None
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = True
            session.headers.clear()
            session.headers["User-Agent"] = self._user_agent
            session.headers["Accept-Encoding"] = "identity"
            session.headers["Accept"] = "*/*"
            if self._proxy:
                session.trust_env = False  # the setting wins over the environment
                session.proxies = {"http": self._proxy, "https": self._proxy}
            self._local.session = session
        return session

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth_headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        follow_redirects: bool = True,
        data: bytes | Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send a request, following redirects by hand.

        ``auth_headers`` go only to the origin of ``url``; once a redirect leaves that
        origin they are dropped for the rest of the chain, even if it comes back.
        Raises ``requests.RequestException`` subclasses for transport failures (callers
        decide whether to retry) and ``InvalidInput``/``RemoteError`` for bad redirects.
        """
        check_http_url(url)
        auth_origin = origin_of(url)
        send_auth = bool(auth_headers)
        crossed = False
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            merged = dict(headers or {})
            if send_auth and origin_of(current) == auth_origin:
                merged.update(auth_headers or {})
            response = self._session().request(
                method, current, headers=merged, stream=True, allow_redirects=False,
                timeout=timeout, data=data,
            )
            if not follow_redirects or response.status_code not in _REDIRECTS:
                return HttpResponse(response.status_code, response.headers, current, crossed, response)
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise RemoteError(f"{redact_url(current)} redirected without a Location header")
            target = urljoin(current, location)
            if urlsplit(target).scheme.lower() not in ("http", "https"):
                raise RemoteError(f"{redact_url(current)} redirected to a non-http(s) URL; refused")
            if origin_of(target) != auth_origin:
                send_auth = False
                crossed = True
            if response.status_code == 303:
                method, data = "GET", None
            current = target
        raise RemoteError(f"too many redirects starting at {redact_url(url)}")
