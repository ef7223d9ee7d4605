"""``comfyui-model-manager settings``: show and change the settings (local file or ``--server``).

- ``settings [--json]`` shows every setting; keys only as set / not set (and where they come from).
- ``settings set KEY VALUE`` saves one setting; ``VALUE`` ``-`` reads it from stdin, so that a key
  need not appear in the shell history or the process list.
- ``settings unset KEY`` removes a key or the proxy (numbers go back to their defaults).
"""
from __future__ import annotations

import argparse
import sys
TYPE_CHECKING = False  # typing itself costs start-up time; annotations are strings here
if TYPE_CHECKING:
    from typing import Any

from ..setting_names import HOST_LISTS, INT_RANGES, SECRET_KEYS
from .common import add_global_options, backend_for, emit_json, human

#: name -> default (the core's ranges check the values)
NUMBERS = {name: default for name, (default, _low, _high) in INT_RANGES.items()}
SETTABLE = (*SECRET_KEYS, *NUMBERS, "proxy", *HOST_LISTS)
NSFW_LEVEL_NAMES = {1: "PG (safe only)", 2: "PG-13", 4: "R", 8: "X", 16: "XXX", 32: "all"}


def register(subparsers: argparse._SubParsersAction) -> None:
    from .usage import CliParser

    parser = subparsers.add_parser(
        "settings", help="show or change settings (API keys, limits, proxy)",
        description="Show or change the settings. Keys are never printed, only whether they are set.")
    add_global_options(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=CliParser)
    set_parser = actions.add_parser("set", help="save one setting (VALUE '-' reads it from stdin)")
    set_parser.add_argument("key", choices=SETTABLE, metavar="KEY", help=", ".join(SETTABLE))
    set_parser.add_argument("value", metavar="VALUE")
    add_global_options(set_parser)
    unset_parser = actions.add_parser("unset", help="remove a setting (back to its default)")
    unset_parser.add_argument("key", choices=SETTABLE, metavar="KEY", help=", ".join(SETTABLE))
    add_global_options(unset_parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidInput

    backend = backend_for(args)
    action = getattr(args, "action", None)
    if action == "set":
        value = sys.stdin.readline().strip() if args.value == "-" else args.value
        if args.key in SECRET_KEYS and not value:
            raise InvalidInput(f"no value given for {args.key}; use `settings unset {args.key}` to remove it")
        view = backend.settings_update({args.key: value})
        human(f"{args.key} saved to {view.get('settings_file') or backend.where}"
              + (" (not shown)" if args.key in SECRET_KEYS else ""))
    elif action == "unset":
        view = backend.settings_update({args.key: NUMBERS.get(args.key)})
        human(f"{args.key} removed from {view.get('settings_file') or backend.where}")
    else:
        view = backend.settings_view()
    if args.json:
        emit_json(view)
    elif action is None:
        for line in human_lines(view):
            print(line)
    return 0


def human_lines(view: dict[str, Any]) -> list[str]:
    lines = [f"settings file: {view['settings_file']}"] if view.get("settings_file") else []
    for name in SECRET_KEYS:
        source = view.get(f"{name}_source")
        state = "set" + (f" (from {source})" if source else "") if view.get(f"{name}_set") else "not set"
        lines.append(f"{name}: {state}")
    for name in NUMBERS:
        value = view.get(name)
        extra = f" ({NSFW_LEVEL_NAMES[value]})" if name == "civitai_nsfw_level" and value in NSFW_LEVEL_NAMES else ""
        lines.append(f"{name}: {value}{extra}")
    lines.append(f"proxy: {view.get('proxy') or '(none: HTTPS_PROXY/HTTP_PROXY from the environment apply)'}")
    hosts = view.get("workflow_allowed_hosts") or []
    lines.append(f"workflow_allowed_hosts: {', '.join(hosts) or '(only Hugging Face and Civitai)'}")
    return lines
