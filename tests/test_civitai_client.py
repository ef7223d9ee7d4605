"""The Civitai v1 API client the scanner uses: by-hash, retries and backoff, JSON shapes."""
from __future__ import annotations

import email.utils
import hashlib
import time
from dataclasses import replace

import pytest
from support.fake_civitai import FakeCivitai, civitai_hashes

from comfyui_model_manager.core.errors import InvalidInput, NotFound, RateLimited, RemoteError
from comfyui_model_manager.core.http import HttpClient
from comfyui_model_manager.core.retry import API_RETRY
from comfyui_model_manager.core.settings import Settings
from comfyui_model_manager.core.sources.civitai import CivitaiClient

DATA = b"model-data-" * 500


@pytest.fixture
def civitai():
    with FakeCivitai() as fake:
        fake.add_model(1, "Model", "Checkpoint", description="<p>d</p>")
        fake.add_version(1, 10, "v1", trained_words=["a"])
        fake.add_file(10, 100, "model_v1.safetensors", DATA)
        fake.add_file(10, 101, "model_v1_full.ckpt", b"ckpt", format="PickleTensor", size="full", fp="fp32")
        yield fake


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(tmp_path / "settings.json", environ={})


def client(civitai, settings, **options) -> CivitaiClient:
    return CivitaiClient(settings, HttpClient(), civitai.base_url, **options)


def test_base_url_comes_from_the_environment(civitai, settings, monkeypatch) -> None:
    assert CivitaiClient(settings, HttpClient()).base_url == "https://civitai.com"
    monkeypatch.setenv("CIVITAI_BASE_URL", civitai.base_url + "/")
    assert CivitaiClient(settings, HttpClient()).base_url == civitai.base_url
    assert CivitaiClient(settings, HttpClient()).get_version(10)["id"] == 10


@pytest.mark.parametrize("kind", ["SHA256", "AutoV2", "AutoV1", "CRC32", "BLAKE3", "AutoV3"])
def test_version_by_hash_matches_any_hash_type_any_case(civitai, settings, kind) -> None:
    value = civitai_hashes(DATA)[kind]
    version = client(civitai, settings).version_by_hash(value.lower())
    assert version["id"] == 10 and version["modelId"] == 1
    assert version["model"] == {"name": "Model", "type": "Checkpoint", "nsfw": False, "poi": False}
    assert civitai.api_requests[-1].path == f"/api/v1/model-versions/by-hash/{value.upper()}"


def test_version_by_hash_unknown_is_none(civitai, settings) -> None:
    assert client(civitai, settings).version_by_hash(hashlib.sha256(b"nope").hexdigest()) is None
    with pytest.raises(InvalidInput):
        client(civitai, settings).version_by_hash("../../etc")


def test_version_json_shape(civitai, settings) -> None:
    version = client(civitai, settings).get_version(10)
    primary, other = version["files"]
    assert primary["primary"] is True and other["primary"] is False
    assert primary["hashes"]["SHA256"] == hashlib.sha256(DATA).hexdigest().upper()
    assert primary["sizeKB"] == len(DATA) / 1024
    assert version["downloadUrl"] == f"{civitai.base_url}/api/download/models/10"
    assert primary["downloadUrl"] == version["downloadUrl"]
    assert other["downloadUrl"].endswith("?type=Model&format=PickleTensor&size=full&fp=fp32")


def test_model_route_lists_primary_only_when_true(civitai, settings) -> None:
    model = client(civitai, settings).get_model(1)
    files = model["modelVersions"][0]["files"]
    assert files[0]["primary"] is True and "primary" not in files[1]
    assert model["description"] == "<p>d</p>"


def test_not_found_and_bad_ids(civitai, settings) -> None:
    c = client(civitai, settings)
    with pytest.raises(NotFound, match="Model not found"):
        c.get_version(999)
    with pytest.raises(NotFound, match="No model with id 5"):
        c.get_model(5)
    with pytest.raises(InvalidInput, match="not a Civitai id"):
        c.get_model("x/../1")


NO_JITTER = replace(API_RETRY, jitter=False)


def within_jitter(waits: list[float], ceilings: list[float]) -> bool:
    """Each wait lies between half its backoff and all of it."""
    return len(waits) == len(ceilings) and all(c / 2 <= w <= c for w, c in zip(waits, ceilings))


def test_429_is_retried_with_exponential_backoff(civitai, settings) -> None:
    waits: list[float] = []
    civitai.api_rate_limit(3)
    c = client(civitai, settings, sleep=waits.append)
    assert c.get_version(10)["id"] == 10
    assert within_jitter(waits, [1.0, 2.0, 4.0])
    waits.clear()
    civitai.api_rate_limit(3)
    assert client(civitai, settings, sleep=waits.append, retry=NO_JITTER).get_version(10)["id"] == 10
    assert waits == [1.0, 2.0, 4.0]


def test_backoff_is_capped_at_30_seconds_then_gives_up(civitai, settings) -> None:
    waits: list[float] = []
    civitai.api_rate_limit(100)
    c = client(civitai, settings, sleep=waits.append, retries=7, retry=NO_JITTER)
    with pytest.raises(RateLimited) as info:
        c.version_by_hash(civitai_hashes(DATA)["SHA256"])
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert info.value.message == "Civitai is rate limiting requests; wait a little and try again"


def test_retry_after_is_honoured(civitai, settings) -> None:
    waits: list[float] = []
    civitai.api_rate_limit(1, retry_after=7)
    assert client(civitai, settings, sleep=waits.append).get_model(1)["id"] == 1
    assert waits == [7.0]
    civitai.api_rate_limit(5, retry_after=3)
    with pytest.raises(RateLimited) as info:
        client(civitai, settings, sleep=waits.append, retries=0).get_model(1)
    assert info.value.retry_after == 3.0


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_is_honoured(civitai, settings, status) -> None:
    """``Retry-After: <HTTP date>`` (whole seconds) waits until then, not the 1 s backoff."""
    waits: list[float] = []
    civitai.api_rate_limit(1, retry_after=email.utils.formatdate(time.time() + 6, usegmt=True), status=status)
    assert client(civitai, settings, sleep=waits.append).get_version(10)["id"] == 10
    assert len(waits) == 1 and 4.5 <= waits[0] <= 6.0
    civitai.api_rate_limit(1, retry_after=email.utils.formatdate(time.time() - 60, usegmt=True), status=status)
    assert client(civitai, settings, sleep=waits.append).get_version(10)["id"] == 10
    assert waits[1] == 0.0  # a date already past: try again at once
    civitai.api_rate_limit(1, retry_after=email.utils.formatdate(time.time() + 86400, usegmt=True), status=status)
    assert client(civitai, settings, sleep=waits.append).get_version(10)["id"] == 10
    assert waits[2] == 30.0  # a day-long wait is capped


def test_a_rate_limit_error_carries_the_dated_wait(civitai, settings) -> None:
    civitai.api_rate_limit(1, retry_after=email.utils.formatdate(time.time() + 20, usegmt=True))
    with pytest.raises(RateLimited) as info:
        client(civitai, settings, retries=0).get_model(1)
    assert 18 <= info.value.retry_after <= 20


def test_unreachable_host_is_a_clear_error(settings) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    c = CivitaiClient(settings, HttpClient(), f"http://127.0.0.1:{port}", sleep=lambda s: None, retries=1)
    with pytest.raises(RemoteError, match=f"could not reach Civitai at http://127.0.0.1:{port}"):
        c.get_version(1)


def test_key_goes_as_bearer_and_ua_is_not_a_browser(civitai, tmp_path) -> None:
    settings = Settings(tmp_path / "s.json", environ={"CIVITAI_API_TOKEN": "abcdef-key-123456"})
    client(civitai, settings).get_version(10)
    request = civitai.api_requests[-1]
    assert request.header("Authorization") == "Bearer abcdef-key-123456"
    assert "token" not in request.query
    user_agent = request.header("User-Agent")
    assert user_agent.startswith("comfyui-model-manager/")
    assert not any(word in user_agent.lower() for word in ("mozilla", "chrome", "safari", "python-urllib"))


def test_server_errors_are_retried_then_reported(civitai, settings) -> None:
    from support.fake_http import Reply

    original = civitai.api._handler
    failures = {"left": 2}

    def flaky(request):
        if failures["left"] > 0:
            failures["left"] -= 1
            return Reply(502, {"Content-Type": "text/html"}, b"<html>Bad gateway</html>")
        return original(request)

    civitai.api._handler = flaky
    waits: list[float] = []
    assert client(civitai, settings, sleep=waits.append).get_version(10)["id"] == 10
    assert within_jitter(waits, [1.0, 2.0])
    failures["left"] = 10
    with pytest.raises(RemoteError) as info:
        client(civitai, settings, sleep=waits.append, retries=1).get_version(10)
    assert info.value.message == "Civitai answered HTTP 502 for model version 10; try again later"


def test_json_nested_too_deeply_is_a_clear_error(civitai, settings) -> None:
    """A (broken or hostile) API answer nested deeper than Python's json goes: a RemoteError
    for the JSON answer, a plain-text detail for an error answer; never a RecursionError."""
    from support.fake_http import Reply

    deep = b"[" * 20_000 + b"]" * 20_000  # read whole even as an error answer (64 KiB)
    civitai.api._handler = lambda request: Reply(
        200 if "/model-versions/" in request.path else 400, {"Content-Type": "application/json"}, deep)
    with pytest.raises(RemoteError, match="not JSON"):
        client(civitai, settings).get_version(10)
    with pytest.raises(InvalidInput, match="Civitai rejected the request"):
        client(civitai, settings).get_model(1)
