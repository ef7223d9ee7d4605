"""The typed record of one model, and the JSON it becomes at the edges.

A ``ModelRecord`` is what the index knows about a model file: built by ``model_record`` from the
file, its safetensors header and its sidecars, kept by the index, searched and sorted by
``query``.  Records are frozen: a change (a new digest, a new description) is a new record, so a
reader may keep one outside the index's lock.

``to_json()`` is the one place the record becomes the model JSON of the REST routes, the graph
nodes, ``scan --json`` and the saved index (``from_json`` reads that back).  The keys and their
order are fixed: ``type, name, root, size, mtime, preview, preview_source, description,
description_file, sha256, base_model, trigger_words, tags, civitai, metadata, tensor_count,
header_error, sidecars``.  The light JSON of listings leaves out the bulky ``metadata``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

#: ``preview`` of a model whose only preview is the cover image inside its safetensors header.
EMBEDDED_PREVIEW = "ssmd_cover_images"


@dataclass(frozen=True, slots=True)
class CivitaiIds:
    """Which Civitai model and version a file is (from its ``.civitai.info`` or another tool's
    metadata file); at least one of the two ids is known."""

    model_id: int | None
    version_id: int | None
    model_name: str | None = None
    version_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "version_id": self.version_id,
                "model_name": self.model_name, "version_name": self.version_name}

    @classmethod
    def from_json(cls, document: Any) -> "CivitaiIds | None":
        if not isinstance(document, dict):
            return None
        ids = cls(_int_or_none(document.get("model_id")), _int_or_none(document.get("version_id")),
                  _str_or_none(document.get("model_name")), _str_or_none(document.get("version_name")))
        return ids if ids.model_id or ids.version_id else None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    model_type: str
    name: str  # relative to its root, "/"-separated
    root: str
    size: int
    mtime: float  # seconds
    preview: str | None = None  # a sidecar's name relative to the root, or EMBEDDED_PREVIEW
    preview_source: str | None = None  # "sidecar" or "safetensors"
    description: str | None = None
    description_file: str | None = None
    sha256: str | None = None
    base_model: str | None = None
    trigger_words: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    civitai: CivitaiIds | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)  # bounded safetensors header metadata
    tensor_count: int | None = None
    header_error: str | None = None
    sidecars: tuple[str, ...] = ()  # names relative to the root

    @property
    def key(self) -> tuple[str, str]:
        return self.model_type, self.name

    @property
    def has_sidecar_preview(self) -> bool:
        return self.preview_source == "sidecar" and bool(self.preview)

    @property
    def has_embedded_preview(self) -> bool:
        return self.preview == EMBEDDED_PREVIEW

    def with_sha256(self, digest: str | None) -> "ModelRecord":
        return self if digest == self.sha256 else replace(self, sha256=digest)

    def to_json(self, *, light: bool = False) -> dict[str, Any]:
        """The model JSON; ``light`` leaves out ``metadata`` (listings and pages)."""
        document: dict[str, Any] = {
            "type": self.model_type,
            "name": self.name,
            "root": self.root,
            "size": self.size,
            "mtime": self.mtime,
            "preview": self.preview,
            "preview_source": self.preview_source,
            "description": self.description,
            "description_file": self.description_file,
            "sha256": self.sha256,
            "base_model": self.base_model,
            "trigger_words": list(self.trigger_words),
            "tags": list(self.tags),
            "civitai": None if self.civitai is None else self.civitai.to_json(),
        }
        if not light:
            document["metadata"] = dict(self.metadata)
        document["tensor_count"] = self.tensor_count
        document["header_error"] = self.header_error
        document["sidecars"] = list(self.sidecars)
        return document

    @classmethod
    def from_json(cls, document: Any) -> "ModelRecord | None":
        """A record from its JSON (the saved index), or None when it is damaged: no text
        ``type`` and ``name``, or a size that is not a number."""
        if not isinstance(document, dict):
            return None
        model_type, name = document.get("type"), document.get("name")
        size, mtime = document.get("size"), document.get("mtime")
        if not isinstance(model_type, str) or not isinstance(name, str) or not _is_number(size):
            return None
        metadata = document.get("metadata")
        return cls(
            model_type=model_type,
            name=name,
            root=str(document.get("root") or ""),
            size=int(size),
            mtime=float(mtime) if _is_number(mtime) else 0.0,
            preview=_str_or_none(document.get("preview")),
            preview_source=_str_or_none(document.get("preview_source")),
            description=_str_or_none(document.get("description")),
            description_file=_str_or_none(document.get("description_file")),
            sha256=_str_or_none(document.get("sha256")),
            base_model=_str_or_none(document.get("base_model")),
            trigger_words=_strings(document.get("trigger_words")),
            tags=_strings(document.get("tags")),
            civitai=CivitaiIds.from_json(document.get("civitai")),
            metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
            tensor_count=_int_or_none(document.get("tensor_count")),
            header_error=_str_or_none(document.get("header_error")),
            sidecars=_strings(document.get("sidecars")),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()
