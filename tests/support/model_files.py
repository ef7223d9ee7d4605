"""A loopback host serving model files (Range, ETag, Content-Disposition) at an adjustable speed.

Built on ``fake_http.FakeServer``.  ``delay`` (seconds slept after each 64 KiB chunk) applies
at once, also to responses already streaming, so a test can make a download slow, observe it,
then let it finish fast.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import weakref
from dataclasses import dataclass

from .fake_http import FakeServer, FileBody, LoggedRequest, Reply


@dataclass
class ServedFile:
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class ModelFileHost:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.files: dict[str, ServedFile] = {}
        self._delay = 0.0
        self._bodies: list[weakref.ref] = []
        self.server = FakeServer(host, self._handle)

    @property
    def delay(self) -> float:
        return self._delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._delay = seconds
        self._bodies = [ref for ref in self._bodies if ref() is not None]
        for ref in self._bodies:
            body = ref()
            if body is not None:
                body.delay = seconds

    def add(self, path: str, size: int, seed: int | None = None) -> ServedFile:
        """Serve about ``size`` pseudo-random bytes at ``path`` (e.g. "/files/lora.safetensors").

        A ``.safetensors`` path gets a valid file (header + one U8 tensor), so scanners read it
        like a real model; other paths get raw bytes."""
        data = os.urandom(size) if seed is None else _pattern(size, seed)
        if path.endswith(".safetensors"):
            data = safetensors_file(data)
        served = ServedFile(data)
        self.files[path] = served
        return served

    def url(self, path: str) -> str:
        return self.server.url + path

    def requests_for(self, path: str) -> list[LoggedRequest]:
        return [r for r in self.server.requests if r.path == path]

    def close(self) -> None:
        self.server.close()

    def _handle(self, request: LoggedRequest) -> Reply:
        served = self.files.get(request.path)
        if served is None:
            return Reply(404, {"Content-Type": "text/plain"}, b"no such file")
        name = request.path.rsplit("/", 1)[-1]
        body = FileBody(served.data, etag=f'"{served.sha256[:16]}"', delay=self._delay)
        self._bodies.append(weakref.ref(body))
        return Reply(200, {"Content-Disposition": f'attachment; filename="{name}"'}, body)


def safetensors_file(payload: bytes) -> bytes:
    """A minimal valid safetensors file holding ``payload`` as one U8 tensor."""
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "weight": {"dtype": "U8", "shape": [len(payload)],
                                    "data_offsets": [0, len(payload)]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + payload


def _pattern(size: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048
    return (block * (size // len(block) + 1))[:size]
