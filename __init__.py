"""Model Manager for ComfyUI: download, scan, describe and delete model files.

ComfyUI imports this package from ``custom_nodes/``; it must stay cheap to import and must
import fine without ComfyUI (tests and the CLI do that).  The node classes are loaded on first
access of ``NODE_CLASS_MAPPINGS`` / ``NODE_DISPLAY_NAME_MAPPINGS`` (ComfyUI reads them right
after importing the pack), so the command line, which lives in this package too, starts without
loading the graph nodes.
"""
WEB_DIRECTORY = "./js"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]

_NODE_NAMES = ("NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS")


def __getattr__(name: str):
    if name not in _NODE_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if __package__:
        from . import nodes
    else:  # loaded as a lone file (pytest's collector does this for the repository root)
        from comfyui_model_manager import nodes
    globals().update({key: getattr(nodes, key) for key in _NODE_NAMES})
    return globals()[name]
