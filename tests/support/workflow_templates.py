"""ComfyUI's own workflow templates (``comfyui_workflow_templates``) served by the fake Hub and
fake Civitai, so that their real links (huggingface.co, civitai.com) can be fetched through
``HF_ENDPOINT`` / ``CIVITAI_BASE_URL`` without rewriting them.

Callers skip first when the package is missing::

    pytest.importorskip("comfyui_workflow_templates", reason=TEMPLATES_MISSING)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from comfyui_model_manager.core.sources.civitai_links import parse_civitai_link
from comfyui_model_manager.core.sources.huggingface_links import parse_hf_link
from comfyui_model_manager.core.workflow.loaders import merge
from comfyui_model_manager.core.workflow.reader import Workflow, read_bytes
from comfyui_model_manager.core.workflow.references import collect

from .downloads import payload
from .fake_civitai import FakeCivitai
from .fake_hub import FakeHub
from .model_files import safetensors_file

TEMPLATES_MISSING = "comfyui-workflow-templates is not installed (pip install comfyui-workflow-templates==0.1.95)"
CIVITAI_TYPES = {"loras": "LORA", "checkpoints": "Checkpoint", "vae": "VAE", "controlnet": "Controlnet"}
#: Where ComfyUI's default folder layout puts a model type (the others are named as the type).
FOLDER_ROOTS = {"diffusion_models": "unet"}


def templates_dir() -> Path:
    import comfyui_workflow_templates

    return Path(comfyui_workflow_templates.get_templates_path())


def template_json(name: str) -> dict[str, Any]:
    return json.loads((templates_dir() / f"{name}.json").read_text(encoding="utf-8"))


def load(name: str) -> Workflow:
    return read_bytes((templates_dir() / f"{name}.json").read_bytes())


def serve(hub: FakeHub, civitai: FakeCivitai, names: list[str], size: int = 20_000,
          data_for: dict[tuple[str, str], bytes] | None = None) -> dict[tuple[str, str], bytes]:
    """Generated safetensors files (about ``size`` bytes) for every linked model of the templates,
    or the bytes ``data_for`` gives for a (folder, name); answers (folder, name) -> bytes served."""
    served: dict[tuple[str, str], bytes] = {}
    for seed, candidate in enumerate(c for n in names for c in collect(load(n), merge(None)) if c.url):
        key = (candidate.directory, candidate.name)
        if key in served:
            continue  # the same file named by several templates
        data = (data_for or {}).get(key) or safetensors_file(payload(size + seed * 7, seed))
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
        served.setdefault(key, data)
    return served


def model_path(models_dir: Path, folder: str, name: str) -> Path:
    """Where a downloaded (folder, name) lands under ComfyUI's default models folder."""
    return Path(models_dir) / FOLDER_ROOTS.get(folder, folder) / name
