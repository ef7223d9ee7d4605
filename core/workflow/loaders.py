"""Which node inputs name a model file, and of which folder.

A ``LoaderSpec`` lists a node class's widgets in the order the frontend saves them in
``widgets_values`` (so a UI workflow's values can be matched by position) and, for each, the
model folder its value names (or None).  The built-in table covers ComfyUI's core loaders, so
the command line knows them without ComfyUI; inside ComfyUI the nodes layer derives specs for
every installed node from its input definitions and passes them in (``merge``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

#: ComfyUI's old folder names (``folder_paths.map_legacy``).
LEGACY_FOLDERS = {"unet": "diffusion_models", "clip": "text_encoders"}


def canonical_folder(name: str) -> str:
    return LEGACY_FOLDERS.get(name, name)


@dataclass(frozen=True)
class Widget:
    name: str
    folder: str | None = None
    #: values the frontend saves right after this one (``control_after_generate`` of a seed)
    followers: int = 0


@dataclass(frozen=True)
class LoaderSpec:
    widgets: tuple[Widget, ...]

    @property
    def model_inputs(self) -> dict[str, str]:
        return {w.name: w.folder for w in self.widgets if w.folder}

    def from_widget_values(self, values: Any) -> list[tuple[str, str, str]]:
        """(input name, folder, file name) for every model widget that holds a string."""
        found: list[tuple[str, str, str]] = []
        if isinstance(values, dict):
            for name, folder in self.model_inputs.items():
                value = values.get(name)
                if isinstance(value, str) and value.strip():
                    found.append((name, folder, value))
            return found
        if not isinstance(values, list):
            return found
        index = 0
        for widget in self.widgets:
            if index >= len(values):
                break
            value = values[index]
            if widget.folder and isinstance(value, str) and value.strip():
                found.append((widget.name, widget.folder, value))
            index += 1 + widget.followers
        return found

    def from_inputs(self, inputs: Any) -> list[tuple[str, str, str]]:
        """The same from an API-format node's ``inputs`` (links ``[id, slot]`` are skipped)."""
        if not isinstance(inputs, dict):
            return []
        return [(name, folder, inputs[name]) for name, folder in self.model_inputs.items()
                if isinstance(inputs.get(name), str) and inputs[name].strip()]


def _spec(*widgets: str | tuple[str, str]) -> LoaderSpec:
    return LoaderSpec(tuple(Widget(w) if isinstance(w, str) else Widget(w[0], w[1]) for w in widgets))


_TE = "text_encoders"
#: ComfyUI's core loaders (nodes.py and comfy_extras), widgets in frontend order.
BUILTIN_LOADERS: dict[str, LoaderSpec] = {
    "CheckpointLoaderSimple": _spec(("ckpt_name", "checkpoints")),
    "CheckpointLoader": _spec("config_name", ("ckpt_name", "checkpoints")),
    "unCLIPCheckpointLoader": _spec(("ckpt_name", "checkpoints")),
    "ImageOnlyCheckpointLoader": _spec(("ckpt_name", "checkpoints")),
    "LoraLoader": _spec(("lora_name", "loras"), "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": _spec(("lora_name", "loras"), "strength_model"),
    "VAELoader": _spec(("vae_name", "vae")),
    "UNETLoader": _spec(("unet_name", "diffusion_models"), "weight_dtype"),
    "CLIPLoader": _spec(("clip_name", _TE), "type", "device"),
    "DualCLIPLoader": _spec(("clip_name1", _TE), ("clip_name2", _TE), "type", "device"),
    "TripleCLIPLoader": _spec(("clip_name1", _TE), ("clip_name2", _TE), ("clip_name3", _TE)),
    "QuadrupleCLIPLoader": _spec(("clip_name1", _TE), ("clip_name2", _TE), ("clip_name3", _TE),
                                 ("clip_name4", _TE)),
    "CLIPVisionLoader": _spec(("clip_name", "clip_vision")),
    "ControlNetLoader": _spec(("control_net_name", "controlnet")),
    "DiffControlNetLoader": _spec(("control_net_name", "controlnet")),
    "StyleModelLoader": _spec(("style_model_name", "style_models")),
    "GLIGENLoader": _spec(("gligen_name", "gligen")),
    "UpscaleModelLoader": _spec(("model_name", "upscale_models")),
    "HypernetworkLoader": _spec(("hypernetwork_name", "hypernetworks"), "strength"),
    "PhotoMakerLoader": _spec(("photomaker_model_name", "photomaker")),
    "AudioEncoderLoader": _spec(("audio_encoder_name", "audio_encoders")),
    "ModelPatchLoader": _spec(("name", "model_patches")),
}


def merge(found: Mapping[str, LoaderSpec] | None) -> dict[str, LoaderSpec]:
    """The built-in table, overridden by specs derived from the running ComfyUI (which know
    every installed node and the current widget order) wherever those found a model input."""
    table = dict(BUILTIN_LOADERS)
    for class_type, spec in (found or {}).items():
        if spec.model_inputs or class_type not in table:
            table[class_type] = spec
    return table


def spec_from_input_types(input_types: Mapping[str, Any],
                          folder_of: Callable[[str, list], "str | None"]) -> LoaderSpec:
    """A spec from a node's ``INPUT_TYPES()`` (required, then optional, as the frontend orders
    widgets).  ``folder_of(input_name, choices)`` says which model folder a choice list is."""
    widgets: list[Widget] = []
    for section in ("required", "optional"):
        for name, definition in (input_types.get(section) or {}).items():
            kind, options = _kind_and_options(definition)
            if isinstance(kind, (list, tuple)) or kind == "COMBO":
                choices = list(kind) if isinstance(kind, (list, tuple)) else list(options.get("options") or [])
                widgets.append(Widget(name, folder_of(name, choices)))
            elif kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
                control = kind == "INT" and (options.get("control_after_generate")
                                             or name in ("seed", "noise_seed"))
                widgets.append(Widget(name, None, 1 if control else 0))
    return LoaderSpec(tuple(widgets))


def _kind_and_options(definition: Any) -> tuple[Any, dict]:
    if not isinstance(definition, (list, tuple)) or not definition:
        return None, {}
    options = definition[1] if len(definition) > 1 and isinstance(definition[1], dict) else {}
    return definition[0], options

