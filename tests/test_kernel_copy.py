"""The kernel's byte path (``os.splice``, Linux) on real sockets and files: what it moves, how it
ends, stalls and meets a file that refuses it; and when an answer may hand its body to it."""
from __future__ import annotations

import os
import socket
import threading

import pytest

from comfyui_model_manager.core.downloads import kernel_copy
from comfyui_model_manager.core.downloads.kernel_copy import KernelCopy
from comfyui_model_manager.core.http import HttpClient
from support.downloads import payload
from support.range_server import RangeServer

pytestmark = pytest.mark.skipif(not kernel_copy.AVAILABLE, reason="os.splice is Linux only")


def _pair(timeout: float | None = 2.0) -> tuple[socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(listener.getsockname())
    receiver, _ = listener.accept()
    listener.close()
    receiver.settimeout(timeout)
    return sender, receiver


def _sent_and_moved(data: bytes, target, capacity: int, flags: int = 0) -> KernelCopy:
    """Sends ``data`` over a loopback connection and moves it into ``target``; the copier used."""
    sender, receiver = _pair()
    threading.Thread(target=sender.sendall, args=(data,), daemon=True).start()
    fd = os.open(target, os.O_RDWR | os.O_CREAT | flags)
    copier = KernelCopy(capacity)
    try:
        assert _move_all(copier, receiver, fd, len(data)) == len(data)
    finally:
        copier.close()
        os.close(fd)
        sender.close()
        receiver.close()
    return copier


def _move_all(copier: KernelCopy, sock: socket.socket, fd: int, size: int) -> int:
    offset = 0
    while offset < size:
        moved = copier.move(sock, fd, offset, size - offset)
        if moved == 0:
            break
        offset += moved
    return offset


def test_moves_the_bytes_into_the_file_at_their_offsets(tmp_path):
    data = payload(3_000_000)
    target = tmp_path / "f.bin"
    _sent_and_moved(data, target, 1024 * 1024)
    assert target.read_bytes() == data


def test_the_peer_closing_reads_as_zero_and_a_silent_peer_as_a_stall(tmp_path):
    sender, receiver = _pair(timeout=0.3)
    fd = os.open(tmp_path / "f.bin", os.O_RDWR | os.O_CREAT)
    copier = KernelCopy(64 * 1024)
    try:
        with pytest.raises(socket.timeout):
            copier.move(receiver, fd, 0, 1000)
        sender.sendall(b"abc")
        sender.close()
        assert copier.move(receiver, fd, 0, 1000) == 3
        assert copier.move(receiver, fd, 3, 1000) == 0
    finally:
        copier.close()
        os.close(fd)
        receiver.close()
    assert (tmp_path / "f.bin").read_bytes() == b"abc"


def test_a_file_that_refuses_splice_gets_the_bytes_through_python(tmp_path):
    data = payload(500_000)
    target = tmp_path / "appended.bin"
    copier = _sent_and_moved(data, target, 64 * 1024, os.O_APPEND)  # splice refuses O_APPEND files
    assert copier.file_refuses
    assert target.read_bytes() == data


def test_an_answer_hands_its_body_to_the_kernel_only_with_nothing_buffered_in_python():
    data = payload(400_000)
    with RangeServer() as server:
        server.add("/f.safetensors", data)
        http = HttpClient()
        response = http.request("GET", server.url("/f.safetensors"), timeout=(2, 2))
        with response:
            assert response.splice_source() is None  # the headers' read may have buffered body bytes
            got = bytearray()
            small = bytearray(100)  # a small read leaves the rest of the reader's buffer filled
            got += small[:response.readinto(small)]
            assert response.splice_source() is None
            big = bytearray(256 * 1024)
            got += big[:response.readinto(big)]
            source = response.splice_source()
            assert source is not None and source[1] == len(data) - len(got)
            sock, left = source
            rest = bytearray()
            while left:
                chunk = sock.recv(left)
                assert chunk
                rest += chunk
                left -= len(chunk)
            response.spliced(len(rest))
            assert bytes(got + rest) == data
            assert response.readinto(big) == 0  # the body is over
