"""The pack's HTTP client against real servers on 127.0.0.1: kept-alive connections, a pooled
connection the server has closed, timeouts, URL quoting, NO_PROXY, and what it imports."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from comfyui_model_manager.core.http import ConnectTimeout, Headers, HttpClient, ReadTimeout, TransportError
from comfyui_model_manager.core.http_proxy import bypasses_proxy
from support.range_server import RangeServer


def _read_all(response) -> bytes:
    chunks = []
    buffer = bytearray(4096)
    while True:
        count = response.readinto(buffer)
        if not count:
            return b"".join(chunks)
        chunks.append(bytes(buffer[:count]))


def test_answers_read_to_their_end_reuse_one_connection():
    data = bytes(range(256)) * 400
    with RangeServer("127.0.0.1") as server:
        server.add("/a.bin", data)
        client = HttpClient()
        for _ in range(3):
            response = client.request("GET", server.url("/a.bin"), headers={"Range": "bytes=10-"})
            assert response.status == 206 and _read_all(response) == data[10:]
            response.release()
        assert server.connections == 1
        response = client.request("GET", server.url("/a.bin"))
        assert response.read(100) == data[:100]
        response.release()  # not read to its end: closed, never reused
        response = client.request("GET", server.url("/a.bin"))
        assert _read_all(response) == data
        response.close()
        assert server.connections == 2


def _one_answer_per_connection_server(stop: threading.Event) -> tuple[socket.socket, list[int]]:
    """Answers each connection's first request (keep-alive promised), then closes it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted = [0]

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted[0] += 1
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
                time.sleep(0.05)

    threading.Thread(target=serve, daemon=True).start()
    return listener, accepted


def test_a_pooled_connection_the_server_closed_is_replaced():
    stop = threading.Event()
    listener, accepted = _one_answer_per_connection_server(stop)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    try:
        client = HttpClient()
        for _ in range(3):
            response = client.request("GET", url)
            assert response.status == 200 and _read_all(response) == b"ok"
            response.release()
            time.sleep(0.1)  # the server has hung up on the idle connection by now
        assert accepted[0] == 3
    finally:
        stop.set()
        listener.close()


def test_a_server_that_never_answers_is_a_read_timeout():
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(ReadTimeout) as caught:
            HttpClient().request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=(5, 0.3))
        assert time.monotonic() - started < 3
        assert isinstance(caught.value, OSError) and not isinstance(caught.value, ConnectTimeout)
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_a_refused_connection_and_a_garbled_answer_are_oserrors():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        HttpClient().request("GET", f"http://127.0.0.1:{port}/")
    listener = socket.create_server(("127.0.0.1", 0))

    def garble() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"SPEAKING NONSENSE\r\n\r\n")

    threading.Thread(target=garble, daemon=True).start()
    try:
        with pytest.raises(TransportError):
            HttpClient().request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/")
    finally:
        listener.close()


def test_paths_with_spaces_and_non_ascii_are_sent_percent_encoded():
    with RangeServer("127.0.0.1") as server:
        server.add("/my%20model%C3%A9.safetensors", b"x" * 10)
        response = HttpClient().request("GET", server.url("/my model\u00e9.safetensors"))
        assert response.status == 200 and _read_all(response) == b"x" * 10
        response.close()
        response = HttpClient().request("GET", server.url("/my%20model%C3%A9.safetensors?a=b c"))
        response.close()
        targets = [r.target for r in server.requests]
        assert targets == ["/my%20model%C3%A9.safetensors", "/my%20model%C3%A9.safetensors?a=b%20c"]


def test_no_proxy_entries():
    assert bypasses_proxy("anything.example", 443, "*")
    assert bypasses_proxy("example.com", 443, "example.com")
    assert bypasses_proxy("cdn.example.com", 443, ".example.com")
    assert not bypasses_proxy("badexample.com", 443, "example.com")
    assert bypasses_proxy("127.0.0.2", 8080, "localhost, 127.0.0.2")
    assert bypasses_proxy("internal", 8080, "internal:8080") and not bypasses_proxy("internal", 80, "internal:8080")
    assert bypasses_proxy("10.1.2.3", 80, "10.0.0.0/8") and not bypasses_proxy("11.1.2.3", 80, "10.0.0.0/8")
    assert not bypasses_proxy("example.com", 443, "")


def test_headers_are_case_insensitive_and_repeated_ones_join():
    headers = Headers([("Content-Length", "5"), ("Link", "<a>"), ("link", "<b>")])
    assert headers["content-length"] == "5" and headers.get("LINK") == "<a>, <b>"
    assert "CONTENT-LENGTH" in headers and dict(Headers(headers)) == {"Content-Length": "5", "Link": "<a>, <b>"}


def test_a_download_imports_neither_requests_nor_urllib3():
    code = ("import sys; import comfyui_model_manager.core.downloads.manager, comfyui_model_manager.core.sources.direct, "
            "comfyui_model_manager.core.sources.civitai, comfyui_model_manager.core.sources.huggingface; "
            "print(sorted(m for m in ('requests', 'urllib3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
