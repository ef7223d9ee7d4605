"""``comfyui-model-manager``: the command line.

Each command lives in its own module with ``register(subparsers)``; this module wires them and
turns errors into exit statuses: 0 success, 1 the operation failed, 2 bad usage or input.
Building the parser imports nothing heavy (``--help`` answers at once); a command imports what
it needs when it runs.  Failures print ``error: …`` on stderr, and with ``--json`` also the REST
error document ``{"error": {"code", "message"}}`` on stdout.
"""
from __future__ import annotations

import importlib
import sys

from ..errors import InvalidInput, ModelManagerError

PROG = "comfyui-model-manager"
#: Modules under ``core.cli`` that add commands, in the order ``--help`` lists them.
COMMAND_MODULES = ("download_cmd", "tasks_cmd", "scan_cmd", "trash_cmd", "workflow_cmd", "settings_cmd")
#: The module of each command: a command line that names one builds only that module's parsers
#: (the others cost a download's start-up several ms); ``--help`` or an unknown word builds all.
COMMANDS = {"download": "download_cmd", "tasks": "tasks_cmd", "scan": "scan_cmd", "info": "scan_cmd",
            "set-preview": "scan_cmd", "set-description": "scan_cmd", "delete": "trash_cmd",
            "trash": "trash_cmd", "workflow": "workflow_cmd", "settings": "settings_cmd"}
#: Global options that take a value (the word after them is not the command).
_VALUE_OPTIONS = ("--server", "--models-dir")

#: Core messages name request fields; on the command line they are options.
_OPTION_WORDS = (
    ("choose a model_type;", "choose a type with --type;"),
    ("model_type", "--type"),
    ("if_exists must", "--if-exists must"),
    ("sha256 must", "--sha256 must"),
    ("with the filename input", "with --filename"),
)


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("comfyui-model-manager")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def named_command(argv: list[str]) -> str | None:
    """The command ``argv`` names: its first word that is neither a global option nor the value
    of one; None for help, version or anything unclear (then every command is built)."""
    value_next = False
    for word in argv:
        if value_next:
            value_next = False
        elif word in ("-h", "--help", "--version", "--"):
            return None
        elif word.startswith("-"):
            # "--models DIR": argparse takes abbreviations, so any prefix of a value option counts
            value_next = "=" not in word and len(word) > 2 and any(o.startswith(word) for o in _VALUE_OPTIONS)
        else:
            return word
    return None


def build_parser(argv: list[str] | None = None):
    """The parser; with ``argv`` naming a known command, only that command's module is built."""
    import argparse

    from .common import add_global_options
    from .usage import CliParser

    parser = CliParser(prog=PROG, description="Download, scan and manage ComfyUI model files.",
                       epilog="Exit status: 0 success, 1 the operation failed, 2 bad usage or input.")
    parser.add_argument("--version", action="version", version=PROG)
    add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliParser)
    only = COMMANDS.get(named_command(argv)) if argv is not None else None
    for name in COMMAND_MODULES if only is None else (only,):
        importlib.import_module(f"{__name__}.{name}").register(sub)
    parser._version_action = next(a for a in parser._actions if isinstance(a, argparse._VersionAction))
    return parser


def in_cli_words(error: ModelManagerError) -> str:
    message = error.message
    if isinstance(error, InvalidInput):
        for core_words, cli_words in _OPTION_WORDS:
            message = message.replace(core_words, cli_words)
    return message


def report(error: ModelManagerError, as_json: bool) -> int:
    from .common import emit_json

    message = in_cli_words(error)
    print(f"error: {message}", file=sys.stderr, flush=True)
    if as_json:  # --json promises one document on stdout, failures included
        emit_json({"error": {"code": error.code, "message": message}})
    return error.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in argv
    args = None
    try:
        parser = build_parser(argv)
        if "--version" in argv:
            parser._version_action.version = f"{PROG} {version()}"
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    except ModelManagerError as exc:
        return report(exc, as_json or bool(getattr(args, "json", False)))
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        backend = getattr(args, "_backend", None)
        if backend is not None:
            backend.close()


def run() -> None:
    """The ``comfyui-model-manager`` command: ``main``, then exit at once.

    Once ``main`` returned, everything is written and closed; what is left is the interpreter
    taking apart every module a download imported, about 15 ms that nobody waits for.  So the
    exit handlers run (logging flushes there) and the process leaves without that, unless a
    thread that is not a daemon still runs: then the interpreter waits for it as usual."""
    import atexit
    import os
    import threading

    code = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if any(t.is_alive() for t in others):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
