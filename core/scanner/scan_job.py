"""One scan of the model folders, in three phases, each ending the scan early when cancelled:

1. index: walk the roots, re-read only models whose size, mtime or sidecars changed, take the
   known digests from the hash cache, and replace the index's entries of the scanned types;
2. hash (when asked, or for the Civitai phase): sha256 of the models without one, in worker
   threads; a file listed under two types is hashed once;
3. Civitai (when asked): look the digests up and write the missing sidecars
   (``civitai_lookup``), then re-read the matched models.

``run_scan`` always ends the task with a status and a report, and saves the index.
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..errors import Cancelled
from ..model_types import ModelLocation
from ..observers import COMPLETE_SCAN_TASK, UPDATE_SCAN_TASK
from .index_state import IndexEntry, Key
from .model_record import build_record, sidecars_of, signature
from .record import ModelRecord
from .scan_task import ScanReport, ScanTask
from .walker import FoundModel, walk_type

if TYPE_CHECKING:
    from .index import ModelIndex

log = logging.getLogger(__name__)

#: Civitai down or unreachable: stop the lookups of a scan after this many failures in a row.
MAX_CIVITAI_FAILURES_IN_A_ROW = 3


class ScanJob:
    """Runs ``task`` against ``index`` (its state, folders, hash cache and event hub)."""

    def __init__(self, index: "ModelIndex", task: ScanTask) -> None:
        self.index = index
        self.state = index.state
        self.task = task

    def run(self) -> None:
        task, index = self.task, self.index
        final_status = "completed"
        try:
            with index.scan_gate:
                self._check_cancel()
                index.ensure_loaded()
                found = self._index_phase()
                if task.compute_hashes or task.fetch_civitai_info:
                    self._hash_phase(found)
                if task.fetch_civitai_info:
                    self._civitai_phase(found)
        except Cancelled:
            final_status = "cancelled"
        except Exception as exc:  # a scan must end with a status, never die silently
            log.exception("model scan %s failed", task.scan_id)
            final_status = "failed"
            task.add_error(index.settings.redactor(f"the scan failed: {exc}"))
        finally:
            self._finish(final_status)

    def _finish(self, final_status: str) -> None:
        task, index = self.task, self.index
        try:
            self.state.save()
        except OSError as exc:
            task.add_error(f"could not save the index: {exc.strerror or exc}")
        models = self.state.records(task.types)
        index.scan_ended(task)
        task.count = len(models)
        task.hashed = sum(1 for m in models if m.sha256)
        task.current = ""
        task.status = final_status  # only now: a poller never sees "completed" with no count
        task.report = ScanReport(task, models)
        task.mark_done()
        index.throttle.forget(task.scan_id)
        index.publish(COMPLETE_SCAN_TASK, task.complete_event())

    def _check_cancel(self) -> None:
        if self.task.cancel_requested:
            raise Cancelled("the scan was cancelled")

    def _progress(self) -> None:
        if self.index.throttle.ready(self.task.scan_id):
            self.index.publish(UPDATE_SCAN_TASK, self.task.progress_event())

    # -- 1. index ------------------------------------------------------------------------
    def _walk(self) -> list[FoundModel]:
        task = self.task
        found: list[FoundModel] = []
        seen: set[Key] = set()
        for type_name in task.types:
            def unlisted(folder: str, exc: OSError, type_name: str = type_name) -> None:
                task.add_error(f"{type_name}/{folder}: could not list the folder ({exc.strerror or exc}); "
                               "the models in it are left out")

            for item in walk_type(self.index.folders.get(type_name), lambda: task.cancel_requested, unlisted):
                key = (item.model_type, item.name)
                if key in seen:
                    continue  # the same name in a later root: loaders take the first
                seen.add(key)
                found.append(item)
                task.total = len(found)
                if len(found) % 256 == 0:
                    self._progress()
        self._check_cancel()
        task.total = len(found)
        return found

    def _index_phase(self) -> list[FoundModel]:
        task = self.task
        task.status = "scanning"
        self._progress()
        found = self._walk()
        fresh: dict[Key, IndexEntry] = {}
        changed = False
        with self.state.lock:
            before = dict(self.state.entries)
        for item in found:
            self._check_cancel()
            key = (item.model_type, item.name)
            sidecars = sidecars_of(item)
            sig = signature(item, sidecars)
            entry = before.get(key)
            if entry is not None and entry.built_from(sig, str(item.root)):
                record = entry.record
            else:
                record = build_record(item, sidecars)
                changed = True
            if record.header_error:
                task.add_error(f"{item.model_type}/{item.name}: {record.header_error}")
            fresh[key] = IndexEntry(record, sig, str(item.path))
            task.scanned += 1
            task.current = item.name
            self._progress()
        digests = self.index.hash_cache.get_many([(str(f.path), f.size, f.mtime_ns) for f in found])
        for key, entry in fresh.items():
            digest = digests.get(entry.path)
            if entry.record.sha256 != digest:
                fresh[key] = entry.with_sha256(digest)
                changed = True
        for path in self.state.merge_scan(task.types, fresh, before, changed):
            if path and not os.path.exists(path):
                self.index.hash_cache.forget(path)  # the file is gone: drop its digest too
        return found

    # -- 2. hash -------------------------------------------------------------------------
    def _hash_phase(self, found: list[FoundModel]) -> None:
        task, index = self.task, self.index
        unhashed = [f for f in found if not _digest_of(self.state.record((f.model_type, f.name)))]
        by_path: dict[str, list[FoundModel]] = {}  # a folder shared by two types lists a file twice
        for item in unhashed:
            by_path.setdefault(str(item.path), []).append(item)
        todo = [items[0] for items in by_path.values()]
        task.status, task.scanned, task.total, task.current = "hashing", 0, len(todo), ""
        self._progress()
        if not todo:
            return
        counter_lock = threading.Lock()

        def hash_one(item: FoundModel) -> None:
            if task.cancel_requested:
                return
            task.current = item.name
            self._progress()
            try:
                digest = index.hasher.sha256(item.path, lambda: task.cancel_requested)
                after = os.stat(item.path)
            except Cancelled:
                return
            except OSError as exc:
                task.add_error(f"{item.model_type}/{item.name}: could not hash ({exc.strerror or exc})")
                return
            if (after.st_size, after.st_mtime_ns) != (item.size, item.mtime_ns):
                task.add_error(f"{item.model_type}/{item.name}: changed while it was hashed; scan again")
                return
            index.hash_cache.put(str(item.path), item.size, item.mtime_ns, digest)
            self.state.set_sha256([(same.model_type, same.name) for same in by_path[str(item.path)]], digest)
            with counter_lock:
                task.scanned += 1
                task.hashes_computed += 1
            self._progress()

        with ThreadPoolExecutor(max_workers=index.hash_workers, thread_name_prefix="model-hash") as pool:
            list(pool.map(hash_one, todo))
        self._check_cancel()

    # -- 3. Civitai ----------------------------------------------------------------------
    def _civitai_phase(self, found: list[FoundModel]) -> None:
        task = self.task
        lookup = self.index.civitai_lookup()
        records = {(f.model_type, f.name): self.state.record((f.model_type, f.name)) for f in found}
        todo = [f for f in found if needs_civitai(records.get((f.model_type, f.name)))]
        task.status, task.scanned, task.total, task.current = "fetching_info", 0, len(todo), ""
        self._progress()
        failures_in_a_row = 0
        looked_up: dict[str, bool] = {}  # sha256 -> matched (a file listed under two types is asked once)
        for item in todo:
            self._check_cancel()
            record = records[(item.model_type, item.name)]
            assert record is not None and record.sha256  # needs_civitai
            task.current = item.name
            digest = record.sha256
            if digest in looked_up:
                matched = looked_up[digest]
            else:
                result = lookup.lookup(item.path, digest, should_stop=lambda: task.cancel_requested,
                                       has_info=record.civitai is not None)
                matched = looked_up[digest] = result.matched
                if result.error:
                    task.add_error(f"{item.model_type}/{item.name}: {result.error}")
                failures_in_a_row = failures_in_a_row + 1 if result.error and not result.matched else 0
            if matched:
                task.matched += 1
                try:
                    self.index.refresh_one(ModelLocation(item.model_type, item.root, item.name, item.path))
                except OSError:
                    pass
            task.scanned += 1
            self._progress()
            if failures_in_a_row >= MAX_CIVITAI_FAILURES_IN_A_ROW:
                task.add_error(f"stopped asking Civitai after {failures_in_a_row} failed lookups in a row; "
                               "scan again later")
                break


def needs_civitai(record: ModelRecord | None) -> bool:
    """A hashed model still missing its Civitai info or its preview."""
    return bool(record and record.sha256 and (record.civitai is None or not record.preview))


def _digest_of(record: ModelRecord | None) -> str | None:
    return None if record is None else record.sha256
