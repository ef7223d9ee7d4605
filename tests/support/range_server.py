"""A real HTTP file server for download tests, with faults you can inject.

Runs a ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) on a chosen loopback host, so a test can
have "another host" on 127.0.0.2.  Each served path has a mutable :class:`ServedFile` whose
fault fields are consumed request by request, and every request is logged
(:class:`ServedRequest`: headers seen, status sent, body bytes actually written, connection id)
so a test can assert what the client asked for and how many bytes it really fetched.

Example::

    with RangeServer("127.0.0.1") as server:
        spec = server.add("/m.safetensors", data, etag='"v1"', drop_after=[1000, 5000])
        ... download server.url("/m.safetensors") ...
        assert server.bytes_served("/m.safetensors") < 2 * len(data)
        assert server.requests_for("/m.safetensors")[1].header("Range") == "bytes=1000-"

Faults (all optional):
- ``ignore_range``: answer 200 with the whole body even to a Range request.
- ``fail``: list of ``(status, retry_after_or_None)`` answered to the next requests, in order
  (e.g. ``[(503, "1"), (429, None)]``), then the file is served normally.
- ``drop_after``: list of byte counts; the next responses (one per entry) longer than that are
  cut by closing the connection after that many body bytes (counted from the start of that
  response; a probe for ``bytes=0-0`` does not use up a fault).
- ``stall_after`` / ``stall_seconds``: the next ``stall_times`` responses stop sending after that many
  body bytes for ``stall_seconds`` (then close).
- ``wrong_range``: the next N ranged answers carry a Content-Range whose start is off by 1.
- ``rate``: bytes per second per connection (a throttled link, for pause/resume tests).
- ``no_length``: no Content-Length; the body ends when the connection closes.
- ``etag`` (If-Range honoured only for an equal strong ETag), ``content_disposition``,
  ``content_type``, ``headers`` (extra), ``require_header`` (name → value, else 401).
Redirects: ``server.redirect("/a", "http://127.0.0.2:PORT/b", status=302)``.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

from .http_records import HeaderLookup

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class ServedFile:
    data: bytes
    content_type: str = "application/octet-stream"
    etag: str | None = None
    content_disposition: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ignore_range: bool = False
    fail: list[tuple[int, str | None]] = field(default_factory=list)
    drop_after: list[int] = field(default_factory=list)
    stall_after: int | None = None
    stall_seconds: float = 0.0
    stall_times: int = 1
    wrong_range: int = 0
    rate: float | None = None
    #: Send no Content-Length and end the body by closing the connection (old servers, streams).
    no_length: bool = False
    require_header: dict[str, str] = field(default_factory=dict)
    #: Called with each request before answering (e.g. to change the file mid-test).
    on_request: Callable[["ServedRequest"], None] | None = None


@dataclass
class ServedRequest(HeaderLookup):
    host: str
    method: str
    path: str
    target: str
    headers: dict[str, str]
    connection: int
    status: int = 0
    body_bytes: int = 0  # body bytes actually written to the socket


class RangeServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._lock = threading.Lock()
        self._files: dict[str, ServedFile] = {}
        self._redirects: dict[str, tuple[int, str]] = {}
        self._log: list[ServedRequest] = []
        self._connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections += 1
                    self.connection_id = server._connections

            def log_message(self, *args: object) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass  # the client hung up (pause, cancel, kill): normal in these tests

            def do_GET(self) -> None:
                server._serve(self)

            do_HEAD = do_GET

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"range-{host}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ configuration
    def add(self, path: str, data: bytes, **options) -> ServedFile:
        spec = ServedFile(data=data, **options)
        with self._lock:
            self._files[path] = spec
        return spec

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        with self._lock:
            self._redirects[path] = (status, location)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    # ------------------------------------------------------------------ inspection
    @property
    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._log)

    def requests_for(self, path: str) -> list[ServedRequest]:
        return [r for r in self.requests if r.path == path]

    def bytes_served(self, path: str | None = None) -> int:
        return sum(r.body_bytes for r in self.requests if path is None or r.path == path)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "RangeServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ serving
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        entry = ServedRequest(self.host, handler.command, parts.path, handler.path,
                              dict(handler.headers.items()), handler.connection_id)  # type: ignore[attr-defined]
        with self._lock:
            self._log.append(entry)
            spec = self._files.get(parts.path)
            redirect = self._redirects.get(parts.path)
        if redirect is not None:
            status, location = redirect
            self._simple(handler, entry, status, b"", {"Location": location})
            return
        if spec is None:
            self._simple(handler, entry, 404, b"not found", {"Content-Type": "text/plain"})
            return
        if spec.on_request is not None:
            spec.on_request(entry)
        for name, value in spec.require_header.items():
            if entry.header(name) != value:
                self._simple(handler, entry, 401, b'{"error":"Unauthorized"}', {"Content-Type": "application/json"})
                return
        with self._lock:
            failure = spec.fail.pop(0) if spec.fail else None
        if failure is not None:
            status, retry_after = failure
            headers = {"Content-Type": "text/plain"}
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            self._simple(handler, entry, status, f"error {status}".encode(), headers)
            return
        self._send_file(handler, entry, spec)

    def _simple(self, handler: BaseHTTPRequestHandler, entry: ServedRequest, status: int, body: bytes,
                headers: dict[str, str]) -> None:
        entry.status = status
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD" and body:
            handler.wfile.write(body)
            entry.body_bytes = len(body)

    def _send_file(self, handler: BaseHTTPRequestHandler, entry: ServedRequest, spec: ServedFile) -> None:
        data = spec.data
        total = len(data)
        start, end, status = 0, total - 1, 200
        headers = {"Content-Type": spec.content_type, **spec.headers}
        if not spec.ignore_range:
            headers["Accept-Ranges"] = "bytes"
        if spec.etag:
            headers["ETag"] = spec.etag
        if spec.content_disposition:
            headers["Content-Disposition"] = spec.content_disposition
        range_header = entry.header("Range")
        if range_header and not spec.ignore_range:
            match = _RANGE.match(range_header.strip())
            if_range = entry.header("If-Range")
            validator_ok = if_range is None or (spec.etag is not None and not spec.etag.startswith("W/")
                                                and if_range == spec.etag)
            if match and validator_ok and match.group(1) != "":
                first = int(match.group(1))
                last = int(match.group(2)) if match.group(2) else total - 1
                if first >= total or last < first:
                    entry.status = 416
                    handler.send_response(416)
                    handler.send_header("Content-Range", f"bytes */{total}")
                    handler.send_header("Content-Length", "0")
                    handler.end_headers()
                    return
                start, end, status = first, min(last, total - 1), 206
                shown_start = start
                with self._lock:
                    if spec.wrong_range > 0:
                        spec.wrong_range -= 1
                        shown_start = start + 1
                headers["Content-Range"] = f"bytes {shown_start}-{end}/{total}"
        body = memoryview(data)[start:end + 1]
        with self._lock:  # a fault is used up only by a response long enough to show it
            drop = None
            if spec.drop_after and spec.drop_after[0] < len(body) and handler.command != "HEAD":
                drop = spec.drop_after.pop(0)
            stall = None
            if (spec.stall_after is not None and spec.stall_times > 0 and spec.stall_after < len(body)
                    and handler.command != "HEAD"):
                spec.stall_times -= 1
                stall = spec.stall_after
        entry.status = status
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if spec.no_length:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        else:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        self._stream(handler, entry, spec, body, drop, stall)

    def _stream(self, handler: BaseHTTPRequestHandler, entry: ServedRequest, spec: ServedFile,
                body: memoryview, drop: int | None, stall: int | None) -> None:
        chunk = 64 * 1024
        if spec.rate:
            chunk = max(1024, min(chunk, int(spec.rate / 20)))
        began = time.monotonic()
        sent = 0
        try:
            while sent < len(body):
                piece = body[sent:sent + chunk]
                limit = min(x for x in (drop, stall, len(body)) if x is not None)
                if sent + len(piece) > limit:
                    piece = piece[:max(0, limit - sent)]
                if piece:
                    handler.wfile.write(piece)
                    sent += len(piece)
                    entry.body_bytes = sent
                if drop is not None and sent >= drop:
                    handler.wfile.flush()
                    self._cut(handler)
                    return
                if stall is not None and sent >= stall:
                    handler.wfile.flush()
                    time.sleep(spec.stall_seconds)
                    self._cut(handler)
                    return
                if spec.rate:
                    ahead = sent / spec.rate - (time.monotonic() - began)
                    if ahead > 0:
                        handler.wfile.flush()
                        time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError, OSError):
            handler.close_connection = True

    @staticmethod
    def _cut(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
