"""Workflow-model routes inside a real ComfyUI (skipped without COMFYUI_PATH)."""
from __future__ import annotations

import pytest

from support.comfyui_harness import ComfyUIServer, require_comfyui

pytestmark = pytest.mark.comfyui


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    server = ComfyUIServer(require_comfyui(), tmp_path_factory.mktemp("comfy-wf"))
    server.start()
    yield server
    server.stop()


def test_routes_list_present_and_missing_with_comfyui_loaders(comfy):
    (comfy.models_dir / "loras").mkdir(parents=True, exist_ok=True)
    (comfy.models_dir / "loras" / "have.safetensors").write_bytes(b"x" * 16)
    prompt = {"1": {"class_type": "LoraLoaderModelOnly",
                    "inputs": {"lora_name": "have.safetensors", "strength_model": 1, "model": ["2", 0]}},
              "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "gone.safetensors"}}}
    answer = comfy.post("/model-manager/workflow-models", json={"prompt": prompt, "sizes": False})
    assert answer.status_code == 200, answer.text
    statuses = {(m["directory"], m["name"]): m["status"] for m in answer.json()["models"]}
    assert statuses == {("loras", "have.safetensors"): "present",
                        ("checkpoints", "gone.safetensors"): "missing_no_url"}
    refused = comfy.post("/model-manager/workflow-models/download", json={"prompt": prompt})
    assert refused.status_code == 202 and refused.json()["refused"][0]["name"] == "gone.safetensors"
    big = comfy.post("/model-manager/workflow-models", data=b"x" * (33 * 1024 * 1024))
    assert big.status_code == 413
