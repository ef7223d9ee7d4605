"""ModelInfo: what the index and the sidecars know about one model."""
from __future__ import annotations

import json
from typing import Any

from .images import image_tensor_from_file
from .pickers import PickerNode, locate_model, picker_inputs
from .runtime import get_runtime

CATEGORY = "model_manager"


def _fingerprint(path: Any) -> str:
    """Model file + its sidecars' sizes and mtimes: changes when any of them changes."""
    parts = []
    stem = path.name.rsplit(".", 1)[0]
    try:
        for sibling in sorted(path.parent.iterdir()):
            if sibling.name.startswith(stem):
                stat = sibling.stat()
                parts.append(f"{sibling.name}:{stat.st_size}:{stat.st_mtime_ns}")
    except OSError:
        return "missing"
    return "|".join(parts)


class ModelInfo(PickerNode):
    DESCRIPTION = ("Reads a model's preview, description, trigger words, base model, SHA-256 and "
                   "full metadata from its sidecar files and the model index (run ScanModels with "
                   "hashes to fill in the SHA-256).")
    CATEGORY = CATEGORY
    FUNCTION = "info"
    RETURN_TYPES = ("IMAGE", "STRING", "STRING", "STRING", "STRING", "STRING")
    RETURN_NAMES = ("preview", "description", "trigger_words", "base_model", "sha256", "info")
    OUTPUT_TOOLTIPS = (
        "The model's preview image (a black square when it has none).",
        "The description (name.md / name.txt, or the info file's).",
        "Trigger words, comma separated.",
        "Base model (e.g. SDXL 1.0, Illustrious), when known.",
        "SHA-256 of the file when it has been hashed, else empty.",
        "Everything known about the model, as JSON.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": picker_inputs()}

    @classmethod
    def IS_CHANGED(cls, model_type: str = "", model_name: str = "", **_: Any) -> str:
        try:
            location = get_runtime().folders.locate(model_type, model_name)
        except Exception:
            return "unknown"
        return _fingerprint(location.path)

    def info(self, model_type: str, model_name: str) -> tuple:
        runtime = get_runtime()
        location = locate_model(runtime.folders, model_type, model_name)
        record = runtime.index.get_model(model_type, location.name)
        preview_path = runtime.index.preview_path(model_type, location.name)
        return (
            image_tensor_from_file(preview_path),
            record.description or "",
            ", ".join(record.trigger_words),
            record.base_model or "",
            record.sha256 or "",
            json.dumps(record.to_json(), indent=2, sort_keys=True, default=str),
        )
