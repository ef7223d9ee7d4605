"""``ModelIndex``: the persisted list of models with their metadata, scans and metadata edits.

The index lives in memory and in ``state_dir/model_index.json`` (so a restart lists at once);
sha256 digests live in ``state_dir/hashes.sqlite`` (``HashCache``).  A scan walks the roots,
re-reads only models whose size, mtime or sidecars changed, optionally hashes (worker threads)
and looks models up on Civitai by hash.  One scan runs at a time; a request that an active scan
already covers joins it.  Every public method is blocking: call it off ComfyUI's event loop.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import Cancelled, InvalidInput, ModelManagerError, NotFound
from ..jsonio import atomic_write_bytes, read_json
from ..model_types import ModelFolders, ModelLocation
from ..observers import COMPLETE_SCAN_TASK, DELETE_MODEL, UPDATE_SCAN_TASK, EventHub, Throttle
from ..settings import Settings
from . import metadata_ops
from .hashing import FileHasher
from .model_record import EMBEDDED_PREVIEW, build_record, light, sidecars_of, signature
from .safetensors_header import cover_image, read_header
from .scan_task import ScanReport, ScanTask
from .sidecars import list_siblings
from .walker import FoundModel, is_partial_or_hidden, walk_type

if TYPE_CHECKING:
    from ..http import HttpClient
    from ..retry import RetryPolicy
    from ..trash import Trash

log = logging.getLogger(__name__)

INDEX_FILE = "model_index.json"
HASH_FILE = "hashes.sqlite"
INDEX_VERSION = 1
MAX_FINISHED_SCANS = 50
#: Civitai down or unreachable: stop the lookups of a scan after this many failures in a row.
MAX_CIVITAI_FAILURES_IN_A_ROW = 3

Key = tuple[str, str]  # (model type, name)


class ModelIndex:
    def __init__(self, folders: ModelFolders, state_dir: Path, settings: Settings,
                 http: "HttpClient | None" = None, *, hash_workers: int | None = None,
                 civitai_base_url: str | None = None, civitai_min_interval: float = 0.5,
                 civitai_retry: "RetryPolicy | None" = None,
                 refresh_on_first_list: bool = True,
                 trash_roots: Callable[[], Any] | None = None) -> None:
        self.folders = folders
        self.state_dir = Path(state_dir)
        self.settings = settings
        self.http = http
        self.events = EventHub()
        self.hasher = FileHasher()
        self.hash_workers = hash_workers or max(1, min(4, os.cpu_count() or 1))
        self.civitai_options = {"base_url": civitai_base_url, "min_interval": civitai_min_interval,
                                **({"retry": civitai_retry} if civitai_retry else {})}
        self._refresh_on_first_list = refresh_on_first_list
        self._lock = threading.RLock()
        self._entries: dict[Key, dict[str, Any]] = {}
        self._indexed_types: set[str] = set()
        self._loaded = False
        self._dirty = False  # entries changed since the last save
        self._scans: dict[str, ScanTask] = {}
        self._active: list[ScanTask] = []
        self._scan_gate = threading.Lock()
        self._persist_lock = threading.Lock()
        self._throttle = Throttle()
        self._hash_cache = None
        self._lookup = None
        self._trash_roots = trash_roots  # every root of every type (ComfyUI: custom_nodes too)
        self._trash: "Trash | None" = None
        self._trash_purger = None

    def __repr__(self) -> str:
        return f"ModelIndex(state_dir={str(self.state_dir)!r}, models={len(self._entries)})"

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel running scans and wait a little for them (ComfyUI exit); the index is saved."""
        with self._lock:
            active = list(self._active)
        for task in active:
            task.cancel()
        for task in active:
            task.wait(timeout)
        with self._lock:
            cache, self._hash_cache = self._hash_cache, None
        self.stop_trash_purger(timeout)
        if cache is not None:
            cache.close()

    # -- state on disk ---------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.state_dir / INDEX_FILE

    @property
    def hash_cache(self):
        with self._lock:
            if self._hash_cache is None:
                from .hash_cache import HashCache

                self._hash_cache = HashCache(self.state_dir / HASH_FILE)
            return self._hash_cache

    def _ensure_loaded(self) -> bool:
        """Load the persisted index once; True when this call loaded it from disk."""
        with self._lock:
            if self._loaded:
                return False
            self._loaded = True
            document = read_json(self.index_path, None)
            if not isinstance(document, dict) or document.get("version") != INDEX_VERSION:
                return False
            known = set(self.folders.names())
            for item in document.get("entries") or []:
                try:
                    record = item["record"]
                    key = (record["type"], record["name"])
                except (KeyError, TypeError):
                    continue
                if key[0] in known:
                    self._entries[key] = item
            self._indexed_types = {t for t in document.get("indexed_types") or [] if t in known}
            return True

    def _persist(self) -> None:
        """Save the index if it changed.  Saves are serialised and each one snapshots the entries
        after the previous save finished, so an older snapshot never overwrites a newer one."""
        with self._persist_lock:
            with self._lock:
                if not self._dirty and self.index_path.exists():
                    return
                self._dirty = False
                document = {"version": INDEX_VERSION, "indexed_types": sorted(self._indexed_types),
                            "entries": [self._entries[k] for k in sorted(self._entries)]}
                data = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            try:
                atomic_write_bytes(self.index_path, data)
            except BaseException:
                with self._lock:
                    self._dirty = True
                raise

    # -- listing ---------------------------------------------------------------------------
    def _ready_types(self, model_type: str | None) -> tuple[list[str], bool, list[str]]:
        """The types asked for, once each is indexed (blocking for a type never indexed):
        ``(types, loaded_from_disk, types_that_were_missing)``."""
        types = self._types_for(model_type or "all")
        loaded_from_disk = self._ensure_loaded()
        with self._lock:
            missing = [t for t in types if t not in self._indexed_types]
        if missing:
            self._wait_indexed(self.start_scan(missing[0] if len(missing) == 1 else "all"), missing)
        return types, loaded_from_disk, missing

    def list_models(self, model_type: str | None = None) -> list[dict]:
        """Models from the index (without the bulky ``metadata``).  A type never indexed is
        indexed now (blocking, no hashing); a list served from disk after a restart starts one
        background refresh scan."""
        types, loaded_from_disk, missing = self._ready_types(model_type)
        wanted = set(types)
        with self._lock:
            models = [light(self._entries[k]["record"]) for k in sorted(self._entries) if k[0] in wanted]
        if loaded_from_disk and not missing and self._refresh_on_first_list:
            self.start_scan("all")  # after taking the list: this answer never waits for the walk
        return models

    def query_models(self, model_type: str | None = None, q: str = "", sort: str = "name",
                     offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        """One page of ``list_models`` filtered by ``q`` and sorted (see ``scanner.query``):
        ``(models, total)``.  Records are read, never copied, until the page is cut."""
        from .query import parse_sort, query

        try:
            parse_sort(sort)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        types, loaded_from_disk, missing = self._ready_types(model_type)
        wanted = set(types)
        with self._lock:  # records are replaced, never changed in place: reading them later is safe
            records = [entry["record"] for key, entry in self._entries.items() if key[0] in wanted]
        if loaded_from_disk and not missing and self._refresh_on_first_list:
            self.start_scan("all")
        return query(records, q, sort, offset, limit)

    def _wait_indexed(self, task: ScanTask, types: list[str]) -> None:
        """Until ``types`` are indexed: the end of ``task``'s index phase, not of its hashing or
        Civitai lookups (a request that joined a long hashing scan must not wait for it)."""
        while not task.wait(0.05):
            with self._lock:
                if set(types) <= self._indexed_types:
                    return

    def get_model(self, model_type: str, name: str) -> dict:
        """Full metadata of one model, re-read if it changed since it was indexed."""
        location = self._locate(model_type, name)
        return dict(self._refresh_one(location))

    def _locate(self, model_type: str, name: str) -> ModelLocation:
        """``ModelFolders.locate`` (inside a root, symlinks resolved) plus: only model files of
        that type, so no route or node can read, change or delete a stray file in a model folder."""
        location = self.folders.locate(model_type, name)
        filename = location.path.name
        if is_partial_or_hidden(filename) or not self.folders.get(model_type).accepts(filename):
            allowed = ", ".join(sorted(self.folders.get(model_type).writable_extensions))
            raise InvalidInput(f"{name!r} is not a {model_type} model file (model files end in {allowed})")
        return location

    def _found_for(self, location: ModelLocation) -> FoundModel:
        st = location.path.stat()
        return FoundModel(location.model_type, location.root, location.name, location.path,
                          st.st_size, st.st_mtime_ns, list_siblings(location.path))

    def _refresh_one(self, location: ModelLocation) -> dict[str, Any]:
        self._ensure_loaded()
        found = self._found_for(location)
        sidecars = sidecars_of(found)
        sig = signature(found, sidecars)
        key = (found.model_type, found.name)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.get("sig") != sig or entry["record"].get("root") != str(found.root):
            record = build_record(found, sidecars)
        else:
            record = dict(entry["record"])
        record["sha256"] = self.hash_cache.get(str(found.path), found.size, found.mtime_ns)
        with self._lock:
            if entry is None or entry["record"] != record or entry.get("sig") != sig:
                self._dirty = True
            self._entries[key] = {"record": record, "sig": sig, "path": str(found.path)}
        return record

    def _types_for(self, model_type: str) -> tuple[str, ...]:
        if model_type in (None, "", "all"):
            return tuple(self.folders.names())
        self.folders.get(model_type)  # raises InvalidInput for unknown types
        return (model_type,)

    # -- previews, descriptions, delete ------------------------------------------------------
    def preview_path(self, model_type: str, name: str) -> Path | None:
        """The preview file to serve: a sidecar beside the model, or the safetensors cover image
        extracted once into ``state_dir/covers``."""
        location = self._locate(model_type, name)
        record = self._refresh_one(location)
        if record.get("preview_source") == "sidecar" and record.get("preview"):
            path = location.path.with_name(PurePosixPath(record["preview"]).name)
            return path if path.is_file() else None
        if record.get("preview") == EMBEDDED_PREVIEW:
            return self._extract_cover(location)
        return None

    def _extract_cover(self, location: ModelLocation) -> Path | None:
        st = location.path.stat()
        cover = cover_image(read_header(location.path).metadata)
        if cover is None:
            return None
        data, extension = cover
        tag = hashlib.sha256(f"{location.path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:32]
        target = self.state_dir / "covers" / f"{tag}{extension}"
        if not target.is_file():
            atomic_write_bytes(target, data)
        return target

    def set_description(self, model_type: str, name: str, text: str) -> dict:
        location = self._locate(model_type, name)
        with _file_errors(f"write the description of {model_type}/{location.name}"):
            metadata_ops.write_description(location.path, text)
        return self._after_change(location)

    def set_preview(self, model_type: str, name: str, image_bytes: Any) -> dict:
        """Store the preview (image bytes or a PIL image) as ``NAME.webp``; other variants go."""
        location = self._locate(model_type, name)
        if isinstance(image_bytes, (bytes, bytearray, memoryview)):
            webp = metadata_ops.preview_webp_from_bytes(bytes(image_bytes))
        else:
            webp = metadata_ops.preview_webp(image_bytes)
        with _file_errors(f"write the preview of {model_type}/{location.name}"):
            metadata_ops.write_preview(location.path, webp)
        return self._after_change(location)

    def set_preview_image(self, model_type: str, name: str, image: Any) -> dict:
        """``set_preview`` for a decoded PIL image (the SetModelPreview node)."""
        return self.set_preview(model_type, name, image)

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
                     permanently: bool = False) -> "DeletedModel":
        """Move the model (and its sidecars) to the trash, or with ``permanently`` remove them.
        Emits ``model_manager.delete_model``.  ``TrashUnavailable`` (nothing moved) when there is
        no trash on the model's filesystem."""
        location = self._locate(model_type, name)
        paths = metadata_ops.files_to_delete(location.path, delete_sidecars)
        trash_id = None
        with _file_errors(f"delete {model_type}/{location.name}"):
            if permanently:
                removed = metadata_ops.delete_files(paths)
            else:
                entry = self.trash.put(location, paths)
                trash_id, removed = entry.id, [Path(p) for p in entry.files]
        self._ensure_loaded()
        if permanently:
            self.hash_cache.forget(str(location.path))  # a trashed file keeps it for its restore
        with self._lock:
            self._entries.pop((location.model_type, location.name), None)
            self._dirty = True
        self._persist()
        log.info("%s %s model %s (%d files)", "deleted" if permanently else "trashed",
                 location.model_type, location.name, len(removed))
        self.events.emit(DELETE_MODEL, {"model_type": location.model_type, "name": location.name,
                                        "trash_id": trash_id})
        return DeletedModel(location.model_type, location.name, removed, trash_id)

    def restore_model(self, trash_id: str, rename: bool = False, allow_prefix: bool = False) -> dict:
        """Put a trashed model back (``Conflict`` if a file took its place, unless ``rename``)
        and list it again; returns its record."""
        entry = self.trash.get(trash_id, allow_prefix)
        with _file_errors(f"restore {entry.model_type}/{entry.name}"):
            location = self.trash.restore(entry.id, rename=rename)
        self._ensure_loaded()
        if location.path != entry.model_path:  # restored under a new name: keep the known digest
            try:
                st = location.path.stat()
                digest = self.hash_cache.get(str(entry.model_path), st.st_size, st.st_mtime_ns)
                if digest:
                    self.hash_cache.put(str(location.path), st.st_size, st.st_mtime_ns, digest)
            except OSError:
                pass
        return self._after_change(location)

    def purge_trash(self, trash_id: str, allow_prefix: bool = False) -> Any:
        """Remove a trash entry for good; returns the entry."""
        with _file_errors(f"empty trash entry {trash_id}"):
            entry = self.trash.purge(trash_id, allow_prefix)
        if not os.path.lexists(entry.model_path):
            self.hash_cache.forget(str(entry.model_path))
        return entry

    def _after_change(self, location: ModelLocation) -> dict:
        record = self._refresh_one(location)
        self._persist()
        return dict(record)

    # -- scans -------------------------------------------------------------------------------
    def start_scan(self, model_type: str = "all", compute_hashes: bool = False,
                   fetch_civitai_info: bool = False, node_id: str | None = None,
                   prompt_id: str | None = None) -> ScanTask:
        """Start a scan in a background thread, or join an active one that covers this request.

        ``node_id``/``prompt_id`` name the graph node that asked; the scan's events carry them.
        A request joining a running scan keeps the first requester's node unless none was set."""
        types = self._types_for(model_type or "all")
        compute_hashes, fetch_civitai_info = bool(compute_hashes), bool(fetch_civitai_info)
        with self._lock:
            for task in self._active:
                if not task.finished and task.covers(types, compute_hashes, fetch_civitai_info):
                    task.adopt_requester(node_id, prompt_id)
                    return task
            task = ScanTask(model_type or "all", types, compute_hashes, fetch_civitai_info,
                            node_id=node_id, prompt_id=prompt_id)
            self._active.append(task)
            self._scans[task.scan_id] = task
            self._forget_old_scans()
        threading.Thread(target=self._run_scan, args=(task,), name=f"model-scan-{task.scan_id}",
                         daemon=True).start()
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
        with self._lock:
            task = self._scans.get(scan_id)
        if task is None:
            raise NotFound(f"no scan with id {scan_id!r}")
        return task

    def cancel_scan(self, scan_id: str) -> ScanTask:
        task = self.get_scan(scan_id)
        task.cancel()
        return task

    def _forget_old_scans(self) -> None:
        finished = [t for t in self._scans.values() if t.finished]
        for task in finished[:-MAX_FINISHED_SCANS] if len(finished) > MAX_FINISHED_SCANS else []:
            self._scans.pop(task.scan_id, None)

    def _emit_progress(self, task: ScanTask) -> None:
        if self._throttle.ready(task.scan_id):
            self.events.emit(UPDATE_SCAN_TASK, task.progress_event())

    def _run_scan(self, task: ScanTask) -> None:
        final_status = "completed"
        try:
            with self._scan_gate:
                if task.cancel_requested:
                    raise Cancelled("the scan was cancelled")
                self._ensure_loaded()
                found = self._index_phase(task)
                if task.compute_hashes or task.fetch_civitai_info:
                    self._hash_phase(task, found)
                if task.fetch_civitai_info:
                    self._civitai_phase(task, found)
        except Cancelled:
            final_status = "cancelled"
        except Exception as exc:  # a scan must end with a status, never die silently
            log.exception("model scan %s failed", task.scan_id)
            final_status = "failed"
            task.add_error(self.settings.redactor(f"the scan failed: {exc}"))
        finally:
            try:
                self._persist()
            except OSError as exc:
                task.add_error(f"could not save the index: {exc.strerror or exc}")
            with self._lock:
                wanted = set(task.types)
                models = [dict(self._entries[k]["record"]) for k in sorted(self._entries) if k[0] in wanted]
                if task in self._active:
                    self._active.remove(task)
            task.count = len(models)
            task.hashed = sum(1 for m in models if m.get("sha256"))
            task.current = ""
            task.status = final_status  # only now: a poller never sees "completed" with no count
            task.report = ScanReport(task, models)
            task.mark_done()
            self._throttle.forget(task.scan_id)
            self.events.emit(COMPLETE_SCAN_TASK, task.complete_event())

    def _check_cancel(self, task: ScanTask) -> None:
        if task.cancel_requested:
            raise Cancelled("the scan was cancelled")

    def _index_phase(self, task: ScanTask) -> list[FoundModel]:
        task.status = "scanning"
        self._emit_progress(task)
        found: list[FoundModel] = []
        seen: set[Key] = set()
        for type_name in task.types:
            for item in walk_type(self.folders.get(type_name), lambda: task.cancel_requested):
                key = (item.model_type, item.name)
                if key in seen:
                    continue  # the same name in a later root: loaders take the first
                seen.add(key)
                found.append(item)
                task.total = len(found)
                if len(found) % 256 == 0:
                    self._emit_progress(task)
        self._check_cancel(task)
        task.total = len(found)
        fresh: dict[Key, dict[str, Any]] = {}
        changed = False
        with self._lock:
            old_entries = dict(self._entries)
        for item in found:
            self._check_cancel(task)
            key = (item.model_type, item.name)
            sidecars = sidecars_of(item)
            sig = signature(item, sidecars)
            entry = old_entries.get(key)
            if entry is not None and entry.get("sig") == sig and entry["record"].get("root") == str(item.root):
                record = entry["record"]
            else:
                record = build_record(item, sidecars)
                changed = True
            if record.get("header_error"):
                task.add_error(f"{item.model_type}/{item.name}: {record['header_error']}")
            fresh[key] = {"record": record, "sig": sig, "path": str(item.path)}
            task.scanned += 1
            task.current = item.name
            self._emit_progress(task)
        digests = self.hash_cache.get_many([(str(f.path), f.size, f.mtime_ns) for f in found])
        for item in found:
            entry = fresh[(item.model_type, item.name)]
            digest = digests.get(str(item.path))
            if entry["record"].get("sha256") != digest:
                entry["record"] = {**entry["record"], "sha256": digest}
                changed = True
        wanted = set(task.types)
        with self._lock:
            gone = [k for k in self._entries if k[0] in wanted and k not in fresh]
            gone_paths = {self._entries[k].get("path") for k in gone} - {e["path"] for e in fresh.values()}
            for key in gone:
                del self._entries[key]
            for key, entry in fresh.items():
                current = self._entries.get(key)
                if current is not None and current is not old_entries.get(key):
                    continue  # changed while we scanned (set_preview, get_model): that is newer
                self._entries[key] = entry
            if changed or gone or not wanted <= self._indexed_types:
                self._dirty = True
            self._indexed_types |= wanted
        for path in gone_paths:
            if path and not os.path.exists(path):
                self.hash_cache.forget(path)  # the file is gone: drop its digest too
        return found

    def _hash_phase(self, task: ScanTask, found: list[FoundModel]) -> None:
        with self._lock:
            unhashed = [f for f in found
                        if not self._entries.get((f.model_type, f.name), {}).get("record", {}).get("sha256")]
        # A folder shared by two types lists the same file twice: hash it once.
        by_path: dict[str, list[FoundModel]] = {}
        for item in unhashed:
            by_path.setdefault(str(item.path), []).append(item)
        todo = [items[0] for items in by_path.values()]
        task.status, task.scanned, task.total, task.current = "hashing", 0, len(todo), ""
        self._emit_progress(task)
        if not todo:
            return
        counter_lock = threading.Lock()

        def hash_one(item: FoundModel) -> None:
            if task.cancel_requested:
                return
            task.current = item.name
            self._emit_progress(task)
            try:
                digest = self.hasher.sha256(item.path, lambda: task.cancel_requested)
                after = os.stat(item.path)
            except Cancelled:
                return
            except OSError as exc:
                task.add_error(f"{item.model_type}/{item.name}: could not hash ({exc.strerror or exc})")
                return
            if (after.st_size, after.st_mtime_ns) != (item.size, item.mtime_ns):
                task.add_error(f"{item.model_type}/{item.name}: changed while it was hashed; scan again")
                return
            self.hash_cache.put(str(item.path), item.size, item.mtime_ns, digest)
            with self._lock:
                for same in by_path[str(item.path)]:
                    entry = self._entries.get((same.model_type, same.name))
                    if entry is not None:
                        entry["record"] = {**entry["record"], "sha256": digest}
                        self._dirty = True
            with counter_lock:
                task.scanned += 1
                task.hashes_computed += 1
            self._emit_progress(task)

        with ThreadPoolExecutor(max_workers=self.hash_workers, thread_name_prefix="model-hash") as pool:
            list(pool.map(hash_one, todo))
        self._check_cancel(task)

    def _civitai_phase(self, task: ScanTask, found: list[FoundModel]) -> None:
        from ..http import HttpClient
        from .civitai_lookup import CivitaiLookup

        with self._lock:
            if self._lookup is None:
                self._lookup = CivitaiLookup(self.settings, self.http or HttpClient(proxy=self.settings.proxy),
                                             self.hash_cache, **self.civitai_options)
            lookup = self._lookup
            records = {(f.model_type, f.name): self._entries.get((f.model_type, f.name), {}).get("record")
                       for f in found}
        todo = [f for f in found if _needs_civitai(records.get((f.model_type, f.name)))]
        task.status, task.scanned, task.total, task.current = "fetching_info", 0, len(todo), ""
        self._emit_progress(task)
        failures_in_a_row = 0
        looked_up: dict[str, bool] = {}  # sha256 -> matched (a file listed under two types is asked once)
        for item in todo:
            self._check_cancel(task)
            record = records[(item.model_type, item.name)]
            task.current = item.name
            digest = record["sha256"]
            if digest in looked_up:
                matched = looked_up[digest]
            else:
                result = lookup.lookup(item.path, digest, should_stop=lambda: task.cancel_requested,
                                       has_info=bool(record.get("civitai")))
                matched = looked_up[digest] = result.matched
                if result.error:
                    task.add_error(f"{item.model_type}/{item.name}: {result.error}")
                failures_in_a_row = failures_in_a_row + 1 if result.error and not result.matched else 0
            if matched:
                task.matched += 1
                try:
                    self._refresh_one(ModelLocation(item.model_type, item.root, item.name, item.path))
                except OSError:
                    pass
            task.scanned += 1
            self._emit_progress(task)
            if failures_in_a_row >= MAX_CIVITAI_FAILURES_IN_A_ROW:
                task.add_error(f"stopped asking Civitai after {failures_in_a_row} failed lookups in a row; "
                               "scan again later")
                break


@dataclass(frozen=True)
class DeletedModel:
    model_type: str
    name: str
    files: list[Path]  # where the files were
    trash_id: str | None  # None: deleted for good

    def to_json(self) -> dict:
        return {"model_type": self.model_type, "name": self.name, "files": [str(p) for p in self.files],
                "trash_id": self.trash_id}


@contextmanager
def _file_errors(action: str) -> Iterator[None]:
    """Turn an OSError (read-only folder, disk full) into a message that says what failed."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ModelManagerError(f"could not {action}: {reason}") from None


def _needs_civitai(record: dict | None) -> bool:
    return bool(record and record.get("sha256") and (not record.get("civitai") or not record.get("preview")))
