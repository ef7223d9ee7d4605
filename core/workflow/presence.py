"""Is a referenced model here?  Judged as ComfyUI's loaders judge it.

A loader finds ``name`` when ``root/name`` is a file in any root of its folder
(``folder_paths.get_full_path``: every path of the type, ``extra_model_paths.yaml`` included).
A model is also "present elsewhere" when a file with the workflow's sha256 is known (hash cache)
under another name or folder: then it is not downloaded a second time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..model_types import ModelFolders


class DigestStore(Protocol):
    """What presence needs of the hash cache (``core.scanner.hash_cache.HashCache``)."""

    def get(self, path: str, size: int, mtime_ns: int) -> str | None: ...

    def paths_with(self, digests: list[str]) -> dict[str, list[tuple[str, int, int]]]: ...


def find_file(folders: ModelFolders, directory: str, name: str) -> Path | None:
    """The first ``root/name`` that is a file, over every root of ``directory``."""
    parts = name.split("/")
    for root in folders.get(directory).roots:
        candidate = Path(root).joinpath(*parts)
        if candidate.is_file():
            return candidate
    return None


@dataclass
class Elsewhere:
    path: Path
    label: str  # "type/name" when the file lies in a model folder, else its path


class Presence:
    """Presence checks for one listing (the digest look-up is done once for all references)."""

    def __init__(self, folders: ModelFolders, digests: DigestStore | None, wanted: list[str]) -> None:
        self.folders = folders
        self.digests = digests
        self._where: dict[str, list[tuple[str, int, int]]] = {}
        if digests is not None and wanted:
            self._where = digests.paths_with(wanted)

    def digest_of(self, path: Path) -> str | None:
        """The cached sha256 of ``path`` while its size and mtime hold, else None."""
        if self.digests is None:
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        return self.digests.get(str(path), st.st_size, st.st_mtime_ns)

    def elsewhere(self, sha256: str) -> Elsewhere | None:
        for path, size, mtime_ns in self._where.get(sha256, ()):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                continue  # changed since it was hashed: the digest no longer says anything
            owner = self.folders.owner_of(Path(path))
            label = f"{owner.model_type}/{owner.name}" if owner is not None else path
            return Elsewhere(Path(path), label)
        return None
