"""The one wiring of the core: settings, HTTP client, sources, download manager, model index
and hash cache, built together and stopped together.

ComfyUI's runtime (``nodes/runtime.py``) and the command line both build their objects here, so
they behave alike and share what is on disk: pointed at the same state folder, a CLI ``scan``
uses the digests ComfyUI already put in the hash cache, and ``tasks`` sees the same records.
Building touches no network and hashes nothing; heavy modules are imported only here, when an
``App`` is actually built.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .model_types import ModelFolders
from .settings import Settings

if TYPE_CHECKING:
    from .http import HttpClient
    from .downloads.manager import DownloadManager
    from .scanner import ModelIndex
    from .sources.base import SourceRegistry

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"

Listener = Callable[[str, dict], None]


@dataclass
class App:
    """The core objects of one process.  Build with ``build_app``; ``start`` runs the download
    workers, ``shutdown`` stops transfers and scans (partials and records stay for the next start)."""

    folders: ModelFolders
    state_dir: Path
    settings: Settings
    http: "HttpClient"
    sources: "SourceRegistry"
    manager: "DownloadManager"
    index: "ModelIndex"
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def hash_cache(self) -> Any:
        """The SQLite digest cache (opened on first use, closed by ``shutdown``)."""
        return self.index.hash_cache

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Receive every download and scan event ``(name, payload)``."""
        undo = [self.manager.events.subscribe(listener), self.index.events.subscribe(listener)]

        def unsubscribe() -> None:
            for step in undo:
                step()

        return unsubscribe

    def start(self, resume_persisted: bool = True) -> None:
        """Start the download workers; ``resume_persisted=False`` leaves tasks saved by an
        earlier process alone until someone asks for them (the CLI)."""
        self.manager.start(resume_persisted=resume_persisted)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop transfers and scans within about ``timeout`` seconds and close the hash cache."""
        try:
            self.manager.shutdown(timeout=timeout)
        finally:
            self.index.shutdown(timeout=timeout)


def build_app(folders: ModelFolders, state_dir: Path, settings: Settings | None = None, *,
              settings_path: Path | None = None, **index_options: Any) -> App:
    """Wire the core objects (no network, no scanning, no hashing).

    ``settings`` (or ``settings_path``, default ``state_dir/settings.json``) says where the
    settings live: ComfyUI keeps them in its state folder, the CLI in its config folder.
    ``index_options`` go to ``ModelIndex`` (e.g. ``refresh_on_first_list``).
    """
    from .http import HttpClient
    from .downloads.manager import DownloadManager
    from .scanner import ModelIndex
    from .sources.base import SourceRegistry

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if settings is None:
        settings = Settings(settings_path or state_dir / SETTINGS_FILE)
    http = HttpClient(proxy=settings.proxy)
    settings.on_change(lambda s: http.set_proxy(s.proxy))
    sources = SourceRegistry(settings, http)
    manager = DownloadManager(folders, state_dir, settings, http=http, sources=sources)
    index = ModelIndex(folders, state_dir, settings, http=http, **index_options)
    app = App(folders, state_dir, settings, http, sources, manager, index)
    manager.events.subscribe(hash_recorder(app))
    manager.events.subscribe(index_recorder(app))
    manager.file_digest = cached_digest(app)
    return app


def cached_digest(app: App) -> Callable[[Path], str]:
    """sha256 of a file on disk through the hash cache: an unchanged file (same size and
    mtime) is never read again; a newly hashed one is remembered."""
    from .scanner.hashing import FileHasher

    hasher = FileHasher()

    def digest(path: Path) -> str:
        stat = path.stat()
        known = app.hash_cache.get(str(path), stat.st_size, stat.st_mtime_ns)
        if known:
            return known
        value = hasher.sha256(path)
        app.hash_cache.put(str(path), stat.st_size, stat.st_mtime_ns, value)
        return value

    digest.hasher = hasher  # type: ignore[attr-defined]  # tests read hasher.files_read
    return digest


def hash_recorder(app: App) -> Listener:
    """Give the index the sha256 a download verified while streaming, so model info knows it at
    once, without hashing the file again."""
    from .observers import COMPLETE_DOWNLOAD_TASK

    def record(event: str, payload: dict) -> None:
        digest = payload.get("sha256")
        if event != COMPLETE_DOWNLOAD_TASK or not digest:
            return
        try:
            location = app.folders.locate(payload["model_type"], payload["filename"])
            stat = location.path.stat()
            app.hash_cache.put(str(location.path), stat.st_size, stat.st_mtime_ns, digest)
        except Exception:  # a missing file or a busy database only costs a later re-hash
            log.debug("could not record the sha256 of %s", payload.get("filename"), exc_info=True)

    return record


def index_recorder(app: App) -> Listener:
    """Put a finished download into the model index at once, so the model library lists it
    without a scan (the listener runs before the completion event reaches the browser)."""
    from .observers import COMPLETE_DOWNLOAD_TASK

    def record(event: str, payload: dict) -> None:
        if event != COMPLETE_DOWNLOAD_TASK or payload.get("status", "completed") != "completed":
            return
        try:
            app.index.refresh_one(app.folders.locate(payload["model_type"], payload["filename"]))
        except Exception:  # the next scan or listing finds it anyway
            log.debug("could not index %s", payload.get("filename"), exc_info=True)

    return record
