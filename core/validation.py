"""What a download request and a model reference must look like, checked in one place.

The graph nodes (``VALIDATE_INPUTS``, before a prompt runs), the REST routes, the CLI and the
download manager all call these, so every door refuses the same things with the same words.
Each check returns the cleaned value or raises ``InvalidInput``/``UnsafePath`` (a 400 with a
message that says what to type instead); ``problem`` turns a check into the message string
ComfyUI's ``VALIDATE_INPUTS`` wants.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .errors import InvalidInput, ModelManagerError
from .paths import validate_relative_name, validate_subfolder

IF_EXISTS_CHOICES = ("skip", "overwrite", "rename")
AUTO_TYPE = "auto"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

URL_MESSAGE = "url is required: paste a Civitai, Hugging Face or other http(s) link"
SHA256_MESSAGE = "sha256 must be 64 hexadecimal characters (or empty to use the source's checksum)"


def url_text(value: Any) -> str:
    """A non-empty link (which source takes it is decided later, by the sources)."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput("url must be text")
    url = (value or "").strip()
    if not url:
        raise InvalidInput(URL_MESSAGE)
    return url


def if_exists_choice(value: Any) -> str:
    """``skip`` (the default, also for empty), ``overwrite`` or ``rename``; any case."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"if_exists must be one of {', '.join(IF_EXISTS_CHOICES)}")
    choice = (value or "skip").strip().lower() or "skip"
    if choice not in IF_EXISTS_CHOICES:
        raise InvalidInput(f"if_exists must be one of {', '.join(IF_EXISTS_CHOICES)} (got {value!r})")
    return choice


def expected_sha256(value: Any) -> str | None:
    """The expected checksum in lower-case hex, or None when none is given."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(SHA256_MESSAGE)
    digest = (value or "").strip().lower()
    if not digest:
        return None
    if not _SHA256.match(digest):
        raise InvalidInput(SHA256_MESSAGE)
    return digest


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """An int from ``low`` to ``high``, given as a number or as text (a query parameter, a CLI
    argument); ``True``/``False`` are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}")
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}") from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be from {low} to {high} (got {number})")
    return number


def unknown_type_message(value: Any, known: Iterable[str]) -> str:
    return f"unknown model type {value!r}; known types: {', '.join(sorted(known))}"


def model_type_choice(value: Any, known: Iterable[str], *, allow_auto: bool = False) -> str:
    """One of the ``known`` folder types (or ``auto`` where the link may say)."""
    known = list(known)
    name = value.strip() if isinstance(value, str) else value
    if allow_auto and name in (None, "", AUTO_TYPE):
        return AUTO_TYPE
    if not isinstance(name, str) or name not in known:
        raise InvalidInput(unknown_type_message(value, known))
    return name


def model_name(value: Any) -> str:
    """A model's name relative to its type folder, as loaders take it (``sub/x.safetensors``);
    backslashes count as separators; nothing that could leave the folder."""
    return validate_relative_name(value).as_posix()


def subfolder_text(value: Any) -> str:
    """A subfolder inside a type folder ('' for the folder itself)."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput("subfolder must be text")
    cleaned = validate_subfolder(value or "")
    return cleaned.as_posix() if cleaned.parts else ""


def file_name(value: Any) -> str:
    """A file name to save as ('' lets the source name it).  It is made safe, not refused,
    where the destination is chosen (``paths.sanitize_filename``)."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput("filename must be text")
    return (value or "").strip()


@dataclass(frozen=True)
class DownloadFields:
    """A download request with every field checked and cleaned."""

    url: str
    model_type: str
    subfolder: str
    filename: str
    sha256: str | None
    if_exists: str


def download_fields(*, url: Any = None, model_type: Any = AUTO_TYPE, subfolder: Any = "", filename: Any = "",
                    sha256: Any = "", if_exists: Any = "skip",
                    known_types: Iterable[str] | None = None) -> DownloadFields:
    """Check a whole download request (the CLI and REST call this before anything else; the
    manager calls it again).  ``known_types`` None leaves the type to be checked later."""
    kind = (model_type or AUTO_TYPE).strip() if isinstance(model_type, str) else model_type
    if known_types is not None:
        kind = model_type_choice(kind, known_types, allow_auto=True)
    elif not isinstance(kind, str):
        raise InvalidInput("model_type must be text")
    return DownloadFields(url=url_text(url), model_type=kind, subfolder=subfolder_text(subfolder),
                          filename=file_name(filename), sha256=expected_sha256(sha256),
                          if_exists=if_exists_choice(if_exists))


def problem(check: Callable[..., Any], *args: Any, **kwargs: Any) -> str | None:
    """The message of what ``check(*args)`` refuses, or None when it passes."""
    try:
        check(*args, **kwargs)
    except ModelManagerError as exc:
        return exc.message
    return None
