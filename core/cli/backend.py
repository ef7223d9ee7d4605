"""Where a command acts: on local files (``LocalBackend``) or on a running ComfyUI (``remote``).

Both backends speak in the REST routes' JSON shapes (task JSON, model records, trash items, the
settings view), so every command formats one kind of answer whichever backend produced it.
The local one builds the core objects only when a command needs them; a listing of tasks reads
the task records and nothing else.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from ..downloads import task as status
from ..errors import Conflict, InvalidInput, NotFound
from ..model_types import ModelFolders
from ..settings import Settings
from .claims import Claims

#: The status shown for a task whose process is gone (its partial stays; it can be resumed).
INTERRUPTED = "interrupted"
#: Statuses after which nothing happens unless the user asks again.
FINISHED = ("completed", "failed", "cancelled")
#: Statuses ``follow`` stops at: the task will not move on by itself.
SETTLED = (*FINISHED, "paused", INTERRUPTED)
TaskListener = Callable[[dict], None]


class AmbiguousId(InvalidInput):
    code = "ambiguous_id"


class UnknownId(InvalidInput):
    code = "not_found"


def resolve_prefix(prefix: str, ids: Iterable[str], what: str = "task") -> str:
    """The one id starting with ``prefix`` (as git takes abbreviated commits); exact ids win."""
    ids = list(ids)
    wanted = prefix.strip().lower()
    if not wanted:
        raise UnknownId(f"an empty {what} id")
    if wanted in ids:
        return wanted
    matches = [i for i in ids if i.lower().startswith(wanted)]
    if not matches:
        raise UnknownId(f"no {what} with an id starting with {prefix!r}")
    if len(matches) > 1:
        shown = ", ".join(m[: len(wanted) + 4] for m in matches[:5])
        raise AmbiguousId(f"{what} id {prefix!r} is ambiguous: {len(matches)} match ({shown}"
                          f"{', …' if len(matches) > 5 else ''}); give more characters")
    return matches[0]


class LocalBackend:
    """The models folder and the CLI's own state: tasks run in this process."""

    remote = False

    def __init__(self, models_dir: Path, config_dir: Path) -> None:
        self.models_dir = models_dir
        self.config_dir = config_dir
        self.folders = ModelFolders.from_models_dir(models_dir)
        self.claims = Claims(self.state_dir)
        self._settings: Settings | None = None
        self._app: Any = None
        self._started = False
        self._others: dict[Path, "LocalBackend"] = {}

    @property
    def where(self) -> str:
        return f"models folder {self.models_dir}"

    @property
    def state_dir(self) -> Path:
        return self.config_dir / "state"

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings(self.config_dir / "settings.json")
        return self._settings

    def app(self) -> Any:
        """The core objects (``core.app.App``), built on first use, as ComfyUI builds them."""
        if self._app is None:
            from ..app import build_app

            self._app = build_app(self.folders, self.state_dir, self.settings, refresh_on_first_list=False)
        return self._app

    def close(self) -> None:
        """Stop whatever ``app()`` started (transfers, scans, the hash cache); drop the claims."""
        try:
            for other in self._others.values():
                other.close()
            if self._app is not None:
                self._app.shutdown()
        finally:
            self.claims.release_all()

    def for_task(self, task_id: str) -> "LocalBackend":
        """The backend over the models folder ``task_id`` downloads into (a task started with
        another ``--models-dir`` is paused, resumed or removed where its partial file is)."""
        folder = self.claims.folder_of(task_id)
        if folder is None or folder == self.models_dir:
            return self
        if folder not in self._others:
            self._others[folder] = LocalBackend(folder, self.config_dir)
        return self._others[folder]

    def model_types(self) -> list[str]:
        return self.folders.names()

    # ------------------------------------------------------------------ download tasks
    def _store(self):
        from ..downloads.task_store import TaskStore

        return TaskStore(self.state_dir, self.folders)

    def list_tasks(self) -> list[dict]:
        """Every task, with ``interrupted`` for those whose process is gone."""
        store = self._store()
        tasks = self._app.manager.list() if self._app is not None else \
            sorted(store.load(), key=lambda t: t.created_at)
        return [self._truthful(task.to_json(), store) for task in tasks]

    def _truthful(self, task: dict, store: Any) -> dict:
        if task["status"] not in (status.QUEUED, status.DOWNLOADING, status.VERIFYING):
            return task
        if self.claims.holder(task["task_id"]) is None:
            task["status"] = INTERRUPTED
            task["speed_bps"], task["eta_seconds"] = 0.0, None
        elif self._app is None:  # another process runs it: its record has the real status
            from ..jsonio import read_json

            record = read_json(store.path_of(task["task_id"]), {})
            task["status"] = record.get("status", task["status"])
        return task

    def task_ids(self) -> list[str]:
        return [t["task_id"] for t in self.list_tasks()]

    def get_task(self, task_id: str) -> dict:
        store = self._store()
        if self._app is not None:
            return self._truthful(self._app.manager.get(task_id).to_json(), store)
        for task in self.list_tasks():
            if task["task_id"] == task_id:
                return task
        raise NotFound(f"no download task {task_id!r}")

    def submit(self, fields: dict[str, str]) -> tuple[dict, bool]:
        """Create or join the task and run it in this process."""
        from ..downloads.manager import DownloadRequest

        self._start()
        task, created = self.app().manager.submit(DownloadRequest(**fields))
        # Another CLI running the same task is no error: the partial's writer lock makes this one
        # follow it (and take over if it dies); the claim is taken once that process lets go.
        self.claims.remember_folder(task.task_id, self.models_dir)
        self.claims.claim(task.task_id)
        return task.to_json(), created

    def _start(self) -> None:
        if not self._started:
            self.app().start(resume_persisted=False)  # only the tasks asked for now run
            self._started = True

    def _claim(self, task_id: str) -> None:
        self.claims.remember_folder(task_id, self.models_dir)
        if not self.claims.claim(task_id):
            pid = self.claims.holder(task_id)
            raise Conflict(f"task {task_id[:8]} is being downloaded by another process (pid {pid}); "
                           "wait for it, or stop it first")

    def watch(self, listener: TaskListener) -> Callable[[], None]:
        from ..observers import UPDATE_DOWNLOAD_TASK

        def on_event(event: str, payload: dict) -> None:
            if event == UPDATE_DOWNLOAD_TASK:
                listener(payload)

        return self.app().manager.events.subscribe(on_event)

    def wait(self, task_id: str, timeout: float) -> dict:
        task = self.app().manager.wait(task_id, timeout=timeout)
        if task.status not in status.FINISHED:
            self.claims.claim(task_id)  # a no-op once held; taken over when another holder is gone
        return task.to_json()

    def pause(self, task_id: str) -> dict:
        self._stop_elsewhere(task_id)
        return self.app().manager.pause(task_id).to_json()

    def resume(self, task_id: str) -> dict:
        """Resume the task in this process (the caller follows it to the end)."""
        self._stop_elsewhere(task_id, only_if_running=True)
        self._start()
        self._claim(task_id)
        return self.app().manager.resume(task_id).to_json()

    def cancel(self, task_id: str) -> dict:
        self._stop_elsewhere(task_id)
        return self.app().manager.cancel(task_id).to_json()

    def remove(self, task_id: str) -> None:
        self._stop_elsewhere(task_id)
        self.app().manager.delete(task_id)
        self.claims.forget(task_id)

    def _stop_elsewhere(self, task_id: str, only_if_running: bool = False) -> None:
        """A task another CLI process is running is stopped there first (as Ctrl-C would: its
        partial stays); only then does this process change the record."""
        pid = self.claims.holder(task_id)
        if pid is None or pid == os.getpid():
            return
        if only_if_running:
            raise Conflict(f"task {task_id[:8]} is already being downloaded by another process (pid {pid})")
        if pid > 0:
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass
        deadline = time.monotonic() + 20
        while self.claims.holder(task_id) is not None:
            if time.monotonic() > deadline:
                raise Conflict(f"task {task_id[:8]} is being downloaded by another process (pid {pid}) "
                               "that did not stop; stop it there first")
            time.sleep(0.05)
        if self._app is not None:  # records were read before that process saved its last state
            self._app.shutdown()
            self._app, self._started = None, False

    # ------------------------------------------------------------------ models and scans
    def check_models_dir(self, model_type: str) -> None:
        """A scan of a folder that does not exist is a mistake in the command, not an empty result."""
        if not self.models_dir.is_dir():
            raise InvalidInput(f"the models folder {self.models_dir} does not exist "
                               "(give --models-dir DIR, or set COMFYUI_PATH to your ComfyUI folder)")
        if model_type != "all" and not any(root.is_dir() for root in self.folders.get(model_type).roots):
            roots = " or ".join(str(r) for r in self.folders.get(model_type).roots)
            raise InvalidInput(f"--type {model_type}: there is no folder {roots}")

    def scan(self, model_type: str, hashes: bool, civitai: bool,
             on_progress: Callable[[dict], None]) -> dict:
        from ..observers import UPDATE_SCAN_TASK

        self.check_models_dir(model_type)
        index = self.app().index
        index.events.subscribe(lambda event, payload: on_progress(payload) if event == UPDATE_SCAN_TASK else None)
        task = index.start_scan(model_type, compute_hashes=hashes or civitai, fetch_civitai_info=civitai)
        try:
            while not task.wait(0.2):
                pass
            self.app().outbox.wait_delivered(self.app().outbox.last, timeout=5)  # the last progress line
        except KeyboardInterrupt:
            task.cancel()
            task.wait(10)
            raise
        assert task.report is not None
        return task.report.to_json()

    def get_model(self, model_type: str, name: str) -> dict:
        return self.app().index.get_model(model_type, name).to_json()

    def set_preview(self, model_type: str, name: str, image: bytes) -> dict:
        return self.app().index.set_preview(model_type, name, image).to_json()

    def set_description(self, model_type: str, name: str, text: str) -> dict:
        return self.app().index.set_description(model_type, name, text).to_json()

    def delete_model(self, model_type: str, name: str, sidecars: bool, permanently: bool) -> dict:
        deleted = self.app().index.delete_model(model_type, name, delete_sidecars=sidecars, permanently=permanently)
        return deleted.to_json()

    # ------------------------------------------------------------------ trash
    def trash_list(self) -> list[dict]:
        return [entry.to_json() for entry in self.app().index.trash.list()]

    def trash_restore(self, trash_id: str, rename: bool) -> dict:
        return self.app().index.restore_model(trash_id, rename=rename, allow_prefix=True).to_json()

    def trash_empty(self, older_than_days: float) -> list[dict]:
        return [entry.to_json() for entry in self.app().index.trash.purge_older_than(older_than_days)]

    # ------------------------------------------------------------------ settings
    def settings_view(self) -> dict:
        from ..redact import redact_url
        from ..settings import SECRET_KEYS

        view = self.settings.public_view()
        view["proxy"] = redact_url(view["proxy"]) if view.get("proxy") else ""
        view["settings_file"] = str(self.settings.path)
        for name in SECRET_KEYS:
            view[f"{name}_source"] = self.settings.secret_source(name)
        return view

    def settings_update(self, changes: dict) -> dict:
        self.settings.update(changes)
        return self.settings_view()

    # ------------------------------------------------------------------ workflows
    def workflow_service(self) -> Any:
        from ..workflow.service import WorkflowModels

        app = self.app()
        return WorkflowModels(app.folders, app.settings, digests=app.hash_cache, manager=app.manager, http=app.http)
