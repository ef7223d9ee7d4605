"""The model picker shared by SetModelPreview, DeleteModel and ModelInfo.

In the browser it is two lists: ``model_type`` (every model folder type) and ``model_name``
(the names of all models, as loaders list them; the extension narrows it to the chosen type).
API runs may send any string: ``VALIDATE_INPUTS`` takes over the list check so unknown names
reach the node, which then says which type and which file it could not find.
"""
from __future__ import annotations

from typing import Any

from ..core.model_types import ModelLocation
from ..core.validation import model_name as checked_model_name
from ..core.validation import model_type_choice, problem
from .folders import list_model_names, model_type_names

TYPE_TOOLTIP = "Model folder type (checkpoints, loras, vae, ...), as ComfyUI's loaders use it."
NAME_TOOLTIP = ("The model file, relative to its type's folder (with subfolders), exactly as the "
                "loader nodes list it. A link from DownloadModel's model_name works too.")
#: Types a linked ``model_name`` may come from.
ACCEPTED_NAME_LINK_TYPES = frozenset({"STRING", "COMBO", "*"})


def picker_inputs() -> dict[str, tuple]:
    types = model_type_names() or ["checkpoints"]
    names = list_model_names() or [""]
    default_type = "loras" if "loras" in types else types[0]
    return {
        "model_type": (types, {"default": default_type, "tooltip": TYPE_TOOLTIP}),
        "model_name": (names, {"tooltip": NAME_TOOLTIP}),
    }


def validate_picker(model_type: Any, model_name: Any, input_types: dict | None) -> bool | str:
    """ComfyUI ``VALIDATE_INPUTS`` body: True, or the message shown to the user."""
    received = (input_types or {}).get("model_name")
    if received is not None and str(received) not in ACCEPTED_NAME_LINK_TYPES:
        return f"model_name must be a STRING (got a {received} link)"
    if model_type is not None:
        known = model_type_names()
        if known and (message := problem(model_type_choice, model_type, known)):
            return message
    if isinstance(model_name, str) and (message := problem(checked_model_name, model_name)):
        return f"{model_type}: {message}"
    return True


def locate_model(folders: Any, model_type: str, model_name: str) -> ModelLocation:
    """Find the model or raise with a message naming the type and the file."""
    return folders.locate(model_type, model_name.replace("\\", "/"))


class PickerNode:
    """Base of the nodes whose inputs start with the model picker: the shared input check."""

    @classmethod
    def VALIDATE_INPUTS(cls, model_type: Any = None, model_name: Any = None,
                        input_types: dict | None = None) -> bool | str:
        return validate_picker(model_type, model_name, input_types)
