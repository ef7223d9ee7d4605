"""The trash routes on a real aiohttp server over a real runtime (no ComfyUI needed): delete,
list, restore (409 and rename), purge, ids that try to leave the trash, and the delete event."""
from __future__ import annotations

import hashlib
import threading

import pytest
import requests
from aiohttp import web

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.observers import DELETE_MODEL
from comfyui_model_manager.core.trash_location import TRASH_FOLDER
from comfyui_model_manager.nodes.routes import PREFIX, ModelManagerRoutes
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.aiohttp_app import AppServer
from support.raw_http import raw_request
from support.scanner_files import write_safetensors


@pytest.fixture
def env(tmp_path):
    sent: list = []
    lock = threading.Lock()

    def send(event, payload):
        with lock:
            sent.append((event, payload))

    models = tmp_path / "models"
    model = write_safetensors(models / "loras" / "people" / "styled.safetensors", payload=b"w" * 5000)
    (model.with_name("styled.md")).write_text("# Styled")
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(models), tmp_path / "state", send))

    def app():
        application = web.Application()
        routes = web.RouteTableDef()
        ModelManagerRoutes(holder).register(routes, (PREFIX, "/api" + PREFIX))
        application.add_routes(routes)
        return application

    with AppServer(app) as server:
        session = requests.Session()
        session.trust_env = False
        yield {"url": server.url, "http": session, "models": models, "model": model, "sent": sent,
               "digest": hashlib.sha256(model.read_bytes()).hexdigest(), "server": server}
    holder.shutdown()


NAME = "people%2Fstyled.safetensors"


def names(env):
    return [m["name"] for m in env["http"].get(env["url"]("/model-manager/models?type=loras")).json()["models"]]


def test_delete_list_restore_purge(env):
    http, url, model = env["http"], env["url"], env["model"]
    assert names(env) == ["people/styled.safetensors"]
    deleted = http.delete(url(f"/model-manager/models/loras/{NAME}"))
    assert deleted.status_code == 204
    trash_id = deleted.headers["X-Model-Manager-Trash-Id"]
    assert not model.exists() and names(env) == []
    assert (env["models"] / TRASH_FOLDER / trash_id / "files" / "styled.safetensors").is_file()
    assert (DELETE_MODEL, {"model_type": "loras", "name": "people/styled.safetensors",
                           "trash_id": trash_id}) in env["sent"]

    items = http.get(url("/model-manager/trash")).json()["items"]
    assert len(items) == 1 and items[0]["id"] == trash_id
    assert items[0]["files"] == [str(model), str(model.with_name("styled.md"))]
    assert items[0]["model_type"] == "loras" and items[0]["name"] == "people/styled.safetensors"
    assert items[0]["size"] > 5000 and items[0]["deleted_at"] > 0

    restored = http.post(url(f"/api/model-manager/trash/{trash_id}/restore"))
    assert restored.status_code == 200, restored.text
    assert restored.json()["name"] == "people/styled.safetensors" and restored.json()["description"] == "# Styled"
    assert hashlib.sha256(model.read_bytes()).hexdigest() == env["digest"]
    assert names(env) == ["people/styled.safetensors"]
    assert http.get(url("/model-manager/trash")).json() == {"items": []}
    gone = http.post(url(f"/model-manager/trash/{trash_id}/restore"))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"

    trash_id = http.delete(url(f"/model-manager/models/loras/{NAME}")).headers["X-Model-Manager-Trash-Id"]
    assert http.delete(url(f"/model-manager/trash/{trash_id}")).status_code == 204
    assert http.get(url("/model-manager/trash")).json() == {"items": []}
    assert list((env["models"] / TRASH_FOLDER).iterdir()) == []
    assert http.delete(url(f"/model-manager/trash/{trash_id}")).status_code == 404


def test_restore_conflict_409_and_rename(env):
    http, url, model = env["http"], env["url"], env["model"]
    trash_id = http.delete(url(f"/model-manager/models/loras/{NAME}")).headers["X-Model-Manager-Trash-Id"]
    model.write_bytes(b"downloaded again meanwhile")
    conflict = http.post(url(f"/model-manager/trash/{trash_id}/restore"), json={})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "conflict"
    assert "exists now and is never replaced" in conflict.json()["error"]["message"]
    assert model.read_bytes() == b"downloaded again meanwhile"
    assert http.post(url(f"/model-manager/trash/{trash_id}/restore"), json={"rename": "yes"}).status_code == 400
    renamed = http.post(url(f"/model-manager/trash/{trash_id}/restore"), json={"rename": True})
    assert renamed.status_code == 200 and renamed.json()["name"] == "people/styled (1).safetensors"
    assert sorted(names(env)) == ["people/styled (1).safetensors", "people/styled.safetensors"]
    assert model.with_name("styled (1).md").read_text() == "# Styled"


def test_permanently_and_its_event(env):
    http, url = env["http"], env["url"]
    deleted = http.delete(url(f"/model-manager/models/loras/{NAME}?permanently=true"))
    assert deleted.status_code == 204 and "X-Model-Manager-Trash-Id" not in deleted.headers
    assert not env["model"].exists() and http.get(url("/model-manager/trash")).json() == {"items": []}
    assert (DELETE_MODEL, {"model_type": "loras", "name": "people/styled.safetensors",
                           "trash_id": None}) in env["sent"]
    write_safetensors(env["model"])
    bad = http.delete(url(f"/model-manager/models/loras/{NAME}?permanently=maybe"))
    assert bad.status_code == 400 and env["model"].exists()


@pytest.mark.parametrize("trash_id", ["..", "%2e%2e", "..%2f..%2fetc", "abc", "0123456789abcdeg",
                                      "0123456789ABCDEF0", "%00"])
def test_ids_never_name_a_path(env, trash_id):
    http, url = env["http"], env["url"]
    for method, path in (("POST", f"/model-manager/trash/{trash_id}/restore"),
                         ("DELETE", f"/model-manager/trash/{trash_id}")):
        status, body = raw_request(env["server"].port, method, path)
        assert status in (400, 404), (method, path, status, body)
        if status == 400:
            assert b"not a trash id" in body
    assert env["model"].exists()
    assert http.get(url("/model-manager/trash/0123456789abcdef")).status_code in (404, 405)
