"""Real workflows: ComfyUI's own templates (``comfyui_workflow_templates``) read, listed and
fetched by the CLI from the fake Hub and fake Civitai, reached through HF_ENDPOINT and
CIVITAI_BASE_URL as a user of a mirror would (the templates' links are not rewritten)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from comfyui_model_manager.core.cli import main
from comfyui_model_manager.core.sources.civitai_links import parse_civitai_link
from comfyui_model_manager.core.sources.huggingface_links import parse_hf_link
from comfyui_model_manager.core.workflow.loaders import merge
from comfyui_model_manager.core.workflow.reader import read_bytes
from comfyui_model_manager.core.workflow.references import collect
from support.downloads import payload
from support.fake_civitai import FakeCivitai
from support.fake_hub import FakeHub
from support.model_files import safetensors_file

templates = pytest.importorskip("comfyui_workflow_templates",
                                reason="comfyui-workflow-templates is not installed (pip install "
                                       "comfyui-workflow-templates==0.1.95)")
TEMPLATES = Path(templates.get_templates_path())

PLAIN = ["lora", "lora_multiple", "2_pass_pose_worship", "depth_t2i_adapter", "controlnet_example",
         "depth_controlnet", "hidream_e1_1", "image_qwen_image_edit_2509", "flux1_dev_uso_reference_image_gen"]
WITH_HASHES = ["hidream_e1_full", "wan2.1_flf2v_720_f16"]
CIVITAI_TYPES = {"loras": "LORA", "checkpoints": "Checkpoint", "vae": "VAE", "controlnet": "Controlnet"}


def load(name: str):
    return read_bytes((TEMPLATES / f"{name}.json").read_bytes())


@pytest.fixture
def mirrors(monkeypatch):
    with FakeHub() as hub, FakeCivitai() as civitai:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("CIVITAI_BASE_URL", civitai.base_url)
        yield hub, civitai


def serve(hub: FakeHub, civitai: FakeCivitai, names: list[str]) -> dict[tuple[str, str], bytes]:
    """Small generated files for every linked model of the templates; (folder, name) -> bytes."""
    served: dict[tuple[str, str], bytes] = {}
    for seed, candidate in enumerate(c for n in names for c in collect(load(n), merge(None)) if c.url):
        if (candidate.directory, candidate.name) in served:
            continue  # the same file named by several templates
        data = safetensors_file(payload(20_000 + seed * 7, seed))
        hf = parse_hf_link(candidate.url)
        if hf is not None:
            if hf.repo_id not in hub.repos:
                hub.add_repo(hf.repo_id)
            hub.add_file(hf.repo_id, hf.path, data, revision=hf.revision)
        else:
            link = parse_civitai_link(candidate.url)
            assert link is not None and link.version_id, candidate.url
            if link.version_id in civitai.versions:
                continue
            filters = dict(parse_qsl(urlsplit(candidate.url).query))
            civitai.add_model(link.version_id + 1, candidate.name, CIVITAI_TYPES[candidate.directory])
            civitai.add_version(link.version_id + 1, link.version_id, "v1")
            civitai.add_file(link.version_id, link.version_id * 10, candidate.name, data,
                             file_type=filters.get("type", "Model"), format=filters.get("format", "SafeTensor"),
                             size=filters.get("size", "pruned"), fp=filters.get("fp", "fp16"))
        served.setdefault((candidate.directory, candidate.name), data)
    return served


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
        roots = {"diffusion_models": "unet", "text_encoders": "text_encoders"}
        path = models / roots.get(folder, folder) / name
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
