"""Helpers for scanner tests: real safetensors files, images and model folders on disk."""
from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path

from comfyui_model_manager.core.model_types import ModelFolders, ModelType, PT_EXTENSIONS
from comfyui_model_manager.core.settings import Settings


def safetensors_bytes(metadata: dict[str, str] | None = None, payload: bytes = b"\x00\x01") -> bytes:
    header: dict = {"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}}
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw + payload


def write_safetensors(path: Path, metadata: dict[str, str] | None = None, payload: bytes = b"\x00\x01") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(safetensors_bytes(metadata, payload))
    return path


def image_bytes(fmt: str = "PNG", size=(8, 6), color=(10, 120, 200)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` (Pillow opens it lazily without decoding)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def cover_metadata(data: bytes) -> dict[str, str]:
    return {"ssmd_cover_images": json.dumps([base64.b64encode(data).decode("ascii")])}


def folders_with(roots: dict[str, list[Path]]) -> ModelFolders:
    """ModelFolders with the given roots per type (every root created)."""
    for paths in roots.values():
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
    return ModelFolders(ModelType(name, tuple(paths), PT_EXTENSIONS) for name, paths in roots.items())


def make_index(tmp_path: Path, folders: ModelFolders | None = None, **options):
    from comfyui_model_manager.core.scanner import ModelIndex

    if folders is None:
        folders = ModelFolders.from_models_dir(tmp_path / "models")
        for name in folders.names():
            for root in folders.get(name).roots:
                root.mkdir(parents=True, exist_ok=True)
    state = tmp_path / "state"
    settings = Settings(state / "settings.json")
    options.setdefault("refresh_on_first_list", False)
    return ModelIndex(folders, state, settings, **options)
