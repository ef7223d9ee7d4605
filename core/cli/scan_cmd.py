"""``scan``, ``info``, ``set-preview`` and ``set-description``; ``delete`` is in trash_cmd."""
from __future__ import annotations

import argparse
import sys
TYPE_CHECKING = False  # typing itself costs start-up time; annotations are strings here
if TYPE_CHECKING:
    from typing import Any

from .common import add_flags, add_global_options, add_model_arguments, backend_for, check_type, emit_json, human


def register(subparsers: argparse._SubParsersAction) -> None:
    scan = subparsers.add_parser("scan", help="index the model folders (optionally hash and ask Civitai)",
                                 description="Index every model folder: previews, descriptions, "
                                             "safetensors metadata; optionally sha256 and Civitai info.")
    scan.add_argument("--type", dest="model_type", default="all", metavar="TYPE",
                      help="one model type (default: all)")
    add_flags(scan, {
        "--hashes": "compute sha256 of models not hashed yet",
        "--civitai": "look models lacking info or a preview up on Civitai by hash (implies --hashes)",
    })
    add_global_options(scan)
    scan.set_defaults(func=run_scan)

    info = subparsers.add_parser("info", help="show what is known about one model")
    add_model_arguments(info)
    add_global_options(info)
    info.set_defaults(func=run_info)

    preview = subparsers.add_parser("set-preview", help="set a model's preview image (stored as NAME.webp)")
    add_model_arguments(preview)
    preview.add_argument("image", metavar="IMAGE", help="image file (PNG, JPEG, WebP, GIF ...)")
    add_global_options(preview)
    preview.set_defaults(func=run_set_preview)

    description = subparsers.add_parser("set-description", help="set a model's description (NAME.md)")
    add_model_arguments(description)
    description.add_argument("text", metavar="TEXT", help="the description text, or - to read it from stdin")
    add_global_options(description)
    description.set_defaults(func=run_set_description)


def model_backend(args: argparse.Namespace) -> Any:
    backend = backend_for(args)
    check_type(backend, "TYPE", args.model_type)
    return backend


def run_scan(args: argparse.Namespace) -> int:
    backend = backend_for(args)
    model_type = check_type(backend, "--type", args.model_type, ("all",))
    interactive = sys.stderr.isatty()

    def show(payload: dict) -> None:
        if interactive and payload.get("total"):
            line = f"{payload['status']}: {payload['scanned']}/{payload['total']} {payload.get('current') or ''}"
            print("\r" + line[:79].ljust(79), end="", file=sys.stderr, flush=True)

    try:
        report = backend.scan(model_type, args.hashes, args.civitai, show)
    finally:
        if interactive:
            print("\r" + " " * 79 + "\r", end="", file=sys.stderr, flush=True)
    for error in report.get("errors") or []:
        human(f"warning: {error}")
    human(f"{report['count']} models indexed ({report.get('hashed', 0)} with sha256, "
          f"{report.get('hashes_computed', 0)} hashed now, {report.get('matched', 0)} matched on Civitai); "
          f"scan {report['status']}")
    if args.json:
        emit_json(report)
    else:
        for model in report["models"]:
            print(one_line(model))
    return 0 if report["status"] == "completed" else 1


def one_line(model: dict) -> str:
    from ..diskspace import human_bytes

    extras = [model.get("base_model") or "", "preview" if model.get("preview") else "",
              (model.get("sha256") or "")[:12]]
    return f"{model['type']}/{model['name']}  {human_bytes(model['size'])}  " + "  ".join(e for e in extras if e)


def run_info(args: argparse.Namespace) -> int:
    backend = model_backend(args)
    record = backend.get_model(args.model_type, args.name)
    if args.json:
        emit_json(record)
    else:
        print(describe(record))
    return 0


def run_set_preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InvalidInput, NotFound

    try:
        data = Path(args.image).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"the image file {str(args.image)!r} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"could not read the image file {str(args.image)!r}: {exc.strerror or exc}") from None
    backend = model_backend(args)
    record = backend.set_preview(args.model_type, args.name, data)
    return report_set(args, "preview", record, record.get("preview"))


def run_set_description(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    backend = model_backend(args)
    record = backend.set_description(args.model_type, args.name, text)
    return report_set(args, "description", record, record.get("description_file"))


def report_set(args: argparse.Namespace, what: str, record: dict, written: object) -> int:
    """After a set-preview / set-description: a line on stderr, the record with ``--json``."""
    human(f"{what} of {record['type']}/{record['name']} set: {written}")
    if args.json:
        emit_json(record)
    return 0


def describe(record: dict) -> str:
    from ..diskspace import human_bytes

    civitai = record.get("civitai") or {}
    lines = [
        f"{record['type']}/{record['name']}",
        f"  root:          {record.get('root') or '-'}",
        f"  size:          {human_bytes(record['size'])} ({record['size']} bytes)",
        f"  sha256:        {record.get('sha256') or '(not hashed yet: scan --hashes)'}",
        f"  base model:    {record.get('base_model') or '-'}",
        f"  trigger words: {', '.join(record.get('trigger_words') or []) or '-'}",
        f"  preview:       {record.get('preview') or '-'}",
        "  civitai:       " + (f"model {civitai.get('model_id')} version {civitai.get('version_id')} "
                               f"({civitai.get('model_name') or ''} / {civitai.get('version_name') or ''})"
                               if civitai else "-"),
    ]
    if record.get("header_error"):
        lines.append(f"  header error:  {record['header_error']}")
    if record.get("description"):
        lines += ["", record["description"].rstrip()]
    return "\n".join(lines)
