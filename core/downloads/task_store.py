"""Download task records on disk: one JSON file per task under ``<state>/tasks/`` (never pickle)."""
from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from . import task as status
from ..errors import ModelManagerError
from ..jsonio import atomic_write_json, read_json
from ..model_types import ModelFolders
from .task import DownloadTask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordSnapshot:
    """A task's record as it was at one moment; ``number`` orders snapshots of all tasks."""

    task_id: str
    record: dict
    number: int
    durable: bool


class TaskStore:
    """Records are taken (``snapshot``) while the manager holds its lock and written
    (``write``) after it let go, so a slow disk never stalls the other tasks; an older
    snapshot that arrives after a newer one was written is dropped."""

    def __init__(self, state_dir: Path, folders: ModelFolders) -> None:
        self.folder = Path(state_dir) / "tasks"
        self.folders = folders
        self._guard = threading.Lock()
        self._numbers = itertools.count(1)
        self._written: dict[str, int] = {}
        self._file_locks: dict[str, threading.Lock] = {}

    def path_of(self, task_id: str) -> Path:
        return self.folder / f"{task_id}.json"

    def snapshot(self, task: DownloadTask, durable: bool = True) -> RecordSnapshot:
        return RecordSnapshot(task.task_id, task.to_record(), next(self._numbers), durable)

    def write(self, snapshot: RecordSnapshot) -> None:
        """Write the record atomically.  Progress saves (``durable=False``) skip the fsync: on a
        disk busy with a big download an fsync can wait seconds for unrelated dirty data, and a
        record that lags only means re-fetching a few bytes."""
        with self._file_lock(snapshot.task_id):
            if self._written.get(snapshot.task_id, 0) >= snapshot.number:
                return
            path = self.path_of(snapshot.task_id)
            try:
                if snapshot.durable:
                    atomic_write_json(path, snapshot.record)
                else:
                    _replace_json(path, snapshot.record)
            except OSError as exc:  # a full disk must not kill the worker; the next save retries
                log.warning("could not save download task %s: %s", snapshot.task_id, exc)
                return
            self._written[snapshot.task_id] = snapshot.number

    def save(self, task: DownloadTask, durable: bool = True) -> None:
        self.write(self.snapshot(task, durable))

    def remove(self, task_id: str) -> None:
        with self._file_lock(task_id):
            self._written[task_id] = sys.maxsize  # a snapshot still on its way must not bring it back
            remove_file(self.path_of(task_id))

    def _file_lock(self, task_id: str) -> threading.Lock:
        with self._guard:
            return self._file_locks.setdefault(task_id, threading.Lock())

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
    # pid and thread: two processes sharing a state folder (two CLIs) never share a temporary file
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def remove_file(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
