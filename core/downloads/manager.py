"""The download manager: a persistent queue of download tasks.

Tasks belong to the manager, not to whoever asked: they are JSON files under
``state_dir/tasks/`` (one per task, written atomically), survive restarts, and are driven by
one thread per running download (``max_concurrent_downloads`` at a time).  Every status
change and, while bytes flow, at most 4 progress updates a second go out through ``events``.
This module takes requests and controls tasks; ``runner`` runs them and ``ledger`` keeps the
books (the lock over the tasks, their records and events).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..content_disposition import filename_from_url
from ..errors import Conflict, InvalidInput
from ..http import HttpClient
from ..model_types import ModelFolders, ModelLocation
from ..observers import (COMPLETE_DOWNLOAD_TASK, CREATE_DOWNLOAD_TASK, DELETE_DOWNLOAD_TASK, EventQueue,
                         Throttle)
from ..paths import partial_path_for, sanitize_filename
from ..progress import SpeedMeter
from ..redact import redact_url
from ..settings import Settings
from ..sources.base import ResolvedDownload, SourceRegistry
from ..validation import download_fields
from . import task as status
from .ledger import LISTENER_PATIENCE
from .runner import TaskRunner, TaskRun
from .task import DownloadTask, new_task_id
from .task_store import TaskStore
from .transfer import TransferConfig
from .writer_lock import other_writer

log = logging.getLogger(__name__)

NO_TYPE_MESSAGE = "choose a model_type; this link does not say what kind of model it is"


@dataclass
class DownloadRequest:
    url: str
    model_type: str = "auto"
    subfolder: str = ""
    filename: str = ""
    sha256: str = ""
    if_exists: str = "skip"
    node_id: str | None = None
    prompt_id: str | None = None


class DownloadManager(TaskRunner):
    def __init__(self, folders: ModelFolders, state_dir: Path, settings: Settings,
                 http: HttpClient | None = None, sources: SourceRegistry | None = None, *,
                 transfer_config: TransferConfig | None = None, save_interval: float = 1.0,
                 events: EventQueue | None = None) -> None:
        super().__init__(TaskStore(Path(state_dir), folders), events)
        self.folders = folders
        self.state_dir = Path(state_dir)
        self.settings = settings
        self._own_http = http is None
        self.http = http or HttpClient(proxy=settings.proxy)
        self.sources = sources or SourceRegistry(settings, self.http)
        self.transfer_config = transfer_config or TransferConfig()
        #: ``digest(path) -> sha256`` of a file already on disk; the app wiring points it at the
        #: hash cache so an unchanged file is not read again when a skip verifies it.
        self.file_digest: Callable[[Path], str] = _hash_file
        self._save_interval = save_interval
        self._retry_marks: dict[str, int] = {}  # tasks showing a retry notice: bytes at that time
        self._runs: dict[str, TaskRun] = {}
        self._resolved: dict[str, ResolvedDownload] = {}  # in memory only: may hold auth headers
        self._dormant: set[str] = set()  # loaded tasks not to be resumed by this process
        self._discarding: set[str] = set()  # tasks whose old partial is being removed
        self._meters: dict[str, SpeedMeter] = {}
        self._last_save: dict[str, float] = {}
        self._throttle = Throttle()
        self._started = False
        settings.on_change(self._settings_changed)

    # ================================================================ lifetime
    def start(self, resume_persisted: bool = True) -> None:
        """Start running queued tasks; tasks that were queued or downloading before a restart
        continue by themselves unless ``resume_persisted`` is False (the CLI: only the task it
        asks for)."""
        with self._locked(wait_events=True):
            self._started = True
            if not resume_persisted:
                self._dormant.update(t.task_id for t in self._tasks.values() if t.status == status.QUEUED)
            self._pump()

    def shutdown(self, timeout: float = 10) -> None:
        """Stop every transfer, keep the partials; running tasks are saved as queued so a new
        manager over the same state directory resumes them."""
        with self._locked():
            self._started = False
            runs = list(self._runs.items())
        for _task_id, run in runs:
            run.stop.set("shutdown")
        deadline = time.monotonic() + timeout
        for _task_id, run in runs:
            run.thread.join(max(0.0, deadline - time.monotonic()))
        self._outbox.wait_delivered(self._outbox.last, max(0.0, deadline - time.monotonic()))

    # ================================================================ asking for downloads
    def submit(self, request: DownloadRequest) -> tuple[DownloadTask, bool]:
        """Create or join the task for ``request``; blocking (resolves the link).

        Returns ``(task, created)``."""
        # every field checked before any network call
        fields = download_fields(url=request.url, model_type=request.model_type, subfolder=request.subfolder,
                                 filename=request.filename, sha256=request.sha256, if_exists=request.if_exists,
                                 known_types=self.folders.names())
        url, model_type, expected, if_exists = fields.url, fields.model_type, fields.sha256, fields.if_exists
        resolved = self.sources.resolve(url)
        if model_type == "auto":
            model_type = resolved.model_type or ""
            if not model_type:
                raise InvalidInput(str(resolved.metadata.get("model_type_hint") or NO_TYPE_MESSAGE))
        location = self._destination(request, resolved, model_type)
        expected = expected or ((resolved.sha256 or "").lower() or None)
        display_url = resolved.display_url or redact_url(resolved.url)
        if if_exists == "skip" and expected is not None and location.path.is_file():
            self._check_existing(location, expected)  # may hash a large file: outside the lock
        if if_exists != "rename":
            self._refuse_other_link(location, display_url)
        with self._locked(wait_events=True):
            return self._create_or_join(request, resolved, display_url, model_type, location,
                                        expected, if_exists)

    def _check_existing(self, location: ModelLocation, expected: str) -> None:
        """A skip with a known checksum keeps the file only when it is the expected one."""
        actual = self.file_digest(location.path)
        if actual != expected:
            raise Conflict(f"a different file is already at {location.name} (sha256 {actual}); "
                           "choose overwrite or rename")

    @staticmethod
    def _refuse_other_link(location: ModelLocation, url: str) -> None:
        """Another process writing this destination from the same link is joined (followed);
        from another link it is a conflict, as it is between two tasks of this process."""
        writer = other_writer(location.path)
        if writer is not None and writer.url and writer.url != url:
            raise Conflict(f"{location.name} is {writer.describe()} from another link; "
                           "wait for it, or choose another filename")

    def _destination(self, request: DownloadRequest, resolved: ResolvedDownload,
                     model_type: str) -> ModelLocation:
        remote_name = resolved.filename or filename_from_url(resolved.display_url or resolved.url) or ""
        explicit = (request.filename or "").strip()
        name = sanitize_filename(explicit or remote_name)
        if explicit and not os.path.splitext(name)[1] and remote_name:
            name += os.path.splitext(sanitize_filename(remote_name))[1]  # "mymodel" + ".safetensors"
        return self.folders.destination(model_type, request.subfolder or "", name)

    def _create_or_join(self, request: DownloadRequest, resolved: ResolvedDownload, display_url: str,
                        model_type: str, location: ModelLocation, expected: str | None,
                        if_exists: str) -> tuple[DownloadTask, bool]:
        existing = self._find(display_url, location.path)
        if existing is not None:
            joined = self._join(existing, resolved, location, if_exists, expected)
            if joined is not None:
                return joined, False
        if if_exists == "rename" and (location.path.exists() or self._busy_destination(location.path)
                                      or os.path.lexists(partial_path_for(location.path))):
            location = self._free_name(location)
        elif self._busy_destination(location.path):
            raise Conflict(f"another download is already writing {location.name} in {model_type}; "
                           "wait for it, cancel it, or choose another filename")
        task = DownloadTask(
            task_id=new_task_id(), url=display_url, source=resolved.source, model_type=model_type,
            filename=location.name, destination_path=str(location.path), sha256=expected,
            sha256_expected=expected is not None, node_id=request.node_id, prompt_id=request.prompt_id,
            if_exists=if_exists, total_bytes=resolved.size,
        )
        if if_exists == "skip" and location.path.is_file():
            self._mark_present(task)
            self._tasks[task.task_id] = task
            self._save(task)
            self._emit(CREATE_DOWNLOAD_TASK, task)
            self._emit(COMPLETE_DOWNLOAD_TASK, task)
            return task.copy(), True
        self._tasks[task.task_id] = task
        self._resolved[task.task_id] = resolved
        self._save(task)
        self._emit(CREATE_DOWNLOAD_TASK, task)
        self._pump()
        return task.copy(), True

    def _join(self, task: DownloadTask, resolved: ResolvedDownload, location: ModelLocation,
              if_exists: str, expected: str | None) -> DownloadTask | None:
        """A request for an existing task; None means: make a new one instead.  A finished task
        that starts again takes the new request's checksum, so a corrected ``sha256`` (or none)
        is what the re-run checks against."""
        self._dormant.discard(task.task_id)
        self._resolved[task.task_id] = resolved
        if task.status == status.COMPLETED:
            if location.path.is_file() and if_exists != "overwrite":
                if if_exists == "rename":
                    return None
                return task.copy()
            task.if_exists = if_exists  # "overwrite": the file there now is the one to replace
            task.sha256, task.sha256_expected = expected, expected is not None
            self._restart(task, keep_partial=False)
        elif task.status in (status.FAILED, status.CANCELLED):
            task.sha256, task.sha256_expected = expected, expected is not None
            self._restart(task, keep_partial=task.status == status.FAILED)
        else:
            self._pump()
        return task.copy()

    def _restart(self, task: DownloadTask, keep_partial: bool) -> None:
        if not keep_partial:
            self._discard_partial_later(task)
            task.missing, task.downloaded_bytes, task.etag = None, 0, None
        if not task.sha256_expected:
            task.sha256 = None
        task.error = None
        self._set_status(task, status.QUEUED)
        self._pump()

    def _mark_present(self, task: DownloadTask) -> None:
        size = task.destination.stat().st_size
        task.status, task.total_bytes, task.downloaded_bytes = status.COMPLETED, size, size
        task.missing = []
        task.touch()

    def _find(self, url: str, destination: Path) -> DownloadTask | None:
        for task in self._tasks.values():
            if task.key == (url, str(destination)):
                return task
        return None

    def _busy_destination(self, destination: Path) -> bool:
        return any(t.destination_path == str(destination) and t.status not in status.FINISHED
                   for t in self._tasks.values())

    def _free_name(self, location: ModelLocation) -> ModelLocation:
        stem, ext = os.path.splitext(Path(location.name).name)
        subfolder = str(Path(location.name).parent).replace("\\", "/")
        subfolder = "" if subfolder == "." else subfolder
        for number in range(1, 10000):
            candidate = self.folders.destination(location.model_type, subfolder, f"{stem} ({number}){ext}")
            if not candidate.path.exists() and not self._busy_destination(candidate.path) \
                    and not partial_path_for(candidate.path).exists():
                return candidate
        raise Conflict(f"could not find a free name for {location.name}")

    # ================================================================ reading tasks
    def get(self, task_id: str) -> DownloadTask:
        with self._locked():
            return self._task(task_id).copy()

    def list(self) -> list[DownloadTask]:
        with self._locked():
            return [t.copy() for t in sorted(self._tasks.values(), key=lambda t: t.created_at)]

    def wait(self, task_id: str, timeout: float | None = None,
             should_stop: Callable[[], bool] | None = None) -> DownloadTask:
        """Until the task is completed/failed/cancelled, ``timeout`` passes or ``should_stop()``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        finished_at = None
        with self._changed:
            while True:
                task = self._task(task_id)
                if task.status in status.FINISHED:
                    # ... and whoever listens has heard it (a listener stuck for good aside)
                    finished_at = finished_at or time.monotonic()
                    if self._outbox.delivered(self._task_events.get(task_id, 0)) \
                            or time.monotonic() - finished_at > LISTENER_PATIENCE:
                        return task.copy()
                if should_stop is not None and should_stop():
                    return task.copy()
                remaining = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
                if remaining <= 0:
                    return task.copy()
                self._changed.wait(remaining)

    # ================================================================ controlling tasks
    def pause(self, task_id: str) -> DownloadTask:
        with self._locked(wait_events=True):
            task = self._task(task_id)
            if task.status in (status.COMPLETED, status.CANCELLED):
                raise Conflict(f"the download is {task.status}; there is nothing to pause")
            run = self._runs.get(task_id)
            if run is None:
                if task.status != status.PAUSED:
                    self._set_status(task, status.PAUSED)
                return task.copy()
            run.stop.set("pause")
        run.thread.join(10)
        with self._locked(wait_events=True):
            task = self._task(task_id)
            if task.status != status.PAUSED and task.status not in status.FINISHED:
                self._set_status(task, status.PAUSED)
            return task.copy()

    def resume(self, task_id: str) -> DownloadTask:
        with self._locked(wait_events=True):
            task = self._task(task_id)
            self._dormant.discard(task_id)
            if task.status == status.COMPLETED and task.destination.is_file():
                return task.copy()
            if task.status in (status.PAUSED, status.FAILED, status.CANCELLED, status.COMPLETED):
                self._restart(task, keep_partial=task.status in (status.PAUSED, status.FAILED))
            else:
                self._pump()
            return task.copy()

    def cancel(self, task_id: str) -> DownloadTask:
        run = self._stop_run(task_id, "cancel")
        with self._locked(wait_events=True):
            task = self._task(task_id)
            if task.status == status.COMPLETED:
                raise Conflict("the download is already completed; delete the model instead")
            if run is not None or task.status != status.CANCELLED:
                task.missing, task.downloaded_bytes, task.etag = None, 0, None
                task.speed_bps, task.eta_seconds = 0.0, None
                self._set_status(task, status.CANCELLED, announce=False)
                self._discard_partial_later(task, announce=True)
            return task.copy()

    def delete(self, task_id: str) -> None:
        self._stop_run(task_id, "cancel")
        with self._locked(wait_events=True):
            task = self._task(task_id)
            if task.status != status.COMPLETED:
                self._discard_partial_later(task)
            del self._tasks[task_id]
            self._resolved.pop(task_id, None)
            self._dormant.discard(task_id)
            self._throttle.forget(task_id)
            self._task_events.pop(task_id, None)
            self._queue_event(DELETE_DOWNLOAD_TASK, {"task_id": task_id})
            self._changed.notify_all()
        self._store.remove(task_id)

    def _stop_run(self, task_id: str, reason: str) -> TaskRun | None:
        with self._locked():
            self._task(task_id)
            run = self._runs.get(task_id)
            if run is not None:
                run.stop.set(reason)
        if run is not None:
            run.thread.join(10)
        return run

    def _settings_changed(self, settings: Settings) -> None:
        if self._own_http:
            self.http.set_proxy(settings.proxy)
        with self._locked():
            self._pump()


def _hash_file(path: Path) -> str:
    from ..scanner.hashing import FileHasher

    return FileHasher().sha256(path)
