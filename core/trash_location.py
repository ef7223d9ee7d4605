"""Where a deleted model goes: a trash folder on the model's own filesystem that no loader lists.

ComfyUI lists every file below a model root, hidden sub-folders included, so a ``.trash`` inside
a model folder would keep the model on every loader's list.  The trash is therefore a folder
outside every configured root of every type, on the same filesystem as the model, so that moving
a 6 GB checkpoint there is one ``rename`` and never a copy.

Candidates, in order:
1. ``.model-manager-trash`` beside the model's root (``models/.model-manager-trash`` for ComfyUI's
   layout), then one level higher: shared by every process (ComfyUI, a second ComfyUI, the command
   line) that uses the same models folder, so any of them can list and undo a delete;
2. the trash in our state folder (``<state>/trash``).
A candidate is skipped when it lies inside (or contains) any model root, is on another device, or
cannot be created.  Bind mounts can share a device number and still refuse a rename (``EXDEV``); the
caller then tries the next candidate.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from .errors import ModelManagerError
from .paths import is_within

TRASH_FOLDER = ".model-manager-trash"
#: Beside the root, then its parent: enough when ``models/`` itself is a root of some type.
LEVELS_ABOVE_ROOT = 2


class TrashUnavailable(ModelManagerError, code="trash_unavailable", http_status=409, exit_code=1):
    """No trash on the model's filesystem: the caller must ask for a permanent delete."""


class TrashLocator:
    """Finds and checks trash folders.  ``all_roots`` gives every configured root of every type
    (in ComfyUI also those of types we do not manage, e.g. ``custom_nodes``)."""

    def __init__(self, state_trash: Path, all_roots: Callable[[], Iterable[Path]]) -> None:
        self.state_trash = Path(state_trash)
        self._all_roots = all_roots

    def real_roots(self) -> list[Path]:
        roots: list[Path] = []
        for root in self._all_roots():
            try:
                roots.append(Path(os.path.realpath(root)))
            except (OSError, ValueError):
                continue
        return roots

    def candidates(self, root: Path) -> list[Path]:
        """Trash folders to try for a model under ``root``, best first (not checked yet)."""
        found: list[Path] = []
        folder = Path(os.path.realpath(root))
        for _ in range(LEVELS_ABOVE_ROOT):
            parent = folder.parent
            if parent == folder or parent == Path(parent.anchor):
                break  # never a trash directly in "/"
            found.append(parent / TRASH_FOLDER)
            folder = parent
        found.append(self.state_trash)
        return found

    def listed_by_a_root(self, folder: Path, roots: list[Path] | None = None) -> Path | None:
        """The root that would list ``folder`` (or that lies inside it), else None."""
        real = Path(os.path.realpath(folder))
        for root in self.real_roots() if roots is None else roots:
            if is_within(real, root) or is_within(root, real):
                return root
        return None

    def usable(self, folder: Path, device: int, roots: list[Path]) -> str | None:
        """None when ``folder`` can take files of ``device``; else the reason it cannot.
        Creates the folder (only its last component beside a root; all of it in our state)."""
        owner = self.listed_by_a_root(folder, roots)
        if owner is not None:
            return f"{folder} is inside the model folder {owner}"
        try:
            if folder == self.state_trash:
                folder.mkdir(parents=True, exist_ok=True)
            else:
                folder.mkdir(exist_ok=True)
            st = os.stat(folder)
        except OSError as exc:
            return f"{folder} cannot be created ({exc.strerror or type(exc).__name__})"
        if not os.path.isdir(folder) or os.path.islink(folder):
            return f"{folder} is not a folder"
        if st.st_dev != device:
            return f"{folder} is on another filesystem"
        return None

    def existing(self, roots_of_models: Iterable[Path]) -> list[Path]:
        """Every trash folder that exists for these roots (and ours), each once, none listed by
        a root: where entries are looked for."""
        roots = self.real_roots()
        seen: set[Path] = set()
        folders: list[Path] = []
        for root in [*roots_of_models, None]:
            for folder in ([self.state_trash] if root is None else self.candidates(root)):
                real = Path(os.path.realpath(folder))
                if real in seen or not os.path.isdir(real):
                    continue
                seen.add(real)
                if self.listed_by_a_root(real, roots) is None:
                    folders.append(real)
        return folders
