"""Real templates through the REST routes of a real ComfyUI (skipped without COMFYUI_PATH): every
model of ComfyUI's ``lora`` (Civitai links) and ``esrgan_example`` (Hub links) templates is listed,
downloaded from the loopback fakes (CIVITAI_BASE_URL / HF_ENDPOINT), verified, and then ComfyUI
accepts the workflow's prompt: no "value not in list" for the loaders any more."""
from __future__ import annotations

import hashlib
import json
import time

import pytest

from support.comfyui_harness import ComfyUIServer, require_comfyui
from support.fake_civitai import FakeCivitai
from support.fake_hub import FakeHub
from support.workflow_prompt import ui_to_prompt
from support.workflow_templates import TEMPLATES_MISSING, model_path, serve, template_json

pytest.importorskip("comfyui_workflow_templates", reason=TEMPLATES_MISSING)
pytestmark = [pytest.mark.comfyui, pytest.mark.timeout(420)]

TEMPLATES = ["lora", "esrgan_example"]
FINISHED = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    installation = require_comfyui()
    with FakeHub() as hub, FakeCivitai() as civitai:
        served = serve(hub, civitai, TEMPLATES, size=200_000)
        server = ComfyUIServer(installation, tmp_path_factory.mktemp("comfy-templates"),
                               env={"CIVITAI_BASE_URL": civitai.base_url, "HF_ENDPOINT": hub.endpoint})
        server.start()
        try:
            yield server, hub, civitai, served
        finally:
            server.stop()


def validate(comfy: ComfyUIServer, prompt: dict) -> tuple[int, dict]:
    """POST /prompt; a prompt that validates is then taken off the queue (its models are fakes)."""
    answer = comfy.post("/prompt", json={"prompt": prompt})
    if answer.status_code == 200:
        comfy.post("/queue", json={"clear": True})
        comfy.post("/interrupt")
    return answer.status_code, answer.json()


def wait_tasks(comfy: ComfyUIServer, task_ids: list[str], timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        tasks = [comfy.get(f"/model-manager/tasks/{task_id}").json() for task_id in task_ids]
        if all(task["status"] in FINISHED for task in tasks) or time.monotonic() > deadline:
            return tasks
        time.sleep(0.2)


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_model_of_a_template_downloads_and_the_prompt_validates(stack, template):
    comfy, _hub, _civitai, served = stack
    workflow = template_json(template)
    prompt = ui_to_prompt(workflow, comfy.object_info())
    status, rejected = validate(comfy, prompt)
    assert status == 400 and "value_not_in_list" in json.dumps(rejected), rejected

    listed = comfy.post("/model-manager/workflow-models", json={"workflow": workflow})
    assert listed.status_code == 200, listed.text
    models = listed.json()["models"]
    assert models and {m["status"] for m in models} == {"missing"}, models
    for model in models:
        assert model["size"] == len(served[(model["directory"], model["name"])]), model

    body = {"workflow": workflow, "prompt": prompt}
    started = comfy.post("/model-manager/workflow-models/download", json=body)
    again = comfy.post("/model-manager/workflow-models/download", json=body)  # joins, never doubles
    assert started.status_code == again.status_code == 202, started.text
    first, second = started.json(), again.json()
    assert first["refused"] == [] and len(first["tasks"]) == len(models)
    task_ids = [task["task_id"] for task in first["tasks"]]
    # the second answer joins the running tasks (or finds the files already in place)
    assert {t["task_id"] for t in second["tasks"]} <= set(task_ids), (first, second)
    assert len(second["tasks"]) + len(second["present"]) == len(models), second
    tasks = wait_tasks(comfy, task_ids)
    assert all(task["status"] == "completed" for task in tasks), tasks
    for model in models:
        path = model_path(comfy.models_dir, model["directory"], model["name"])
        data = served[(model["directory"], model["name"])]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest(), path

    relisted = comfy.post("/model-manager/workflow-models", json={"workflow": workflow, "sizes": False}).json()
    assert {m["status"] for m in relisted["models"]} == {"present"}, relisted
    done = comfy.post("/model-manager/workflow-models/download", json=body).json()
    assert done["tasks"] == [] and len(done["present"]) == len(models)
    status, accepted = validate(comfy, prompt)
    assert status == 200 and not accepted.get("node_errors"), accepted
