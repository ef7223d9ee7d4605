"""A local file server for the download benchmarks: nginx when installed, else Python.

``/files/NAME`` serves ``root/www/NAME`` at full speed, ``/limited/NAME`` the same file with a
per-connection rate limit (nginx ``limit_rate``).  Both honour ``Range`` (206) so that our
downloads can use several connections.  nginx is Debian's (``apt-get install nginx-light``),
started as our own process on a free 127.0.0.1 port with a temporary config; without it a
threaded ``http.server`` using ``socket.sendfile`` stands in (slower than nginx: the numbers
then say less about us and more about the server, which is why ``kind`` is printed).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_file(path: Path, size: int, sparse: bool = False) -> None:
    """``size`` bytes of random data (an 8 MiB random block repeated), or a sparse file of zeros."""
    if sparse:
        with open(path, "wb") as fh:
            fh.truncate(size)
        return
    block = os.urandom(8 * MiB)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            part = block[: min(len(block), size - written)]
            fh.write(part)
            written += len(part)


def sha256_of(path: Path) -> str:
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def find_nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


NGINX_CONF = """
worker_processes 1;
daemon off;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
{user}
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    types {{ application/octet-stream safetensors; }}
    server {{
        listen 127.0.0.1:{port};
        location /files/ {{ alias {root}/www/; }}
        location /limited/ {{ alias {root}/www/; limit_rate {rate}; }}
    }}
}}
"""


class LocalServer:
    """``with LocalServer(root, limit_bps=20_000_000) as server: server.url("x", limited=True)``."""

    def __init__(self, root: Path, limit_bps: int = 20_000_000, prefer: str = "auto") -> None:
        self.root = Path(root)
        (self.root / "www").mkdir(parents=True, exist_ok=True)
        self.limit_bps = limit_bps
        self.port = free_port()
        self._nginx: subprocess.Popen | None = None
        self._python: ThreadingHTTPServer | None = None
        nginx = find_nginx() if prefer in ("auto", "nginx") else None
        if prefer == "nginx" and nginx is None:
            raise SystemExit("nginx is not installed (apt-get install nginx-light)")
        if nginx:
            self._start_nginx(nginx)
        else:
            self._start_python()

    @property
    def www(self) -> Path:
        return self.root / "www"

    def url(self, name: str, limited: bool = False) -> str:
        return f"http://127.0.0.1:{self.port}/{'limited' if limited else 'files'}/{name}"

    # ------------------------------------------------------------------ nginx
    def _start_nginx(self, nginx: str) -> None:
        (self.root / "tmp").mkdir(exist_ok=True)
        os.chmod(self.root, 0o755)
        conf = self.root / "nginx.conf"
        user = "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(root=self.root, port=self.port, user=user, rate=self.limit_bps))
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
        self.kind = (version.stderr.strip().split(":")[-1].strip() or "nginx") + f" ({nginx})"
        self._nginx = subprocess.Popen([nginx, "-p", str(self.root), "-c", str(conf)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self._nginx.poll() is not None:
                    break
                time.sleep(0.05)
        self._nginx.kill()
        err = self._nginx.stderr.read().decode() if self._nginx.stderr else ""
        raise SystemExit(f"nginx did not start: {err}")

    # ------------------------------------------------------------------ Python fallback
    def _start_python(self) -> None:
        www, limit = self.www, self.limit_bps

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                _serve_file(self, www, limit)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._python = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._python.serve_forever, name="bench-http", daemon=True).start()
        self.kind = "Python http.server fallback (nginx not installed; apt-get install nginx-light)"

    def close(self) -> None:
        if self._nginx is not None:
            self._nginx.terminate()
            self._nginx.wait(10)
        if self._python is not None:
            self._python.shutdown()
            self._python.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _serve_file(handler: BaseHTTPRequestHandler, www: Path, limit_bps: int) -> None:
    prefix, _, name = handler.path.lstrip("/").partition("/")
    path = www / name
    if prefix not in ("files", "limited") or "/" in name or not path.is_file():
        handler.send_error(404)
        return
    size = path.stat().st_size
    start, end = 0, size - 1
    match = _RANGE.match(handler.headers.get("Range") or "")
    if match:
        start = int(match.group(1))
        end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        if start >= size:
            handler.send_response(416)
            handler.send_header("Content-Range", f"bytes */{size}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
    handler.send_response(206 if match else 200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Accept-Ranges", "bytes")
    handler.send_header("Content-Length", str(end - start + 1))
    if match:
        handler.send_header("Content-Range", f"bytes {start}-{end}/{size}")
    handler.end_headers()
    with open(path, "rb") as fh:
        try:
            if prefix == "files":
                handler.connection.sendfile(fh, start, end - start + 1)
                return
            sent, began, position = 0, time.monotonic(), start
            while position <= end:
                count = min(64 * 1024, end - position + 1)
                handler.connection.sendfile(fh, position, count)
                position += count
                sent += count
                ahead = sent / limit_bps - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError):
            pass
