"""``delete`` and ``trash``: recoverable deletes on the command line.

- ``delete TYPE NAME [--permanently] [--keep-sidecars]`` moves the model and its sidecars to the
  trash (or removes them for good);
- ``trash`` lists what is in the trash (stdout), ``trash restore ID [--rename]`` puts a model back,
  ``trash empty [--older-than DAYS]`` removes entries for good.
IDs may be abbreviated to a unique prefix of at least 4 digits.  With ``--json`` every command
prints exactly one JSON document on stdout (failures: ``{"error": {"code", "message"}}``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..diskspace import human_bytes
from ..errors import InvalidInput
from .common import add_common_arguments, context_from, emit_json, human
from .scan_cmd import open_index


def register(subparsers: argparse._SubParsersAction) -> None:
    delete = subparsers.add_parser(
        "delete", help="move a model and its sidecars to the trash (or delete it for good)",
        description="Move a model file and its sidecars (preview, description, info) to the trash, "
                    "from where `trash restore ID` puts them back.")
    delete.add_argument("model_type", metavar="TYPE", help="model type (checkpoints, loras, vae, ...)")
    delete.add_argument("name", metavar="NAME", help="name relative to the type's folder, e.g. sub/x.safetensors")
    delete.add_argument("--permanently", action="store_true", help="delete for good instead (no undo)")
    delete.add_argument("--keep-sidecars", action="store_true",
                        help="only the model file; keep previews, descriptions and info files")
    delete.add_argument("--yes", action="store_true", help=argparse.SUPPRESS)  # older scripts pass it
    add_common_arguments(delete)
    delete.set_defaults(func=run_delete)

    trash = subparsers.add_parser("trash", help="list, restore or empty deleted models",
                                  description="Without an action: list what is in the trash.")
    add_common_arguments(trash)
    actions = trash.add_subparsers(dest="trash_action", metavar="ACTION")
    restore = actions.add_parser("restore", help="put a deleted model back where it was")
    restore.add_argument("trash_id", metavar="ID", help="trash id (a unique prefix is enough)")
    restore.add_argument("--rename", action="store_true",
                         help="if a file took its place, restore as 'NAME (1).ext' instead of failing")
    _add_inherited_arguments(restore)
    empty = actions.add_parser("empty", help="delete models in the trash for good")
    empty.add_argument("--older-than", dest="older_than", type=_days, default=0, metavar="DAYS",
                       help="only those deleted more than DAYS days ago (default: all)")
    _add_inherited_arguments(empty)
    trash.set_defaults(func=run_trash)


def _add_inherited_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` / ``--models-dir`` after the action too, without resetting them when absent."""
    parser.add_argument("--models-dir", default=argparse.SUPPRESS, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print exactly one JSON document on stdout")


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--older-than takes a number of days, not {value!r}") from None
    if days < 0 or days != days:
        raise argparse.ArgumentTypeError("--older-than must be 0 or more days")
    return days


def run_delete(args: argparse.Namespace) -> int:
    ctx = context_from(args)
    deleted = open_index(ctx).delete_model(args.model_type, args.name, delete_sidecars=not args.keep_sidecars,
                                           permanently=args.permanently)
    if deleted.trash_id is None:
        for path in deleted.files:
            human(f"deleted {path}")
    else:
        human(f"moved {deleted.model_type}/{deleted.name} ({len(deleted.files)} files) to the trash; "
              f"undo with: comfyui-model-manager trash restore {deleted.trash_id}")
    if ctx.json:
        emit_json({"type": deleted.model_type, "name": deleted.name, "trash_id": deleted.trash_id,
                   "deleted": [str(p) for p in deleted.files]})
    return 0


def run_trash(args: argparse.Namespace) -> int:
    ctx = context_from(args)
    index = open_index(ctx)
    action = getattr(args, "trash_action", None)
    if action == "restore":
        model = index.restore_model(args.trash_id, rename=args.rename, allow_prefix=True)
        human(f"restored {model['type']}/{model['name']}")
        if ctx.json:
            emit_json(model)
        return 0
    if action == "empty":
        purged = index.trash.purge_older_than(args.older_than)
        size = sum(entry.size for entry in purged)
        human(f"emptied {len(purged)} models ({human_bytes(size)}) from the trash")
        if ctx.json:
            emit_json({"purged": [entry.to_json() for entry in purged]})
        return 0
    if action is not None:  # pragma: no cover - argparse refuses unknown actions
        raise InvalidInput(f"unknown trash action {action!r}")
    entries = index.trash.list()
    if ctx.json:
        emit_json({"items": [entry.to_json() for entry in entries]})
        return 0
    if not entries:
        human("the trash is empty")
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.deleted_at))
        print(f"{entry.id}  {when}  {human_bytes(entry.size):>9}  {entry.model_type}/{entry.name}")
    return 0
