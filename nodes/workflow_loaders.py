"""Which inputs of the installed nodes name model files, found from ComfyUI itself.

A node input whose choices are a model folder's file list (``folder_paths.get_filename_list``)
names a file of that folder: the folder whose (non-empty) list is wholly among the choices, the
largest such list winning.  Only the node classes a workflow uses are asked (``INPUT_TYPES``), so
this costs little per request.  Core loaders are known to core even while their folders are empty.
"""
from __future__ import annotations

import logging
from typing import Any

from ..core.model_types import EXCLUDED_TYPES
from ..core.workflow.loaders import LoaderSpec, spec_from_input_types
from ..core.workflow.reader import Workflow
from ..core.workflow.references import class_types
from . import comfy_api

log = logging.getLogger(__name__)


def loader_specs(workflow: Workflow) -> dict[str, LoaderSpec]:
    fp = comfy_api.folder_paths()
    classes = comfy_api.node_classes()
    if fp is None or not classes:
        return {}
    lists: dict[str, frozenset[str]] = {}

    def folder_list(folder: str) -> frozenset[str]:
        if folder not in lists:
            try:
                lists[folder] = frozenset(fp.get_filename_list(folder))
            except Exception:  # a broken extra path must not break the listing
                lists[folder] = frozenset()
        return lists[folder]

    folders = [f for f in fp.folder_names_and_paths if f not in EXCLUDED_TYPES]

    def folder_of(_name: str, choices: list) -> str | None:
        offered = {c for c in choices if isinstance(c, str)}
        if not offered:
            return None
        best, best_size = None, 0
        for folder in folders:
            files = folder_list(folder)
            if files and len(files) > best_size and files <= offered:
                best, best_size = folder, len(files)
        return best

    specs: dict[str, LoaderSpec] = {}
    for class_type in class_types(workflow):
        node_class = classes.get(class_type)
        if node_class is None:
            continue
        try:
            input_types: Any = node_class.INPUT_TYPES()
        except Exception:
            log.debug("INPUT_TYPES of %s failed", class_type, exc_info=True)
            continue
        if isinstance(input_types, dict):
            specs[class_type] = spec_from_input_types(input_types, folder_of)
    return specs
