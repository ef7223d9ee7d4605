"""What every CLI command shares: the global options, choosing the backend, printing."""
from __future__ import annotations

import argparse
import os
import sys
TYPE_CHECKING = False  # typing itself costs start-up time; annotations are strings here
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

from .usage import UsageError, check_choice

#: Options every command takes, before or after its name.
GLOBAL_HELP = {
    "--json": "print exactly one JSON document on stdout; human output goes to stderr",
    "--server": "act on the ComfyUI running at URL through its REST routes (default: $COMFYUI_URL)",
    "--models-dir": "models folder (default: $COMFYUI_PATH/models, else ./models); local files only",
}


def add_global_options(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """``--json``, ``--server`` and ``--models-dir``.  Below the top level their defaults are
    suppressed, so an option given before the command name is not reset by the subcommand."""
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    hide = (lambda text: text) if top else (lambda text: argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", default=default(False), help=hide(GLOBAL_HELP["--json"]))
    parser.add_argument("--server", metavar="URL", default=default(None), help=hide(GLOBAL_HELP["--server"]))
    parser.add_argument("--models-dir", metavar="DIR", default=default(None),
                        help=hide(GLOBAL_HELP["--models-dir"]))


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``TYPE NAME`` pair of the commands that act on one model."""
    parser.add_argument("model_type", metavar="TYPE", help="model type (checkpoints, loras, vae, ...)")
    parser.add_argument("name", metavar="NAME", help="name relative to the type's folder, e.g. sub/x.safetensors")


def add_flags(parser: argparse.ArgumentParser, flags: dict[str, str]) -> None:
    """On/off options, each with its help (``argparse.SUPPRESS`` hides one)."""
    for flag, text in flags.items():
        parser.add_argument(flag, action="store_true", help=text)


def looks_like_comfyui(folder: "Path") -> bool:
    return (folder / "folder_paths.py").is_file() or ((folder / "main.py").is_file() and (folder / "comfy").is_dir())


def local_models_dir(args: argparse.Namespace, environ=os.environ) -> Path:
    """``--models-dir``, else ``$COMFYUI_PATH/models`` (refused when no ComfyUI is there: we
    would create folders in a wrong place), else ``./models``."""
    from pathlib import Path

    if args.models_dir is not None:
        return Path(args.models_dir).expanduser().absolute()
    comfy = environ.get("COMFYUI_PATH")
    if comfy:
        folder = Path(comfy).expanduser().absolute()
        if not looks_like_comfyui(folder):
            raise UsageError(f"COMFYUI_PATH={comfy} is not a ComfyUI folder (no folder_paths.py there); "
                             "point it at your ComfyUI, or give --models-dir DIR")
        return folder / "models"
    return Path.cwd() / "models"


def backend_for(args: argparse.Namespace) -> Any:
    """The command's backend, built once per invocation (``main`` closes it)."""
    existing = getattr(args, "_backend", None)
    if existing is not None:
        return existing
    server = args.server or os.environ.get("COMFYUI_URL") or None
    if server:
        from .remote import RemoteBackend, check_server_url

        if args.models_dir is not None:
            raise UsageError("--models-dir is for local files; with --server the ComfyUI's own folders are used")
        backend = RemoteBackend(check_server_url(server))
    else:
        from ..settings import default_config_dir
        from .backend import LocalBackend

        backend = LocalBackend(local_models_dir(args), default_config_dir())
    args._backend = backend
    return backend


def check_type(backend: Any, option: str, value: str, extra: tuple[str, ...] = ()) -> str:
    """A model type the backend knows (or one of ``extra``: ``auto``, ``all``), else exit 2."""
    return check_choice(option, value, [*extra, *backend.model_types()], "model type")


def cli_command(backend: Any) -> str:
    """How to call this program again against the same backend (for "resume with: …" hints)."""
    return "comfyui-model-manager" + (f" --server {backend.base_url}" if backend.remote else "")


def human(message: str) -> None:
    """Human-readable notes: stderr, so stdout stays for listings and JSON."""
    print(message, file=sys.stderr, flush=True)


def emit_json(document: Any) -> None:
    import json

    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
