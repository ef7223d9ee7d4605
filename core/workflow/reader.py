"""Read a workflow from what people share: UI JSON, an API-format prompt, or a PNG/WebP image.

ComfyUI writes the UI workflow and the API prompt into the images it saves: PNG ``tEXt``
chunks named ``workflow`` and ``prompt``; WebP EXIF strings ``workflow:{…}`` / ``prompt:{…}``.
Only the container is parsed (Pillow's ``Image.open`` reads chunks, never pixels).
Everything is bounded: size (``MAX_WORKFLOW_BYTES``), JSON nesting (the parser's own limit gives
one clear error instead of a crash).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from .limits import BadWorkflow, check_size

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Workflow:
    """What was read: the UI graph and/or the API prompt (either may be missing)."""

    ui: dict | None = None
    prompt: dict | None = None
    source: str = "json"  # json | png | webp

    @property
    def empty(self) -> bool:
        return self.ui is None and self.prompt is None


def is_image(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def read_bytes(data: bytes) -> Workflow:
    """A workflow from a file's bytes (JSON of either format, PNG or WebP)."""
    check_size(len(data))
    if data.startswith(PNG_SIGNATURE):
        return _from_texts(_png_texts(data), "png")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _from_texts(_webp_texts(data), "webp")
    return from_document(parse_json(data))


def parse_json(data: bytes | str) -> Any:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadWorkflow("not a workflow: the file is neither JSON (UTF-8) nor a PNG/WebP image") from None
    check_size(len(data))
    try:
        return json.loads(data)
    except RecursionError:
        raise BadWorkflow("the workflow is nested deeper than the JSON parser allows") from None
    except ValueError as exc:
        raise BadWorkflow(f"the workflow is not valid JSON ({exc})") from None


def from_document(document: Any) -> Workflow:
    """A workflow from parsed JSON: a UI graph, an API prompt, or ``{"workflow"|"prompt": …}``
    (also the ``POST /prompt`` body, whose ``extra_data.extra_pnginfo.workflow`` is the UI graph)."""
    if not isinstance(document, dict):
        raise BadWorkflow("not a workflow: expected a JSON object")
    if is_ui_graph(document):
        return Workflow(ui=document)
    if "workflow" in document or "prompt" in document:
        ui = _maybe_json(document.get("workflow"), "workflow")
        prompt = _maybe_json(document.get("prompt"), "prompt")
        extra = (document.get("extra_data") or {}) if isinstance(document.get("extra_data"), dict) else {}
        pnginfo = extra.get("extra_pnginfo") if isinstance(extra.get("extra_pnginfo"), dict) else {}
        if ui is None and pnginfo.get("workflow") is not None:
            ui = _maybe_json(pnginfo.get("workflow"), "workflow")
        workflow = Workflow(ui=ui if isinstance(ui, dict) else None, prompt=prompt if isinstance(prompt, dict) else None)
        if ui is not None and not (isinstance(ui, dict) and is_ui_graph(ui)):
            raise BadWorkflow("\"workflow\" is not a ComfyUI workflow (it has no nodes list)")
        if prompt is not None and not (isinstance(prompt, dict) and is_api_prompt(prompt)):
            raise BadWorkflow("\"prompt\" is not an API-format prompt ({node_id: {class_type, inputs}})")
        if workflow.empty:
            raise BadWorkflow("give a workflow (\"workflow\") or an API-format prompt (\"prompt\")")
        return workflow
    if is_api_prompt(document):
        return Workflow(prompt=document)
    raise BadWorkflow("not a ComfyUI workflow: neither a UI workflow (nodes) nor an API-format prompt")


def is_ui_graph(document: dict) -> bool:
    return isinstance(document.get("nodes"), list)


def is_api_prompt(document: dict) -> bool:
    nodes = [v for v in document.values()]
    return bool(nodes) and all(isinstance(v, dict) and isinstance(v.get("class_type"), str) for v in nodes)


def _maybe_json(value: Any, what: str) -> Any:
    if isinstance(value, str):
        return parse_json(value)
    if value is not None and not isinstance(value, dict):
        raise BadWorkflow(f"\"{what}\" must be a JSON object")
    return value


def _from_texts(texts: dict[str, str], source: str) -> Workflow:
    workflow = Workflow(source=source)
    if texts.get("workflow"):
        ui = parse_json(texts["workflow"])
        if isinstance(ui, dict) and is_ui_graph(ui):
            workflow.ui = ui
    if texts.get("prompt"):
        prompt = parse_json(texts["prompt"])
        if isinstance(prompt, dict) and is_api_prompt(prompt):
            workflow.prompt = prompt
    if workflow.empty:
        raise BadWorkflow(f"this {source.upper()} image has no ComfyUI workflow embedded "
                          "(no \"workflow\" or \"prompt\" metadata)")
    return workflow


def _open_image(data: bytes):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadWorkflow(f"the image could not be read ({type(exc).__name__})") from None
    except Image.DecompressionBombError:
        raise BadWorkflow("the image is too large to open") from None


def _png_texts(data: bytes) -> dict[str, str]:
    """Text chunks before the image data (where ComfyUI writes them); pixels are never decoded."""
    image = _open_image(data)
    with image:
        return {k: v for k, v in image.info.items() if k in ("workflow", "prompt") and isinstance(v, str)}


def _webp_texts(data: bytes) -> dict[str, str]:
    """ComfyUI stores ``"workflow:{json}"`` and ``"prompt:{json}"`` as EXIF strings (Make, Model…)."""
    image = _open_image(data)
    texts: dict[str, str] = {}
    with image:
        try:
            exif = image.getexif()
        except Exception:  # a broken EXIF block: nothing embedded that we can read
            exif = {}
        for value in exif.values():
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if not isinstance(value, str):
                continue
            key, sep, rest = value.partition(":")
            if sep and key.strip().lower() in ("workflow", "prompt"):
                texts.setdefault(key.strip().lower(), rest)
    return texts
