"""A scan's live state (what the events carry), its final report, and the scans an index knows."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .record import ModelRecord

#: Status values: queued -> scanning -> hashing -> fetching_info -> completed | cancelled | failed
FINAL_STATUSES = ("completed", "cancelled", "failed")
MAX_ERRORS_KEPT = 200
#: Finished scans kept for ``GET /scans/{id}`` (the oldest go first).
MAX_FINISHED_SCANS = 50


@dataclass
class ScanTask:
    model_type: str  # "all" or one type
    types: tuple[str, ...]
    compute_hashes: bool = False
    fetch_civitai_info: bool = False
    scan_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    status: str = "queued"
    scanned: int = 0
    total: int = 0
    current: str = ""
    count: int = 0
    hashed: int = 0
    hashes_computed: int = 0
    matched: int = 0
    errors: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    report: "ScanReport | None" = field(default=None, repr=False)
    node_id: str | None = None  # the graph node that asked (ScanModels), if any
    prompt_id: str | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    # -- control -------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def mark_done(self) -> None:
        self.finished_at = time.time()
        self._done.set()

    def add_error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)

    def adopt_requester(self, node_id: str | None, prompt_id: str | None) -> None:
        """A request joins this scan: its node becomes the scan's only if none asked before."""
        if self.node_id is None and node_id is not None:
            self.node_id, self.prompt_id = node_id, prompt_id

    def covers(self, types: tuple[str, ...], compute_hashes: bool, fetch_civitai_info: bool) -> bool:
        """Would this scan do everything a new request for ``types`` asks? Then the request joins it."""
        return (set(types) <= set(self.types)
                and (self.compute_hashes or not compute_hashes)
                and (self.fetch_civitai_info or not fetch_civitai_info))

    # -- views ---------------------------------------------------------------------------
    def _requester(self) -> dict[str, Any]:
        """``node_id``/``prompt_id`` of the node that asked; empty when nobody named one (CLI, REST)."""
        if self.node_id is None and self.prompt_id is None:
            return {}
        return {"node_id": self.node_id, "prompt_id": self.prompt_id}

    def progress_event(self) -> dict[str, Any]:
        """``model_manager.update_scan_task`` payload (plus the asking node if any)."""
        return {"scan_id": self.scan_id, "model_type": self.model_type, "scanned": self.scanned,
                "total": self.total, "current": self.current, "status": self.status,
                **self._requester()}

    def complete_event(self) -> dict[str, Any]:
        """``model_manager.complete_scan_task`` payload (plus the asking node if any);
        ``errors`` is a count."""
        return {"scan_id": self.scan_id, "model_type": self.model_type, "count": self.count,
                "hashed": self.hashed, "matched": self.matched, "errors": len(self.errors),
                **self._requester()}

    def to_json(self) -> dict[str, Any]:
        """The scan status of ``GET /model-manager/scans/{scan_id}``."""
        return {**self.progress_event(), "node_id": self.node_id, "prompt_id": self.prompt_id,
                "count": self.count, "hashed": self.hashed,
                "hashes_computed": self.hashes_computed, "matched": self.matched,
                "errors": list(self.errors), "compute_hashes": self.compute_hashes,
                "fetch_civitai_info": self.fetch_civitai_info, "created_at": self.created_at,
                "finished_at": self.finished_at}


@dataclass
class ScanReport:
    """What a finished scan found: the ScanModels node's ``report`` and ``scan --json``."""

    task: ScanTask
    models: "list[ModelRecord]"

    @property
    def count(self) -> int:
        return len(self.models)

    def to_json(self) -> dict[str, Any]:
        task = self.task
        return {"scan_id": task.scan_id, "model_type": task.model_type, "status": task.status,
                "count": self.count, "hashed": task.hashed, "hashes_computed": task.hashes_computed,
                "matched": task.matched, "errors": list(task.errors),
                "models": [model.to_json() for model in self.models]}


class ScanRegistry:
    """The scans of one index by id: the active ones (a request that one of them covers joins
    it) and the last ``MAX_FINISHED_SCANS`` finished ones.  Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scans: dict[str, ScanTask] = {}
        self._active: list[ScanTask] = []

    def join_or_add(self, model_type: str, types: tuple[str, ...], compute_hashes: bool,
                    fetch_civitai_info: bool, node_id: str | None = None,
                    prompt_id: str | None = None) -> tuple[ScanTask, bool]:
        """``(task, True)`` for a new scan the caller must run, ``(task, False)`` for an active
        one that covers the request (it keeps the first requester's node unless none was set)."""
        with self._lock:
            for task in self._active:
                if not task.finished and task.covers(types, compute_hashes, fetch_civitai_info):
                    task.adopt_requester(node_id, prompt_id)
                    return task, False
            task = ScanTask(model_type, types, compute_hashes, fetch_civitai_info,
                            node_id=node_id, prompt_id=prompt_id)
            self._active.append(task)
            self._scans[task.scan_id] = task
            finished = [t for t in self._scans.values() if t.finished]
            for old in finished[:-MAX_FINISHED_SCANS] if len(finished) > MAX_FINISHED_SCANS else []:
                self._scans.pop(old.scan_id, None)
            return task, True

    def ended(self, task: ScanTask) -> None:
        with self._lock:
            if task in self._active:
                self._active.remove(task)

    def active(self) -> list[ScanTask]:
        with self._lock:
            return list(self._active)

    def get(self, scan_id: str) -> ScanTask | None:
        with self._lock:
            return self._scans.get(scan_id)
