"""Running download tasks: one thread per running task, at most ``max_concurrent_downloads``.

A run takes the partial's writer lock (following another writer meanwhile), resolves the link
again after a restart, drives a ``Transfer``, places the verified file, lets the source write its
sidecars and completes the task; progress, retry notices and how a run ended go into the task.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from ..errors import ChecksumMismatch, Conflict, ModelManagerError, RateLimited, RemoteError
from ..http import HttpClient
from ..observers import COMPLETE_DOWNLOAD_TASK, UPDATE_DOWNLOAD_TASK, Throttle
from ..paths import partial_path_for
from ..progress import SpeedMeter, eta_seconds, retry_notice
from ..redact import redact_url
from ..settings import Settings
from ..sources.base import ResolvedDownload, SourceRegistry
from . import task as status
from .ledger import TaskLedger
from .stop_signal import StopRequested, StopSignal
from .task import DownloadTask
from .transfer import Progress, ResumeState, Transfer, TransferConfig
from .writer_lock import WriterInfo, WriterLock, discard_partial, take_turn

log = logging.getLogger(__name__)


@dataclass
class TaskRun:
    """A running task: its thread and the signal that stops it."""

    thread: threading.Thread
    stop: StopSignal


class TaskRunner(TaskLedger):
    """The part of ``DownloadManager`` that runs its tasks (set up by its ``__init__``)."""

    settings: Settings
    http: HttpClient
    sources: SourceRegistry
    transfer_config: TransferConfig
    file_digest: Callable[[Path], str]
    _started: bool
    _runs: dict[str, TaskRun]
    _resolved: dict[str, ResolvedDownload]
    _dormant: set[str]
    _discarding: set[str]
    _meters: dict[str, SpeedMeter]
    _last_save: dict[str, float]
    _retry_marks: dict[str, int]
    _throttle: Throttle
    _save_interval: float

    def _pump(self) -> None:
        """Start queued tasks while fewer than ``max_concurrent_downloads`` run (lock held)."""
        if not self._started:
            return
        limit = self.settings.max_concurrent_downloads
        waiting = sorted((t for t in self._tasks.values()
                          if t.status == status.QUEUED and t.task_id not in self._runs
                          and t.task_id not in self._dormant and t.task_id not in self._discarding),
                         key=lambda t: t.created_at)
        for task in waiting:
            if len(self._runs) >= limit:
                break
            stop = StopSignal()
            thread = threading.Thread(target=self._run_task, args=(task.task_id, stop),
                                      name=f"mm-task-{task.task_id[:8]}", daemon=True)
            self._runs[task.task_id] = TaskRun(thread, stop)
            task.error = None  # a notice left from an earlier run
            self._set_status(task, status.DOWNLOADING)
            thread.start()

    def _discard_partial_later(self, task: DownloadTask, announce: bool = False) -> None:
        """Remove ``task``'s partial once this thread lets go of the lock (lock held).  The task
        does not start again before its old partial is gone, so a new run never mistakes the
        removal for another writer.  ``announce``: send the task's update after the removal (a
        "cancelled" that arrives while the partial is still there would tell a listener wrong)."""
        task_id, destination = task.task_id, task.destination
        self._discarding.add(task_id)

        def discard() -> None:
            try:
                discard_partial(destination)
            finally:
                with self._locked():
                    self._discarding.discard(task_id)
                    current = self._tasks.get(task_id)
                    if announce and current is not None:
                        self._emit(UPDATE_DOWNLOAD_TASK, current)
                    self._pump()

        self._after_unlock(discard)

    def _run_task(self, task_id: str, stop: StopSignal) -> None:
        try:
            self._transfer(task_id, stop)
        except StopRequested:
            self._stopped(task_id, stop.reason)
        except ChecksumMismatch as exc:
            with self._locked():
                task = self._tasks.get(task_id)
                if task is not None:
                    self._discard_partial_later(task)
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
            self._task(task_id)  # still wanted (a delete waits for this run before it removes it)
        os.replace(partial_path_for(destination), destination)  # disk work: outside the lock
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
            self._set_status(task, status.COMPLETED, durable=self.transfer_config.fsync)
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
            if task.if_exists == "overwrite" and not followed:
                return False  # the old file this task is meant to replace
        if os.path.lexists(writer.partial) or not destination.is_file():
            return False
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
            self._set_status(task, status.COMPLETED, durable=self.transfer_config.fsync)
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
                pass  # ``cancel`` marks it, and says so once the partial is gone
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
