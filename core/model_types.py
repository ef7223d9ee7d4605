"""Model types, their folders and allowed file extensions.

In ComfyUI the table comes from ``folder_paths.folder_names_and_paths`` (handed in as plain
data by the bridge, so this module never imports ComfyUI); on the command line it is built from
a models directory with ComfyUI's default layout.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from .errors import InvalidInput, NotFound, UnsafePath, error_for_os_error
from .paths import is_within, resolve_inside, validate_relative_name, validate_subfolder

#: ComfyUI's ``supported_pt_extensions``.
PT_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})
#: Extensions we accept as model files when a type's own list has none usable.
MODEL_EXTENSIONS = PT_EXTENSIONS | {".gguf", ".onnx"}
#: Types ComfyUI knows that are not model folders.
EXCLUDED_TYPES = frozenset({"custom_nodes", "configs"})

#: ComfyUI's default layout: type -> (subfolders of models/, extensions).
DEFAULT_LAYOUT: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "checkpoints": (("checkpoints",), PT_EXTENSIONS),
    "loras": (("loras",), PT_EXTENSIONS),
    "vae": (("vae",), PT_EXTENSIONS),
    "text_encoders": (("text_encoders", "clip"), PT_EXTENSIONS | {".gguf"}),
    "diffusion_models": (("unet", "diffusion_models"), PT_EXTENSIONS | {".gguf"}),
    "clip_vision": (("clip_vision",), PT_EXTENSIONS),
    "style_models": (("style_models",), PT_EXTENSIONS),
    "embeddings": (("embeddings",), PT_EXTENSIONS),
    "diffusers": (("diffusers",), frozenset({"folder"})),
    "vae_approx": (("vae_approx",), PT_EXTENSIONS),
    "controlnet": (("controlnet", "t2i_adapter"), PT_EXTENSIONS),
    "gligen": (("gligen",), PT_EXTENSIONS),
    "upscale_models": (("upscale_models",), PT_EXTENSIONS),
    "hypernetworks": (("hypernetworks",), PT_EXTENSIONS),
    "photomaker": (("photomaker",), PT_EXTENSIONS),
    "classifiers": (("classifiers",), frozenset({""})),
    "model_patches": (("model_patches",), PT_EXTENSIONS),
    "audio_encoders": (("audio_encoders",), PT_EXTENSIONS),
}

#: Civitai ``model.type`` -> ComfyUI folder type (``model_type=auto``).
CIVITAI_TYPE_TO_FOLDER: dict[str, str] = {
    "Checkpoint": "checkpoints",
    "LORA": "loras",
    "LoCon": "loras",
    "DoRA": "loras",
    "TextualInversion": "embeddings",
    "Hypernetwork": "hypernetworks",
    "VAE": "vae",
    "Controlnet": "controlnet",
    "Upscaler": "upscale_models",
    "TextEncoder": "text_encoders",
    "CLIP": "text_encoders",
    "UNet": "diffusion_models",
    "CLIPVision": "clip_vision",
    "MotionModule": "animatediff_models",
    "Detection": "ultralytics",
}


@dataclass(frozen=True)
class ModelType:
    name: str
    roots: tuple[Path, ...]
    extensions: frozenset[str]

    @property
    def writable_extensions(self) -> frozenset[str]:
        """Extensions we may write: the type's own model extensions, or the defaults."""
        own = frozenset(e.lower() for e in self.extensions if e.startswith(".") and len(e) > 1)
        return own or MODEL_EXTENSIONS

    def accepts(self, filename: str) -> bool:
        """Does a file with this name belong to this type when scanning?"""
        ext = os.path.splitext(filename)[1].lower()
        return ext in self.writable_extensions


@dataclass(frozen=True)
class ModelLocation:
    """A model file resolved safely inside one of its type's roots."""

    model_type: str
    root: Path
    name: str  # relative to the root, "/"-separated, as ComfyUI loaders take it
    path: Path


class ModelFolders:
    """The set of model types with their roots; the one place paths are resolved."""

    def __init__(self, types: Iterable[ModelType]) -> None:
        self._types = {t.name: t for t in types if t.name not in EXCLUDED_TYPES}

    @classmethod
    def from_models_dir(cls, models_dir: Path | str) -> "ModelFolders":
        base = Path(models_dir).expanduser().absolute()
        return cls(
            ModelType(name, tuple(base / sub for sub in subs), exts)
            for name, (subs, exts) in DEFAULT_LAYOUT.items()
        )

    @classmethod
    def from_folder_paths(cls, mapping: Mapping[str, tuple[Iterable[str], Iterable[str]]]) -> "ModelFolders":
        """Build from ComfyUI's ``folder_paths.folder_names_and_paths`` (plain data)."""
        return cls(
            ModelType(name, tuple(Path(p) for p in paths), frozenset(exts))
            for name, (paths, exts) in mapping.items()
        )

    def names(self) -> list[str]:
        return sorted(self._types)

    def get(self, type_name: str) -> ModelType:
        try:
            return self._types[type_name]
        except KeyError:
            raise InvalidInput(
                f"unknown model type {type_name!r}; known types: {', '.join(self.names())}"
            ) from None

    def primary_root(self, type_name: str) -> Path:
        """Where new files of a type are written: its first root."""
        roots = self.get(type_name).roots
        if not roots:
            raise InvalidInput(f"model type {type_name!r} has no folder configured")
        return roots[0]

    def check_extension(self, type_name: str, filename: str) -> None:
        model_type = self.get(type_name)
        ext = os.path.splitext(filename)[1].lower()
        allowed = model_type.writable_extensions
        if ext not in allowed:
            raise InvalidInput(
                f"{filename!r} does not have a model file extension for {type_name} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )

    def destination(self, type_name: str, subfolder: str, filename: str) -> ModelLocation:
        """Where a download of ``filename`` into ``type_name``/``subfolder`` lands (checked)."""
        self.check_extension(type_name, filename)
        rel = validate_subfolder(subfolder) / validate_relative_name(filename)
        root = self.primary_root(type_name)
        path = resolve_inside(root, rel)
        return ModelLocation(type_name, root, rel.as_posix(), path)

    def locate(self, type_name: str, name: str) -> ModelLocation:
        """Find an existing model ``name`` in any root of ``type_name``; refuse escapes.  When no
        root has it and one could not be looked into (a folder that may not be read, a name too
        long for the file system), that is the answer (403/400, ``errors.error_for_os_error``)."""
        model_type = self.get(type_name)
        rel = validate_relative_name(name)
        trouble: OSError | None = None
        for root in model_type.roots:
            path = resolve_inside(root, rel)
            try:
                found = path.is_file()
            except OSError as exc:
                trouble = trouble or exc
                continue
            if found:
                real = Path(os.path.realpath(path))
                if not is_within(real, Path(os.path.realpath(root))):
                    raise UnsafePath(f"{name!r} resolves outside its model folder")
                return ModelLocation(type_name, root, rel.as_posix(), path)
        if trouble is not None:
            raise error_for_os_error(trouble, f"find {type_name}/{rel.as_posix()}")
        raise NotFound(f"no {type_name} model named {name!r} was found")

    def owner_of(self, path: Path) -> ModelLocation | None:
        """The (type, root, name) a real path belongs to, or None."""
        real = Path(os.path.realpath(path))
        for model_type in self._types.values():
            for root in model_type.roots:
                real_root = Path(os.path.realpath(root))
                if is_within(real, real_root) and real != real_root:
                    return ModelLocation(model_type.name, root,
                                         PurePosixPath(*real.relative_to(real_root).parts).as_posix(), real)
        return None
