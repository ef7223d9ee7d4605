"""Read the JSON header of a ``.safetensors`` file, bounded and defensively.

Format: 8 bytes little-endian header length N, then N bytes of UTF-8 JSON whose optional
``__metadata__`` object maps strings to strings (kohya ``ss_*`` keys, ``modelspec.*`` keys,
``ssmd_cover_images`` ...).  A corrupt header never raises: it comes back as an error text.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..jsonio import atomic_write_bytes

#: Headers larger than this are refused (real ones are well below: tensor index + metadata).
MAX_HEADER_BYTES = 100 << 20
SAFETENSORS_EXTENSIONS = (".safetensors", ".sft")
#: Bounds of the metadata kept in the index and reports.
MAX_VALUE_CHARS = 1024
MAX_METADATA_CHARS = 32 * 1024
#: Keys whose values are read for derived fields but too big to keep.
BULKY_KEYS = ("ssmd_cover_images", "ss_tag_frequency", "ss_dataset_dirs", "ss_bucket_info", "ss_datasets")


@dataclass
class SafetensorsHeader:
    metadata: dict[str, str] = field(default_factory=dict)
    tensor_count: int = 0
    error: str | None = None
    os_error: OSError | None = field(default=None, repr=False)  # the file could not be read


def is_safetensors(path: Path | str) -> bool:
    return str(path).lower().endswith(SAFETENSORS_EXTENSIONS)


def read_header(path: Path, max_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                return SafetensorsHeader(error="not a safetensors file: shorter than its 8-byte header length")
            (length,) = struct.unpack("<Q", prefix)
            if length == 0:
                return SafetensorsHeader(error="corrupt safetensors header: its length is 0")
            if length > max_bytes:
                return SafetensorsHeader(
                    error=f"corrupt safetensors header: it claims {length} bytes (more than the "
                          f"{max_bytes // (1 << 20)} MiB allowed)")
            raw = fh.read(length)
    except OSError as exc:
        return SafetensorsHeader(error=f"could not read the file: {exc.strerror or type(exc).__name__}",
                                 os_error=exc)
    if len(raw) < length:
        return SafetensorsHeader(error=f"corrupt safetensors header: it claims {length} bytes but the "
                                       f"file ends after {len(raw)}")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: [[[[... too deep
        return SafetensorsHeader(error="corrupt safetensors header: it is not valid JSON")
    if not isinstance(document, dict):
        return SafetensorsHeader(error="corrupt safetensors header: it is not a JSON object")
    raw_meta = document.get("__metadata__")
    metadata: dict[str, str] = {}
    if isinstance(raw_meta, dict):
        metadata = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw_meta.items()}
    tensor_count = sum(1 for key in document if key != "__metadata__")
    return SafetensorsHeader(metadata, tensor_count)


def bounded_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """A copy safe to store and show: bulky keys dropped, long values cut, total bounded."""
    kept: dict[str, str] = {}
    total = 0
    for key in sorted(metadata):
        if key in BULKY_KEYS:
            continue
        value = metadata[key]
        if len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS] + "…"
        total += len(key) + len(value)
        if total > MAX_METADATA_CHARS:
            kept["…"] = "metadata truncated"
            break
        kept[key] = value
    return kept


def cover_image(metadata: dict[str, str]) -> tuple[bytes, str] | None:
    """The first ``ssmd_cover_images`` entry (a JSON list of base64 images) and its extension."""
    raw = metadata.get("ssmd_cover_images")
    if not raw:
        return None
    try:
        images = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(images, list) or not images or not isinstance(images[0], str):
        return None
    text = images[0]
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return None
    extension = image_extension(data)
    return (data, extension) if extension else None


def image_extension(data: bytes) -> str | None:
    """Sniff an image type from its first bytes (no Pillow needed for listing)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    return None


def cover_file(model_path: Path, folder: Path) -> Path | None:
    """The model's cover image as a file in ``folder`` (written once per version of the model),
    or None when it has none.  A model that may not be read raises its ``OSError``: it has a
    cover we cannot show, which is not the same as none."""
    st = model_path.stat()
    header = read_header(model_path)
    if header.os_error is not None:
        raise header.os_error
    cover = cover_image(header.metadata)
    if cover is None:
        return None
    data, extension = cover
    tag = hashlib.sha256(f"{model_path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:32]
    target = folder / f"{tag}{extension}"
    if not target.is_file():
        atomic_write_bytes(target, data)
    return target
