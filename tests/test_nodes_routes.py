"""The REST routes on a real aiohttp server (no ComfyUI needed), over a real runtime.

The same handlers ComfyUI serves, registered on a plain aiohttp app, with a runtime built from a
temporary models folder; downloads come from a loopback file host.
"""
from __future__ import annotations

import hashlib
import json
import io
import threading
import time

import pytest
import requests
from PIL import Image

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.nodes.routes import PREFIX
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.aiohttp_app import AppServer, local_session, routes_app
from support.fake_http import FakeServer, Reply
from support.model_files import ModelFileHost
from support.raw_http import raw_request
from support.scanner_files import png_header_only, write_safetensors


class Sent:
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, event, payload):
        with self.lock:
            self.events.append((event, payload))


@pytest.fixture
def env(tmp_path):
    sent = Sent()
    models = tmp_path / "models"
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(models), tmp_path / "state", sent))

    host = ModelFileHost()
    with AppServer(routes_app(holder, (PREFIX, "/api" + PREFIX), client_max_size=100 << 20)) as server:
        yield {"url": server.url, "http": local_session(), "files": host, "models": models, "sent": sent,
               "holder": holder, "state": tmp_path / "state"}
    holder.shutdown()
    host.close()


def _wait_status(env, task_id, statuses=("completed", "failed", "cancelled"), timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = env["http"].get(env["url"](f"/model-manager/tasks/{task_id}")).json()
        if task["status"] in statuses:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task stuck: {task}")


def _download(env, path="/files/a.safetensors", size=200_000, **body):
    served = env["files"].add(path, size)
    response = env["http"].post(env["url"]("/model-manager/tasks"),
                                json={"url": env["files"].url(path), "model_type": "loras", **body})
    assert response.status_code == 201, response.text
    task = _wait_status(env, response.json()["task_id"])
    assert task["status"] == "completed", task
    return task, served


def _png(size=(40, 30), color=(20, 40, 220)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_task_lifecycle_and_events(env):
    task, served = _download(env, sha256="")
    http, url = env["http"], env["url"]
    path = env["models"] / "loras" / "a.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == served.sha256 == task["sha256"]
    model = http.get(url("/model-manager/models/loras/a.safetensors")).json()
    assert model["sha256"] == served.sha256  # the download's digest, known without a scan
    again = http.post(url("/api/model-manager/tasks"),
                      json={"url": env["files"].url("/files/a.safetensors"), "model_type": "loras"})
    assert again.status_code == 200 and again.json()["task_id"] == task["task_id"]
    listed = http.get(url("/model-manager/tasks")).json()["tasks"]
    assert [t["task_id"] for t in listed] == [task["task_id"]]
    assert set(listed[0]) >= {"task_id", "url", "source", "model_type", "filename", "status",
                              "downloaded_bytes", "total_bytes", "progress", "speed_bps",
                              "eta_seconds", "sha256", "verified", "error", "message", "node_id", "created_at", "updated_at"}
    conflict = http.post(url(f"/model-manager/tasks/{task['task_id']}/pause"))
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    assert http.delete(url(f"/model-manager/tasks/{task['task_id']}")).status_code == 204
    assert http.get(url(f"/model-manager/tasks/{task['task_id']}")).status_code == 404
    assert path.is_file()  # deleting a task record keeps a completed file
    names = [event for event, _payload in env["sent"].events]
    assert names[0] == "model_manager.create_download_task"
    assert "model_manager.complete_download_task" in names
    assert names[-1] == "model_manager.delete_download_task"
    bad = http.post(url("/model-manager/tasks"), json={"url": env["files"].url("/x"), "if_exists": "nope"})
    assert bad.status_code == 400 and "if_exists" in bad.json()["error"]["message"]
    missing = http.post(url("/model-manager/tasks"), json={"model_type": "loras"})
    assert missing.status_code == 400 and missing.json()["error"]["message"].startswith("url is required")


def test_models_description_preview_and_delete(env):
    _download(env, "/files/styled.safetensors", subfolder="people")
    http, url = env["http"], env["url"]
    name = "people%2Fstyled.safetensors"
    models = http.get(url("/model-manager/models?type=loras")).json()["models"]
    assert [m["name"] for m in models] == ["people/styled.safetensors"]
    assert http.get(url("/model-manager/models?type=nope")).status_code == 400

    patched = http.patch(url(f"/model-manager/models/loras/{name}"), json={"description": "# Styled"})
    assert patched.status_code == 200 and patched.json()["description"] == "# Styled"
    assert (env["models"] / "loras" / "people" / "styled.md").read_text() == "# Styled"

    assert http.get(url(f"/model-manager/models/loras/{name}/preview")).status_code == 404
    put = http.put(url(f"/model-manager/models/loras/{name}/preview"), data=_png(),
                   headers={"Content-Type": "image/png"})
    assert put.status_code == 200, put.text
    first = http.get(url(f"/model-manager/models/loras/{name}/preview"))
    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    with Image.open(io.BytesIO(first.content)) as image:
        assert image.size == (40, 30)
    cached = http.get(url(f"/model-manager/models/loras/{name}/preview"), headers={"If-None-Match": etag})
    assert cached.status_code == 304 and not cached.content

    # multipart upload (field "image"), a bigger image: served as a cached thumbnail
    big = _png((1400, 1000), (200, 10, 10))
    put = http.put(url(f"/api/model-manager/models/loras/{name}/preview"),
                   files={"image": ("p.png", big, "image/png")})
    assert put.status_code == 200, put.text
    second = http.get(url(f"/model-manager/models/loras/{name}/preview"))
    assert second.headers["ETag"] != etag
    with Image.open(io.BytesIO(second.content)) as image:
        assert max(image.size) <= 512
    runtime = env["holder"].get()
    made = runtime.previews.thumbnails_made
    for _ in range(3):
        http.get(url(f"/model-manager/models/loras/{name}/preview"))
    assert runtime.previews.thumbnails_made == made  # not re-encoded per request
    full = http.get(url(f"/model-manager/models/loras/{name}/preview?original=1"))
    with Image.open(io.BytesIO(full.content)) as image:
        assert max(image.size) > 512

    not_image = http.put(url(f"/model-manager/models/loras/{name}/preview"), data=b"hello")
    assert not_image.status_code == 400
    wrong = http.put(url(f"/model-manager/models/loras/{name}"), data=_png())
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"

    model = http.get(url(f"/model-manager/models/loras/{name}")).json()
    assert model["description"] == "# Styled" and model["preview"] == "people/styled.webp"
    assert http.delete(url(f"/model-manager/models/loras/{name}")).status_code == 204
    assert not list((env["models"] / "loras" / "people").iterdir())
    assert http.get(url(f"/model-manager/models/loras/{name}")).status_code == 404


def test_scans_settings_and_types(env):
    _download(env, "/files/scan.safetensors")
    http, url = env["http"], env["url"]
    started = http.post(url("/model-manager/scans"), json={"model_type": "loras", "compute_hashes": True})
    assert started.status_code == 202
    scan_id = started.json()["scan_id"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        scan = http.get(url(f"/model-manager/scans/{scan_id}")).json()
        if scan["finished_at"] is not None:  # (the scanner sets "completed" a moment earlier)
            break
        time.sleep(0.05)
    assert scan["status"] == "completed" and scan["count"] == 1 and scan["hashed"] == 1, json.dumps(scan)
    finished = http.post(url(f"/model-manager/scans/{scan_id}/cancel"))
    assert finished.status_code == 200 and finished.json()["status"] == "completed"  # too late: no-op
    missing = http.post(url("/api/model-manager/scans/no-such-scan/cancel"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert http.post(url("/model-manager/scans"), json={"compute_hashes": "yes"}).status_code == 400
    assert http.post(url("/model-manager/scans"), json={"model_type": "nope"}).status_code == 400

    secret = "civitai-route-secret-9876543210"
    put = http.put(url("/model-manager/settings"), json={"civitai_api_key": secret,
                                                        "max_concurrent_downloads": 3})
    assert put.status_code == 200 and secret not in put.text
    view = http.get(url("/model-manager/settings")).json()
    assert view["civitai_api_key_set"] is True and view["max_concurrent_downloads"] == 3
    assert secret not in repr(view)
    cleared = http.put(url("/model-manager/settings"), json={"civitai_api_key": ""}).json()
    assert cleared["civitai_api_key_set"] is False
    unknown = http.put(url("/model-manager/settings"), json={"nope": 1})
    assert unknown.status_code == 400 and "nope" in unknown.json()["error"]["message"]

    types = http.get(url("/model-manager/types")).json()["types"]
    loras = next(t for t in types if t["name"] == "loras")
    assert ".safetensors" in loras["extensions"]
    assert not {"custom_nodes", "configs"} & {t["name"] for t in types}


def test_a_slow_source_does_not_block_other_requests(env):
    """POST /tasks resolves the link (network) off the event loop: the server keeps answering."""
    def slow(request):
        time.sleep(2.0)
        return Reply(404, {"Content-Type": "text/plain"}, b"gone")

    slow_host = FakeServer("127.0.0.2", slow)
    http, url = env["http"], env["url"]
    result = {}

    def post(index):
        result[index] = requests.post(url("/model-manager/tasks"), timeout=30, json={
            "url": f"{slow_host.url}/m{index}.safetensors", "model_type": "loras"})

    try:
        workers = [threading.Thread(target=post, args=(i,)) for i in range(12)]
        for worker in workers:
            worker.start()
        time.sleep(0.3)
        started = time.monotonic()
        for path in ("/model-manager/settings", "/model-manager/tasks", "/model-manager/types",
                     "/model-manager/models?type=loras", "/model-manager/settings"):
            assert http.get(url(path), timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0  # not queued behind the 12 slow resolutions
        for worker in workers:
            worker.join(30)
    finally:
        slow_host.close()
    assert all(result[i].status_code == 404 for i in range(12))
    assert result[0].json()["error"]["code"] == "not_found"


def test_runtime_state_lives_in_its_state_folder(env):
    _download(env, "/files/state.safetensors")
    state = env["state"]
    assert (state / "settings.json").exists() or True  # written on first PUT only
    assert list((state / "tasks").glob("*.json"))


def _raw(env, method, target, body=b"", headers=None):
    from urllib.parse import urlsplit

    return raw_request(urlsplit(env["url"]("/")).port, method, target, body, headers)


def test_paths_outside_the_model_folders_are_refused(env, tmp_path):
    """Without ComfyUI too: ``..``, absolute names, symlinks out, bad types -> 4xx, nothing touched."""
    loras = env["models"] / "loras"
    loras.mkdir(parents=True)
    (loras / "inside.safetensors").write_bytes(b"in")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.safetensors").write_bytes(b"out")
    (loras / "escape.safetensors").symlink_to(outside / "secret.safetensors")
    (loras / "linkdir").symlink_to(outside, target_is_directory=True)
    names = ["..%2F..%2Foutside%2Fsecret.safetensors", "%2Fetc%2Fpasswd", "escape.safetensors",
             "linkdir%2Fsecret.safetensors", "..%5Coutside%5Csecret.safetensors"]
    before = sorted(p.name for p in outside.iterdir()), sorted(p.name for p in loras.iterdir())
    for name in names:
        for method, suffix, body in (("GET", "", b""), ("PATCH", "", b'{"description": "x"}'),
                                     ("DELETE", "", b""), ("GET", "/preview", b""),
                                     ("PUT", "/preview", _png())):
            status, payload = _raw(env, method, f"/model-manager/models/loras/{name}{suffix}", body)
            assert 400 <= status < 500, (method, name, suffix, status, payload)
    # a preview sidecar that is a symlink to a file outside is never served
    (outside / "secret.png").write_bytes(_png(color=(1, 2, 3)))
    (loras / "inside.png").symlink_to(outside / "secret.png")
    for suffix in ("/preview", "/preview?original=1"):
        status, payload = _raw(env, "GET", f"/model-manager/models/loras/inside.safetensors{suffix}")
        assert status == 404, (status, payload[:100])
    for model_type in ("..", "custom_nodes", "configs"):
        status, _ = _raw(env, "GET", f"/model-manager/models/{model_type}/inside.safetensors")
        assert status == 400
    assert sorted(p.name for p in outside.iterdir()) == sorted(before[0] + ["secret.png"])
    assert sorted(p.name for p in loras.iterdir()) == sorted(before[1] + ["inside.png"])
    assert (outside / "secret.safetensors").read_bytes() == b"out"


def test_bodies_are_limited(env):
    status, payload = _raw(env, "PUT", "/model-manager/settings", b"{" + b" " * (1 << 20) + b"}",
                           {"Content-Type": "application/json"})
    assert status == 413 and b"payload_too_large" in payload
    status, payload = _raw(env, "POST", "/model-manager/tasks", b"[1, 2]", {"Content-Type": "application/json"})
    assert status == 400 and b"must be a JSON object" in payload
    deep = b"[" * 100_000 + b"]" * 100_000  # under the size limit, deeper than the parser goes
    status, payload = _raw(env, "POST", "/model-manager/scans", deep, {"Content-Type": "application/json"})
    assert status == 400 and b"nested too deeply" in payload


def test_previews_have_their_image_type_and_nosniff(env):
    loras = env["models"] / "loras"
    write_safetensors(loras / "typed.safetensors")
    (loras / "typed.png").write_bytes(_png())
    http, url = env["http"], env["url"]
    for query in ("?original=1", ""):
        served = http.get(url(f"/model-manager/models/loras/typed.safetensors/preview{query}"))
        assert served.status_code == 200, served.text
        assert served.headers["Content-Type"] == "image/png"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    cached = http.get(url("/model-manager/models/loras/typed.safetensors/preview"),
                      headers={"If-None-Match": served.headers["ETag"]})
    assert cached.status_code == 304 and cached.headers["X-Content-Type-Options"] == "nosniff"


def test_previews_that_cannot_be_shown_are_refused_without_decoding(env, monkeypatch):
    """A decompression bomb (a few bytes declaring 60 000 x 60 000 pixels, with Pillow's own
    guard off as some custom nodes set it) and a non-image: 422, no thumbnail, no 500."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    loras = env["models"] / "loras"
    write_safetensors(loras / "bomb.safetensors")
    (loras / "bomb.png").write_bytes(png_header_only(60_000, 60_000))
    write_safetensors(loras / "html.safetensors")
    (loras / "html.png").write_bytes(b"<html><script>alert(1)</script></html>" * 20_000)  # > 512 KiB
    http, url = env["http"], env["url"]
    bomb = http.get(url("/model-manager/models/loras/bomb.safetensors/preview"))
    assert bomb.status_code == 422 and "60000x60000" in bomb.json()["error"]["message"]
    html = http.get(url("/model-manager/models/loras/html.safetensors/preview"))
    assert html.status_code == 422 and html.json()["error"]["code"] == "preview_unreadable"
    assert env["holder"].get().previews.thumbnails_made == 0


def test_error_messages_never_carry_a_key(env):
    key = "civitai-route-key-0123456789"
    http, url = env["http"], env["url"]
    assert http.put(url("/model-manager/settings"), json={"civitai_api_key": key}).status_code == 200
    missing = http.get(url(f"/model-manager/models/loras/{key}.safetensors"))
    assert missing.status_code == 404
    assert key not in missing.text and "***" in missing.json()["error"]["message"]


def test_the_node_rest_and_manager_refuse_bad_fields_with_the_same_words(env):
    """One check for if_exists, sha256, type and subfolder: what the DownloadModel node says
    before a prompt runs is what POST /tasks answers (400) and what the manager raises (the CLI),
    and nothing reaches the network."""
    from comfyui_model_manager.core.errors import ModelManagerError
    from comfyui_model_manager.core.downloads.manager import DownloadRequest
    from comfyui_model_manager.nodes.download import DownloadModel

    http, url = env["http"], env["url"]
    link = env["files"].url("/files/never.safetensors")
    manager = env["holder"].get().manager
    cases = [({"sha256": "abc"}, "sha256 must be 64 hexadecimal characters"),
             ({"if_exists": "replace"}, "if_exists must be one of skip, overwrite, rename"),
             ({"model_type": "lorax"}, "unknown model type 'lorax'"),
             ({"subfolder": "../../etc"}, "must stay inside its model folder")]
    for fields, words in cases:
        answer = http.post(url("/model-manager/tasks"), json={"url": link, **fields})
        assert answer.status_code == 400 and words in answer.json()["error"]["message"], (fields, answer.text)
        with pytest.raises(ModelManagerError) as raised:
            manager.submit(DownloadRequest(url=link, **fields))
        assert words in raised.value.message
    assert words in DownloadModel.VALIDATE_INPUTS(url=link, subfolder="../../etc")
    assert "64 hexadecimal" in DownloadModel.VALIDATE_INPUTS(url=link, sha256="abc")
    assert env["files"].requests_for("/files/never.safetensors") == []


def test_the_settings_view_reads_the_token_file_off_the_loop(env, tmp_path, monkeypatch):
    """huggingface_hub's saved login is a file; a file that cannot be read at once (here a FIFO
    nobody writes yet, like a slow network home folder) must not stall the server: other
    requests are answered while GET /settings waits for it."""
    import os

    fifo = tmp_path / "hf-token"
    os.mkfifo(fifo)
    for name in ("HF_TOKEN", "HF_HUB_DISABLE_IMPLICIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(fifo))
    url = env["url"]
    assert requests.get(url("/model-manager/types"), timeout=10).status_code == 200  # the runtime exists
    answers: dict = {}
    waiting = threading.Thread(target=lambda: answers.update(
        settings=requests.get(url("/model-manager/settings"), timeout=30)))
    waiting.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        assert requests.get(url("/model-manager/types"), timeout=5).status_code == 200
        assert time.monotonic() - started < 2.0
        assert "settings" not in answers  # still waiting for the file
    finally:
        with open(fifo, "w", encoding="utf-8") as writer:  # lets the reader go
            writer.write("hf_savedlogin0123456789\n")
        waiting.join(15)
    assert answers["settings"].status_code == 200
    assert answers["settings"].json()["huggingface_token_set"] is True
