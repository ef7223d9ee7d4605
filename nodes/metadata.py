"""SetModelPreview and DeleteModel: change what sits beside a model file."""
from __future__ import annotations

import os
from typing import Any

from ..core.errors import InvalidInput
from . import inputs
from .folders import forget_loader_cache
from .images import first_image_png, temp_preview
from .pickers import PickerNode, locate_model, picker_inputs
from .runtime import get_runtime

CATEGORY = "model_manager"


class _ChangeModelNode(PickerNode):
    """An output node that changes files beside a model: it runs every time it is queued."""

    CATEGORY = CATEGORY
    OUTPUT_NODE = True
    RETURN_TYPES: tuple = ()

    @classmethod
    def IS_CHANGED(cls, **_: Any) -> str:
        """A new value on every call: writing is the point, so it runs every time it is queued.
        (Not ``math.nan``: that is one object, and ComfyUI's cache finds it again by identity.)"""
        return os.urandom(8).hex()


class SetModelPreview(_ChangeModelNode):
    DESCRIPTION = ("Sets the preview image (first image of the batch) and/or the description of a "
                   "model, written as sidecar files beside it, and shows the new preview.")
    FUNCTION = "set_preview"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": picker_inputs(),
            "optional": {
                "image": ("IMAGE", {"tooltip": "New preview; the first image of the batch is used."}),
                "description": inputs.text("New description (Markdown), saved as name.md; empty leaves it "
                                           "as is.", multiline=True),
            },
        }

    def set_preview(self, model_type: str, model_name: str, image: Any = None,
                    description: str = "") -> dict[str, Any]:
        runtime = get_runtime()
        location = locate_model(runtime.folders, model_type, model_name)
        if image is None and not (description or "").strip():
            raise InvalidInput(f"nothing to set for {model_type}/{location.name}: connect an image "
                               "or write a description")
        ui: dict[str, list] = {}
        if image is not None:
            png = first_image_png(image)
            runtime.index.set_preview(model_type, location.name, png)
            ui["images"] = temp_preview(png)
        if (description or "").strip():
            runtime.index.set_description(model_type, location.name, description)
        ui["text"] = [f"updated {model_type}/{location.name}"]
        return {"ui": ui}


class DeleteModel(_ChangeModelNode):
    DESCRIPTION = ("Moves a model file and (by default) its sidecars (preview, description, Civitai "
                   "info) to the Model Manager's trash, from where it can be restored; permanently "
                   "deletes it for good. Refuses unless confirm is on.")
    FUNCTION = "delete"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                **picker_inputs(),
                "confirm": inputs.toggle(False, "Must be on to delete; off refuses and deletes nothing."),
            },
            "optional": {
                "delete_sidecars": inputs.toggle(True, "Also delete the preview, description and info files "
                                                 "beside it."),
                "permanently": inputs.toggle(False, "Delete for good instead of moving to the trash (no undo)."),
            },
        }

    def delete(self, model_type: str, model_name: str, confirm: bool = False,
               delete_sidecars: bool = True, permanently: bool = False) -> dict[str, Any]:
        runtime = get_runtime()
        location = locate_model(runtime.folders, model_type, model_name)
        if not confirm:
            raise InvalidInput(f"DeleteModel refused to delete {model_type}/{location.name}: turn "
                               "confirm on to delete it. Nothing was deleted.")
        deleted = runtime.index.delete_model(model_type, location.name, delete_sidecars=delete_sidecars,
                                             permanently=bool(permanently))
        forget_loader_cache(model_type)
        names = ", ".join(p.name for p in deleted.files) or location.path.name
        if deleted.trash_id is None:
            text = f"deleted {model_type}/{location.name} for good: {names}"
        else:
            text = (f"moved {model_type}/{location.name} to the trash ({names}). To undo: click Undo on "
                    f"the notice, or POST /model-manager/trash/{deleted.trash_id}/restore, or run "
                    f"`comfyui-model-manager trash restore {deleted.trash_id}`")
        return {"ui": {"text": [text]}}
