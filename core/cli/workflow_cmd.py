"""``workflow FILE [--download] [--allow-any-host] [--json]``: the models a workflow needs.

FILE is a UI workflow, an API-format prompt (JSON) or a PNG/WebP with the workflow embedded.
Without ``--download`` a table (name, folder, status, size, host) on stdout; with it the missing
models are fetched as ordinary download tasks (one progress line for all; a re-run resumes them),
present models with a known sha256 are verified.  Exit status: 0 only when every model the
workflow gives a link for is present and verified, 1 otherwise, 2 for a bad file.
"""
from __future__ import annotations

import argparse
TYPE_CHECKING = False  # typing itself costs start-up time; annotations are strings here
if TYPE_CHECKING:
    from typing import Any

from .common import add_flags, add_global_options, backend_for, emit_json, human

#: name, folder, status, size, host: 80 columns with the four separating spaces
WIDTHS = (28, 14, 17, 8, 9)
PRESENT, PRESENT_ELSEWHERE = "present", "present_elsewhere"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "workflow", help="list the models a workflow needs; --download fetches the missing ones",
        description="List the models a ComfyUI workflow (JSON, API prompt, PNG/WebP) needs, and fetch "
                    "the missing ones into the right folders.")
    parser.add_argument("file", metavar="FILE", help="workflow .json, API prompt .json, .png or .webp")
    add_flags(parser, {
        "--download": "download the missing models",
        "--allow-any-host": "fetch from any host, not only Hugging Face, Civitai and workflow_allowed_hosts",
        "--no-sizes": "do not ask the hosts for sizes",
    })
    add_global_options(parser)
    parser.set_defaults(func=run_workflow)


def read_file(name: str):
    from pathlib import Path

    from ..errors import InvalidInput
    from ..workflow.limits import check_size
    from ..workflow.reader import read_bytes

    path = Path(name)
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
    workflow = read_file(args.file)  # a bad file is exit 2 before anything else
    backend = backend_for(args)
    if backend.remote:
        return run_remote(args, backend, workflow)
    service = backend.workflow_service()
    if not args.download:
        references = service.list(workflow, allow_any_host=args.allow_any_host, sizes=not args.no_sizes)
        _report(args.json, [r.to_json() for r in references], [])
        return 0 if _all_ok(references) else 1
    from .download_cmd import follow

    backend._start()
    result, references = service.download(workflow, allow_any_host=args.allow_any_host)
    for item in result.refused:
        human(f"not downloaded: {item['name']}: {item['reason']}")
    for task in result.tasks:
        backend._claim(task.task_id)
    finals = follow(backend, [t.to_json() for t in result.tasks])
    verified = _verify_present(references, backend.app())
    _update(references, finals)
    for task in finals:
        if task["status"] != "completed":
            human(f"failed: {task['model_type']}/{task['filename']}: {task.get('error') or task['status']}")
    _report(args.json, [r.to_json() for r in references], finals)
    return 0 if _all_ok(references) and verified else 1


def run_remote(args: argparse.Namespace, backend: Any, workflow: Any) -> int:
    """The ComfyUI reads the workflow and downloads into its own folders; this command follows."""
    body: dict[str, Any] = {"allow_any_host": args.allow_any_host}
    if workflow.ui is not None:
        body["workflow"] = workflow.ui
    if workflow.prompt is not None:
        body["prompt"] = workflow.prompt
    if not args.download:
        body["sizes"] = not args.no_sizes
        references = backend.workflow_models(body, download=False)["models"]
        _report(args.json, references, [])
        return 0 if _all_ok(references) else 1
    from .download_cmd import follow

    answer = backend.workflow_models(body, download=True)
    for item in answer.get("refused", []):
        human(f"not downloaded: {item['name']}: {item['reason']}")
    finals = follow(backend, answer.get("tasks", []))
    references = backend.workflow_models({**body, "sizes": False}, download=False)["models"]
    for task in finals:
        if task["status"] != "completed":
            human(f"failed: {task['model_type']}/{task['filename']}: {task.get('error') or task['status']}")
    _report(args.json, references, finals)
    return 0 if _all_ok(references) and all(t["status"] == "completed" for t in finals) else 1


def _update(references: list, finals: list[dict]) -> None:
    """The local references after their downloads ended."""
    by_id = {t["task_id"]: t for t in finals}
    for ref in references:
        task = by_id.get(ref.task_id or "")
        if task is None:
            continue
        if task["status"] == "completed":
            ref.status, ref.size, ref.sha256 = PRESENT, task["total_bytes"], task["sha256"]
        else:
            ref.reason = task.get("error") or task["status"]


def _verify_present(references: list, app: Any) -> bool:
    """Hash present files whose sha256 the workflow gives and the cache does not know."""
    from pathlib import Path

    from ..diskspace import human_bytes
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


def _status(ref: Any) -> str:
    return ref["status"] if isinstance(ref, dict) else ref.status


def _all_ok(references: list) -> bool:
    """Every model the workflow links is present (references: objects or their JSON)."""
    return all(_status(r) in (PRESENT, PRESENT_ELSEWHERE) for r in references
               if (r["url"] if isinstance(r, dict) else r.url))


def _report(as_json: bool, references: list[dict], finals: list[dict]) -> None:
    if as_json:
        document: dict[str, Any] = {"models": references}
        if finals:
            document["tasks"] = finals
        emit_json(document)
        return
    print(table(references))
    for ref in references:
        if ref.get("reason"):
            human(f"{ref['directory']}/{ref['name']}: {ref['reason']}")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(references: list[dict]) -> str:
    """name / folder / status / size / host in 80 columns."""
    from ..diskspace import human_bytes

    rows = [("NAME", "FOLDER", "STATUS", "SIZE", "HOST")]
    for ref in references:
        size = human_bytes(ref["size"]) if ref.get("size") is not None else "-"
        rows.append((ref["name"], ref["directory"], ref["status"], size, ref.get("host") or "-"))
    lines = []
    for row in rows:
        cells = [_cut(str(value), width).ljust(width) if i < 4 else _cut(str(value), width)
                 for i, (value, width) in enumerate(zip(row, WIDTHS))]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)
