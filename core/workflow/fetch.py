"""Missing references become ordinary download tasks (resume, retries, segments, events,
pause/cancel, verification), each saved under the workflow's name in its folder."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..errors import Conflict, ModelManagerError
from ..downloads.manager import DownloadManager, DownloadRequest
from ..downloads.task import FINISHED, PAUSED
from .listing import DOWNLOADING, MISSING, MISSING_NO_URL, PRESENT, PRESENT_ELSEWHERE, Reference

#: Links resolved at the same time (each resolution is one or two metadata requests).
RESOLVE_WORKERS = 4


@dataclass
class FetchResult:
    tasks: list[Any] = field(default_factory=list)  # DownloadTask, in reference order
    refused: list[dict] = field(default_factory=list)  # {name, directory, reason}
    present: list[Reference] = field(default_factory=list)
    #: reference (directory, name) -> task id, for the ones that have a task
    task_of: dict[tuple[str, str], str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"tasks": [t.to_json() for t in self.tasks], "refused": list(self.refused),
                "present": [r.to_json() for r in self.present]}


def select(references: list[Reference], names: Iterable[str] | None) -> tuple[list[Reference], list[str]]:
    """The references named in ``names`` (a name, or ``directory/name``), and the names not found."""
    if names is None:
        return references, []
    wanted = [n.replace("\\", "/").strip() for n in names]
    chosen = [r for r in references if r.name in wanted or f"{r.directory}/{r.name}" in wanted]
    unknown = [n for n in wanted if not any(n in (r.name, f"{r.directory}/{r.name}") for r in references)]
    return chosen, unknown


def fetch(references: list[Reference], manager: DownloadManager, names: Iterable[str] | None = None,
          redact=lambda text: text) -> FetchResult:
    """Start (or join) the downloads of the missing references; blocking (links are resolved)."""
    chosen, unknown = select(references, names)
    result = FetchResult()
    result.refused.extend({"name": n, "directory": None, "reason": "this workflow names no such model"}
                          for n in unknown)
    to_start: list[Reference] = []
    for ref in chosen:
        if ref.status in (PRESENT, PRESENT_ELSEWHERE):
            result.present.append(ref)
        elif ref.status == MISSING:
            to_start.append(ref)
        elif ref.status == DOWNLOADING and ref.task_id:
            to_start.append(ref)
        else:
            reason = ref.reason or ("no download link" if ref.status == MISSING_NO_URL else ref.status)
            result.refused.append({"name": ref.name, "directory": ref.directory, "reason": reason})
    if not to_start:
        return result
    with ThreadPoolExecutor(max_workers=min(RESOLVE_WORKERS, len(to_start)),
                            thread_name_prefix="workflow-fetch") as pool:
        outcomes = list(pool.map(lambda r: _start(r, manager), to_start))
    for ref, (task, error) in zip(to_start, outcomes):
        if task is not None:
            result.tasks.append(task)
            result.task_of[(ref.directory, ref.name)] = task.task_id
            ref.status, ref.task_id = DOWNLOADING, task.task_id
        else:
            result.refused.append({"name": ref.name, "directory": ref.directory, "reason": redact(error or "")})
    return result


def _start(ref: Reference, manager: DownloadManager) -> tuple[Any, str | None]:
    if ref.status == DOWNLOADING and ref.task_id:
        try:
            return _wake(manager, manager.get(ref.task_id)), None
        except ModelManagerError:
            pass  # removed meanwhile: start it anew below
    subfolder, _, filename = ref.name.rpartition("/")
    request = DownloadRequest(url=ref.raw_url or "", model_type=ref.directory, subfolder=subfolder,
                              filename=filename, sha256=ref.sha256 or "", if_exists="skip")
    try:
        task, _created = manager.submit(request)
    except Conflict as exc:
        busy = _busy_task(manager, ref)
        return (busy, None) if busy is not None else (None, exc.message)
    except ModelManagerError as exc:
        return None, exc.message
    return _wake(manager, task), None


def _wake(manager: DownloadManager, task: Any) -> Any:
    """A paused task the user now asks for again is resumed."""
    if task.status == PAUSED:
        return manager.resume(task.task_id)
    return task


def _busy_task(manager: DownloadManager, ref: Reference) -> Any | None:
    try:
        destination = str(manager.folders.destination(ref.directory, "", ref.name).path)
    except ModelManagerError:
        return None
    for task in manager.list():
        if task.destination_path == destination and task.status not in FINISHED:
            return task
    return None
