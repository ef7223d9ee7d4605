"""What every CLI command shares: locating folders, state and settings; printing."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model_types import ModelFolders
from ..settings import Settings, default_config_dir


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="models folder (default: $COMFYUI_PATH/models, else ./models)")
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON document on stdout; human output goes to stderr")


def default_models_dir(environ=os.environ) -> Path:
    comfy = environ.get("COMFYUI_PATH")
    if comfy:
        return Path(comfy).expanduser() / "models"
    return Path.cwd() / "models"


@dataclass
class CliContext:
    folders: ModelFolders
    models_dir: Path
    config_dir: Path
    settings: Settings
    json: bool
    _app: Any = None

    @property
    def state_dir(self) -> Path:
        return self.config_dir / "state"

    def app(self) -> Any:
        """The core objects (``core.app.App``), built on first use, as ComfyUI builds them."""
        if self._app is None:
            from ..app import build_app

            self._app = build_app(self.folders, self.state_dir, self.settings, refresh_on_first_list=False)
        return self._app

    def close(self) -> None:
        """Stop whatever ``app()`` started (transfers, scans, the hash cache)."""
        if self._app is not None:
            self._app.shutdown()


def context_from(args: argparse.Namespace) -> CliContext:
    """The command's context; one per invocation (``main`` closes it when the command ends)."""
    existing = getattr(args, "_context", None)
    if existing is not None:
        return existing
    models_dir = (args.models_dir or default_models_dir()).expanduser().absolute()
    config_dir = default_config_dir()
    ctx = CliContext(
        folders=ModelFolders.from_models_dir(models_dir),
        models_dir=models_dir,
        config_dir=config_dir,
        settings=Settings(config_dir / "settings.json"),
        json=bool(getattr(args, "json", False)),
    )
    args._context = ctx
    return ctx


def human(message: str) -> None:
    """Human-readable output: always stderr, so stdout stays machine-readable with --json."""
    print(message, file=sys.stderr, flush=True)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
