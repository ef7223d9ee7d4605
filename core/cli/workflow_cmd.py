"""``workflow FILE [--download] [--allow-any-host] [--json]``: the models a workflow needs.

FILE is a UI workflow, an API-format prompt (JSON) or a PNG/WebP with the workflow embedded.
Without ``--download`` a table (name, folder, status, size, host) on stdout; with it the missing
models are fetched as ordinary download tasks (one progress line for all; a re-run resumes them),
present models with a known sha256 are verified.  Exit status: 0 only when every model the
workflow gives a link for is present and verified, 1 otherwise, 2 for a bad file.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from ..diskspace import human_bytes
from ..errors import InvalidInput
from ..observers import UPDATE_DOWNLOAD_TASK
from ..task import COMPLETED, FINISHED
from ..workflow.limits import check_size
from ..workflow.listing import PRESENT, PRESENT_ELSEWHERE, Reference
from ..workflow.reader import read_bytes
from .common import add_common_arguments, context_from, emit_json, human

#: name, folder, status, size, host: 80 columns with the four separating spaces
WIDTHS = (28, 14, 17, 8, 9)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "workflow", help="list the models a workflow needs; --download fetches the missing ones",
        description="List the models a ComfyUI workflow (JSON, API prompt, PNG/WebP) needs, and fetch "
                    "the missing ones into the right folders.")
    parser.add_argument("file", type=Path, metavar="FILE", help="workflow .json, API prompt .json, .png or .webp")
    parser.add_argument("--download", action="store_true", help="download the missing models")
    parser.add_argument("--allow-any-host", action="store_true",
                        help="fetch from any host, not only Hugging Face, Civitai and workflow_allowed_hosts")
    parser.add_argument("--no-sizes", action="store_true", help="do not ask the hosts for sizes")
    add_common_arguments(parser)
    parser.set_defaults(func=run_workflow)


def read_file(path: Path):
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InvalidInput(f"the workflow file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"could not read {str(path)!r}: {exc.strerror or exc}") from None
    check_size(size)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"could not read {str(path)!r}: {exc.strerror or exc}") from None
    return read_bytes(data)


def run_workflow(args: argparse.Namespace) -> int:
    from ..workflow.service import WorkflowModels

    workflow = read_file(args.file)
    ctx = context_from(args)
    app = ctx.app()
    service = WorkflowModels(app.folders, app.settings, digests=app.hash_cache, manager=app.manager,
                             http=app.http)
    try:
        if not args.download:
            references = service.list(workflow, allow_any_host=args.allow_any_host, sizes=not args.no_sizes)
            _report(ctx.json, references, [])
            return 0 if _all_ok(references, verify=False) else 1
        progress = Progress(sys.stderr)
        app.manager.events.subscribe(progress.on_event)
        app.start(resume_persisted=False)  # only this workflow's tasks run
        result, references = service.download(workflow, allow_any_host=args.allow_any_host)
        for item in result.refused:
            human(f"not downloaded: {item['name']}: {item['reason']}")
        progress.watch([t.task_id for t in result.tasks])
        finals = [app.manager.wait(t.task_id) for t in result.tasks]
        progress.close()
    finally:
        ctx.close()
    verified = _verify_present(references, app)
    _update(references, finals)
    for task in finals:
        if task.status != COMPLETED:
            human(f"failed: {task.model_type}/{task.filename}: {task.error or task.status}")
    _report(ctx.json, references, finals)
    return 0 if _all_ok(references, verify=True) and verified else 1


def _update(references: list[Reference], finals: list) -> None:
    by_id = {t.task_id: t for t in finals}
    for ref in references:
        task = by_id.get(ref.task_id or "")
        if task is None:
            continue
        if task.status == COMPLETED:
            ref.status, ref.path, ref.size, ref.sha256 = PRESENT, str(task.destination), task.total_bytes, task.sha256
        else:
            ref.reason = task.error or task.status


def _verify_present(references: list[Reference], app) -> bool:
    """Hash present files whose sha256 the workflow gives and the cache does not know."""
    from ..scanner.hashing import FileHasher

    ok = True
    hasher = FileHasher()
    for ref in references:
        if ref.status != PRESENT or not ref.sha256 or not ref.path or ref.task_id:
            continue
        path = Path(ref.path)
        stat = path.stat()
        digest = app.hash_cache.get(str(path), stat.st_size, stat.st_mtime_ns)
        if digest is None:
            human(f"verifying {ref.directory}/{ref.name} ({human_bytes(stat.st_size)})")
            digest = hasher.sha256(path)
            app.hash_cache.put(str(path), stat.st_size, stat.st_mtime_ns, digest)
        if digest != ref.sha256:
            ok = False
            ref.status = "refused"
            ref.reason = (f"a different file named {ref.name} is in {ref.directory} (sha256 {digest[:12]}…, "
                          f"the workflow expects {ref.sha256[:12]}…); it was left alone")
    return ok


def _all_ok(references: list[Reference], verify: bool) -> bool:
    return all(r.status in (PRESENT, PRESENT_ELSEWHERE) for r in references if r.url)


def _report(as_json: bool, references: list[Reference], finals: list) -> None:
    if as_json:
        document = {"models": [r.to_json() for r in references]}
        if finals:
            document["tasks"] = [t.to_json() for t in finals]
        emit_json(document)
        return
    print(table(references))
    for ref in references:
        if ref.reason:
            human(f"{ref.directory}/{ref.name}: {ref.reason}")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(references: list[Reference]) -> str:
    """name / folder / status / size / host in 80 columns."""
    rows = [("NAME", "FOLDER", "STATUS", "SIZE", "HOST")]
    for ref in references:
        size = human_bytes(ref.size) if ref.size is not None else "-"
        rows.append((ref.name, ref.directory, ref.status, size, ref.host or "-"))
    lines = []
    for row in rows:
        cells = [_cut(str(value), width).ljust(width) if i < 4 else _cut(str(value), width)
                 for i, (value, width) in enumerate(zip(row, WIDTHS))]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


class Progress:
    """One line for all of a workflow's downloads (redrawn on a terminal, every 10 % on a pipe)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._tasks: dict[str, dict] = {}
        self._last = 0.0
        self._step = -1
        self._drawn = False

    def watch(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self._tasks.setdefault(task_id, {})

    def on_event(self, event: str, task: dict) -> None:
        if event != UPDATE_DOWNLOAD_TASK or task.get("task_id") not in self._tasks:
            return
        self._tasks[task["task_id"]] = task
        tasks = list(self._tasks.values())
        done = sum(1 for t in tasks if t.get("status") in FINISHED)
        got = sum(t.get("downloaded_bytes") or 0 for t in tasks)
        total = sum(t.get("total_bytes") or 0 for t in tasks)
        percent = 100.0 * got / total if total else 0.0
        line = (f"[{done}/{len(tasks)} files] {percent:5.1f}% {human_bytes(got)}/{human_bytes(total)} "
                f"{human_bytes(sum(t.get('speed_bps') or 0 for t in tasks))}/s")
        if self._tty:
            now = time.monotonic()
            if now - self._last >= 0.2:
                self._last = now
                self.stream.write("\r" + line + "   ")
                self.stream.flush()
                self._drawn = True
        elif int(percent // 10) > self._step:
            self._step = int(percent // 10)
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
