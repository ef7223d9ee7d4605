"""Build the record of one model (``record.ModelRecord``) from its file, header and sidecars,
and the signature that says when a built record is still right."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .record import EMBEDDED_PREVIEW, CivitaiIds, ModelRecord
from .safetensors_header import bounded_metadata, cover_image, is_safetensors, read_header
from ..sidecars import SidecarNames, find_sidecars, read_json_object, read_text
from .walker import FoundModel

#: How many ``ss_tag_frequency`` tags become trigger words when Civitai gives none.
MAX_TAG_TRIGGER_WORDS = 10


def build_record(found: FoundModel, sidecars: SidecarNames | None = None) -> ModelRecord:
    # Plain string paths: this runs once per model on a cold scan, pathlib would dominate.
    slash = found.name.rfind("/")
    folder_prefix = found.name[:slash + 1]
    filename = found.name[slash + 1:]
    sidecars = sidecars or sidecars_of(found)
    directory = os.path.dirname(str(found.path))

    def rel(sidecar: str | None) -> str | None:
        return None if sidecar is None else folder_prefix + sidecar

    def beside(sidecar: str) -> Path:
        return Path(os.path.join(directory, sidecar))

    header_meta: dict[str, str] = {}
    header_error = None
    tensor_count = None
    if is_safetensors(filename):
        header = read_header(found.path)
        header_meta, header_error, tensor_count = header.metadata, header.error, header.tensor_count
        if header_error:
            tensor_count = None
    info = read_json_object(beside(sidecars.civitai_info)) if sidecars.civitai_info else None
    a1111 = read_json_object(beside(sidecars.a1111_json)) if sidecars.a1111_json else None
    manager_meta = read_json_object(beside(sidecars.metadata_json)) if sidecars.metadata_json else None
    civitai_version = info or _dict(manager_meta, "civitai")

    description = read_text(beside(sidecars.description)) if sidecars.description else None
    if description is None and a1111 and isinstance(a1111.get("description"), str) and a1111["description"]:
        description = a1111["description"]

    preview, preview_source = rel(sidecars.preview), "sidecar" if sidecars.preview else None
    if preview is None and cover_image(header_meta) is not None:
        preview, preview_source = EMBEDDED_PREVIEW, "safetensors"

    return ModelRecord(
        model_type=found.model_type,
        name=found.name,
        root=str(found.root),
        size=found.size,
        mtime=found.mtime_ns / 1e9,
        preview=preview,
        preview_source=preview_source,
        description=description,
        description_file=rel(sidecars.description),
        sha256=None,
        base_model=_base_model(civitai_version, manager_meta, header_meta, a1111),
        trigger_words=tuple(_trigger_words(civitai_version, a1111, header_meta)),
        tags=tuple(_tags(civitai_version, manager_meta, header_meta)),
        civitai=_civitai_ids(civitai_version, manager_meta),
        metadata=bounded_metadata(header_meta),
        tensor_count=tensor_count,
        header_error=header_error,
        sidecars=tuple(folder_prefix + s for s in sidecars.all),
    )


def sidecars_of(found: FoundModel) -> SidecarNames:
    """The model's sidecars, ignoring symlinked ones that lead out of its root."""
    return find_sidecars(found.path.name, found.siblings, folder=os.path.dirname(str(found.path)),
                         root=found.root)


def _dict(document: dict | None, key: str) -> dict | None:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, dict) and value else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _base_model(version: dict | None, manager_meta: dict | None, header: dict[str, str],
                a1111: dict | None) -> str | None:
    candidates = [
        (version or {}).get("baseModel"),
        (manager_meta or {}).get("base_model"),
        header.get("ss_base_model_version"),
        header.get("modelspec.architecture"),
        (a1111 or {}).get("sd version"),
    ]
    for value in candidates:
        text = _text(value)
        if text and text.lower() != "unknown":
            return text
    return None


def _trigger_words(version: dict | None, a1111: dict | None, header: dict[str, str]) -> list[str]:
    words = (version or {}).get("trainedWords")
    if isinstance(words, list):
        clean = [w.strip() for w in words if isinstance(w, str) and w.strip()]
        if clean:
            return clean
    activation = _text((a1111 or {}).get("activation text"))
    if activation:
        return [w.strip() for w in activation.split(",") if w.strip()]
    return top_tags(header.get("ss_tag_frequency"))


def _tags(version: dict | None, manager_meta: dict | None, header: dict[str, str]) -> list[str]:
    """Tags for search: other tools' saved tags (LoRA Manager, Civitai model JSON) and the most
    frequent training tags of the header."""
    found: list[str] = []
    for source in ((manager_meta or {}).get("tags"), ((version or {}).get("model") or {}).get("tags")
                   if isinstance((version or {}).get("model"), dict) else None):
        if isinstance(source, list):
            found.extend(t.strip() for t in source if isinstance(t, str) and t.strip())
    found.extend(top_tags(header.get("ss_tag_frequency")))
    unique: list[str] = []
    for tag in found:
        if tag not in unique:
            unique.append(tag)
    return unique[:50]


def top_tags(raw: str | None, limit: int = MAX_TAG_TRIGGER_WORDS) -> list[str]:
    """The most frequent tags of kohya's ``ss_tag_frequency`` ({dataset: {tag: count}})."""
    if not raw:
        return []
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    counts: Counter[str] = Counter()
    for tags in document.values():
        if not isinstance(tags, dict):
            continue
        for tag, count in tags.items():
            tag = str(tag).strip()
            if tag and isinstance(count, (int, float)):
                counts[tag] += int(count)
    return [tag for tag, _count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def _civitai_ids(version: dict | None, manager_meta: dict | None) -> CivitaiIds | None:
    if not version:
        return None
    model = version.get("model") if isinstance(version.get("model"), dict) else {}
    ids = CivitaiIds(
        model_id=_int(version.get("modelId")),
        version_id=_int(version.get("id")),
        model_name=_text(model.get("name")) or _text((manager_meta or {}).get("model_name")),
        version_name=_text(version.get("name")),
    )
    return ids if ids.model_id or ids.version_id else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class Signature:
    """What must stay the same for a stored record to still be right: the model's size and
    mtime and its sidecars' names, sizes and mtimes (-1 for one that could not be read)."""

    size: int
    mtime_ns: int
    sidecars: tuple[tuple[str, int, int], ...] = ()

    def to_json(self) -> list:
        return [self.size, self.mtime_ns, [list(s) for s in self.sidecars]]

    @classmethod
    def from_json(cls, document: Any) -> "Signature | None":
        """The saved form (``[size, mtime_ns, [[name, size, mtime_ns], ...]]``), or None."""
        try:
            size, mtime_ns, parts = document
            sidecars = tuple((str(name), int(s), int(m)) for name, s, m in parts)
            return cls(int(size), int(mtime_ns), sidecars)
        except (TypeError, ValueError):
            return None


def signature(found: FoundModel, sidecars: SidecarNames) -> Signature:
    folder = os.path.dirname(str(found.path))
    parts = []
    for name in sidecars.all:
        try:
            st = os.stat(os.path.join(folder, name))
            parts.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            parts.append((name, -1, -1))
    return Signature(found.size, found.mtime_ns, tuple(parts))
