"""Workflows embedded in images that a real ComfyUI wrote: a SaveImage PNG (``workflow``/``prompt``
text chunks) and a SaveAnimatedWEBP WebP (``workflow:``/``prompt:`` EXIF strings), both carrying
the ``lora`` template (see support/workflow_images.py for how they were made). Read by the reader
and the CLI here; a real ComfyUI (when COMFYUI_PATH is set) writes them anew and they read the same."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from comfyui_model_manager.core.cli import main
from comfyui_model_manager.core.workflow.loaders import merge
from comfyui_model_manager.core.workflow.reader import read_bytes
from comfyui_model_manager.core.workflow.references import collect
from support.comfyui_harness import ComfyUIServer, require_comfyui
from support.workflow_images import FIXTURES, PNG_NAME, WEBP_NAME, write_images
from support.workflow_templates import TEMPLATES_MISSING, template_json

IMAGES = {"png": FIXTURES / PNG_NAME, "webp": FIXTURES / WEBP_NAME}
LORA_MODELS = [
    ("loras", "MoXinV1.safetensors", ["13"], "https://civitai.com/api/download/models/14856?type=Model&format=SafeTensor&size=full&fp=fp16"),
    ("loras", "blindbox_v1_mix.safetensors", ["11"], "https://civitai.com/api/download/models/32988?type=Model&format=SafeTensor&size=full&fp=fp16"),
    ("checkpoints", "dreamshaper_8.safetensors", ["4"], "https://civitai.com/api/download/models/128713?type=Model&format=SafeTensor&size=pruned&fp=fp16"),
]


def references(data: bytes) -> list[tuple]:
    return [(r.directory, r.name, r.node_ids, r.url) for r in collect(read_bytes(data), merge(None))]


def test_the_fixtures_carry_what_comfyui_writes():
    png = Image.open(IMAGES["png"])
    assert png.format == "PNG" and set(png.text) == {"prompt", "workflow"}
    webp = Image.open(IMAGES["webp"])
    exif = webp.getexif()
    assert webp.format == "WEBP"
    assert exif[0x010F].startswith("workflow:") and exif[0x0110].startswith("prompt:")


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_reader_finds_the_template_and_its_models_in_the_image(kind):
    data = IMAGES[kind].read_bytes()
    workflow = read_bytes(data)
    assert workflow.source == kind
    assert {node["class_type"] for node in workflow.prompt.values()} >= {"CheckpointLoaderSimple", "LoraLoader",
                                                                         "SaveImage", "SaveAnimatedWEBP"}
    assert references(data) == LORA_MODELS
    try:
        assert workflow.ui == template_json("lora")  # the frontend's workflow, unchanged
    except ModuleNotFoundError:
        pytest.skip(TEMPLATES_MISSING)


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_cli_lists_the_models_of_the_image(kind, tmp_path, capsys):
    code = main(["workflow", str(IMAGES[kind]), "--models-dir", str(tmp_path / "models"), "--no-sizes", "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert code == 1  # missing models
    assert [(m["directory"], m["name"], m["status"]) for m in listed["models"]] == [
        (folder, name, "missing") for folder, name, _ids, _url in LORA_MODELS]


def test_an_image_with_its_chunks_stripped_is_a_clear_error(tmp_path, capsys):
    stripped = io.BytesIO()
    Image.open(IMAGES["png"]).save(stripped, format="PNG")  # Pillow drops the text chunks
    path = tmp_path / "plain.png"
    path.write_bytes(stripped.getvalue())
    code = main(["workflow", str(path), "--models-dir", str(tmp_path / "models"), "--json"])
    assert code == 2
    assert "workflow" in json.loads(capsys.readouterr().out)["error"]["message"].lower()


@pytest.mark.comfyui
@pytest.mark.timeout(300)
def test_this_comfyui_writes_images_that_read_the_same(tmp_path):
    pytest.importorskip("comfyui_workflow_templates", reason=TEMPLATES_MISSING)
    comfy = ComfyUIServer(require_comfyui(), tmp_path / "comfy").start()
    try:
        png, webp = write_images(comfy)
    finally:
        comfy.stop()
    assert png.startswith(b"\x89PNG") and webp[8:12] == b"WEBP"
    assert references(png) == references(webp) == LORA_MODELS
    assert read_bytes(png).ui == read_bytes(IMAGES["png"].read_bytes()).ui
