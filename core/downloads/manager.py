"""The download manager: a persistent queue of download tasks.

Tasks belong to the manager, not to whoever asked: they are JSON files under
``state_dir/tasks/`` (one per task, written atomically), survive restarts, and are driven by
one thread per running download (``max_concurrent_downloads`` at a time).  Every status
change and, while bytes flow, at most 4 progress updates a second go out through ``events``.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

from . import task as status
from ..content_disposition import filename_from_url
from ..errors import ChecksumMismatch, Conflict, InvalidInput, ModelManagerError, NotFound, RateLimited, RemoteError
from ..http import HttpClient
from ..model_types import ModelFolders, ModelLocation
from ..observers import (COMPLETE_DOWNLOAD_TASK, CREATE_DOWNLOAD_TASK, DELETE_DOWNLOAD_TASK,
                        UPDATE_DOWNLOAD_TASK, EventHub, EventQueue, Throttle)
from ..paths import partial_path_for, sanitize_filename
from ..progress import SpeedMeter, eta_seconds, retry_notice
from ..redact import redact_url
from ..settings import Settings
from ..sources.base import ResolvedDownload, SourceRegistry
from .task import DownloadTask, new_task_id
from .task_store import TaskStore
from .transfer import Progress, ResumeState, StopRequested, StopSignal, Transfer, TransferConfig
from ..validation import IF_EXISTS_CHOICES, download_fields  # noqa: F401  (the CLI's --if-exists choices)
from .writer_lock import WriterInfo, WriterLock, discard_partial, other_writer, take_turn

log = logging.getLogger(__name__)

#: How long an API call or a waiter waits for its events to reach a stuck listener.
LISTENER_PATIENCE = 30.0
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


@dataclass
class _Run:
    thread: threading.Thread
    stop: StopSignal


class DownloadManager:
    def __init__(self, folders: ModelFolders, state_dir: Path, settings: Settings,
                 http: HttpClient | None = None, sources: SourceRegistry | None = None, *,
                 transfer_config: TransferConfig | None = None, save_interval: float = 1.0) -> None:
        self.folders = folders
        self.state_dir = Path(state_dir)
        self.settings = settings
        self._own_http = http is None
        self.http = http or HttpClient(proxy=settings.proxy)
        self.sources = sources or SourceRegistry(settings, self.http)
        self.transfer_config = transfer_config or TransferConfig()
        self.events = EventHub()
        #: ``digest(path) -> sha256`` of a file already on disk; the app wiring points it at the
        #: hash cache so an unchanged file is not read again when a skip verifies it.
        self.file_digest: Callable[[Path], str] = _hash_file
        self._save_interval = save_interval
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._local = threading.local()  # per thread: records to write, last event queued
        self._outbox = EventQueue(self.events, on_delivered=self._wake_waiters)
        self._task_events: dict[str, int] = {}  # the number of each task's last event
        self._retry_marks: dict[str, int] = {}  # tasks showing a retry notice: bytes at that time
        self._tasks: dict[str, DownloadTask] = {}
        self._runs: dict[str, _Run] = {}
        self._resolved: dict[str, ResolvedDownload] = {}  # in memory only: may hold auth headers
        self._dormant: set[str] = set()  # loaded tasks not to be resumed by this process
        self._meters: dict[str, SpeedMeter] = {}
        self._last_save: dict[str, float] = {}
        self._throttle = Throttle()
        self._started = False
        self._store = TaskStore(self.state_dir, folders)
        self._tasks.update((t.task_id, t) for t in self._store.load())
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
            discard_partial(task.destination)
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
                discard_partial(task.destination)
                task.missing, task.downloaded_bytes, task.etag = None, 0, None
                task.speed_bps, task.eta_seconds = 0.0, None
                self._set_status(task, status.CANCELLED)
            return task.copy()

    def delete(self, task_id: str) -> None:
        self._stop_run(task_id, "cancel")
        with self._locked(wait_events=True):
            task = self._task(task_id)
            if task.status != status.COMPLETED:
                discard_partial(task.destination)
            del self._tasks[task_id]
            self._resolved.pop(task_id, None)
            self._dormant.discard(task_id)
            self._throttle.forget(task_id)
            self._task_events.pop(task_id, None)
            self._queue_event(DELETE_DOWNLOAD_TASK, {"task_id": task_id})
            self._changed.notify_all()
        self._store.remove(task_id)

    def _stop_run(self, task_id: str, reason: str) -> _Run | None:
        with self._locked():
            self._task(task_id)
            run = self._runs.get(task_id)
            if run is not None:
                run.stop.set(reason)
        if run is not None:
            run.thread.join(10)
        return run

    # ================================================================ running tasks
    def _pump(self) -> None:
        """Start queued tasks while fewer than ``max_concurrent_downloads`` run (lock held)."""
        if not self._started:
            return
        limit = self.settings.max_concurrent_downloads
        waiting = sorted((t for t in self._tasks.values()
                          if t.status == status.QUEUED and t.task_id not in self._runs
                          and t.task_id not in self._dormant), key=lambda t: t.created_at)
        for task in waiting:
            if len(self._runs) >= limit:
                break
            stop = StopSignal()
            thread = threading.Thread(target=self._run_task, args=(task.task_id, stop),
                                      name=f"mm-task-{task.task_id[:8]}", daemon=True)
            self._runs[task.task_id] = _Run(thread, stop)
            task.error = None  # a notice left from an earlier run
            self._set_status(task, status.DOWNLOADING)
            thread.start()

    def _run_task(self, task_id: str, stop: StopSignal) -> None:
        try:
            self._transfer(task_id, stop)
        except StopRequested:
            self._stopped(task_id, stop.reason)
        except ChecksumMismatch as exc:
            with self._locked():
                task = self._tasks.get(task_id)
                if task is not None:
                    discard_partial(task.destination)
                    task.missing, task.downloaded_bytes = None, 0
            self._failed(task_id, exc.message)
        except ModelManagerError as exc:
            if stop.is_set() and stop.reason != "error":
                self._stopped(task_id, stop.reason)
            else:
                self._failed(task_id, exc.message)
        except Exception as exc:  # a bug or an unexpected OS error: fail the task, say what
            log.exception("download %s failed unexpectedly", task_id)
            if stop.is_set() and stop.reason != "error":
                self._stopped(task_id, stop.reason)
            else:
                self._failed(task_id, f"unexpected error: {type(exc).__name__}: {exc}")
        finally:
            with self._locked():
                self._runs.pop(task_id, None)
                self._meters.pop(task_id, None)
                self._retry_marks.pop(task_id, None)
                self._pump()
                self._changed.notify_all()

    def _transfer(self, task_id: str, stop: StopSignal) -> None:
        """Write the partial as its only writer: while another task or process holds its lock,
        follow that one's progress; then finish what it finished, or continue where it stopped."""
        with self._locked():
            task = self._task(task_id)
            writer = WriterLock(task.destination, task.url)
        followed = take_turn(writer, stop, lambda holder: self._follow(task_id, holder))
        try:
            previous = writer.previous() if os.path.lexists(writer.partial) else None
            if previous is not None and previous.url == writer.url:
                writer.publish(downloaded=previous.downloaded, total=previous.total, missing=previous.missing,
                               etag=previous.etag, segmented=previous.segmented, grid=previous.grid, force=True)
            else:
                previous = None
            if not self._finished_elsewhere(task_id, writer, followed):
                self._transfer_holding(task_id, stop, writer, previous)
        finally:
            writer.release()

    def _transfer_holding(self, task_id: str, stop: StopSignal, writer: WriterLock,
                          previous: WriterInfo | None) -> None:
        with self._locked():
            task = self._task(task_id)
            resolved = self._resolved.get(task_id)
            url = task.url
        if resolved is None:  # after a restart: fresh auth headers / signed URLs
            resolved = self._resolve_again(url, stop, task_id)
            with self._locked():
                self._resolved[task_id] = resolved
        with self._locked():
            task = self._task(task_id)
            if task.sha256 is None and resolved.sha256:
                task.sha256, task.sha256_expected = resolved.sha256.lower(), True
            expected = task.sha256 if task.sha256_expected else None
            if previous is not None and previous.missing is not None:  # where the last writer stopped
                task.downloaded_bytes, task.total_bytes = previous.downloaded, previous.total
                state = ResumeState(total=previous.total, etag=previous.etag, missing=previous.missing,
                                    segmented=previous.segmented, grid=previous.grid)
            else:
                state = ResumeState(total=task.total_bytes if task.missing is not None else None,
                                    etag=task.etag, missing=task.missing, segmented=task.segmented,
                                    grid=task.segment_grid)
            destination = task.destination
            task.message = None  # this task writes now, no longer waiting for another
            meter = self._meters.setdefault(task_id, SpeedMeter())
            meter.reset(task.downloaded_bytes)
        config = replace(self.transfer_config, connections=self.settings.connections_per_download)
        transfer = Transfer(
            http=self.http, resolved=resolved, partial=partial_path_for(destination), state=state,
            config=config, stop=stop, expected_sha256=expected,
            refresh=lambda: self._refresh(task_id, url),
            on_progress=lambda progress: self._progress(task_id, progress, writer),
            on_retry=lambda notice: self._retrying(task_id, notice),
        )
        result = transfer.run()
        if stop.is_set():
            raise StopRequested()
        with self._locked():
            self._task(task_id)
            os.replace(partial_path_for(destination), destination)
        # Sidecars (Civitai info, preview) before "completed", so whoever reacts to completion
        # (a scan, the browser) finds them; they are a bonus, so a failure is only logged.
        try:
            self.sources.after_complete(destination, resolved)
        except Exception as exc:
            log.warning("after-download step for %s failed: %s", redact_url(url),
                        self.settings.redactor(str(exc)))
        writer.release()  # the lock and state files go before anyone hears "completed"
        with self._locked():
            task = self._task(task_id)
            task.sha256 = result.sha256
            task.total_bytes = task.downloaded_bytes = result.size
            task.missing, task.speed_bps, task.eta_seconds, task.error = [], 0.0, None, None
            self._set_status(task, status.COMPLETED, save=True)
            self._emit(COMPLETE_DOWNLOAD_TASK, task)

    def _resolve_again(self, url: str, stop: StopSignal, task_id: str | None = None) -> ResolvedDownload:
        """Resolve a task's link again (after a restart, or for a fresh signed URL), retrying
        while the network or the service is briefly away."""
        policy = self.transfer_config.retry
        attempt = 0
        while True:
            try:
                return self.sources.resolve(url)
            except (OSError, RateLimited) as exc:  # transport failures are OSErrors
                attempt += 1
                if attempt >= policy.max_tries:
                    raise RemoteError(
                        f"could not reach {urlsplit(url).netloc or 'the server'} to continue the download "
                        f"({type(exc).__name__}); resume to try again") from None
                delay = policy.delay(attempt, getattr(exc, "retry_after", None))
                if task_id is not None:
                    self._retrying(task_id, retry_notice(
                        f"could not reach {urlsplit(url).netloc or 'the server'} ({type(exc).__name__})",
                        attempt, policy.max_tries, delay))
            if stop.wait(delay):
                raise StopRequested()

    def _refresh(self, task_id: str, url: str) -> ResolvedDownload:
        run = self._runs.get(task_id)
        resolved = self._resolve_again(url, run.stop if run is not None else StopSignal(), task_id)
        with self._locked():
            self._resolved[task_id] = resolved
        return resolved

    def _progress(self, task_id: str, progress: Progress, writer: WriterLock | None = None) -> None:
        if writer is not None:  # tell processes that wait for this partial how far it got
            writer.publish(downloaded=progress.downloaded, total=progress.total, missing=progress.missing,
                           etag=progress.etag, segmented=progress.segmented, grid=progress.grid,
                           force=progress.verifying)
        with self._locked():
            task = self._tasks.get(task_id)
            if task is None:
                return
            task.downloaded_bytes, task.total_bytes = progress.downloaded, progress.total
            task.missing, task.etag, task.segmented = progress.missing, progress.etag, progress.segmented
            task.segment_grid = progress.grid
            task.connections = progress.connections
            if self._retry_marks.get(task_id, progress.downloaded) < progress.downloaded:
                del self._retry_marks[task_id]  # bytes flow again: the retry notice has served
                task.error = None
            meter = self._meters.get(task_id)
            if meter is not None:
                task.speed_bps = meter.update(progress.downloaded)
                task.eta_seconds = eta_seconds(progress.downloaded, progress.total, task.speed_bps)
            task.touch()
            if progress.verifying and task.status == status.DOWNLOADING:
                task.speed_bps, task.eta_seconds = 0.0, None
                self._set_status(task, status.VERIFYING)
                return
            now = time.monotonic()
            if now - self._last_save.get(task_id, 0.0) >= self._save_interval:
                self._last_save[task_id] = now
                self._save(task, durable=False)
            if self._throttle.ready(task_id):
                self._emit(UPDATE_DOWNLOAD_TASK, task)

    def _retrying(self, task_id: str, notice: str) -> None:
        """A transfer waits to try again: the task says why until bytes flow again."""
        with self._locked():
            task = self._tasks.get(task_id)
            if task is None or task.status != status.DOWNLOADING:
                return
            task.error = self.settings.redactor(notice)
            task.touch()
            self._retry_marks[task_id] = task.downloaded_bytes
            self._emit(UPDATE_DOWNLOAD_TASK, task)  # at once, not throttled: it is news

    def _follow(self, task_id: str, holder: WriterInfo | None) -> None:
        """Another writer holds the partial: show its progress and say so on the task."""
        with self._locked():
            task = self._tasks.get(task_id)
            if task is None:
                return
            message = holder.describe() if holder is not None else "being downloaded by another process"
            changed = task.message != message
            task.message = message
            if holder is not None:
                task.downloaded_bytes = holder.downloaded
                task.total_bytes = holder.total if holder.total is not None else task.total_bytes
                meter = self._meters.setdefault(task_id, SpeedMeter())
                task.speed_bps = meter.update(holder.downloaded)
                task.eta_seconds = eta_seconds(holder.downloaded, task.total_bytes, task.speed_bps)
            task.touch()
            if changed:
                self._save(task, durable=False)
                self._changed.notify_all()
            if changed or self._throttle.ready(task_id):
                self._emit(UPDATE_DOWNLOAD_TASK, task)

    def _finished_elsewhere(self, task_id: str, writer: WriterLock, followed: bool) -> bool:
        """The destination is complete and its partial gone: the writer we waited for (or an
        earlier run of this task) placed it.  Check it and complete the task; True if so."""
        with self._locked():
            task = self._task(task_id)
            destination = task.destination
            expected = task.sha256 if task.sha256_expected else None
            if os.path.lexists(writer.partial) or not destination.is_file():
                return False
            if task.if_exists == "overwrite" and not followed:
                return False  # the old file this task is meant to replace
        digest = self.file_digest(destination)  # the hash cache knows it when the writer shared it
        if expected is not None and digest != expected:
            raise Conflict(f"a different file is already at {task.filename} (sha256 {digest}); "
                           "choose overwrite or rename")
        size = destination.stat().st_size
        writer.release()
        with self._locked():
            task = self._task(task_id)
            task.sha256 = digest
            task.total_bytes = task.downloaded_bytes = size
            task.missing, task.speed_bps, task.eta_seconds, task.error = [], 0.0, None, None
            self._set_status(task, status.COMPLETED, save=True)
            self._emit(COMPLETE_DOWNLOAD_TASK, task)
        return True

    def _stopped(self, task_id: str, reason: str | None) -> None:
        with self._locked():
            task = self._tasks.get(task_id)
            if task is None:
                return
            task.speed_bps, task.eta_seconds = 0.0, None
            if self._retry_marks.pop(task_id, None) is not None:
                task.error = None  # the retry it announced is not coming now
            if task.status == status.QUEUED and reason != "shutdown":
                self._save(task)  # resumed again while this run was stopping: let it run anew
            elif reason == "pause":
                self._set_status(task, status.PAUSED)
            elif reason == "cancel":
                self._set_status(task, status.CANCELLED)
            else:  # shutdown: a new manager picks it up again
                task.status = status.QUEUED
                task.touch()
                self._save(task)

    def _failed(self, task_id: str, message: str) -> None:
        with self._locked():
            task = self._tasks.get(task_id)
            if task is None:
                return
            task.error = self.settings.redactor(message)
            task.speed_bps, task.eta_seconds = 0.0, None  # (an empty partial was already removed)
            self._set_status(task, status.FAILED)

    def _settings_changed(self, settings: Settings) -> None:
        if self._own_http:
            self.http.set_proxy(settings.proxy)
        with self._locked():
            self._pump()

    # ================================================================ state and events
    def _task(self, task_id: str) -> DownloadTask:
        task = self._tasks.get(task_id)
        if task is None:
            raise NotFound(f"no download task {task_id!r}")
        return task

    def _set_status(self, task: DownloadTask, new_status: str, save: bool = True) -> None:
        task.status = new_status
        task.message = None
        task.touch()
        if save:
            self._save(task)
        self._changed.notify_all()
        self._emit(UPDATE_DOWNLOAD_TASK, task)

    def _emit(self, event: str, task: DownloadTask) -> None:
        self._task_events[task.task_id] = self._queue_event(event, task.event_payload())

    # Under the lock, records and events are only queued; the thread writes the records when it
    # lets go of the lock, and events go to the listeners from a thread of their own.  So a
    # slow disk (fsync on a NAS) or a slow listener never stalls other tasks or the routes.
    @contextmanager
    def _locked(self, wait_events: bool = False) -> Iterator[None]:
        """The manager's lock; on leaving the outermost one, this thread writes the records it
        changed and (``wait_events``) waits until its events reached the listeners."""
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            local.saves, local.event = [], 0
        local.depth = depth + 1
        try:
            with self._lock:
                yield
        finally:
            local.depth = depth
            if depth == 0:
                saves, local.saves = local.saves, []
                for snapshot in saves:
                    self._store.write(snapshot)
                if wait_events and local.event:
                    self._outbox.wait_delivered(local.event, timeout=LISTENER_PATIENCE)

    def _save(self, task: DownloadTask, durable: bool = True) -> None:
        """Save ``task`` (lock held): written once this thread lets go of the lock."""
        snapshot = self._store.snapshot(task, durable)
        saves = getattr(self._local, "saves", None)
        if getattr(self._local, "depth", 0) and saves is not None:
            saves.append(snapshot)
        else:
            self._store.write(snapshot)

    def _queue_event(self, event: str, payload: dict) -> int:
        number = self._outbox.put(event, payload)
        self._local.event = number
        return number

    def _wake_waiters(self) -> None:
        with self._changed:
            self._changed.notify_all()


def _hash_file(path: Path) -> str:
    from ..scanner.hashing import FileHasher

    return FileHasher().sha256(path)
