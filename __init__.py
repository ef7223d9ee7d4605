"""Model Manager for ComfyUI: download, scan, describe and delete model files.

ComfyUI imports this package from ``custom_nodes/``; it must stay cheap to import and must
import fine without ComfyUI (tests and the CLI do that).
"""
if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:  # loaded as a lone file (pytest's collector does this for the repository root)
    from comfyui_model_manager.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./js"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
