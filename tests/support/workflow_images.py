"""Images with a workflow embedded, written by a real ComfyUI: its SaveImage (PNG, ``workflow`` and
``prompt`` text chunks) and SaveAnimatedWEBP (WebP, ``workflow:``/``prompt:`` EXIF strings).

The prompt is the ``lora`` template's (its output node left out) plus a small EmptyImage feeding
both savers; the template's UI workflow goes in as ``extra_pnginfo``, as the frontend sends it.
Only the savers' branch runs, so no model file is needed. The committed fixtures in
``tests/fixtures/`` were made with::

    COMFYUI_PATH=/path/to/ComfyUI python tests/support/workflow_images.py
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make "support" importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.comfyui_harness import ComfyUIServer  # noqa: E402
from support.workflow_prompt import output_nodes, ui_to_prompt  # noqa: E402
from support.workflow_templates import template_json  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEMPLATE = "lora"
PNG_NAME, WEBP_NAME = "workflow_lora_comfyui.png", "workflow_lora_comfyui.webp"


def saving_prompt(comfy: ComfyUIServer, template: str = TEMPLATE) -> tuple[dict, dict]:
    """(prompt, UI workflow): the template's nodes without its outputs, plus EmptyImage → savers."""
    workflow = template_json(template)
    info = comfy.object_info()
    prompt = ui_to_prompt(workflow, info)
    for node_id in output_nodes(prompt, info):
        del prompt[node_id]
    prompt["100"] = {"class_type": "EmptyImage",
                     "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0x3366CC}}
    prompt["101"] = {"class_type": "SaveImage", "inputs": {"images": ["100", 0], "filename_prefix": "workflow"}}
    prompt["102"] = {"class_type": "SaveAnimatedWEBP",
                     "inputs": {"images": ["100", 0], "filename_prefix": "workflow", "fps": 6.0,
                                "lossless": True, "quality": 80, "method": "default"}}
    return prompt, workflow


def write_images(comfy: ComfyUIServer, template: str = TEMPLATE) -> tuple[bytes, bytes]:
    """Runs the saving prompt in ``comfy``; answers (PNG bytes, WebP bytes) as ComfyUI wrote them."""
    prompt, workflow = saving_prompt(comfy, template)
    answer = comfy.post("/prompt", json={"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": workflow}}})
    assert answer.status_code == 200, answer.text
    entry = comfy.wait_for_history(answer.json()["prompt_id"], timeout=120)
    assert entry["status"].get("status_str") == "success", entry["status"]

    def saved(node_id: str) -> bytes:
        image = entry["outputs"][node_id]["images"][0]
        return (comfy.base_dir / "output" / image.get("subfolder", "") / image["filename"]).read_bytes()

    return saved("101"), saved("102")


def main() -> int:
    import tempfile

    from support.comfyui_harness import find_comfyui

    installation, reason = find_comfyui()
    if installation is None:
        print(reason, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as base:
        comfy = ComfyUIServer(installation, Path(base)).start()
        try:
            png, webp = write_images(comfy)
        finally:
            comfy.stop()
    FIXTURES.mkdir(exist_ok=True)
    (FIXTURES / PNG_NAME).write_bytes(png)
    (FIXTURES / WEBP_NAME).write_bytes(webp)
    print(f"wrote {FIXTURES / PNG_NAME} ({len(png)} bytes), {FIXTURES / WEBP_NAME} ({len(webp)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
