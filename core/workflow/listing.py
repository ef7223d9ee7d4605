"""The reference list: each model a workflow names, with its status (never downloads a byte)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from ..errors import ModelManagerError
from ..model_types import ModelFolders
from ..redact import redact_url
from ..downloads.task import FINISHED
from .loaders import LoaderSpec, merge
from .policy import HostPolicy, check_name
from .presence import DigestStore, Presence, find_file
from .reader import Workflow
from .references import Candidate, collect

PRESENT, PRESENT_ELSEWHERE, MISSING = "present", "present_elsewhere", "missing"
MISSING_NO_URL, REFUSED, DOWNLOADING = "missing_no_url", "refused", "downloading"
STATUSES = (PRESENT, PRESENT_ELSEWHERE, MISSING, MISSING_NO_URL, REFUSED, DOWNLOADING)


@dataclass
class Reference:
    name: str
    directory: str
    url: str | None  # redacted: no credentials
    sha256: str | None
    node_ids: list[str]
    status: str
    path: str | None = None
    reason: str | None = None
    task_id: str | None = None
    size: int | None = None
    host: str | None = None
    #: the link as written (may hold a token): used to fetch, never shown or stored
    raw_url: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name, "directory": self.directory, "url": self.url, "sha256": self.sha256,
            "node_ids": list(self.node_ids), "status": self.status, "path": self.path,
            "reason": self.reason, "task_id": self.task_id,
        }
        if self.size is not None:
            doc["size"] = self.size
        if self.host is not None:
            doc["host"] = self.host
        return doc


@dataclass
class ListingContext:
    """Everything a listing consults; all of it local (files, hash cache, task list)."""

    folders: ModelFolders
    policy: HostPolicy
    digests: DigestStore | None = None
    loaders: Mapping[str, LoaderSpec] | None = None  # found in the running ComfyUI; merged with the built-ins
    tasks: Callable[[], Iterable[Any]] | None = None  # DownloadManager.list


def list_references(workflow: Workflow, ctx: ListingContext, allow_any_host: bool = False) -> list[Reference]:
    candidates = collect(workflow, merge(ctx.loaders))
    presence = Presence(ctx.folders, ctx.digests, [c.sha256 for c in candidates if c.sha256])
    running = _running_tasks(ctx)
    return [_judge(c, ctx, presence, running, allow_any_host) for c in candidates]


def _running_tasks(ctx: ListingContext) -> dict[str, Any]:
    if ctx.tasks is None:
        return {}
    return {t.destination_path: t for t in ctx.tasks() if t.status not in FINISHED}


def _judge(candidate: Candidate, ctx: ListingContext, presence: Presence, running: dict[str, Any],
           allow_any_host: bool) -> Reference:
    url = candidate.url
    ref = Reference(candidate.name, candidate.directory, redact_url(url) if url else None, candidate.sha256,
                    list(candidate.node_ids), MISSING, raw_url=url,
                    host=(_hostname(url) if url else None))
    notes = list(candidate.notes)

    def done(status: str, reason: str | None = None, path: Path | None = None) -> Reference:
        ref.status = status
        ref.path = str(path) if path is not None else None
        ref.reason = "; ".join([r for r in (reason, *notes) if r]) or None
        return ref

    refusal = check_name(ctx.folders, candidate.directory, candidate.name)
    if refusal:
        return done(REFUSED, refusal)
    here = find_file(ctx.folders, candidate.directory, candidate.name)
    if here is not None:
        ref.size = _size(here)
        digest = presence.digest_of(here) if candidate.sha256 else None
        if digest and digest != candidate.sha256:
            return done(REFUSED, f"a different file named {candidate.name} is already in {candidate.directory} "
                                 f"(sha256 {digest[:12]}…, the workflow expects {candidate.sha256[:12]}…); "
                                 "it is left alone", here)
        return done(PRESENT, None, here)
    if candidate.sha256:
        other = presence.elsewhere(candidate.sha256)
        if other is not None:
            ref.size = _size(other.path)
            return done(PRESENT_ELSEWHERE, f"the same file (sha256) is at {other.label}", other.path)
    try:
        destination = ctx.folders.destination(candidate.directory, "", candidate.name).path
    except ModelManagerError as exc:
        return done(REFUSED, exc.message)
    task = running.get(str(destination))
    if task is not None:
        ref.task_id = task.task_id
        ref.size = task.total_bytes
        return done(DOWNLOADING, None)
    if not url:
        return done(MISSING_NO_URL, "the workflow gives no download link for it")
    refusal = ctx.policy.check_url(url, allow_any_host)
    if refusal:
        return done(REFUSED, refusal)
    return done(MISSING)


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
