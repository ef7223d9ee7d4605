"""The only place that touches ComfyUI's own modules.

Every accessor returns ``None`` (or a harmless default) when the pack is imported outside
ComfyUI (tests, the CLI), so the rest of ``nodes/`` stays importable everywhere.  ComfyUI's
modules are looked up in ``sys.modules`` first: inside ComfyUI they are always loaded before
custom nodes, and outside it we must not import an unrelated top-level ``server`` module.
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any


def _comfy_module(name: str) -> ModuleType | None:
    module = sys.modules.get(name)
    if module is not None:
        return module
    if "folder_paths" not in sys.modules:  # not running inside ComfyUI
        return None
    try:
        return __import__(name, fromlist=["_"])
    except Exception:
        return None


def folder_paths() -> ModuleType | None:
    return sys.modules.get("folder_paths")


def inside_comfyui() -> bool:
    return folder_paths() is not None


def prompt_server() -> Any | None:
    """``PromptServer.instance`` or None (not in ComfyUI, or the server is not created yet)."""
    server = _comfy_module("server")
    cls = getattr(server, "PromptServer", None) if server else None
    return getattr(cls, "instance", None) if cls else None


def executing_context() -> tuple[str | None, str | None]:
    """(prompt_id, node_id) of the node running in this thread, when ComfyUI knows it."""
    utils = _comfy_module("comfy_execution.utils")
    get = getattr(utils, "get_executing_context", None) if utils else None
    context = get() if get else None
    if context is not None:
        return context.prompt_id, context.node_id
    server = prompt_server()
    return getattr(server, "last_prompt_id", None), getattr(server, "last_node_id", None)


def interrupted() -> bool:
    """True when the user pressed Cancel / POST /interrupt (does not clear the flag)."""
    mm = _comfy_module("comfy.model_management")
    check = getattr(mm, "processing_interrupted", None) if mm else None
    return bool(check()) if check else False


def raise_if_interrupted() -> None:
    """Raise ComfyUI's own InterruptProcessingException (clears the flag, like ComfyUI does)."""
    mm = _comfy_module("comfy.model_management")
    check = getattr(mm, "throw_exception_if_processing_interrupted", None) if mm else None
    if check:
        check()


def progress_bar(total: int, node_id: str | None) -> Any | None:
    """A ``comfy.utils.ProgressBar`` drawing on ``node_id`` (its green bar), or None."""
    utils = _comfy_module("comfy.utils")
    cls = getattr(utils, "ProgressBar", None) if utils else None
    if cls is None:
        return None
    try:
        return cls(total, node_id=node_id)
    except TypeError:  # ComfyUI before node_id was accepted
        return cls(total)


def node_classes() -> dict[str, Any]:
    """ComfyUI's ``NODE_CLASS_MAPPINGS`` (every installed node), or {} outside ComfyUI."""
    if folder_paths() is None:
        return {}
    module = sys.modules.get("nodes")
    mapping = getattr(module, "NODE_CLASS_MAPPINGS", None) if module is not None else None
    return mapping if isinstance(mapping, dict) else {}
