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

from .common import (add_flags, add_global_options, add_model_arguments, backend_for, check_type, cli_command,
                     emit_json, human)


def register(subparsers: argparse._SubParsersAction) -> None:
    from .usage import CliParser

    delete = subparsers.add_parser(
        "delete", help="move a model and its sidecars to the trash (or delete it for good)",
        description="Move a model file and its sidecars (preview, description, info) to the trash, "
                    "from where `trash restore ID` puts them back.")
    add_model_arguments(delete)
    add_flags(delete, {
        "--permanently": "delete for good instead (no undo)",
        "--keep-sidecars": "only the model file; keep previews, descriptions and info files",
        "--yes": argparse.SUPPRESS,  # older scripts pass it
    })
    add_global_options(delete)
    delete.set_defaults(func=run_delete)

    trash = subparsers.add_parser("trash", help="list, restore or empty deleted models",
                                  description="Without an action: list what is in the trash.")
    add_global_options(trash)
    actions = trash.add_subparsers(dest="action", metavar="ACTION", parser_class=CliParser)
    restore = actions.add_parser("restore", help="put a deleted model back where it was")
    restore.add_argument("trash_id", metavar="ID", help="trash id (a unique prefix is enough)")
    add_flags(restore, {"--rename": "if a file took its place, restore as 'NAME (1).ext' instead of failing"})
    add_global_options(restore)
    empty = actions.add_parser("empty", help="delete models in the trash for good")
    empty.add_argument("--older-than", dest="older_than", type=_days, default=0, metavar="DAYS",
                       help="only those deleted more than DAYS days ago (default: all)")
    add_global_options(empty)
    trash.set_defaults(func=run_trash)


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--older-than takes a number of days, not {value!r}") from None
    if days < 0 or days != days:
        raise argparse.ArgumentTypeError("--older-than must be 0 or more days")
    return days


def run_delete(args: argparse.Namespace) -> int:
    backend = backend_for(args)
    check_type(backend, "TYPE", args.model_type)
    deleted = backend.delete_model(args.model_type, args.name, sidecars=not args.keep_sidecars,
                                   permanently=args.permanently)
    if deleted["trash_id"] is None:
        for path in deleted["files"]:
            human(f"deleted {path}")
        if not deleted["files"]:
            human(f"deleted {args.model_type}/{args.name} for good")
    else:
        count = f" ({len(deleted['files'])} files)" if deleted["files"] else ""
        human(f"moved {deleted['model_type']}/{deleted['name']}{count} to the trash; "
              f"undo with: {cli_command(backend)} trash restore {deleted['trash_id']}")
    if args.json:
        emit_json({"type": deleted["model_type"], "name": deleted["name"], "trash_id": deleted["trash_id"],
                   "deleted": deleted["files"]})
    return 0


def run_trash(args: argparse.Namespace) -> int:
    from ..diskspace import human_bytes

    backend = backend_for(args)
    action = getattr(args, "action", None)
    if action == "restore":
        model = backend.trash_restore(args.trash_id, rename=args.rename)
        human(f"restored {model['type']}/{model['name']}")
        if args.json:
            emit_json(model)
        return 0
    if action == "empty":
        purged = backend.trash_empty(args.older_than)
        size = sum(entry["size"] for entry in purged)
        human(f"emptied {len(purged)} models ({human_bytes(size)}) from the trash")
        if args.json:
            emit_json({"purged": purged})
        return 0
    entries = backend.trash_list()
    if args.json:
        emit_json({"items": entries})
        return 0
    if not entries:
        human("the trash is empty")
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["deleted_at"]))
        print(f"{entry['id']}  {when}  {human_bytes(entry['size']):>9}  {entry['model_type']}/{entry['name']}")
    return 0
