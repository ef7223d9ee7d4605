"""Change what sits beside a model: description, preview, or the model itself (delete).

Callers pass a ``ModelLocation`` from ``ModelFolders.locate`` (names validated, symlinks
resolved inside a root); every file touched here is the model or a sidecar in its folder.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..images import ImageTooLarge, webp_bytes
from ..jsonio import atomic_write_bytes
from ..model_types import MODEL_EXTENSIONS
from ..paths import partial_path_for
from ..sidecars import match_names, model_stem, preview_candidates, sidecar_candidates

MAX_DESCRIPTION_CHARS = 1_000_000
MAX_PREVIEW_PIXELS = 64_000_000
MAX_PREVIEW_BYTES = 128 << 20
#: Stored previews are at most this many pixels on their longest side (WebP's own limit is 16383).
MAX_STORED_SIDE = 2048
WEBP_QUALITY = 90


def write_description(model_path: Path, text: str) -> Path:
    if not isinstance(text, str):
        raise InvalidInput("the description must be text")
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput(f"the description is too long ({len(text)} characters; at most "
                           f"{MAX_DESCRIPTION_CHARS})")
    target = model_path.with_name(model_stem(model_path.name) + ".md")
    atomic_write_bytes(target, text.encode("utf-8"))
    return target


def preview_webp_from_bytes(data: bytes) -> bytes:
    """Validate image bytes with Pillow and return them as WebP (see ``preview_webp``)."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        raise InvalidInput("no image data was given for the preview")
    if len(data) > MAX_PREVIEW_BYTES:
        raise InvalidInput(f"the preview image is too large ({len(data) >> 20} MiB; at most "
                           f"{MAX_PREVIEW_BYTES >> 20} MiB)")
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(bytes(data)))
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidInput("the preview is not an image Pillow can read (use PNG, JPEG, WebP or GIF)") from None
    except Image.DecompressionBombError:
        raise InvalidInput(f"the preview image has too many pixels (at most {MAX_PREVIEW_PIXELS:,})") from None
    with image:
        return preview_webp(image)


def preview_webp(image: Any) -> bytes:
    """A PIL image (first frame) as WebP bytes; refuses more than 64 megapixels."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise InvalidInput("the preview must be an image")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidInput("the preview image is empty")
    try:
        return webp_bytes(image, MAX_STORED_SIDE, WEBP_QUALITY, max_pixels=MAX_PREVIEW_PIXELS)
    except ImageTooLarge:
        raise InvalidInput(f"the preview image is {width}x{height} = {width * height:,} pixels; "
                           f"at most {MAX_PREVIEW_PIXELS:,} (64 megapixels) are accepted") from None
    except Image.DecompressionBombError:
        raise InvalidInput(f"the preview image has too many pixels (at most {MAX_PREVIEW_PIXELS:,})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"the preview image is damaged and cannot be decoded ({type(exc).__name__})") from None


def write_preview(model_path: Path, webp: bytes) -> tuple[Path, list[Path]]:
    """Store ``NAME.webp`` atomically, then remove every other preview variant so that exactly
    one preview remains.  Returns (the preview, the removed files)."""
    stem = model_stem(model_path.name)
    target = model_path.with_name(stem + ".webp")
    siblings = _siblings(model_path)  # first: a folder that cannot be listed changes nothing
    atomic_write_bytes(target, webp)
    removed: list[Path] = []
    for name in match_names(preview_candidates(stem), siblings):
        if name == target.name:
            continue
        path = model_path.with_name(name)
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    return target, removed


def files_to_delete(model_path: Path, delete_sidecars: bool = True) -> list[Path]:
    """The model, its partial download and (optionally) every sidecar (preview, info, description) plus
    ``NAME.sha256``.  Sidecars shared with another model of the same stem (``x.ckpt`` beside
    ``x.safetensors``) are kept for that model."""
    paths = [model_path]
    partial = partial_path_for(model_path)
    if os.path.lexists(partial):
        paths.append(partial)
    if not delete_sidecars:
        return paths
    stem = model_stem(model_path.name)
    siblings = _siblings(model_path)
    sidecars = set(match_names(sidecar_candidates(stem), siblings))
    if _stem_shared(model_path, stem, siblings, sidecars):
        return paths
    for name in match_names(sidecar_candidates(stem), siblings):
        path = model_path.with_name(name)
        if path.is_symlink() or not path.is_dir():  # a folder named like a sidecar is no sidecar
            paths.append(path)
    return paths


def delete_files(paths: list[Path]) -> list[Path]:
    deleted: list[Path] = []
    for path in paths:
        try:
            path.unlink()
            deleted.append(path)
        except FileNotFoundError:
            continue
    return deleted


def _siblings(model_path: Path) -> list[str]:
    """The names beside the model; OSError when the folder cannot be listed (then the sidecars
    are unknown, and deleting or replacing them would leave some behind)."""
    return os.listdir(model_path.parent)


def _stem_shared(model_path: Path, stem: str, siblings: list[str], sidecars: set[str]) -> bool:
    """Is there another model file ``stem.<model ext>`` that would own these sidecars?"""
    for name in siblings:
        if name == model_path.name or name in sidecars or name.startswith("."):
            continue
        if (model_stem(name) == stem and name.lower() != model_path.name.lower()
                and os.path.splitext(name)[1].lower() in MODEL_EXTENSIONS):
            if (model_path.parent / name).is_file():
                return True
    return False


@dataclass(frozen=True)
class DeletedModel:
    model_type: str
    name: str
    files: list[Path]  # where the files were
    trash_id: str | None  # None: deleted for good

    def to_json(self) -> dict:
        return {"model_type": self.model_type, "name": self.name, "files": [str(p) for p in self.files],
                "trash_id": self.trash_id}
