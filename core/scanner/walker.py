"""Find model files under a type's roots with ``os.scandir``.

Rules: only files the type accepts (its model extensions); hidden entries and partial
downloads are skipped; symlinked files and folders are followed only while their real target
stays inside the same root (the same rule ``ModelFolders.locate`` applies, so everything
listed can also be opened, changed and deleted); every real folder is visited once, which
stops symlink loops.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..model_types import ModelType
from ..paths import PARTIAL_SUFFIX
from ..sidecars import Siblings

#: Suffixes of files that are still being written by us or by other tools.
PARTIAL_SUFFIXES = (PARTIAL_SUFFIX, ".part", ".tmp", ".incomplete", ".crdownload", ".aria2")


@dataclass(frozen=True)
class FoundModel:
    """One model file seen by the walker, with the names of its folder's other entries."""

    model_type: str
    root: Path
    name: str  # relative to root, "/"-separated
    path: Path
    size: int
    mtime_ns: int
    siblings: Siblings = field(repr=False, default_factory=lambda: Siblings(()))


def is_partial_or_hidden(filename: str) -> bool:
    lowered = filename.lower()
    return filename.startswith(".") or lowered.endswith(PARTIAL_SUFFIXES)


#: Told about a folder below a root that could not be listed: (its name relative to the root,
#: ending in "/", or "" for the root itself; the error).
FolderTrouble = Callable[[str, OSError], None]


def walk_type(model_type: ModelType, should_stop: Callable[[], bool] = lambda: False,
              on_error: FolderTrouble | None = None) -> Iterator[FoundModel]:
    """Every model file of ``model_type`` in all its roots (roots that do not exist are skipped;
    folders that cannot be listed are skipped and passed to ``on_error``)."""
    for root in model_type.roots:
        yield from walk_root(model_type, Path(root), should_stop, on_error)


def walk_root(model_type: ModelType, root: Path, should_stop: Callable[[], bool] = lambda: False,
              on_error: FolderTrouble | None = None) -> Iterator[FoundModel]:
    extensions = model_type.writable_extensions
    real_root = os.path.realpath(root)
    if not os.path.isdir(real_root):
        return
    seen_dirs: set[tuple[int, int]] = set()
    # Walk the real root so that names are relative to it, like ModelFolders.locate.
    stack: list[tuple[str, str]] = [(real_root, "")]
    root_prefix = real_root.rstrip(os.sep) + os.sep
    while stack:
        if should_stop():
            return
        folder, rel = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue  # a symlink loop or a second link to a folder already listed
        seen_dirs.add(key)
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            if on_error is not None:
                on_error(rel, exc)
            continue
        siblings = Siblings((e.name for e in entries), (e.name for e in entries if e.is_symlink()))
        subfolders: list[tuple[str, str]] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_link = entry.is_symlink()
                if is_link:
                    target = os.path.realpath(entry.path)
                    if not (target + os.sep).startswith(root_prefix):
                        continue  # leaves the root: loaders may see it, but we never touch it
                if entry.is_dir():  # follows symlinks
                    subfolders.append((entry.path, f"{rel}{name}/"))
                    continue
                if is_partial_or_hidden(name) or os.path.splitext(name)[1].lower() not in extensions:
                    continue
                info = entry.stat()  # follows symlinks
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            yield FoundModel(model_type.name, root, f"{rel}{name}", Path(entry.path), info.st_size,
                             info.st_mtime_ns, siblings)
        # Depth-first in name order, so results are stable.
        stack.extend(sorted(subfolders, reverse=True))
