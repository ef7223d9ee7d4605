"""What DownloadModel's ``IS_CHANGED`` needs to know: where each input set's file landed.

ComfyUI re-runs a node when ``IS_CHANGED`` returns something else than last time.  We return a
*generation* per input set that only moves when the file we delivered has disappeared, so a
workflow stays cached while the model is on disk and downloads it again once it is gone.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass
class _Entry:
    path: Path | None = None
    generation: int = 0
    missing_seen: bool = False


class DownloadMemo:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple, _Entry] = {}

    def completed(self, key: tuple, path: Path) -> None:
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            entry.path, entry.missing_seen = Path(path), False

    def generation(self, key: tuple) -> str:
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            if entry.path is not None and not entry.path.is_file() and not entry.missing_seen:
                entry.generation += 1
                entry.missing_seen = True
            return f"generation-{entry.generation}"
