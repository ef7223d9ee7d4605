"""Usage errors in the command line's own words.

argparse reports "argument --type: invalid choice" and "unrecognized arguments"; a person wants
the option they typed, the values allowed, and the closest one ("did you mean `loras`?").  Every
usage error becomes a ``UsageError`` (exit 2) that ``main`` reports like any other failure: one
``error: …`` line on stderr, and with ``--json`` the REST error document on stdout.
"""
from __future__ import annotations

import argparse
TYPE_CHECKING = False  # typing itself costs start-up time; annotations are strings here
if TYPE_CHECKING:
    from typing import Iterable, NoReturn, Sequence

from ..errors import InvalidInput

PROG = "comfyui-model-manager"


class UsageError(InvalidInput, code="usage"):
    """Bad usage: an unknown command, option or value (exit 2, before any network call)."""


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """`` did you mean `x`?`` for the closest option, or an empty string."""
    import difflib

    options = [o for o in options if o]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not close:
        lowered = {o.lower(): o for o in options}
        close = [lowered[value.lower()]] if value.lower() in lowered else []
    if not close:  # "lora" for "loras", "check" for "checkpoints"
        close = [o for o in options if o.startswith(value) or value.startswith(o)][:1] if len(value) >= 3 else []
    return f"; did you mean `{close[0]}`?" if close else ""


def check_choice(option: str, value: str, choices: Sequence[str], what: str = "value") -> str:
    """``value`` when it is one of ``choices``, else a ``UsageError`` naming ``option``."""
    if value in choices:
        return value
    raise UsageError(f"{option}: unknown {what} {value!r}{did_you_mean(value, choices)} "
                     f"(one of: {', '.join(choices)})")


class CliParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are ``UsageError``s with suggestions."""

    def error(self, message: str) -> NoReturn:
        message = message.replace("argument ", "", 1) if message.startswith("argument ") else message
        raise UsageError(f"{message} (see: {self.prog} --help)")

    def _check_value(self, action: argparse.Action, value: object) -> None:
        choices = action.choices
        if choices is None or value in choices:
            return
        names = [str(c) for c in choices]
        label = "/".join(action.option_strings) or (action.metavar or action.dest)
        if isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(None, f"unknown {str(label).lower()} {value!r}"
                                               f"{did_you_mean(str(value), names)} (one of: {', '.join(names)})")
        raise argparse.ArgumentError(None, f"{label}: {value!r} is not allowed{did_you_mean(str(value), names)} "
                                           f"(one of: {', '.join(names)})")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(unknown_arguments_message(extras, self.option_strings_for(parsed)))
        return parsed

    def option_strings_for(self, parsed: argparse.Namespace) -> list[str]:
        """Every option of this parser and of the (sub)commands chosen in ``parsed``."""
        found = list(self._option_string_actions)
        parser: argparse.ArgumentParser = self
        for dest in ("command", "action"):
            sub = _subparsers_of(parser)
            name = getattr(parsed, dest, None)
            if sub is None or name not in sub.choices:
                break
            parser = sub.choices[name]
            found += list(parser._option_string_actions)
            for nested in (_subparsers_of(parser).choices.values() if _subparsers_of(parser) else ()):
                found += list(nested._option_string_actions)
        return sorted(set(found))


def _subparsers_of(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def unknown_arguments_message(extras: list[str], options: list[str]) -> str:
    first = extras[0]
    if first.startswith("-"):
        name = first.split("=", 1)[0]
        return f"unknown option {name}{did_you_mean(name, options)}"
    return f"unexpected argument {first!r}"
