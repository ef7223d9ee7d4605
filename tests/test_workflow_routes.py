"""The workflow-model routes on a real aiohttp server over a real runtime, against the fake Hub."""
from __future__ import annotations

import hashlib
import io
import json
import time

import pytest
import requests
from aiohttp import web
from PIL import Image, PngImagePlugin

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.nodes.routes import PREFIX, ModelManagerRoutes
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.aiohttp_app import AppServer
from support.downloads import payload
from support.fake_hub import FakeHub
from support.model_files import safetensors_file
from support.workflow_images import FIXTURES, PNG_NAME, WEBP_NAME

REPO = "acme/workflow-models"


@pytest.fixture
def env(tmp_path, monkeypatch):
    hub = FakeHub()
    hub.add_repo(REPO)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    models = tmp_path / "models"
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(models), tmp_path / "state"))

    def app():
        application = web.Application(client_max_size=100 << 20)
        routes = web.RouteTableDef()
        ModelManagerRoutes(holder).register(routes, (PREFIX,))
        application.add_routes(routes)
        return application

    with AppServer(app) as server:
        session = requests.Session()
        session.trust_env = False
        yield {"url": server.url, "http": session, "hub": hub, "models": models, "holder": holder}
    holder.shutdown()
    hub.close()


def hub_file(env, path, size=300_000, seed=1):
    data = safetensors_file(payload(size, seed))
    env["hub"].add_file(REPO, path, data)
    return data


def workflow(*loaders):
    """A UI workflow with one loader node per (class, widget value, models entry or None)."""
    nodes = []
    for number, (class_type, value, entry) in enumerate(loaders, start=1):
        node = {"id": number, "type": class_type, "widgets_values": [value], "properties": {}}
        if entry is not None:
            node["properties"]["models"] = [entry]
        nodes.append(node)
    return {"nodes": nodes, "links": [], "version": 0.4}


def wait_all(env, task_ids, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [env["http"].get(env["url"](f"/model-manager/tasks/{t}")).json() for t in task_ids]
        if all(t["status"] in ("completed", "failed", "cancelled") for t in tasks):
            return tasks
        time.sleep(0.05)
    raise AssertionError(f"tasks stuck: {tasks}")


def test_list_download_then_present(env):
    vae = hub_file(env, "split_files/vae/tiny_vae.safetensors")
    lora = hub_file(env, "loras/style.safetensors", seed=2)
    url = f"https://huggingface.co/{REPO}/resolve/main"
    graph = workflow(
        ("VAELoader", "tiny_vae.safetensors",
         {"name": "tiny_vae.safetensors", "directory": "vae", "url": f"{url}/split_files/vae/tiny_vae.safetensors"}),
        ("LoraLoader", "sub/style.safetensors",
         {"name": "sub/style.safetensors", "directory": "loras", "url": f"{url}/loras/style.safetensors?download=true",
          "hash": hashlib.sha256(lora).hexdigest().upper(), "hash_type": "SHA256"}),
        ("CheckpointLoaderSimple", "nowhere.safetensors", None),
    )
    http, base = env["http"], env["url"]
    answer = http.post(base("/model-manager/workflow-models"), json={"workflow": graph})
    assert answer.status_code == 200, answer.text
    models = answer.json()["models"]
    assert [(m["name"], m["directory"], m["status"]) for m in models] == [
        ("tiny_vae.safetensors", "vae", "missing"),
        ("sub/style.safetensors", "loras", "missing"),
        ("nowhere.safetensors", "checkpoints", "missing_no_url"),
    ]
    assert models[0]["size"] == len(vae) and models[0]["host"] == "huggingface.co"
    assert models[1]["sha256"] == hashlib.sha256(lora).hexdigest()
    assert set(models[0]) >= {"name", "directory", "url", "sha256", "node_ids", "status", "path", "reason", "task_id"}
    assert not env["hub"].cdn_requests  # listing fetched no byte

    started = http.post(base("/model-manager/workflow-models/download"), json={"workflow": graph})
    assert started.status_code == 202, started.text
    body = started.json()
    assert set(body) == {"tasks", "refused", "present"}
    assert [r["name"] for r in body["refused"]] == ["nowhere.safetensors"]
    tasks = wait_all(env, [t["task_id"] for t in body["tasks"]])
    assert [t["status"] for t in tasks] == ["completed", "completed"]
    assert (env["models"] / "vae" / "tiny_vae.safetensors").read_bytes() == vae
    assert (env["models"] / "loras" / "sub" / "style.safetensors").read_bytes() == lora

    again = http.post(base("/model-manager/workflow-models"), json={"workflow": graph, "sizes": False}).json()
    assert [m["status"] for m in again["models"]] == ["present", "present", "missing_no_url"]
    assert again["models"][0]["path"] == str(env["models"] / "vae" / "tiny_vae.safetensors")
    second = http.post(base("/model-manager/workflow-models/download"), json={"workflow": graph}).json()
    assert second["tasks"] == [] and [p["status"] for p in second["present"]] == ["present", "present"]


def test_asking_twice_joins_and_names_select(env):
    hub_file(env, "big.safetensors", size=2_000_000)
    hub_file(env, "other.safetensors", seed=3)
    env["hub"].cdn_delay = 0.02
    url = f"https://huggingface.co/{REPO}/resolve/main"
    graph = workflow(("UNETLoader", "big.safetensors",
                      {"name": "big.safetensors", "directory": "diffusion_models", "url": f"{url}/big.safetensors"}),
                     ("VAELoader", "other.safetensors",
                      {"name": "other.safetensors", "directory": "vae", "url": f"{url}/other.safetensors"}))
    http, base = env["http"], env["url"]
    first = http.post(base("/model-manager/workflow-models/download"),
                      json={"workflow": graph, "names": ["big.safetensors"]}).json()
    assert [t["filename"] for t in first["tasks"]] == ["big.safetensors"]
    listed = http.post(base("/model-manager/workflow-models"), json={"workflow": graph, "sizes": False}).json()
    assert listed["models"][0]["status"] == "downloading"
    assert listed["models"][0]["task_id"] == first["tasks"][0]["task_id"]
    second = http.post(base("/model-manager/workflow-models/download"),
                       json={"workflow": graph, "names": ["big.safetensors"]}).json()
    assert [t["task_id"] for t in second["tasks"]] == [first["tasks"][0]["task_id"]]
    env["hub"].cdn_delay = 0
    wait_all(env, [first["tasks"][0]["task_id"]])
    assert not (env["models"] / "vae" / "other.safetensors").exists()


def png_with(texts: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.mark.loopback_only_network  # a public host, refused without being asked
def test_png_body_and_query_options(env):
    graph = workflow(("VAELoader", "x.safetensors",
                      {"name": "x.safetensors", "directory": "vae", "url": "https://example.org/x.safetensors"}))
    body = png_with({"workflow": json.dumps(graph), "prompt": json.dumps(
        {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "x.safetensors"}}})})
    http, base = env["http"], env["url"]
    listed = http.post(base("/model-manager/workflow-models?sizes=false"), data=body,
                       headers={"Content-Type": "image/png"}).json()
    assert [(m["name"], m["status"], m["node_ids"]) for m in listed["models"]] == [("x.safetensors", "refused", ["1"])]
    assert "example.org is not on the list of allowed hosts" in listed["models"][0]["reason"]
    refused = http.post(base("/model-manager/workflow-models/download"), data=body).json()
    assert refused["tasks"] == [] and refused["refused"][0]["name"] == "x.safetensors"


@pytest.mark.parametrize("name", [PNG_NAME, WEBP_NAME])
def test_images_comfyui_wrote_as_bodies(env, name):
    body = (FIXTURES / name).read_bytes()
    http, base = env["http"], env["url"]
    listed = http.post(base("/model-manager/workflow-models?sizes=false"), data=body)
    assert listed.status_code == 200, listed.text
    assert [(m["directory"], m["name"], m["status"], m["node_ids"]) for m in listed.json()["models"]] == [
        ("loras", "MoXinV1.safetensors", "missing", ["13"]), ("loras", "blindbox_v1_mix.safetensors", "missing", ["11"]),
        ("checkpoints", "dreamshaper_8.safetensors", "missing", ["4"])]


def test_bad_bodies(env):
    http, base = env["http"], env["url"]
    route = base("/model-manager/workflow-models")
    big = http.post(route, data=b'{"workflow": "' + b"x" * (33 * 1024 * 1024) + b'"}')
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    assert http.post(route, data=b"{nope").status_code == 400
    deep = http.post(route, data=b'{"workflow": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert deep.status_code == 400 and "nested" in deep.json()["error"]["message"]
    many = {"nodes": [], "models": [{"name": f"m{i}.safetensors", "directory": "loras"} for i in range(5001)]}
    answer = http.post(route, json={"workflow": many})
    assert answer.status_code == 400 and "5,000" in answer.json()["error"]["message"]
    empty = http.post(route, json={"something": 1})
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "bad_workflow"
    assert http.post(route, data=b"").status_code == 400
    options = http.post(route, json={"workflow": {"nodes": []}, "allow_any_host": "yes"})
    assert options.status_code == 400
