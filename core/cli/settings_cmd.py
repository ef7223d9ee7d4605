"""``comfyui-model-manager settings``: show and change the settings file.

- ``settings [--json]`` shows every setting; keys only as set / not set (and where they come from).
- ``settings set KEY VALUE`` saves one setting; ``VALUE`` ``-`` reads it from stdin, so that a key
  need not appear in the shell history or the process list.
- ``settings unset KEY`` removes a key or the proxy (numbers go back to their defaults).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import InvalidInput
from ..redact import redact_url
from ..settings import _INT_RANGES, NSFW_LEVEL_NAMES, SECRET_KEYS, Settings, default_config_dir
from .common import emit_json, human

SETTABLE = (*SECRET_KEYS, *_INT_RANGES, "proxy")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "settings", help="show or change settings (API keys, limits, proxy)",
        description="Show or change the settings. Keys are never printed, only whether they are set.")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")
    actions = parser.add_subparsers(dest="settings_action", metavar="ACTION")
    set_parser = actions.add_parser("set", help="save one setting (VALUE '-' reads it from stdin)")
    set_parser.add_argument("key", choices=SETTABLE, metavar="KEY", help=", ".join(SETTABLE))
    set_parser.add_argument("value", metavar="VALUE")
    set_parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help="print exactly one JSON document on stdout")
    unset_parser = actions.add_parser("unset", help="remove a setting (back to its default)")
    unset_parser.add_argument("key", choices=SETTABLE, metavar="KEY", help=", ".join(SETTABLE))
    unset_parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                              help="print exactly one JSON document on stdout")
    parser.set_defaults(func=run)


def open_settings() -> Settings:
    return Settings(default_config_dir() / "settings.json")


def run(args: argparse.Namespace) -> int:
    settings = open_settings()
    action = getattr(args, "settings_action", None)
    if action == "set":
        value = sys.stdin.readline().strip() if args.value == "-" else args.value
        if args.key in SECRET_KEYS and not value:
            raise InvalidInput(f"no value given for {args.key}; use `settings unset {args.key}` to remove it")
        settings.update({args.key: value})
        human(f"{args.key} saved to {settings.path}" + (" (not shown)" if args.key in SECRET_KEYS else ""))
    elif action == "unset":
        if args.key in _INT_RANGES:
            _remove_number(settings, args.key)
        else:
            settings.update({args.key: None})
        human(f"{args.key} removed from {settings.path}")
    view = describe(settings)
    if args.json:
        emit_json(view)
    elif action is None:
        for line in human_lines(view):
            human(line)
    return 0


def describe(settings: Settings) -> dict[str, Any]:
    """The public view plus the file location and where each key comes from (never a key)."""
    view = settings.public_view()
    view["proxy"] = redact_url(view["proxy"]) if view.get("proxy") else ""
    view["settings_file"] = str(settings.path)
    for name in SECRET_KEYS:
        view[f"{name}_source"] = settings.secret_source(name)
    return view


def human_lines(view: dict[str, Any]) -> list[str]:
    lines = [f"settings file: {view['settings_file']}"]
    for name in SECRET_KEYS:
        source = view.get(f"{name}_source")
        lines.append(f"{name}: " + (f"set (from {source})" if view.get(f"{name}_set") else "not set"))
    for name in _INT_RANGES:
        value = view[name]
        extra = f" ({NSFW_LEVEL_NAMES[value]})" if name == "civitai_nsfw_level" and value in NSFW_LEVEL_NAMES else ""
        lines.append(f"{name}: {value}{extra}")
    lines.append(f"proxy: {view['proxy'] or '(none: HTTPS_PROXY/HTTP_PROXY from the environment apply)'}")
    return lines


def _remove_number(settings: Settings, key: str) -> None:
    """Numbers have no "empty" value in ``Settings.update``: save the default instead."""
    default = _INT_RANGES[key][0]
    settings.update({key: default})
