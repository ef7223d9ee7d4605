"""ComfyUI adapters: graph nodes, REST routes and the event bridge (thin layers over core/).

Importing this package is cheap and works outside ComfyUI.  Inside ComfyUI it also registers the
REST routes on ``PromptServer.instance.routes`` and schedules the runtime to start (resuming
persisted downloads) once the server listens; nothing is scanned, hashed or downloaded here.
"""
from __future__ import annotations

import logging

from . import comfy_api
from .download import DownloadModel
from .info import ModelInfo
from .metadata import DeleteModel, SetModelPreview
from .scan import ScanModels

log = logging.getLogger(__name__)

NODE_CLASS_MAPPINGS: dict = {
    "DownloadModel": DownloadModel,
    "ScanModels": ScanModels,
    "SetModelPreview": SetModelPreview,
    "DeleteModel": DeleteModel,
    "ModelInfo": ModelInfo,
}
NODE_DISPLAY_NAME_MAPPINGS: dict = {
    "DownloadModel": "Download Model",
    "ScanModels": "Scan Models",
    "SetModelPreview": "Set Model Preview",
    "DeleteModel": "Delete Model",
    "ModelInfo": "Model Info",
}


def _attach_to_comfyui() -> None:
    server = comfy_api.prompt_server()
    if server is None:
        return
    from .routes import register_on_prompt_server
    from .runtime import schedule_startup

    register_on_prompt_server(server)
    schedule_startup(server)


try:
    _attach_to_comfyui()
except Exception:  # never break ComfyUI's start-up because of us
    log.exception("Model Manager: could not register its routes")
