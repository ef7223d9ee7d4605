"""``comfyui-model-manager``: the command line.

Each command lives in its own module with ``register(subparsers)``; this module only wires
them and turns errors into exit statuses: 0 success, 1 the operation failed, 2 bad usage/input.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import ModelManagerError
from .common import emit_json

#: Modules under ``core.cli`` that add commands (kept as names so unused ones are not imported).
COMMAND_MODULES = ("download_cmd", "settings_cmd", "scan_cmd", "workflow_cmd", "trash_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="comfyui-model-manager",
        description="Download, scan and manage ComfyUI model files.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except ModelManagerError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if getattr(args, "json", False):
            emit_json(exc.to_json())  # --json promises one document on stdout, failures included
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        context = getattr(args, "_context", None)
        if context is not None:
            context.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
