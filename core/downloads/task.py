"""The download task record: what is persisted (JSON, never pickle) and what clients see.

``to_json()`` gives exactly the keys clients see (REST, events, CLI); ``to_record()``/``from_record()`` add what the
manager needs to continue after a restart (destination, expected size, ETag, the byte ranges
still missing).  Nothing here ever holds a secret: URLs are redacted before they get here.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

QUEUED = "queued"
DOWNLOADING = "downloading"
PAUSED = "paused"
VERIFYING = "verifying"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"

STATUSES = (QUEUED, DOWNLOADING, PAUSED, VERIFYING, COMPLETED, FAILED, CANCELLED)
#: Statuses in which a worker thread owns the task.
ACTIVE = frozenset({DOWNLOADING, VERIFYING})
#: Statuses after which nothing happens unless the user asks again.
FINISHED = frozenset({COMPLETED, FAILED, CANCELLED})

#: Keys of the task JSON clients see, in the order they are written.
CONTRACT_KEYS = (
    "task_id", "url", "source", "model_type", "filename", "status", "downloaded_bytes",
    "total_bytes", "progress", "speed_bps", "eta_seconds", "connections", "sha256", "verified", "error",
    "message", "node_id", "created_at", "updated_at",
)


def new_task_id() -> str:
    return uuid.uuid4().hex


@dataclass
class DownloadTask:
    """One download.  ``url`` is the redacted display URL; ``filename`` is relative to the
    type's folder (``sub/dir/name.safetensors``); ``destination`` is the absolute final path."""

    task_id: str
    url: str
    source: str
    model_type: str
    filename: str
    destination_path: str
    status: str = QUEUED
    downloaded_bytes: int = 0
    total_bytes: int | None = None
    speed_bps: float = 0.0
    eta_seconds: float | None = None
    connections: int = 0  # connections streaming bytes right now (shown while downloading)
    sha256: str | None = None  # expected (lower-case hex) when known, else the computed one at the end
    error: str | None = None
    #: A note on a task that is fine but waiting, e.g. "being downloaded by another process (pid N)".
    message: str | None = None
    node_id: str | None = None
    prompt_id: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    # --- persisted for resume, not in the JSON clients see ---------------------------
    sha256_expected: bool = False  # True when ``sha256`` came from the user or the source
    etag: str | None = None  # strong validator of the URL the bytes came from
    missing: list[list[int | None]] | None = None  # [[start, end_or_None], ...] still to fetch
    segmented: bool = False  # fetched over several connections (the file may have holes)
    segment_grid: int | None = None  # block grid the partial was written on (resume re-plans from disk)
    if_exists: str = "skip"

    @property
    def destination(self) -> Path:
        return Path(self.destination_path)

    @property
    def progress(self) -> float | None:
        if not self.total_bytes:
            return 100.0 if self.status == COMPLETED else None
        return round(min(100.0, 100.0 * self.downloaded_bytes / self.total_bytes), 2)

    @property
    def key(self) -> tuple[str, str]:
        """One task per URL + destination."""
        return self.url, self.destination_path

    def touch(self) -> None:
        self.updated_at = time.time()

    @property
    def verified(self) -> bool | None:
        """Whether the finished file was checked against a known sha256: ``False`` when no
        checksum was known (a skip kept the existing file as it is); ``None`` until completed."""
        if self.status != COMPLETED:
            return None
        return bool(self.sha256_expected)

    def to_json(self) -> dict[str, Any]:
        """The task JSON clients see (no secrets, no internal fields)."""
        return {
            "task_id": self.task_id,
            "url": self.url,
            "source": self.source,
            "model_type": self.model_type,
            "filename": self.filename,
            "status": self.status,
            "downloaded_bytes": int(self.downloaded_bytes),
            "total_bytes": self.total_bytes,
            "progress": self.progress,
            "speed_bps": round(float(self.speed_bps), 1),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "connections": self.connections if self.status == DOWNLOADING else 0,
            "sha256": self.sha256,
            "verified": self.verified,
            "error": self.error,
            "message": self.message,
            "node_id": self.node_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def event_payload(self) -> dict[str, Any]:
        """Event payload: the task JSON plus the requester's ``prompt_id``, so a node can tell its own task."""
        payload = self.to_json()
        payload["prompt_id"] = self.prompt_id
        return payload

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["version"] = 1
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "DownloadTask":
        known = {f for f in cls.__dataclass_fields__}  # type: ignore[attr-defined]
        data = {k: v for k, v in record.items() if k in known}
        task = cls(**data)
        if task.status not in STATUSES:
            task.status = QUEUED
        return task

    def copy(self) -> "DownloadTask":
        return DownloadTask.from_record(self.to_record())

    def __repr__(self) -> str:
        return (f"DownloadTask({self.task_id[:8]}, {self.status}, {self.url!r} -> {self.filename!r}, "
                f"{self.downloaded_bytes}/{self.total_bytes})")
