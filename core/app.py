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
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .model_types import ModelFolders
from .settings import Settings

if TYPE_CHECKING:
    from .http import HttpClient
    from .downloads.manager import DownloadManager
    from .observers import EventHub, EventQueue
    from .scanner.index import ModelIndex
    from .sources.base import SourceRegistry

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"

Listener = Callable[[str, dict], None]


@dataclass
class App:
    """The core objects of one process.  Build with ``build_app``; ``start`` runs the download
    workers, ``shutdown`` stops transfers and scans (partials and records stay for the next start).

    The model index and the hash cache are made on first use: a CLI ``download`` never needs
    the index and pays neither its import nor its loading."""

    folders: ModelFolders
    state_dir: Path
    settings: Settings
    http: "HttpClient"
    sources: "SourceRegistry"
    manager: "DownloadManager"
    #: the one delivery thread of every event (downloads, scans, deletes), in order
    outbox: "EventQueue"
    index_options: dict[str, Any] = field(default_factory=dict)
    _index: "ModelIndex | None" = field(default=None, repr=False)
    _hash_cache: Any = field(default=None, repr=False)
    _made: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def events(self) -> "EventHub":
        """The listeners of every event of this app (``subscribe`` adds one)."""
        return self.outbox.hub

    @property
    def index(self) -> "ModelIndex":
        """The model index (made on first use; its events go through ``outbox``)."""
        with self._made:
            if self._index is None:
                from .scanner.index import ModelIndex

                self._index = ModelIndex(self.folders, self.state_dir, self.settings, http=self.http,
                                         events=self.outbox, hash_cache=self._hash_cache,
                                         **self.index_options)
            return self._index

    @property
    def index_made(self) -> bool:
        return self._index is not None

    @property
    def hash_cache(self) -> Any:
        """The SQLite digest cache (opened on first use, closed by ``shutdown``)."""
        with self._made:
            if self._index is not None:
                return self._index.hash_cache
            if self._hash_cache is None:
                from .scanner.hash_cache import HASH_FILE, HashCache

                self._hash_cache = HashCache(self.state_dir / HASH_FILE)
            return self._hash_cache

    @property
    def hash_cache_exists(self) -> bool:
        """Whether the digest cache is open or on disk (a new one is the first scan's to make:
        creating the database costs a CLI download more than the digest saves it)."""
        if self._hash_cache is not None or self._index is not None:
            return True
        from .scanner.hash_cache import HASH_FILE

        return (self.state_dir / HASH_FILE).exists()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Receive every download and scan event ``(name, payload)``, from one thread, in order."""
        return self.events.subscribe(listener)

    def start(self, resume_persisted: bool = True) -> None:
        """Start the download workers; ``resume_persisted=False`` leaves tasks saved by an
        earlier process alone until someone asks for them (the CLI)."""
        self.manager.start(resume_persisted=resume_persisted)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop transfers and scans within about ``timeout`` seconds and close the hash cache."""
        try:
            self.manager.shutdown(timeout=timeout)
        finally:
            with self._made:
                index, cache = self._index, self._hash_cache
            try:
                if index is not None:
                    index.shutdown(timeout=timeout)
            finally:
                if cache is not None:
                    cache.close()


def build_app(folders: ModelFolders, state_dir: Path, settings: Settings | None = None, *,
              settings_path: Path | None = None, **index_options: Any) -> App:
    """Wire the core objects (no network, no scanning, no hashing).

    ``settings`` (or ``settings_path``, default ``state_dir/settings.json``) says where the
    settings live: ComfyUI keeps them in its state folder, the CLI in its config folder.
    ``index_options`` go to ``ModelIndex`` (e.g. ``refresh_on_first_list``).
    """
    from .http import HttpClient
    from .downloads.manager import DownloadManager
    from .observers import EventQueue
    from .sources.base import SourceRegistry

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if settings is None:
        settings = Settings(settings_path or state_dir / SETTINGS_FILE)
    http = HttpClient(proxy=settings.proxy)
    settings.on_change(lambda s: http.set_proxy(s.proxy))
    sources = SourceRegistry(settings, http)
    outbox = EventQueue()
    manager = DownloadManager(folders, state_dir, settings, http=http, sources=sources, events=outbox)
    app = App(folders, state_dir, settings, http, sources, manager, outbox, index_options)
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
    """Give the hash cache the sha256 a download verified while streaming, so model info and
    scans know it at once, without hashing the file again (when there is a cache already)."""
    from .observers import COMPLETE_DOWNLOAD_TASK

    def record(event: str, payload: dict) -> None:
        digest = payload.get("sha256")
        if event != COMPLETE_DOWNLOAD_TASK or not digest or not app.hash_cache_exists:
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
    without a scan (the listener runs before the completion event reaches the browser).  Only
    an index this process already has: the first listing of a new one reads the folders."""
    from .observers import COMPLETE_DOWNLOAD_TASK

    def record(event: str, payload: dict) -> None:
        if event != COMPLETE_DOWNLOAD_TASK or payload.get("status", "completed") != "completed":
            return
        if not app.index_made:  # nothing to update: whoever makes the index walks the folders
            return
        try:
            app.index.refresh_one(app.folders.locate(payload["model_type"], payload["filename"]))
        except Exception:  # the next scan or listing finds it anyway
            log.debug("could not index %s", payload.get("filename"), exc_info=True)

    return record
