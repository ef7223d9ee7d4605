"""End to end in a real ComfyUI: paths stay inside model folders, keys stay secret, bodies are bounded.

Traversal attempts (``..%2F``, raw ``../``, absolute paths, symlinks out of a root) on every route
that takes a path must answer 4xx and touch nothing.  A key set through ``PUT /settings`` is used
for Civitai (a fake on 127.0.0.1, its storage on 127.0.0.2) but never appears in a response, a
websocket event or ComfyUI's log, and never reaches the storage host.
"""
from __future__ import annotations

import hashlib
import io
import os
from urllib.parse import quote

import pytest
from PIL import Image

from support.comfyui_harness import ComfyUIServer, require_comfyui
from support.fake_civitai import FakeCivitai
from support.raw_http import raw_request

pytestmark = pytest.mark.comfyui

CIVITAI_KEY = "cvt-SECRET-1f2e3d4c5b6a79880011"
HF_TOKEN = "hf_SECRETabcdefghijklmnopqrstuvwxyz12"


@pytest.fixture(scope="module")
def civitai():
    with FakeCivitai() as fake:
        yield fake


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, civitai):
    base = tmp_path_factory.mktemp("comfy-security")
    server = ComfyUIServer(require_comfyui(), base, env={"CIVITAI_BASE_URL": civitai.base_url})
    loras = server.models_dir / "loras"
    loras.mkdir(parents=True)
    (loras / "inside.safetensors").write_bytes(b"inside model")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.safetensors").write_bytes(b"outside model")
    (outside / "secret.webp").write_bytes(_png())
    (loras / "escape.safetensors").symlink_to(outside / "secret.safetensors")
    (loras / "linkdir").symlink_to(outside, target_is_directory=True)
    server.start()
    yield server
    server.stop()


def _png(color=(10, 200, 10)):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _snapshot(root):
    """Every file under ``root`` with its content hash (symlinks not followed)."""
    result = {}
    for folder, dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                result[path] = "link->" + os.readlink(path)
            else:
                with open(path, "rb") as fh:
                    result[path] = hashlib.sha256(fh.read()).hexdigest()
    return result


def _raw(comfy, method, target, body=b"", headers=None):
    """Send ``target`` byte for byte (no client-side normalisation of ``..``)."""
    return raw_request(comfy.port, method, target, body, headers)


ESCAPING_NAMES = [
    "..%2F..%2Foutside%2Fsecret.safetensors",
    "..%2Fcheckpoints%2Fx.safetensors",
    "%2E%2E%2F%2E%2E%2Foutside%2Fsecret.safetensors",
    "%2Fetc%2Fpasswd",
    "%2F" + quote(os.path.abspath("/tmp"), safe="") + "%2Fx.safetensors",
    "..%5C..%5Coutside%5Csecret.safetensors",
    "escape.safetensors",              # a symlink whose target is outside the root
    "linkdir%2Fsecret.safetensors",    # a file reached through a symlinked folder
    "inside.safetensors%00.png",
]
RAW_ESCAPES = [
    "/model-manager/models/loras/../../../outside/secret.safetensors",
    "/model-manager/models/../../outside/secret.safetensors",
]


def _attempts():
    for name in ESCAPING_NAMES:
        for prefix in ("/model-manager", "/api/model-manager"):
            base = f"{prefix}/models/loras/{name}"
            yield "GET", base, b""
            yield "PATCH", base, b'{"description": "pwned"}'
            yield "DELETE", base, b""
            yield "GET", base + "/preview", b""
            yield "PUT", base + "/preview", _png((255, 0, 0))
    for target in RAW_ESCAPES:
        yield "GET", target, b""
        yield "DELETE", target, b""
    for model_type in ("..", "..%2F..", "%2Ftmp", "custom_nodes", "configs"):
        yield "GET", f"/model-manager/models/{model_type}/inside.safetensors", b""
        yield "DELETE", f"/model-manager/models/{model_type}/inside.safetensors", b""
        yield "GET", f"/model-manager/models?type={model_type}", b""


def test_traversal_attempts_answer_4xx_and_touch_nothing(comfy):
    before = _snapshot(comfy.base_dir / "outside"), _snapshot(comfy.models_dir)
    results = []
    for method, target, body in _attempts():
        status, payload = _raw(comfy, method, target, body)
        results.append((method, target, status))
        assert 400 <= status < 500, (method, target, status, payload[:200])
    assert (_snapshot(comfy.base_dir / "outside"), _snapshot(comfy.models_dir)) == before
    assert len(results) > 100


def test_downloads_cannot_escape_or_write_other_files(comfy, files):
    files.add("/files/payload.safetensors", 1024)
    files.add("/files/payload.sh", 1024)
    before = _snapshot(comfy.base_dir)
    cases = [
        ({"subfolder": "../../outside"}, "unsafe_path"),
        ({"subfolder": "/tmp"}, "unsafe_path"),  # absolute subfolders are refused
        ({"filename": "../x.safetensors"}, None),  # a file name is sanitised to its last part
        ({"filename": "run.sh"}, "invalid_input"),
        ({"model_type": "custom_nodes"}, "invalid_input"),
        ({"model_type": "../loras"}, "invalid_input"),
    ]
    for extra, code in cases:
        body = {"url": files.url("/files/payload.safetensors"), "model_type": "loras", **extra}
        response = comfy.post("/model-manager/tasks", json=body)
        if code is None and response.status_code in (200, 201):
            task = response.json()
            assert task["model_type"] == "loras", task
            assert task["filename"] == "x.safetensors", task
            comfy.post(f"/model-manager/tasks/{task['task_id']}/cancel")
            comfy.delete(f"/model-manager/tasks/{task['task_id']}")
            continue
        assert response.status_code == 400, (extra, response.text)
        if code:
            assert response.json()["error"]["code"] == code, (extra, response.text)
    response = comfy.post("/model-manager/tasks", json={"url": files.url("/files/payload.sh"),
                                                        "model_type": "loras"})
    assert response.status_code == 400 and "extension" in response.json()["error"]["message"]
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x.safetensors", "javascript:alert(1)"):
        response = comfy.post("/model-manager/tasks", json={"url": url, "model_type": "loras"})
        assert response.status_code == 400, url
    after = _snapshot(comfy.base_dir)
    new = {p for p in after if p not in before and "/user/" not in p and "comfyui.log" not in p
           and "/temp/" not in p}
    assert all(p.startswith(str(comfy.models_dir / "loras")) for p in new), new


def test_bodies_are_size_limited_and_errors_have_the_contract_shape(comfy):
    big = b"{" + b" " * (2 << 20) + b"}"
    status, payload = _raw(comfy, "PUT", "/model-manager/settings", big,
                           {"Content-Type": "application/json"})
    assert status == 413 and b'"payload_too_large"' in payload
    status, payload = _raw(comfy, "PUT", "/model-manager/models/loras/inside.safetensors/preview",
                           b"\0" * ((64 << 20) + 1), {"Content-Type": "image/png"})
    assert status == 413
    response = comfy.post("/model-manager/tasks", data=b"not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid_input", "message": "the request body is not valid JSON"}}
    response = comfy.post("/model-manager/tasks", json=["a list"])
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"
    response = comfy.put("/model-manager/settings", json={"max_concurrent_downloads": 99})
    assert response.status_code == 400 and "max_concurrent_downloads" in response.json()["error"]["message"]
    response = comfy.get("/model-manager/models/loras/missing.safetensors")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = comfy.get("/model-manager/models/loras/inside.safetensors/preview")
    assert response.status_code == 404
    response = comfy.get("/model-manager/scans/nope")
    assert response.status_code == 404


def test_keys_are_write_only_and_never_leak(comfy, civitai):
    civitai.valid_keys.add(CIVITAI_KEY)
    civitai.add_model(700, "Secret Style", "LORA")
    civitai.add_version(700, 701, "v1", base_model="SDXL 1.0", trained_words=["secretstyle"],
                        require_auth=True)
    data = os.urandom(300 << 10)
    civitai.add_file(701, 702, "secret_style.safetensors", data)
    responses = []
    with comfy.websocket() as ws:
        response = comfy.put("/model-manager/settings", json={"civitai_api_key": CIVITAI_KEY,
                                                              "huggingface_token": HF_TOKEN})
        responses.append(response.text)
        assert response.status_code == 200
        assert response.json()["civitai_api_key_set"] is True
        assert response.json()["huggingface_token_set"] is True
        settings = comfy.get("/api/model-manager/settings")
        responses.append(settings.text)
        assert settings.json()["civitai_api_key_set"] is True
        prompt_id = comfy.queue_prompt({
            "1": {"class_type": "DownloadModel", "inputs": {
                "url": f"{civitai.base_url}/models/700?modelVersionId=701", "model_type": "auto"}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        }, client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id, timeout=60)
        assert end["type"] == "execution_success", end
        # a URL with the key in its query: shown redacted, everywhere
        response = comfy.post("/model-manager/tasks", json={
            "url": f"{civitai.base_url}/api/download/models/999999?token={CIVITAI_KEY}",
            "model_type": "loras"})
        responses.append(response.text)
        for path in ("/model-manager/tasks", "/model-manager/models?type=loras",
                     "/model-manager/models/loras/secret_style.safetensors"):
            responses.append(comfy.get(path).text)
        history = comfy.get(f"/history/{prompt_id}").text
        messages = repr(ws.messages)
    target = comfy.models_dir / "loras" / "secret_style.safetensors"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert any(r.header("Authorization") == f"Bearer {CIVITAI_KEY}" for r in civitai.api_requests)
    assert civitai.storage_requests and not any(r.has_authorization or CIVITAI_KEY in r.raw_target
                                                for r in civitai.storage_requests)
    settings_file = comfy.state_dir / "settings.json"
    assert oct(settings_file.stat().st_mode & 0o777) == "0o600"
    for secret in (CIVITAI_KEY, HF_TOKEN):
        for text in (*responses, history, messages, comfy.log_text()):
            assert secret not in text
    assert "model_manager.complete_download_task" in messages
