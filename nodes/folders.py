"""Model folders as ComfyUI sees them, kept live.

``folder_paths.folder_names_and_paths`` can change after our pack loads (other packs add types,
``extra_model_paths.yaml`` is read at start-up), so the table is rebuilt from it on every lookup;
it is a small dict, so this costs microseconds.
"""
from __future__ import annotations

import os
from typing import Callable, Mapping

from ..core.model_types import EXCLUDED_TYPES, ModelFolders, ModelType
from . import comfy_api


class LiveModelFolders(ModelFolders):
    """A ``ModelFolders`` whose types are read from a mapping provider at each use."""

    def __init__(self, mapping: Callable[[], Mapping[str, tuple]]) -> None:  # noqa: D107
        self._mapping = mapping

    @property
    def _types(self) -> dict[str, ModelType]:  # type: ignore[override]
        built = ModelFolders.from_folder_paths(
            {name: value for name, value in self._mapping().items() if name not in EXCLUDED_TYPES}
        )
        return built.__dict__["_types"]


def comfy_model_folders() -> ModelFolders | None:
    """ComfyUI's folders (every type but custom_nodes/configs, every root), or None outside it."""
    fp = comfy_api.folder_paths()
    if fp is None:
        return None
    return LiveModelFolders(lambda: fp.folder_names_and_paths)


def model_type_names() -> list[str]:
    fp = comfy_api.folder_paths()
    if fp is None:
        return []
    return sorted(name for name in fp.folder_names_and_paths if name not in EXCLUDED_TYPES)


def list_model_names(model_type: str | None = None) -> list[str]:
    """Names as loaders list them (``folder_paths.get_filename_list``), of one or all types."""
    fp = comfy_api.folder_paths()
    if fp is None:
        return []
    types = [model_type] if model_type else model_type_names()
    names: set[str] = set()
    for name in types:
        try:
            names.update(fp.get_filename_list(name))
        except Exception:  # a broken extra path must not break the node list
            continue
    return sorted(names)


def every_root() -> list[str]:
    """Every folder of every type ComfyUI knows, ``custom_nodes`` and ``configs`` included."""
    fp = comfy_api.folder_paths()
    if fp is None:
        return []
    roots: list[str] = []
    for value in list(fp.folder_names_and_paths.values()):
        try:
            roots.extend(str(path) for path in value[0])
        except (TypeError, IndexError):
            continue
    return roots


def forget_loader_cache(model_type: str) -> None:
    """Make loaders see a new or deleted file at once (folder mtimes can be too coarse)."""
    fp = comfy_api.folder_paths()
    if fp is None:
        return
    cache = getattr(fp, "filename_list_cache", None)
    if isinstance(cache, dict):
        cache.pop(model_type, None)
        map_legacy = getattr(fp, "map_legacy", None)
        if map_legacy:
            cache.pop(map_legacy(model_type), None)


def loader_name(relative_name: str) -> str:
    """A "/"-separated model name in the form ``folder_paths`` lists it on this OS."""
    return relative_name.replace("/", os.sep)
