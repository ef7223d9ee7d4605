"""Building blocks shared by the fake Civitai and the fake Hub: a threaded loopback HTTP server
whose requests are logged, and a file responder that speaks HTTP Range like a real store.

A fake registers one ``handle(request) -> Reply | None`` function per server; ``Reply`` is a
plain status/headers/body triple, or a ``FileBody`` that is streamed (with optional faults).

Header values may be ``bytes``: they go on the wire exactly as given (a server that puts raw
UTF-8 in ``Content-Disposition``).  ``FakeServer.lowercase_headers = True`` sends every response
header name in lower case, as HTTP/2 servers and many proxies do.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from .http_records import HeaderLookup


@dataclass
class LoggedRequest(HeaderLookup):
    """One request as the server saw it (headers keep their original case in ``headers``)."""

    host: str  # "127.0.0.1" / "127.0.0.2"
    method: str
    path: str  # path only, still percent-encoded
    query: dict[str, str]
    raw_target: str  # path + query exactly as sent
    headers: dict[str, str]


    @property
    def has_authorization(self) -> bool:
        return self.header("Authorization") is not None


@dataclass
class FileBody:
    """A body served with Range support. ``drop_after``: close the connection after that many
    body bytes (once per call of ``on_drop``); ``delay``: seconds slept between 64 KiB chunks."""

    data: bytes
    etag: str | None = None
    content_type: str = "application/octet-stream"
    extra_headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    delay: float = 0.0
    on_drop: Callable[[], None] | None = None


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | FileBody = b""


Handler = Callable[[LoggedRequest], Reply]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def json_reply(status: int, document: object, headers: dict[str, str] | None = None) -> Reply:
    import json

    body = json.dumps(document).encode("utf-8")
    return Reply(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body)


class FakeServer:
    """A ``ThreadingHTTPServer`` on ``host`` (port chosen by the OS) that logs every request."""

    def __init__(self, host: str, handler: Handler) -> None:
        self.host = host
        self._handler = handler
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self.lowercase_headers = False
        server = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def send_header(self, keyword: str, value: "str | bytes") -> None:
                if server.lowercase_headers:
                    keyword = keyword.lower()
                if isinstance(value, bytes):  # http.server writes latin-1: these bytes go out unchanged
                    value = value.decode("latin-1")
                super().send_header(keyword, value)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                request = LoggedRequest(
                    host=server.host, method=self.command, path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    raw_target=self.path, headers=dict(self.headers.items()),
                )
                with server._lock:
                    server._log.append(request)
                try:
                    reply = server._handler(request)
                except Exception as exc:  # a bug in a fake must show up, not hang a test
                    reply = Reply(500, {"Content-Type": "text/plain"}, f"fake error: {exc!r}".encode())
                _write_reply(self, request, reply)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

        self._httpd = ThreadingHTTPServer((host, 0), _RequestHandler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-{host}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _write_reply(handler: BaseHTTPRequestHandler, request: LoggedRequest, reply: Reply) -> None:
    if isinstance(reply.body, FileBody):
        _write_file(handler, request, reply)
        return
    body = reply.body
    handler.send_response(reply.status)
    for key, value in reply.headers.items():
        handler.send_header(key, value)
    if not any(k.lower() == "content-length" for k in reply.headers):
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if request.method != "HEAD" and body:
        handler.wfile.write(body)


def _write_file(handler: BaseHTTPRequestHandler, request: LoggedRequest, reply: Reply) -> None:
    spec: FileBody = reply.body  # type: ignore[assignment]
    data = spec.data
    total = len(data)
    status, start, end = reply.status, 0, total - 1
    headers = {"Content-Type": spec.content_type, "Accept-Ranges": "bytes", **spec.extra_headers, **reply.headers}
    if spec.etag:
        headers["ETag"] = spec.etag
    range_header = request.header("Range")
    if range_header and status == 200:
        match = _RANGE.match(range_header.strip())
        if_range = request.header("If-Range")
        honour = match is not None and (if_range is None or (spec.etag is not None and if_range == spec.etag
                                                              and not if_range.startswith("W/")))
        if honour and match:
            first, last = match.groups()
            if first == "":  # suffix form bytes=-N
                length = int(last or 0)
                start, end = max(total - length, 0), total - 1
            else:
                start = int(first)
                end = min(int(last), total - 1) if last else total - 1
            if start >= total or (last and int(last) < start):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{total}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    part = data[start:end + 1]
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(part)))
    handler.end_headers()
    if request.method == "HEAD":
        return
    sent = 0
    chunk = 64 * 1024
    try:
        while sent < len(part):
            piece = part[sent:sent + chunk]
            if spec.drop_after is not None and start + sent + len(piece) > spec.drop_after:
                cut = max(spec.drop_after - (start + sent), 0)
                handler.wfile.write(piece[:cut])
                handler.wfile.flush()
                spec.drop_after = None  # one fault per configuration
                if spec.on_drop:
                    spec.on_drop()
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            handler.wfile.write(piece)
            sent += len(piece)
            if spec.delay:
                handler.wfile.flush()
                time.sleep(spec.delay)
    except (BrokenPipeError, ConnectionResetError, OSError):
        handler.close_connection = True
