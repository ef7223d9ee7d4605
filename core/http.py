"""The one HTTP client of the pack.

Why our own redirect loop: we must control what follows a redirect.  Credentials (``auth_headers``) are sent only to the origin they were given for and
never across a redirect to another scheme/host/port (Civitai's signed storage answers 400/403
when it sees an Authorization header); every hop must be http(s); and the final URL is kept
so that a segmented download can reuse a signed URL without asking the API again.

Proxies come from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``,
lower case first) or from the ``proxy`` setting, which wins when set (and then goes for every host).
Certificates are checked against certifi's bundle (or ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``/
``SSL_CERT_FILE``), as requests does.

Built on the standard library's ``http.client`` with a small per-thread pool of kept-alive
connections: importing requests and urllib3 was half of the command line's start-up, which a
1 GiB download over a fast link feels.  Transport failures are ``OSError``s: timeouts are
``ConnectTimeout``/``ReadTimeout``, anything else the socket's own error or a ``TransportError``.
"""
from __future__ import annotations

import http.client
import io
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping
from urllib.parse import quote, urlencode, urljoin, urlsplit

from .errors import InvalidInput, RemoteError
from .http_connections import Connection, Connections, ConnectTimeout, ReadTimeout, TransportError
from .http_proxy import basic_authorization, proxy_for
from .redact import redact_url

USER_AGENT = "comfyui-model-manager/0.1"
CONNECT_TIMEOUT = 15.0
#: A read that sees no byte for this long counts as a stall (60 s: slow links still send something every few seconds).
READ_TIMEOUT = 60.0
MAX_REDIRECTS = 10
_REDIRECTS = {301, 302, 303, 307, 308}
#: A read this big leaves the reader's own buffer (``io.DEFAULT_BUFFER_SIZE``) empty: CPython copies
#: what it holds, then reads the socket straight into the caller's buffer.
_DRAINING_READ = 4 * io.DEFAULT_BUFFER_SIZE


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


class Headers(Mapping[str, str]):
    """Response headers, case-insensitive; a header sent several times reads as one
    comma-separated value (as requests gives it)."""

    def __init__(self, items: Any = ()) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        pairs = items.items() if hasattr(items, "items") else items
        for name, value in pairs:
            key = name.lower()
            if key in self._items:
                name, value = self._items[key][0], f"{self._items[key][1]}, {value}"
            self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class HttpResponse:
    """A streamed response; always ``close()`` it (or use it as a context manager)."""

    status: int
    headers: Mapping[str, str]
    url: str  # the final URL after redirects (may hold a signature: never show it)
    redirected_cross_origin: bool
    _raw: http.client.HTTPResponse = field(repr=False)
    _connection: Connection = field(repr=False)
    _unbuffered: bool = field(default=False, repr=False)  # no body byte waits in Python's buffer

    def __enter__(self) -> "HttpResponse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Done with the answer: the connection is closed (not reused)."""
        self._raw.close()
        self._connection.close()

    def read(self, amount: int) -> bytes:
        """Read up to ``amount`` raw bytes (no content decoding); b"" at the end."""
        return self._raw.read(amount)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Read raw body bytes into ``buffer``; return how many (0 at the end of the body).

        Returns as soon as one network read delivered data (so a slow link still reports
        progress often), without allocating a new bytes object per read: the download
        hot path.  An early close by the server shows up as 0 before the announced
        Content-Length was reached; callers compare against it.
        """
        view = memoryview(buffer).cast("B")
        raw = self._raw
        reader = raw.fp
        if reader is None:
            return 0  # already read to its end (or cut)
        if not raw.chunked and isinstance(raw.length, int) and hasattr(reader, "readinto1"):
            if raw.length <= 0:
                raw.close()
                return 0
            view = view[:min(len(view), raw.length)]
            count = reader.readinto1(view)
            # A smaller read may leave bytes in the reader's buffer (it fills the buffer, then
            # copies what was asked): only a big last read lets the kernel take over.
            self._unbuffered = len(view) >= _DRAINING_READ
            if count:
                raw.length -= count
            if not count or raw.length <= 0:
                raw.close()  # body done (or cut): the connection may serve the next request
            return count
        data = raw.read1(len(view))
        view[:len(data)] = data
        return len(data)

    def splice_source(self) -> tuple[socket.socket, int] | None:
        """The socket and the body bytes left, when the kernel may move the rest of the body from it straight into a file
        (``os.splice``): a plain TCP connection (not TLS), a known length without transfer coding,
        and no body byte buffered in Python (after a big ``readinto``).  Else None."""
        raw, sock = self._raw, self._connection.sock
        if (not self._unbuffered or raw.fp is None or raw.chunked or not isinstance(raw.length, int)
                or raw.length <= 0 or sock is None or not hasattr(os, "splice")):
            return None
        import ssl

        return None if isinstance(sock, ssl.SSLSocket) else (sock, raw.length)

    def spliced(self, count: int) -> None:
        """``count`` body bytes were taken from the socket by the kernel (``splice_source``)."""
        raw = self._raw
        if isinstance(raw.length, int):
            raw.length -= count
            if raw.length <= 0:
                raw.close()  # body done: the connection may serve the next request

    def release(self) -> None:
        """Give the connection back to the pool when the body was read to its end, else close it."""
        if self._raw.fp is None and not self._raw.will_close:
            self._connection.release()
        else:
            self.close()

    def abort(self) -> None:
        """Shut the socket down from another thread, so a blocked read returns at once."""
        self._connection.abort()

    def iter_chunks(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        while True:
            chunk = self.read(chunk_size)
            if not chunk:
                return
            yield chunk

    def text(self, limit: int = 1 << 20) -> str:
        """Up to ``limit`` bytes of the body as text (for error messages and JSON)."""
        data = self._raw.read(limit)
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if encoding in ("gzip", "deflate"):
            import zlib

            try:
                data = zlib.decompressobj(47 if encoding == "gzip" else zlib.MAX_WBITS).decompress(data, limit)
            except zlib.error:
                pass
        return data.decode(_charset(self.headers.get("Content-Type")) or "utf-8", errors="replace")

    def json(self, limit: int = 16 << 20) -> object:
        import json

        try:
            return json.loads(self.text(limit))
        except ValueError:
            raise RemoteError(f"{redact_url(self.url)} did not answer with JSON (HTTP {self.status})") from None


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip('"')
            try:
                "".encode(value)
            except LookupError:
                return None
            return value
    return None


#: Characters left as they are when a URL is sent (as requests' ``requote_uri`` does): spaces,
#: non-ASCII and control characters are percent-encoded, existing escapes are kept.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


class HttpClient:
    """Thread-safe: each thread keeps its own idle connections."""

    def __init__(self, proxy: str | None = None, user_agent: str = USER_AGENT) -> None:
        self._proxy = proxy or None
        self._user_agent = user_agent
        self._connections = Connections(user_agent)

    def set_proxy(self, proxy: str | None) -> None:
        self._proxy = proxy or None
        self._connections = Connections(self._user_agent)

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
        Raises ``OSError`` (``ConnectTimeout``, ``ReadTimeout``, ``TransportError`` or the
        socket's error) for transport failures (callers decide whether to retry) and
        ``InvalidInput``/``RemoteError`` for bad redirects.
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
            response = self._send(method, current, merged, timeout, data, crossed)
            if not follow_redirects or response.status not in _REDIRECTS:
                return response
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
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, data = "GET", None
            current = target
        raise RemoteError(f"too many redirects starting at {redact_url(url)}")

    # ---------------------------------------------------------------- one request
    def _send(self, method: str, url: str, headers: dict[str, str], timeout: tuple[float, float],
              data: bytes | Mapping[str, str] | None, crossed: bool) -> HttpResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        proxy = proxy_for(self._proxy, scheme, host, port)
        target = quote(parts.path or "/", safe=_URL_SAFE) + (f"?{quote(parts.query, safe=_URL_SAFE)}"
                                                             if parts.query else "")
        sent = {"User-Agent": self._user_agent, "Accept-Encoding": "identity", "Accept": "*/*"}
        sent.update(headers)
        netloc = parts.netloc.rpartition("@")[2]
        sent.setdefault("Host", netloc)
        userinfo = basic_authorization(url)
        if userinfo and not any(k.lower() == "authorization" for k in sent):
            sent["Authorization"] = userinfo  # credentials in the URL itself, as requests sends them
        body = data
        if isinstance(data, Mapping):
            body = urlencode(dict(data)).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if proxy is not None and scheme == "http":
            target = f"http://{netloc}{target}"  # a forward proxy takes the absolute URL
            proxy_auth = basic_authorization(proxy)
            if proxy_auth:
                sent["Proxy-Authorization"] = proxy_auth
        for attempt in (1, 2):
            connection = self._connections.get(scheme, host, port, proxy, timeout[0])
            try:
                connection.sock = connection.conn.sock
                connection.sock.settimeout(timeout[1])
                connection.conn.request(method, target, body=body, headers=sent)
                raw = connection.conn.getresponse()
            except (TimeoutError, socket.timeout):
                connection.close()
                raise ReadTimeout(f"no answer within {timeout[1]:g} s") from None
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                # A kept-alive connection the server has closed meanwhile: once more on a new one.
                if connection.reused and attempt == 1 and isinstance(
                        exc, (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine)):
                    continue
                if isinstance(exc, OSError):
                    raise
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
            return HttpResponse(raw.status, Headers(raw.getheaders()), url, crossed, raw, connection)
        raise AssertionError("unreachable")


__all__ = ["CONNECT_TIMEOUT", "MAX_REDIRECTS", "READ_TIMEOUT", "USER_AGENT", "ConnectTimeout", "Headers", "HttpClient",
           "HttpResponse", "ReadTimeout", "TransportError", "check_http_url", "origin_of"]
