"""The one Model Manager runtime per ComfyUI process.

Importing the pack creates nothing: the runtime (the core ``App`` of ``core/app.py`` plus the
event bridge) is built on first use — by a node, a route, or the start-up hook that resumes
persisted downloads once the server listens.  State lives in
``<ComfyUI user directory>/model_manager/``; at interpreter exit the manager is shut down so
partial files stay resumable.
"""
from __future__ import annotations

import atexit
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..core.app import App, build_app
from ..core.model_types import ModelFolders
from ..core.redact import RedactingFilter
from . import comfy_api
from .bridge import EventBridge, comfy_sender
from .download_memo import DownloadMemo
from .folders import comfy_model_folders, every_root
from .previews import PreviewCache

log = logging.getLogger(__name__)

STATE_FOLDER = "model_manager"


@dataclass
class Runtime:
    """Everything the nodes and routes share: the core ``App`` plus ComfyUI's side of it (event
    bridge, preview thumbnails, executors).  Build with ``build_runtime``."""

    app: App
    bridge: EventBridge
    previews: PreviewCache
    #: quick disk work of the routes (listing, reading, small writes)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="model-manager"))
    #: calls that may wait on the network or on a transfer thread (resolving a link, pausing):
    #: kept apart so a slow source never queues up the quick requests behind it
    slow_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="model-manager-slow"))
    started: bool = False
    #: DownloadModel inputs -> where its file landed (for IS_CHANGED).
    download_memo: DownloadMemo = field(default_factory=DownloadMemo)

    folders = property(lambda self: self.app.folders)
    state_dir = property(lambda self: self.app.state_dir)
    settings = property(lambda self: self.app.settings)
    http = property(lambda self: self.app.http)
    manager = property(lambda self: self.app.manager)
    index = property(lambda self: self.app.index)

    def start(self) -> None:
        """Start the download workers (resumes persisted tasks).  Idempotent."""
        if not self.started:
            self.started = True
            self.app.start()
            self.index.start_trash_purger()  # trash older than trash_days: now and daily

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop transfers and scans (partials and task records stay for the next start).  Bounded,
        so Ctrl-C never hangs ComfyUI's exit on a stalled connection (worker threads are daemons)."""
        try:
            self.app.shutdown(timeout=timeout)
        finally:
            self.index.stop_trash_purger(timeout)
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.slow_executor.shutdown(wait=False, cancel_futures=True)


def build_runtime(folders: ModelFolders, state_dir: Path,
                  send: Callable[[str, dict], None] | None = None) -> Runtime:
    """Wire the core objects together (no network, no scanning, no hashing)."""
    app = build_app(folders, state_dir)
    bridge = EventBridge(send or (lambda event, payload: None), app.settings.redactor)
    app.subscribe(bridge)
    previews = PreviewCache(app.state_dir / "thumbnails")
    return Runtime(app, bridge, previews)


def _install_log_redaction(runtime: Runtime) -> None:
    """Redact keys from every log line ComfyUI prints (its handlers sit on the root logger)."""
    redacting = RedactingFilter(runtime.settings.redactor)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)


class RuntimeHolder:
    """Creates the runtime once, lazily and thread-safely; shuts it down at exit."""

    def __init__(self, factory: Callable[[], Runtime]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._runtime: Runtime | None = None
        #: strong references to the start-up task (asyncio keeps only weak ones)
        self.background_tasks: set = set()

    @property
    def created(self) -> bool:
        return self._runtime is not None

    def get(self) -> Runtime:
        runtime = self._runtime
        if runtime is not None:
            return runtime
        with self._lock:
            if self._runtime is None:
                runtime = self._factory()
                runtime.start()
                self._runtime = runtime
                atexit.register(self.shutdown)
            return self._runtime

    def shutdown(self) -> None:
        with self._lock:
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.shutdown()


def comfy_user_directory(fp: Any) -> Path:
    """ComfyUI's user directory (``--user-directory`` / ``--base-directory`` aware); ComfyUI
    before 2024 had no getter, its user folder sat beside ``models``."""
    getter = getattr(fp, "get_user_directory", None)
    if getter is not None:
        return Path(getter())
    return Path(getattr(fp, "base_path", ".")) / "user"


def comfy_runtime_factory() -> Runtime:
    """The runtime for this ComfyUI process (call only inside ComfyUI)."""
    fp = comfy_api.folder_paths()
    folders = comfy_model_folders()
    if fp is None or folders is None:
        raise RuntimeError("the Model Manager runtime needs ComfyUI (folder_paths is not loaded)")
    server = comfy_api.prompt_server()
    state_dir = comfy_user_directory(fp) / STATE_FOLDER
    runtime = build_runtime(folders, state_dir, comfy_sender(server) if server is not None else None)
    runtime.index.use_trash_roots(every_root)
    _install_log_redaction(runtime)
    return runtime


#: The process-wide holder (one runtime per ComfyUI process, by design).
HOLDER = RuntimeHolder(comfy_runtime_factory)


def get_runtime() -> Runtime:
    return HOLDER.get()


def schedule_startup(server: Any, holder: RuntimeHolder = HOLDER, poll: float = 0.25) -> None:
    """Once the server listens, build the runtime off the loop (resuming persisted downloads).

    Custom nodes are imported while ComfyUI's loop runs ``init_extra_nodes``; the task created
    here waits (without blocking anything) until ``PromptServer.start_multi_address`` has set
    ``server.address``, then builds the runtime in a thread.
    """
    import asyncio

    loop = getattr(server, "loop", None)
    if loop is None:
        return

    async def start_when_serving() -> None:
        while getattr(server, "address", None) is None:
            await asyncio.sleep(poll)
        try:
            await loop.run_in_executor(None, holder.get)
        except Exception:
            log.exception("Model Manager could not start; downloads resume on first use")

    def create_task() -> None:
        task = loop.create_task(start_when_serving())
        holder.background_tasks.add(task)
        task.add_done_callback(holder.background_tasks.discard)

    loop.call_soon_threadsafe(create_task)

