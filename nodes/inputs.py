"""How the nodes declare their inputs: the socket (a type, or the list of choices), its default
and the tooltip that says what it does, in the ``(type, options)`` form ComfyUI reads."""
from __future__ import annotations

from typing import Any, Iterable

Input = tuple[Any, dict[str, Any]]


def text(tooltip: str, default: str = "", **options: Any) -> Input:
    """A STRING input; ``multiline=True`` makes it a text box."""
    return ("STRING", {"default": default, **options, "tooltip": tooltip})


def toggle(default: bool, tooltip: str) -> Input:
    """A BOOLEAN input."""
    return ("BOOLEAN", {"default": default, "tooltip": tooltip})


def choice(choices: Iterable[str], default: str, tooltip: str) -> Input:
    """A list to pick one value from."""
    return (list(choices), {"default": default, "tooltip": tooltip})
