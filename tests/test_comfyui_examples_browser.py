"""The example workflows load in the real ComfyUI frontend the way a user drops them on the canvas.

Headless Chromium (Debian's, via ``support.browser``) opens a real ComfyUI on each frontend mode; the test hands each
example file to ``app.handleFile`` (what a drag-and-drop calls), checks what the graph turns
into (``app.graphToPrompt``), then queues the dropped workflow from the page with its URL
pointed at a loopback file host and waits for the file.
"""
from __future__ import annotations

import hashlib
import json

import pytest

from support.browser import ComfyPage, chromium, require_browser, start_comfy_for_mode
from support.comfyui_harness import PACK_ROOT
from support.waiting import wait_for

pytestmark = [pytest.mark.comfyui, pytest.mark.browser]

EXAMPLES = PACK_ROOT / "examples"


@pytest.fixture(scope="module")
def page(frontend_mode, tmp_path_factory):
    """One ComfyUI and one tab per frontend mode."""
    executable = require_browser()
    server = start_comfy_for_mode(frontend_mode, tmp_path_factory.mktemp(f"comfy-examples-{frontend_mode}"))
    try:
        with chromium(tmp_path_factory.mktemp(f"chromium-examples-{frontend_mode}"), executable) as context:
            tab = ComfyPage(context, server.base_url).open()
            tab.comfy = server
            yield tab
    finally:
        server.stop()


def _drop(page: ComfyPage, path, text: str | None = None) -> None:
    page.log.clear()
    page.evaluate("""async ([name, text]) => {
        app.graph.clear();
        await app.handleFile(new File([text], name, { type: 'application/json' }));
    }""", [path.name, text if text is not None else path.read_text()])
    # the frontend reads the file and builds the graph asynchronously
    page.page.wait_for_function("() => app.graph.nodes.some((n) => n.type === 'DownloadModel')",
                                timeout=45000)


def _prompt(page: ComfyPage) -> dict:
    return page.evaluate("async () => (await app.graphToPrompt()).output")


def test_dropped_ui_workflow_becomes_the_expected_prompt_and_runs(page, files):
    _drop(page, EXAMPLES / "download_model_workflow.json")
    prompt = _prompt(page)
    download = next(n for n in prompt.values() if n["class_type"] == "DownloadModel")
    preview = next(n for n in prompt.values() if n["class_type"] == "PreviewAny")
    assert download["inputs"] == {
        "url": "https://huggingface.co/latent-consistency/lcm-lora-sdv1-5/resolve/main/pytorch_lora_weights.safetensors",
        "model_type": "loras", "subfolder": "lcm", "filename": "lcm-lora-sdv1-5.safetensors",
        "sha256": "", "if_exists": "skip", "wait": True}
    assert preview["inputs"]["source"][1] == 0
    assert not page.log.page_errors

    served = files.add("/files/dropped.safetensors", 96 << 10)
    workflow = json.loads((EXAMPLES / "download_model_workflow.json").read_text())
    workflow["nodes"][0]["widgets_values"][0] = files.url("/files/dropped.safetensors")
    _drop(page, EXAMPLES / "download_model_workflow.json", json.dumps(workflow))
    page.queue()
    target = page.comfy.models_dir / "loras" / "lcm" / "lcm-lora-sdv1-5.safetensors"
    wait_for(target.exists, timeout=60, what=f"{target.name} downloaded", interval=0.1)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == served.sha256


def test_dropped_api_workflow_loads_its_nodes(page):
    """The API-format example loads too (ComfyUI's loadApiJson).  The browser only links COMBO
    to COMBO, so its DownloadModel -> ModelInfo link is an API-run feature (see the README);
    the loaded ModelInfo falls back to its picker."""
    _drop(page, EXAMPLES / "download_model_api.json")
    prompt = _prompt(page)
    by_type = {n["class_type"]: n for n in prompt.values()}
    assert set(by_type) >= {"DownloadModel", "ModelInfo", "PreviewAny"}
    assert by_type["ModelInfo"]["inputs"]["model_type"] == "loras"
    assert by_type["DownloadModel"]["inputs"]["subfolder"] == "lcm"
    assert not page.log.page_errors
