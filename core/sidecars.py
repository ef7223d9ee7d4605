"""Files beside a model (preview, info, description, hash) and how every popular tool names them.

For ``name.safetensors`` (the *stem* is ``name``):
- preview: ``name.webp``, then ``name.{png,jpg,jpeg,gif,webp}``, then ``name.preview.{…}``
  (first match wins; extensions match in any case); the safetensors ``ssmd_cover_images`` come last;
- description: ``name.md``, then ``name.txt``;
- Civitai version JSON: ``name.civitai.info``; other tools' JSON: ``name.json`` (A1111 / Forge
  user metadata), ``name.metadata.json`` (LoRA Manager).  These are read, never written here;
- our own checksum file ``name.sha256`` (deleted with the model if present).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

PREVIEW_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")
DESCRIPTION_EXTENSIONS = (".md", ".txt")
INFO_SUFFIXES = (".civitai.info", ".json", ".metadata.json")
CHECKSUM_SUFFIX = ".sha256"
MAX_DESCRIPTION_BYTES = 256 * 1024
MAX_JSON_BYTES = 8 << 20


def model_stem(filename: str) -> str:
    """``a.b.safetensors`` -> ``a.b``: sidecars replace the model's last extension."""
    stem, dot, _ext = filename.rpartition(".")
    return stem if dot and stem else filename


def preview_candidates(stem: str) -> list[str]:
    """Preview file names in the order they are looked for."""
    names = [f"{stem}.webp"]
    names += [f"{stem}{ext}" for ext in PREVIEW_EXTENSIONS if ext != ".webp"]
    names += [f"{stem}.preview{ext}" for ext in PREVIEW_EXTENSIONS]
    return names


def sidecar_candidates(stem: str) -> list[str]:
    """Every sidecar name a model may have (what ``delete`` removes)."""
    names = preview_candidates(stem)
    names += [f"{stem}{ext}" for ext in DESCRIPTION_EXTENSIONS]
    names += [f"{stem}{suffix}" for suffix in INFO_SUFFIXES]
    names.append(f"{stem}{CHECKSUM_SUFFIX}")
    return names


class Siblings:
    """The names in one folder, indexed by lower-case name; built once per folder and shared by
    all its models (looking sidecars up is then a few dict lookups per model)."""

    __slots__ = ("names", "by_lower", "stems", "links")

    def __init__(self, names: Iterable[str], links: Iterable[str] = ()) -> None:
        self.names = frozenset(names)
        self.links = frozenset(links)  # names that are symlinks (their targets must be checked)
        by_lower: dict[str, list[str]] = {}
        stems: dict[str, int] = {}
        for name in self.names:
            lowered = name.lower()
            by_lower.setdefault(lowered, []).append(name)
            stem = model_stem(lowered)
            stems[stem] = stems.get(stem, 0) + 1
        self.by_lower = by_lower
        self.stems = stems  # lower-case stem -> how many names have it

    def may_have_sidecars(self, filename: str) -> bool:
        """False when no other name could be a sidecar of ``filename`` (the common fast path):
        every sidecar's own stem is ``S``, ``S.preview``, ``S.civitai`` or ``S.metadata``."""
        stem = model_stem(filename.lower())
        own = 1 if filename in self.names else 0
        return (self.stems.get(stem, 0) > own or f"{stem}.preview" in self.stems
                or f"{stem}.civitai" in self.stems or f"{stem}.metadata" in self.stems)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def as_siblings(siblings: "Siblings | Iterable[str]") -> Siblings:
    return siblings if isinstance(siblings, Siblings) else Siblings(siblings)


def match_names(candidates: Iterable[str], siblings: "Siblings | Iterable[str]",
                exclude: str | None = None) -> list[str]:
    """Actual sibling names matching ``candidates``, in candidate order; case-insensitive
    (``x.PNG`` counts as ``x.png``), exact-case matches first; ``exclude`` is never returned."""
    by_lower = as_siblings(siblings).by_lower
    found: list[str] = []
    for candidate in candidates:
        names = by_lower.get(candidate.lower())
        if not names:
            continue
        for name in sorted(names, key=lambda n: n != candidate) if len(names) > 1 else names:
            if name != exclude and name not in found:
                found.append(name)
    return found


@dataclass(frozen=True)
class SidecarNames:
    """Which sidecars exist for one model (names only; relative to the model's folder)."""

    preview: str | None
    description: str | None
    civitai_info: str | None
    a1111_json: str | None
    metadata_json: str | None
    all: tuple[str, ...]


NO_SIDECARS = SidecarNames(None, None, None, None, None, ())


def find_sidecars(filename: str, siblings: "Siblings | Iterable[str]", *, folder: str | None = None,
                  root: str | Path | None = None) -> SidecarNames:
    """Sidecars of ``filename`` among ``siblings``.  With ``folder`` and ``root``, symlinked
    sidecars whose target leaves the root are left out."""
    siblings = as_siblings(siblings)
    if not siblings.may_have_sidecars(filename):
        return NO_SIDECARS
    if folder is not None and root is not None and siblings.links:
        real_root = os.path.realpath(root)
        unsafe = {n for n in siblings.links if escapes(folder, n, real_root)}
        if unsafe:
            siblings = Siblings(siblings.names - unsafe, siblings.links - unsafe)
    stem = model_stem(filename)

    def first(candidates: list[str]) -> str | None:
        found = match_names(candidates, siblings, exclude=filename)
        return found[0] if found else None

    everything = tuple(match_names(sidecar_candidates(stem), siblings, exclude=filename))
    if not everything:
        return NO_SIDECARS
    return SidecarNames(
        preview=first(preview_candidates(stem)),
        description=first([f"{stem}{ext}" for ext in DESCRIPTION_EXTENSIONS]),
        civitai_info=first([f"{stem}.civitai.info"]),
        a1111_json=first([f"{stem}.json"]),
        metadata_json=first([f"{stem}.metadata.json"]),
        all=everything,
    )


def list_siblings(model_path: Path) -> Siblings:
    """The names in the model's folder (with which of them are symlinks); none when the folder
    cannot be listed."""
    try:
        return read_siblings(model_path)
    except OSError:
        return Siblings(())


def read_siblings(model_path: Path) -> Siblings:
    """``list_siblings``, but a folder that cannot be listed (permissions, gone) raises its
    ``OSError``: a record or a delete that needs the sidecars must not go on without them."""
    with os.scandir(model_path.parent) as it:
        entries = list(it)
    return Siblings((e.name for e in entries), (e.name for e in entries if e.is_symlink()))


def escapes(folder: str, name: str, real_root: str) -> bool:
    """Does ``folder/name`` (a symlink) resolve outside ``real_root``?  Such a sidecar is ignored:
    reading or serving it could expose a file from anywhere."""
    target = os.path.realpath(os.path.join(folder, name))
    return not (target + os.sep).startswith(real_root.rstrip(os.sep) + os.sep)


def read_text(path: Path, limit: int = MAX_DESCRIPTION_BYTES) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError:
        return None
    text = data[:limit].decode("utf-8", errors="replace")
    return text + "…" if len(data) > limit else text


def read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        if os.path.getsize(path) > MAX_JSON_BYTES:
            return None
        with open(path, "rb") as fh:
            document = json.loads(fh.read().decode("utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError):  # RecursionError: nested deeper than json goes
        return None
    return document if isinstance(document, dict) else None
