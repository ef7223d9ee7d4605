"""A loopback file server whose speed the test controls while a download runs.

Built on ``fake_http.FakeServer``: every request for a name gets the same ``FileBody``, whose
``delay`` (seconds slept per 64 KiB chunk) is read between chunks, so ``set_delay`` slows down
or speeds up downloads that are already streaming. Range requests are answered (206).
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass

from .fake_http import FakeServer, FileBody, LoggedRequest, Reply, json_reply

CHUNK = 64 * 1024


@dataclass
class ServedFile:
    name: str
    body: FileBody
    status: int = 200

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.body.data)


class ThrottledFiles:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._files: dict[str, ServedFile] = {}
        self._slow: dict[str, tuple[int, object, float]] = {}
        self.server = FakeServer(host, self._handle)

    def add(self, name: str, size: int, delay: float = 0.0, status: int = 200) -> ServedFile:
        """Serves ``size`` random bytes at ``/<name>``; ``status`` other than 200 is an error reply."""
        served = ServedFile(name, FileBody(os.urandom(size), delay=delay), status)
        with self._lock:
            self._files[name] = served
        return served

    def add_slow_json(self, prefix: str, status: int, document: object, delay: float) -> None:
        """Answers every path starting with ``prefix`` with ``document`` after ``delay`` seconds
        (e.g. a slow Civitai by-hash lookup that keeps a scan busy)."""
        with self._lock:
            self._slow[prefix] = (status, document, delay)

    def set_delay(self, name: str, delay: float) -> None:
        with self._lock:
            self._files[name].body.delay = delay

    def url(self, name: str) -> str:
        return f"{self.server.url}/{name}"

    def requests_for(self, name: str) -> list[LoggedRequest]:
        return [r for r in self.server.requests if r.path == f"/{name}"]

    def _handle(self, request: LoggedRequest) -> Reply:
        with self._lock:
            served = self._files.get(request.path.lstrip("/"))
            slow = next((v for k, v in self._slow.items() if request.path.startswith(k)), None)
        if slow is not None:
            status, document, delay = slow
            time.sleep(delay)
            return json_reply(status, document)
        if served is None:
            return Reply(404, {"Content-Type": "text/plain"}, b"not found")
        if served.status != 200:
            return Reply(served.status, {"Content-Type": "text/plain"}, f"HTTP {served.status}".encode())
        return Reply(200, {"Content-Disposition": f'attachment; filename="{served.name}"'}, served.body)

    def close(self) -> None:
        self.server.close()
