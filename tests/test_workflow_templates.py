"""Real workflows: ComfyUI's own templates (``comfyui_workflow_templates``) read, listed and
fetched by the CLI from the fake Hub and fake Civitai, reached through HF_ENDPOINT and
CIVITAI_BASE_URL as a user of a mirror would (the templates' links are not rewritten)."""
from __future__ import annotations

import hashlib
import json

import pytest

from comfyui_model_manager.core.cli import main
from comfyui_model_manager.core.workflow.loaders import merge
from comfyui_model_manager.core.workflow.references import collect
from support.fake_civitai import FakeCivitai
from support.fake_hub import FakeHub
from support.workflow_templates import TEMPLATES_MISSING, load, model_path, serve, templates_dir

pytest.importorskip("comfyui_workflow_templates", reason=TEMPLATES_MISSING)
TEMPLATES = templates_dir()

PLAIN = ["lora", "lora_multiple", "2_pass_pose_worship", "depth_t2i_adapter", "controlnet_example",
         "depth_controlnet", "hidream_e1_1", "image_qwen_image_edit_2509", "flux1_dev_uso_reference_image_gen"]
WITH_HASHES = ["hidream_e1_full", "wan2.1_flf2v_720_f16"]


@pytest.fixture
def mirrors(monkeypatch):
    with FakeHub() as hub, FakeCivitai() as civitai:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("CIVITAI_BASE_URL", civitai.base_url)
        yield hub, civitai


def run(capsys, *argv) -> tuple[int, dict]:
    code = main(["workflow", *map(str, argv), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_templates_are_read_with_every_reference():
    total = 0
    for name in PLAIN + WITH_HASHES:
        references = collect(load(name), merge(None))
        assert references, name
        assert all(r.url for r in references), name  # every loader of these templates has a models entry
        total += len(references)
    subgraphed = collect(load("image_qwen_image_edit_2509"), merge(None))
    vae = next(r for r in subgraphed if r.name == "qwen_image_vae.safetensors")
    assert vae.node_ids == ["39", "337"] and vae.directory == "vae"
    assert total >= 30
    hashed = [r for n in WITH_HASHES for r in collect(load(n), merge(None)) if r.sha256]
    assert hashed and all(len(r.sha256) == 64 for r in hashed)


def test_cli_fetches_template_models_from_the_mirrors(mirrors, tmp_path, capsys):
    hub, civitai = mirrors
    served = serve(hub, civitai, PLAIN)
    models = tmp_path / "models"
    for name in PLAIN:
        code, listed = run(capsys, TEMPLATES / f"{name}.json", "--models-dir", models, "--no-sizes")
        statuses = {m["status"] for m in listed["models"]}  # earlier templates share some files
        assert statuses <= {"missing", "present"} and code == (0 if statuses == {"present"} else 1), listed
        code, done = run(capsys, TEMPLATES / f"{name}.json", "--models-dir", models, "--download")
        assert code == 0, (name, done)
        assert {m["status"] for m in done["models"]} == {"present"}
    for (folder, name), data in served.items():
        path = model_path(models, folder, name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest(), path
    fetched = len(hub.cdn_requests) + len(civitai.storage_requests)
    code, again = run(capsys, TEMPLATES / "lora.json", "--models-dir", models, "--download")
    assert code == 0 and len(hub.cdn_requests) + len(civitai.storage_requests) == fetched


def test_template_hashes_are_enforced(mirrors, tmp_path, capsys):
    """The mirrors serve other bytes than the templates' SHA256 say: those downloads fail and
    nothing is placed, the entries without a hash land."""
    hub, civitai = mirrors
    serve(hub, civitai, ["hidream_e1_full"])
    models = tmp_path / "models"
    code, done = run(capsys, TEMPLATES / "hidream_e1_full.json", "--models-dir", models, "--download")
    assert code == 1
    tasks = {t["filename"]: t for t in done["tasks"]}
    for ref in done["models"]:
        task = tasks[ref["name"]]
        if ref["sha256"]:
            assert task["status"] == "failed" and "sha256" in task["error"].lower(), task
            assert not list(models.rglob(ref["name"]))
        else:
            assert task["status"] == "completed" and ref["status"] == "present"
