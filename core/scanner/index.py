"""``ModelIndex``: the models of every folder type with their metadata; scans and metadata edits.

The index lives in memory and in ``state_dir/model_index.json`` (``index_state``, so a restart
lists at once); sha256 digests live in ``state_dir/hashes.sqlite`` (``HashCache``).  Scans run
in background threads (``scan_job``); one runs at a time and a request that an active scan
already covers joins it.  Every public method is blocking: call it off ComfyUI's event loop.
File-system trouble with one model (it vanished, permission denied, read-only folder) becomes
a ``NotFound``/``FilePermissionDenied``/… with a message that names the model, never a bare
``OSError``.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable

from ..errors import InvalidInput, NotFound, file_errors
from ..model_types import ModelFolders, ModelLocation
from ..observers import DELETE_MODEL, EventHub, Throttle
from ..settings import Settings
from . import metadata_ops
from .metadata_ops import DeletedModel
from .hash_cache import HASH_FILE
from .hashing import FileHasher
from .index_state import INDEX_FILE, IndexEntry, IndexState
from .model_record import build_record, sidecars_of, signature
from .record import ModelRecord
from .safetensors_header import cover_file
from .scan_job import ScanJob
from .scan_task import ScanRegistry, ScanReport, ScanTask
from ..sidecars import read_siblings
from .walker import FoundModel, is_partial_or_hidden

if TYPE_CHECKING:
    from ..http import HttpClient
    from ..observers import EventQueue
    from .hash_cache import HashCache
    from ..retry import RetryPolicy
    from ..trash import Trash, TrashEntry
    from .civitai_lookup import CivitaiLookup

log = logging.getLogger(__name__)

#: How long a delete waits for its event to reach a stuck listener.
LISTENER_PATIENCE = 30.0


class ModelIndex:
    def __init__(self, folders: ModelFolders, state_dir: Path, settings: Settings,
                 http: "HttpClient | None" = None, *, hash_workers: int | None = None,
                 civitai_base_url: str | None = None, civitai_min_interval: float = 0.5,
                 civitai_retry: "RetryPolicy | None" = None,
                 refresh_on_first_list: bool = True,
                 trash_roots: Callable[[], Any] | None = None,
                 events: "EventQueue | None" = None, hash_cache: "HashCache | None" = None) -> None:
        self.folders = folders
        self.state_dir = Path(state_dir)
        self.settings = settings
        self.http = http
        #: listeners of the scans and deletes; with ``events`` (the app's one delivery thread)
        #: they hear them from that thread, else at once on the thread that emits
        self._outbox = events
        self.events: EventHub = events.hub if events is not None else EventHub()
        self.hasher = FileHasher()
        self.hash_workers = hash_workers or max(1, min(4, os.cpu_count() or 1))
        self.civitai_options: dict[str, Any] = {"base_url": civitai_base_url, "min_interval": civitai_min_interval,
                                                **({"retry": civitai_retry} if civitai_retry else {})}
        self.state = IndexState(self.state_dir / INDEX_FILE)
        self.scan_gate = threading.Lock()  # one scan at a time
        self.throttle = Throttle()
        self._refresh_on_first_list = refresh_on_first_list
        self._lock = self.state.lock
        self.scans = ScanRegistry()
        self._hash_cache = hash_cache
        self._lookup: "CivitaiLookup | None" = None
        self._trash_roots = trash_roots  # every root of every type (ComfyUI: custom_nodes too)
        self._trash: "Trash | None" = None
        self._trash_purger = None

    def __repr__(self) -> str:
        return f"ModelIndex(state_dir={str(self.state_dir)!r}, models={len(self.state.entries)})"

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel running scans and wait a little for them (ComfyUI exit); the index is saved."""
        active = self.scans.active()
        for task in active:
            task.cancel()
        for task in active:
            task.wait(timeout)
        with self._lock:
            cache, self._hash_cache = self._hash_cache, None
        self.stop_trash_purger(timeout)
        if cache is not None:
            cache.close()

    def publish(self, event: str, payload: dict, wait: bool = False) -> None:
        """Send an event to the listeners; ``wait``: return once they heard it (an API call
        that answers after its event, as the download manager's do; bounded)."""
        if self._outbox is None:
            self.events.emit(event, payload)
            return
        number = self._outbox.put(event, payload)
        if wait:
            self._outbox.wait_delivered(number, timeout=LISTENER_PATIENCE)

    # -- what the scan job uses ------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.state.path

    @property
    def hash_cache(self):
        with self._lock:
            if self._hash_cache is None:
                from .hash_cache import HashCache

                self._hash_cache = HashCache(self.state_dir / HASH_FILE)
            return self._hash_cache

    def civitai_lookup(self) -> "CivitaiLookup":
        """The one Civitai lookup of this index (its rate limiter is shared by every scan)."""
        from ..http import HttpClient
        from .civitai_lookup import CivitaiLookup

        with self._lock:
            if self._lookup is None:
                self._lookup = CivitaiLookup(self.settings, self.http or HttpClient(proxy=self.settings.proxy),
                                             self.hash_cache, **self.civitai_options)
            return self._lookup

    def ensure_loaded(self) -> bool:
        """Load the saved index once; True when this call loaded it from disk."""
        return self.state.load_once(self.folders.names())

    def scan_ended(self, task: ScanTask) -> None:
        self.scans.ended(task)

    # -- listing ---------------------------------------------------------------------------
    def _ready_types(self, model_type: str | None) -> tuple[list[str], bool, list[str]]:
        """The types asked for, once each is indexed (blocking for a type never indexed):
        ``(types, loaded_from_disk, types_that_were_missing)``."""
        types = list(self._types_for(model_type or "all"))
        loaded_from_disk = self.ensure_loaded()
        missing = self.state.missing_types(types)
        if missing:
            self._wait_indexed(self.start_scan(missing[0] if len(missing) == 1 else "all"), missing)
        return types, loaded_from_disk, missing

    def _refresh_after_restart(self, loaded_from_disk: bool, missing: list[str]) -> None:
        if loaded_from_disk and not missing and self._refresh_on_first_list:
            self.start_scan("all")  # after taking the list: this answer never waits for the walk

    def list_models(self, model_type: str | None = None) -> list[ModelRecord]:
        """Models from the index, by type and name (listings show them without the bulky
        ``metadata``: ``to_json(light=True)``).  A type never indexed is indexed now (blocking,
        no hashing); a list served from disk after a restart starts one background refresh scan."""
        types, loaded_from_disk, missing = self._ready_types(model_type)
        models = self.state.records(types)
        self._refresh_after_restart(loaded_from_disk, missing)
        return models

    def query_models(self, model_type: str | None = None, q: str = "", sort: str = "name",
                     offset: int = 0, limit: int = 100) -> tuple[list[ModelRecord], int]:
        """One page of ``list_models`` filtered by ``q`` and sorted (see ``scanner.query``):
        ``(models, total)``."""
        from .query import parse_sort, query

        try:
            parse_sort(sort)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        types, loaded_from_disk, missing = self._ready_types(model_type)
        records = self.state.records(types, sort=False)
        self._refresh_after_restart(loaded_from_disk, missing)
        return query(records, q, sort, offset, limit)

    def _wait_indexed(self, task: ScanTask, types: list[str]) -> None:
        """Until ``types`` are indexed: the end of ``task``'s index phase, not of its hashing or
        Civitai lookups (a request that joined a long hashing scan must not wait for it)."""
        while not task.wait(0.05):
            if not self.state.missing_types(types):
                return

    def get_model(self, model_type: str, name: str) -> ModelRecord:
        """Full metadata of one model, re-read if it changed since it was indexed."""
        location = self._locate(model_type, name)
        with file_errors(f"read {model_type}/{location.name}"):
            return self.refresh_one(location)

    def _locate(self, model_type: str, name: str) -> ModelLocation:
        """``ModelFolders.locate`` (inside a root, symlinks resolved) plus: only model files of
        that type, so no route or node can read, change or delete a stray file in a model folder."""
        location = self.folders.locate(model_type, name)  # folder trouble: already a clear 403/400
        filename = location.path.name
        if is_partial_or_hidden(filename) or not self.folders.get(model_type).accepts(filename):
            allowed = ", ".join(sorted(self.folders.get(model_type).writable_extensions))
            raise InvalidInput(f"{name!r} is not a {model_type} model file (model files end in {allowed})")
        return location

    def refresh_one(self, location: ModelLocation) -> ModelRecord:
        """Re-read one model when its file or sidecars changed; its record.  OSError passes:
        the file is gone, or its folder cannot be listed (a record without its sidecars would
        be wrong)."""
        self.ensure_loaded()
        st = location.path.stat()
        found = FoundModel(location.model_type, location.root, location.name, location.path,
                           st.st_size, st.st_mtime_ns, read_siblings(location.path))
        sidecars = sidecars_of(found)
        sig = signature(found, sidecars)
        entry = self.state.entries.get((found.model_type, found.name))
        if entry is None or not entry.built_from(sig, str(found.root)):
            record = build_record(found, sidecars)
        else:
            record = entry.record
        record = record.with_sha256(self.hash_cache.get(str(found.path), found.size, found.mtime_ns))
        self.state.put(IndexEntry(record, sig, str(found.path)))
        return record

    def _types_for(self, model_type: str) -> tuple[str, ...]:
        if model_type in (None, "", "all"):
            return tuple(self.folders.names())
        self.folders.get(model_type)  # raises InvalidInput for unknown types
        return (model_type,)

    # -- previews, descriptions ------------------------------------------------------------
    def preview_path(self, model_type: str, name: str) -> Path | None:
        """The preview file to serve: a sidecar beside the model, or the safetensors cover image
        extracted once into ``state_dir/covers``."""
        location = self._locate(model_type, name)
        with file_errors(f"read the preview of {model_type}/{location.name}"):
            record = self.refresh_one(location)
            if record.has_sidecar_preview:
                path = location.path.with_name(PurePosixPath(record.preview).name)
                return path if path.is_file() else None
            if record.has_embedded_preview:
                return cover_file(location.path, self.state_dir / "covers")
        return None

    def set_description(self, model_type: str, name: str, text: str) -> ModelRecord:
        location = self._locate(model_type, name)
        with file_errors(f"write the description of {model_type}/{location.name}"):
            read_siblings(location.path)  # a folder that cannot be listed: refuse before writing
            metadata_ops.write_description(location.path, text)
            return self._after_change(location)

    def set_preview(self, model_type: str, name: str, image_bytes: Any) -> ModelRecord:
        """Store the preview (image bytes or a PIL image) as ``NAME.webp``; other variants go."""
        location = self._locate(model_type, name)
        if isinstance(image_bytes, (bytes, bytearray, memoryview)):
            webp = metadata_ops.preview_webp_from_bytes(bytes(image_bytes))
        else:
            webp = metadata_ops.preview_webp(image_bytes)
        with file_errors(f"write the preview of {model_type}/{location.name}"):
            metadata_ops.write_preview(location.path, webp)
            return self._after_change(location)

    def set_preview_image(self, model_type: str, name: str, image: Any) -> ModelRecord:
        """``set_preview`` for a decoded PIL image (the SetModelPreview node)."""
        return self.set_preview(model_type, name, image)

    def _after_change(self, location: ModelLocation) -> ModelRecord:
        record = self.refresh_one(location)
        self._save_state()
        return record

    def _save_state(self) -> None:
        """Save the index after a change on disk that is already done: a state folder that
        cannot be written only costs a re-read after a restart (the change itself stands, the
        entry stays unsaved and goes with the next save), so it is logged, not answered."""
        try:
            self.state.save()
        except OSError as exc:
            log.warning("could not save the model index %s: %s", self.state.path, exc.strerror or exc)

    # -- delete, trash ---------------------------------------------------------------------
    @property
    def trash(self) -> "Trash":
        from ..trash import Trash

        with self._lock:
            if self._trash is None:
                self._trash = Trash(self.folders, self.state_dir, self._trash_roots)
            return self._trash

    def start_trash_purger(self, interval: float | None = None) -> None:
        """Empty trash entries older than the ``trash_days`` setting now and daily, in a thread
        that ``shutdown`` stops (a long-running process: ComfyUI)."""
        from ..trash_purger import DAY, TrashPurger

        with self._lock:
            if self._trash_purger is not None:
                return
            self._trash_purger = TrashPurger(self.trash, lambda: self.settings.trash_days, interval or DAY)
        self._trash_purger.start()

    def stop_trash_purger(self, timeout: float = 5.0) -> None:
        with self._lock:
            purger, self._trash_purger = self._trash_purger, None
        if purger is not None:
            purger.stop(timeout)

    def use_trash_roots(self, all_roots: Callable[[], Any]) -> None:
        """Every root of every type the host knows (ComfyUI: also custom_nodes, configs): the
        trash is never placed where any of them would list it.  Call before the first delete."""
        with self._lock:
            self._trash_roots = all_roots
            self._trash = None

    def delete_model(self, model_type: str, name: str, delete_sidecars: bool = True,
                     permanently: bool = False) -> DeletedModel:
        """Move the model (and its sidecars) to the trash, or with ``permanently`` remove them.
        Emits ``model_manager.delete_model``.  ``TrashUnavailable`` (nothing moved) when there is
        no trash on the model's filesystem."""
        location = self._locate(model_type, name)
        trash_id = None
        with file_errors(f"delete {model_type}/{location.name}"):
            paths = metadata_ops.files_to_delete(location.path, delete_sidecars)
            if permanently:
                removed = metadata_ops.delete_files(paths)
            else:
                entry = self.trash.put(location, paths)
                trash_id, removed = entry.id, [Path(p) for p in entry.files]
        self.ensure_loaded()
        if permanently:
            self.hash_cache.forget(str(location.path))  # a trashed file keeps it for its restore
        self.state.remove((location.model_type, location.name))
        self._save_state()
        log.info("%s %s model %s (%d files)", "deleted" if permanently else "trashed",
                 location.model_type, location.name, len(removed))
        self.publish(DELETE_MODEL, {"model_type": location.model_type, "name": location.name,
                                    "trash_id": trash_id}, wait=True)
        return DeletedModel(location.model_type, location.name, removed, trash_id)

    def restore_model(self, trash_id: str, rename: bool = False, allow_prefix: bool = False) -> ModelRecord:
        """Put a trashed model back (``Conflict`` if a file took its place, unless ``rename``)
        and list it again; returns its record."""
        entry = self.trash.get(trash_id, allow_prefix)
        with file_errors(f"restore {entry.model_type}/{entry.name}"):
            location = self.trash.restore(entry.id, rename=rename)
        self.ensure_loaded()
        if location.path != entry.model_path:  # restored under a new name: keep the known digest
            try:
                st = location.path.stat()
                digest = self.hash_cache.get(str(entry.model_path), st.st_size, st.st_mtime_ns)
                if digest:
                    self.hash_cache.put(str(location.path), st.st_size, st.st_mtime_ns, digest)
            except OSError:
                pass
        with file_errors(f"read {entry.model_type}/{location.name}"):
            return self._after_change(location)

    def purge_trash(self, trash_id: str, allow_prefix: bool = False) -> "TrashEntry":
        """Remove a trash entry for good; returns the entry."""
        with file_errors(f"empty trash entry {trash_id}"):
            entry = self.trash.purge(trash_id, allow_prefix)
        if not os.path.lexists(entry.model_path):
            self.hash_cache.forget(str(entry.model_path))
        return entry

    # -- scans -------------------------------------------------------------------------------
    def start_scan(self, model_type: str = "all", compute_hashes: bool = False,
                   fetch_civitai_info: bool = False, node_id: str | None = None,
                   prompt_id: str | None = None) -> ScanTask:
        """Start a scan in a background thread, or join an active one that covers this request.

        ``node_id``/``prompt_id`` name the graph node that asked; the scan's events carry them.
        A request joining a running scan keeps the first requester's node unless none was set."""
        types = self._types_for(model_type or "all")
        task, new = self.scans.join_or_add(model_type or "all", types, bool(compute_hashes),
                                           bool(fetch_civitai_info), node_id, prompt_id)
        if new:
            threading.Thread(target=ScanJob(self, task).run, name=f"model-scan-{task.scan_id}", daemon=True).start()
        return task

    def scan(self, model_type: str = "all", compute_hashes: bool = False, fetch_civitai_info: bool = False,
             should_stop: Callable[[], bool] | None = None) -> ScanReport:
        """Blocking scan (joins an active one).  ``should_stop()`` true cancels it."""
        task = self.start_scan(model_type, compute_hashes, fetch_civitai_info)
        while not task.wait(0.2):
            if should_stop is not None and should_stop():
                task.cancel()
        task.wait()
        assert task.report is not None
        return task.report

    def get_scan(self, scan_id: str) -> ScanTask:
        task = self.scans.get(scan_id)
        if task is None:
            raise NotFound(f"no scan with id {scan_id!r}")
        return task

    def cancel_scan(self, scan_id: str) -> ScanTask:
        task = self.get_scan(scan_id)
        task.cancel()
        return task
