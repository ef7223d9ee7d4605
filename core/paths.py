"""Safe names and paths: every file we write or delete stays inside its model folder."""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

from .errors import InvalidInput, UnsafePath

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_RESERVED = {
    "CON", "PRN", "AUX", "NUL",
    *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10)),
}
MAX_NAME_BYTES = 240

#: Suffix of the partial file that sits beside its destination while downloading.
PARTIAL_SUFFIX = ".mmpart"


def sanitize_filename(name: str) -> str:
    """Turn a remote-supplied file name into a safe single path component.

    Separators, control characters and characters Windows forbids become ``_``; leading dots
    and spaces are removed (no hidden files, no ``..``); reserved device names get a ``_``
    prefix; the name is cut to a safe byte length keeping its extension.
    Raises ``InvalidInput`` when nothing usable is left.
    """
    name = unicodedata.normalize("NFC", name or "")
    # Keep only the last component of anything that looks like a path.
    name = re.split(r"[\\/]", name)[-1]
    name = _CONTROL.sub("", name)
    name = _FORBIDDEN.sub("_", name)
    name = name.strip().lstrip(". ").rstrip(". ")
    if not name:
        raise InvalidInput("the file name is empty or unusable; give one with the filename input")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    name = f"{stem}.{ext}" if dot else stem
    while len(name.encode("utf-8")) > MAX_NAME_BYTES and len(stem) > 1:
        stem = stem[:-1]
        name = f"{stem}.{ext}" if dot else stem
    return name


def validate_relative_name(name: str) -> PurePosixPath:
    """Check a model name relative to its type folder, as loaders take it (``sub/dir/x.safetensors``).

    Refuses absolute paths, drive letters, ``..`` and ``.`` segments, empty segments,
    control characters and hidden components.  Backslashes count as separators.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a model name is required")
    if _CONTROL.search(name):
        raise UnsafePath("the model name contains control characters")
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise UnsafePath(f"absolute paths are not allowed: {name!r}")
    parts = normalized.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath(f"the model name {name!r} must stay inside its model folder")
        if part.startswith("."):
            raise UnsafePath(f"hidden path components are not allowed: {name!r}")
    return PurePosixPath(*parts)


def validate_subfolder(subfolder: str) -> PurePosixPath:
    """Like ``validate_relative_name`` but an empty subfolder is allowed (a trailing ``/`` is ignored)."""
    cleaned = (subfolder or "").strip().rstrip("/\\")
    if not cleaned:
        return PurePosixPath()
    return validate_relative_name(cleaned)  # refuses "/abs", "C:\\x", ".." and hidden parts


def resolve_inside(root: Path, relative: PurePosixPath | str) -> Path:
    """Join ``relative`` to ``root`` and prove, after resolving symlinks, that it stays inside.

    The target need not exist.  Raises ``UnsafePath`` on any escape.
    """
    rel = validate_relative_name(str(relative)) if not isinstance(relative, PurePosixPath) else relative
    if rel.is_absolute() or ".." in rel.parts:
        raise UnsafePath(f"the model name {str(relative)!r} must stay inside its model folder")
    real_root = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(real_root.joinpath(*rel.parts)))
    if not is_within(candidate, real_root):
        raise UnsafePath(f"{str(relative)!r} resolves outside its model folder")
    return real_root.joinpath(*rel.parts)


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` equals ``root`` or lies below it (both already resolved)."""
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def partial_path_for(destination: Path) -> Path:
    """The hidden partial file beside ``destination`` (same folder, so the rename is atomic)."""
    return destination.with_name(f".{destination.name}{PARTIAL_SUFFIX}")
