"""Civitai lookup by hash during a scan, against the fake Civitai (real HTTP on 127.0.0.1/.2)."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from comfyui_model_manager.core.http import HttpClient
from comfyui_model_manager.core.retry import RetryPolicy
from support.fake_civitai import FakeCivitai
from support.scanner_files import image_bytes, make_index, safetensors_bytes


class RequestClock:
    """Notes when the fake server handles each request (the handler runs as soon as a request
    has been read), by wrapping the fake's handler function."""

    def __init__(self, server) -> None:
        self.times: list[float] = []
        inner = server._handler

        def timed(request):
            self.times.append(time.monotonic())
            return inner(request)

        server._handler = timed

    def stop(self) -> list[float]:
        return list(self.times)


@pytest.fixture
def civitai():
    with FakeCivitai() as fake:
        yield fake


def add_remote(civitai: FakeCivitai, n: int, data: bytes, *, nsfw_level: int = 1) -> None:
    civitai.add_model(100 + n, f"Remote model {n}", "LORA", description=f"<p>About <b>model {n}</b></p>")
    civitai.add_version(100 + n, 200 + n, f"v{n}", base_model="SDXL 1.0", trained_words=[f"word{n}"])
    civitai.add_file(200 + n, 300 + n, f"remote{n}.safetensors", data)
    civitai.add_image(200 + n, nsfw_level=nsfw_level)


def index_for(tmp_path: Path, civitai: FakeCivitai, **options):
    return make_index(tmp_path, http=HttpClient(), civitai_base_url=civitai.base_url, **options)


def test_lookup_fills_info_and_previews_at_two_requests_a_second(tmp_path, civitai):
    loras = tmp_path / "models" / "loras"
    loras.mkdir(parents=True)
    known = {i: safetensors_bytes({"ss_base_model_version": "sd_v1"}, payload=bytes([i]) * 100) for i in (1, 2)}
    for i, data in known.items():
        add_remote(civitai, i, data)
        (loras / f"local{i}.safetensors").write_bytes(data)
    (loras / "unknown_a.safetensors").write_bytes(safetensors_bytes(payload=b"nobody knows me"))
    (loras / "unknown_b.safetensors").write_bytes(safetensors_bytes(payload=b"nor me"))
    index = index_for(tmp_path, civitai)
    index.settings.update({"civitai_api_key": "scan-key-123456"})
    clock = RequestClock(civitai.api)
    report = index.scan("loras", fetch_civitai_info=True)
    times = clock.stop()

    assert report.task.status == "completed" and report.task.matched == 2 and report.task.errors == []
    # by-hash for all four models + the model description for the two matches, spaced >= 0.5 s
    paths = [r.path for r in civitai.api_requests]
    assert sum(p.startswith("/api/v1/model-versions/by-hash/") for p in paths) == 4
    assert sorted(p for p in paths if p.startswith("/api/v1/models/")) == ["/api/v1/models/101", "/api/v1/models/102"]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # Requests leave >= 0.5 s apart; the server may see one a little late on a busy machine.
    assert len(times) == 6 and min(gaps) >= 0.45 and times[-1] - times[0] >= 2.45, gaps
    assert all(r.header("Authorization") == "Bearer scan-key-123456" for r in civitai.api_requests)
    assert civitai.image_requests and not any(r.has_authorization for r in civitai.storage.requests)

    records = {r.name: r.to_json() for r in report.models}
    one = records["local1.safetensors"]
    assert one["civitai"] == {"model_id": 101, "version_id": 201, "model_name": "Remote model 1", "version_name": "v1"}
    assert one["base_model"] == "SDXL 1.0" and one["trigger_words"] == ["word1"]
    assert one["preview"] == "local1.webp" and one["sha256"]
    with Image.open(loras / "local1.webp") as preview:
        assert preview.format == "WEBP"
    assert json.loads((loras / "local1.civitai.info").read_text())["id"] == 201
    assert "About **model 1**" in (loras / "local1.md").read_text() and one["description"].startswith("# Remote model 1")
    assert records["unknown_a.safetensors"]["civitai"] is None
    assert not (loras / "unknown_a.civitai.info").exists() and not (loras / "unknown_a.md").exists()

    # Second scan, even from a new process: "not found" is remembered and matches are complete.
    civitai.api.clear_log()
    again = index_for(tmp_path, civitai).scan("loras", fetch_civitai_info=True)
    assert again.task.status == "completed" and civitai.api.requests == []
    assert again.task.hashes_computed == 0


def test_a_429_is_honoured_with_retry_after(tmp_path, civitai):
    data = safetensors_bytes(payload=b"limited")
    add_remote(civitai, 1, data)
    (tmp_path / "models" / "loras").mkdir(parents=True)
    (tmp_path / "models" / "loras" / "x.safetensors").write_bytes(data)
    civitai.api_rate_limit(1, retry_after=1.2)
    index = index_for(tmp_path, civitai, civitai_min_interval=0.05)
    clock = RequestClock(civitai.api)
    report = index.scan("loras", fetch_civitai_info=True)
    times = clock.stop()
    assert report.task.matched == 1 and report.task.errors == []
    assert times[1] - times[0] >= 1.15
    assert (tmp_path / "models" / "loras" / "x.civitai.info").exists()


def test_a_429_with_retry_after_as_an_http_date_is_honoured(tmp_path, civitai):
    """The date is in whole seconds: 2 s ahead means a wait of more than 1 s (the 1 s backoff
    with jitter would be at most 0.2 s here)."""
    import email.utils

    data = safetensors_bytes(payload=b"dated")
    add_remote(civitai, 1, data)
    (tmp_path / "models" / "loras").mkdir(parents=True)
    (tmp_path / "models" / "loras" / "x.safetensors").write_bytes(data)
    civitai.api_rate_limit(1, retry_after=email.utils.formatdate(time.time() + 2, usegmt=True), status=429)
    policy = RetryPolicy(max_tries=3, base_delay=0.2, max_delay=0.2, max_retry_after=5)
    index = index_for(tmp_path, civitai, civitai_min_interval=0.01, civitai_retry=policy)
    clock = RequestClock(civitai.api)
    report = index.scan("loras", fetch_civitai_info=True)
    times = clock.stop()
    assert report.task.matched == 1 and report.task.errors == []
    assert 0.9 <= times[1] - times[0] <= 2.5


def test_a_429_without_retry_after_backs_off_exponentially(tmp_path, civitai):
    data = safetensors_bytes(payload=b"busy")
    add_remote(civitai, 1, data)
    (tmp_path / "models" / "loras").mkdir(parents=True)
    (tmp_path / "models" / "loras" / "x.safetensors").write_bytes(data)
    civitai.api_rate_limit(2)
    policy = RetryPolicy(max_tries=7, base_delay=0.2, max_delay=0.3, max_retry_after=0.3, jitter=False)
    index = index_for(tmp_path, civitai, civitai_min_interval=0.01, civitai_retry=policy)
    clock = RequestClock(civitai.api)
    report = index.scan("loras", fetch_civitai_info=True)
    times = clock.stop()
    assert report.task.matched == 1
    assert times[1] - times[0] >= 0.19 and times[2] - times[1] >= 0.29  # 0.2 s, then 0.4 capped at 0.3


def test_nsfw_setting_and_user_files_are_respected(tmp_path, civitai):
    loras = tmp_path / "models" / "loras"
    loras.mkdir(parents=True)
    spicy, mine = safetensors_bytes(payload=b"spicy"), safetensors_bytes(payload=b"mine")
    add_remote(civitai, 1, spicy, nsfw_level=8)
    add_remote(civitai, 2, mine)
    (loras / "spicy.safetensors").write_bytes(spicy)
    (loras / "mine.safetensors").write_bytes(mine)
    (loras / "mine.md").write_text("my own words")
    (loras / "mine.png").write_bytes(image_bytes("PNG"))
    index = index_for(tmp_path, civitai, civitai_min_interval=0.01)
    report = index.scan("loras", fetch_civitai_info=True)
    records = {r.name: r.to_json() for r in report.models}
    assert report.task.matched == 2
    assert records["spicy.safetensors"]["preview"] is None  # only an X-rated image; setting is PG
    assert records["spicy.safetensors"]["civitai"]["version_id"] == 201
    assert (loras / "mine.md").read_text() == "my own words" and records["mine.safetensors"]["preview"] == "mine.png"
    assert not (loras / "mine.webp").exists() and (loras / "mine.civitai.info").exists()
    # Rescanning at the same NSFW level asks Civitai nothing: "no allowed preview" is remembered.
    civitai.api.clear_log()
    index.scan("loras", fetch_civitai_info=True)
    assert civitai.api.requests == []
    # With the setting raised, the next scan completes the preview of the one still lacking it.
    index.settings.update({"civitai_nsfw_level": 8})
    records = {r.name: r.to_json() for r in index.scan("loras", fetch_civitai_info=True).models}
    assert records["spicy.safetensors"]["preview"] == "spicy.webp"


def test_civitai_unreachable_is_reported_and_the_scan_completes(tmp_path):
    (tmp_path / "models" / "loras").mkdir(parents=True)
    (tmp_path / "models" / "loras" / "x.safetensors").write_bytes(safetensors_bytes())
    index = make_index(tmp_path, http=HttpClient(), civitai_base_url="http://127.0.0.1:9",
                       civitai_min_interval=0.01)
    report = index.scan("loras", fetch_civitai_info=True)
    assert report.task.status == "completed" and report.task.matched == 0
    assert report.task.errors and "could not reach Civitai" in report.task.errors[0]
    assert report.models[0].sha256  # hashed anyway


def test_base_url_comes_from_the_environment(tmp_path, civitai, monkeypatch):
    monkeypatch.setenv("CIVITAI_BASE_URL", civitai.base_url)
    data = safetensors_bytes(payload=b"env")
    add_remote(civitai, 1, data)
    (tmp_path / "models" / "loras").mkdir(parents=True)
    (tmp_path / "models" / "loras" / "x.safetensors").write_bytes(data)
    index = make_index(tmp_path, http=HttpClient(), civitai_min_interval=0.01)
    assert index.scan("loras", fetch_civitai_info=True).task.matched == 1
    assert os.path.exists(tmp_path / "models" / "loras" / "x.webp")


def test_lookups_stop_after_three_failures_in_a_row(tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Down(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server naming
            seen.append(self.path)
            body = b'{"error": "Service Unavailable"}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Down)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        loras = tmp_path / "models" / "loras"
        loras.mkdir(parents=True)
        for i in range(6):
            (loras / f"m{i}.safetensors").write_bytes(safetensors_bytes(payload=bytes([i]) * 10))
        index = make_index(tmp_path, http=HttpClient(), civitai_base_url=f"http://127.0.0.1:{server.server_port}",
                           civitai_min_interval=0.01)
        report = index.scan("loras", fetch_civitai_info=True)
    finally:
        server.shutdown()
        server.server_close()
    assert report.task.status == "completed"
    assert len(seen) == 3 and all(p.startswith("/api/v1/model-versions/by-hash/") for p in seen)
    assert "Civitai answered HTTP 503" in report.task.errors[0]
    assert report.task.errors[-1] == "stopped asking Civitai after 3 failed lookups in a row; scan again later"
    assert all(m.sha256 for m in report.models)
