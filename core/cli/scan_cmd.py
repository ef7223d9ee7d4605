"""``scan``, ``info``, ``set-preview`` and ``set-description``; ``delete`` is in trash_cmd."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InvalidInput, NotFound
from ..observers import UPDATE_SCAN_TASK
from .common import CliContext, add_common_arguments, context_from, emit_json, human


def register(subparsers: argparse._SubParsersAction) -> None:
    scan = subparsers.add_parser("scan", help="index the model folders (optionally hash and ask Civitai)",
                                 description="Index every model folder: previews, descriptions, "
                                             "safetensors metadata; optionally sha256 and Civitai info.")
    scan.add_argument("--type", dest="model_type", default="all", help="one model type (default: all)")
    scan.add_argument("--hashes", action="store_true", help="compute sha256 of models not hashed yet")
    scan.add_argument("--civitai", action="store_true",
                      help="look models lacking info or a preview up on Civitai by hash (implies --hashes)")
    add_common_arguments(scan)
    scan.set_defaults(func=run_scan)

    info = subparsers.add_parser("info", help="show what is known about one model")
    _add_model_arguments(info)
    info.set_defaults(func=run_info)

    preview = subparsers.add_parser("set-preview", help="set a model's preview image (stored as NAME.webp)")
    _add_model_arguments(preview)
    preview.add_argument("image", type=Path, help="image file (PNG, JPEG, WebP, GIF ...)")
    preview.set_defaults(func=run_set_preview)

    description = subparsers.add_parser("set-description", help="set a model's description (NAME.md)")
    _add_model_arguments(description)
    description.add_argument("text", help="the description text, or - to read it from stdin")
    description.set_defaults(func=run_set_description)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_type", metavar="TYPE", help="model type (checkpoints, loras, vae, ...)")
    parser.add_argument("name", metavar="NAME", help="name relative to the type's folder, e.g. sub/x.safetensors")
    add_common_arguments(parser)


def open_index(ctx: CliContext):
    return ctx.app().index


def run_scan(args: argparse.Namespace) -> int:
    ctx = context_from(args)
    index = open_index(ctx)
    interactive = sys.stderr.isatty()

    def show(event: str, payload: dict) -> None:
        if event == UPDATE_SCAN_TASK and interactive:
            print(f"\r{payload['status']}: {payload['scanned']}/{payload['total']} {payload['current'][:60]:<60}",
                  end="", file=sys.stderr, flush=True)

    index.events.subscribe(show)
    task = index.start_scan(args.model_type, compute_hashes=args.hashes or args.civitai,
                            fetch_civitai_info=args.civitai)
    try:
        while not task.wait(0.2):
            pass
    except KeyboardInterrupt:
        task.cancel()
        task.wait(10)
        raise
    if interactive:
        print(file=sys.stderr)
    report = task.report
    assert report is not None
    for error in task.errors:
        human(f"warning: {error}")
    human(f"{report.count} models indexed ({task.hashed} with sha256, {task.hashes_computed} hashed now, "
          f"{task.matched} matched on Civitai); scan {task.status}")
    if ctx.json:
        emit_json(report.to_json())
    else:
        for model in report.models:
            print(_one_line(model))
    return 0 if task.status == "completed" else 1


def _one_line(model: dict) -> str:
    extras = [model.get("base_model") or "", "preview" if model.get("preview") else "",
              (model.get("sha256") or "")[:12]]
    return f"  {model['type']}/{model['name']}  {_size(model['size'])}  " + "  ".join(e for e in extras if e)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def run_info(args: argparse.Namespace) -> int:
    ctx = context_from(args)
    record = open_index(ctx).get_model(args.model_type, args.name)
    _print_record(ctx, record)
    return 0


def run_set_preview(args: argparse.Namespace) -> int:
    ctx = context_from(args)
    try:
        data = args.image.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"the image file {str(args.image)!r} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"could not read the image file {str(args.image)!r}: {exc.strerror or exc}") from None
    record = open_index(ctx).set_preview(args.model_type, args.name, data)
    return _report_set(ctx, "preview", record, record["preview"])


def run_set_description(args: argparse.Namespace) -> int:
    ctx = context_from(args)
    text = sys.stdin.read() if args.text == "-" else args.text
    record = open_index(ctx).set_description(args.model_type, args.name, text)
    return _report_set(ctx, "description", record, record["description_file"])


def _report_set(ctx: CliContext, what: str, record: dict, written: object) -> int:
    """After a set-preview / set-description: a line on stderr, the record with ``--json``."""
    human(f"{what} of {record['type']}/{record['name']} set: {written}")
    if ctx.json:
        emit_json(record)
    return 0


def _print_record(ctx: CliContext, record: dict) -> None:
    if ctx.json:
        emit_json(record)
        return
    civitai = record.get("civitai") or {}
    lines = [
        f"{record['type']}/{record['name']}",
        f"  root:          {record['root']}",
        f"  size:          {_size(record['size'])} ({record['size']} bytes)",
        f"  sha256:        {record.get('sha256') or '(not hashed yet: scan --hashes)'}",
        f"  base model:    {record.get('base_model') or '-'}",
        f"  trigger words: {', '.join(record.get('trigger_words') or []) or '-'}",
        f"  preview:       {record.get('preview') or '-'}",
        f"  civitai:       " + (f"model {civitai.get('model_id')} version {civitai.get('version_id')} "
                                f"({civitai.get('model_name') or ''} / {civitai.get('version_name') or ''})"
                                if civitai else "-"),
    ]
    if record.get("header_error"):
        lines.append(f"  header error:  {record['header_error']}")
    if record.get("description"):
        lines += ["", record["description"].rstrip()]
    # "info" without --json prints to stdout: it is the command's output, nothing machine-read.
    print("\n".join(lines))
