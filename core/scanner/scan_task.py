"""A scan's live state (what the events carry) and its final report."""
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
