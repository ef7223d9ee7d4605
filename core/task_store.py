"""Download task records on disk: one JSON file per task under ``<state>/tasks/`` (never pickle)."""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from . import task as status
from .errors import ModelManagerError
from .jsonio import atomic_write_json, read_json
from .model_types import ModelFolders
from .task import DownloadTask

log = logging.getLogger(__name__)


class TaskStore:
    def __init__(self, state_dir: Path, folders: ModelFolders) -> None:
        self.folder = Path(state_dir) / "tasks"
        self.folders = folders

    def path_of(self, task_id: str) -> Path:
        return self.folder / f"{task_id}.json"

    def save(self, task: DownloadTask, durable: bool = True) -> None:
        """Write the record atomically.  Progress saves (``durable=False``) skip the fsync: on a
        disk busy with a big download an fsync can wait seconds for unrelated dirty data, and a
        record that lags only means re-fetching a few bytes."""
        path = self.path_of(task.task_id)
        try:
            if durable:
                atomic_write_json(path, task.to_record())
            else:
                _replace_json(path, task.to_record())
        except OSError as exc:  # a full disk must not kill the worker; the next save retries
            log.warning("could not save download task %s: %s", task.task_id, exc)

    def remove(self, task_id: str) -> None:
        remove_file(self.path_of(task_id))

    def load(self) -> list[DownloadTask]:
        """Every readable record; running ones come back as queued.  Destinations are rebuilt
        from the type and relative name (a path read from disk is never trusted)."""
        if not self.folder.is_dir():
            return []
        tasks = []
        for path in sorted(self.folder.glob("*.json")):
            record = read_json(path)
            if not isinstance(record, dict) or record.get("task_id") != path.stem:
                continue
            try:
                task = DownloadTask.from_record(record)
                task.destination_path = str(self.folders.destination(task.model_type, "", task.filename).path)
            except (TypeError, ValueError, ModelManagerError) as exc:
                log.warning("ignoring download task file %s: %s", path.name, exc)
                continue
            if task.status in status.ACTIVE:
                task.status = status.QUEUED
            task.speed_bps, task.eta_seconds = 0.0, None
            tasks.append(task)
        return tasks


def _replace_json(path: Path, data: dict) -> None:
    """Atomic (write a temporary file, rename) but not forced to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def remove_file(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
