"""File names from Content-Disposition as real servers send them: raw UTF-8 bytes in
``filename="…"`` (which HTTP clients decode as ISO-8859-1), RFC 6266 ``filename*`` first, and
real ISO-8859-1 names kept.  Served by a real loopback server that writes the bytes as given."""
from __future__ import annotations

import pytest
from support.downloads import download_once, file_sha, listing, make_manager, payload, request, sha256
from support.fake_http import FakeServer, FileBody, Reply

from comfyui_model_manager.core.content_disposition import filename_from_content_disposition
from comfyui_model_manager.core.http import HttpClient

DATA = payload(40_000, seed=11)


@pytest.fixture
def server():
    headers: dict[str, bytes] = {}

    def handle(req) -> Reply:
        return Reply(200, {}, FileBody(DATA, etag='"cd1"', extra_headers={"Content-Disposition": headers[req.path]}))

    fake = FakeServer("127.0.0.1", handle)
    fake.headers = headers  # path -> the exact header bytes to send
    yield fake
    fake.close()


CASES = [
    # raw UTF-8 in filename="…" (what many storage servers do)
    ('attachment; filename="Ünïcødé_模型_v1.safetensors"'.encode(), "Ünïcødé_模型_v1.safetensors"),
    # RFC 6266: filename* wins over the fallback
    ("attachment; filename=\"fallback.safetensors\"; filename*=UTF-8''%E6%A8%A1%E5%9E%8B.safetensors".encode(),
     "模型.safetensors"),
    # filename* with raw UTF-8 instead of percent-encoding
    ("attachment; filename*=UTF-8''caf\u00e9_\u00fc.safetensors; filename=\"x.safetensors\"".encode(),
     "café_ü.safetensors"),
    # a real ISO-8859-1 byte (not valid UTF-8) stays what it meant
    (b'attachment; filename="caf\xe9.safetensors"', "café.safetensors"),
    (b'attachment; filename="plain.safetensors"', "plain.safetensors"),
]


@pytest.mark.parametrize("raw, name", CASES)
def test_the_name_a_real_server_sent_is_decoded_right(server, raw, name) -> None:
    server.headers["/f"] = raw
    with HttpClient().request("GET", server.url + "/f") as response:
        header = response.headers["Content-Disposition"]
        assert header.encode("latin-1") == raw  # what the client got is the bytes, read as latin-1
    assert filename_from_content_disposition(header) == name


def test_download_lands_under_the_utf8_name(server, tmp_path) -> None:
    server.headers["/api/get"] = 'attachment; filename="Ünïcødé_模型_v1.safetensors"'.encode()
    done = download_once(make_manager(tmp_path), request(server.url + "/api/get", "loras"))
    assert done.status == "completed", done.error
    assert done.filename == "Ünïcødé_模型_v1.safetensors"
    assert listing(tmp_path / "models" / "loras") == ["Ünïcødé_模型_v1.safetensors"]
    assert file_sha(tmp_path / "models" / "loras" / done.filename) == sha256(DATA)


def test_text_already_decoded_is_left_alone() -> None:
    assert filename_from_content_disposition('attachment; filename="模型.safetensors"') == "模型.safetensors"
    assert filename_from_content_disposition('attachment; filename="Ã¤"'.encode().decode("latin-1")) == "Ã¤"
