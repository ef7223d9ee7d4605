"""``tasks``: list download tasks; ``tasks pause|resume|cancel|remove ID…``; ``tasks clear --finished``.

The listing goes to stdout (it is the command's output: ``| less`` and ``> file`` keep it).
IDs may be abbreviated to a unique prefix, as git does with commits.  A task whose process is
gone is ``interrupted``; the listing says how to resume it.  Locally ``tasks resume`` runs the
download here (with a progress bar) until it ends; with ``--server`` the ComfyUI resumes it.
"""
from __future__ import annotations

import argparse
import sys
TYPE_CHECKING = False  # typing itself costs start-up time; annotations are strings here
if TYPE_CHECKING:
    from typing import Any

from .common import add_global_options, backend_for, cli_command, emit_json, human

ACTIONS = ("pause", "resume", "cancel", "remove")


def register(subparsers: argparse._SubParsersAction) -> None:
    from .usage import CliParser

    tasks = subparsers.add_parser("tasks", help="list, pause, resume, cancel or remove download tasks",
                                  description="Without an action: list the download tasks (stdout).")
    add_global_options(tasks)
    actions = tasks.add_subparsers(dest="action", metavar="ACTION", parser_class=CliParser)
    for action in ACTIONS:
        parser = actions.add_parser(action, help=f"{action} tasks (IDs may be unique prefixes)")
        parser.add_argument("ids", nargs="+", metavar="ID", help="task id or a unique prefix of one")
        add_global_options(parser)
    clear = actions.add_parser("clear", help="remove the records of finished tasks (the files stay)")
    clear.add_argument("--finished", action="store_true", required=True,
                       help="completed, failed and cancelled tasks")
    add_global_options(clear)
    tasks.set_defaults(func=run_tasks)


def run_tasks(args: argparse.Namespace) -> int:
    backend = backend_for(args)
    action = getattr(args, "action", None)
    if action is None:
        return list_tasks(backend, args.json)
    if action == "clear":
        return clear_finished(backend, args.json)
    from .backend import resolve_prefix

    known = backend.task_ids()
    ids = list(dict.fromkeys(resolve_prefix(prefix, known) for prefix in args.ids))  # every ID checked first
    owner = (lambda task_id: backend) if backend.remote else backend.for_task
    if action == "remove":
        for task_id in ids:
            owner(task_id).remove(task_id)
            human(f"removed task {task_id[:8]}")
        if args.json:
            emit_json({"removed": ids})
        return 0
    if action == "resume" and not backend.remote:
        return resume_here(ids, owner, args.json)
    changed = [getattr(owner(task_id), action)(task_id) for task_id in ids]
    for task in changed:
        human(f"{task['task_id'][:8]} {task['model_type']}/{task['filename']}: {task['status']}")
    if args.json:
        emit_json({"tasks": changed})
    return 0


def resume_here(ids: list[str], owner: Any, as_json: bool) -> int:
    """Run the tasks in this process (each in its own models folder) until they end."""
    from .download_cmd import follow, outcome

    groups: dict[int, tuple[Any, list[dict]]] = {}
    for task_id in ids:
        backend = owner(task_id)
        groups.setdefault(id(backend), (backend, []))[1].append(backend.resume(task_id))
    finals = [task for backend, started in groups.values() for task in follow(backend, started)]
    if as_json:
        emit_json({"tasks": finals})
    return max(outcome(task) for task in finals)


def clear_finished(backend: Any, as_json: bool) -> int:
    from .backend import FINISHED

    removed = []
    for task in backend.list_tasks():
        if task["status"] in FINISHED:
            (backend if backend.remote else backend.for_task(task["task_id"])).remove(task["task_id"])
            removed.append(task["task_id"])
    human(f"removed {len(removed)} finished task{'s' if len(removed) != 1 else ''}")
    if as_json:
        emit_json({"removed": removed})
    return 0


def list_tasks(backend: Any, as_json: bool) -> int:
    tasks = backend.list_tasks()
    if as_json:
        emit_json({"tasks": tasks})
        return 0
    if not tasks:
        human("no download tasks")
        return 0
    import shutil

    width = shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else None
    for line in table(tasks, cli_command(backend), width):
        print(line)
    return 0


def table(tasks: list[dict], command: str, width: int | None) -> list[str]:
    """``ID  STATUS  PROGRESS  SIZE  TYPE/FILENAME``, with how to resume what can be resumed."""
    from ..diskspace import human_bytes

    lines = [f"{'ID':<8}  {'STATUS':<11}  {'DONE':>6}  {'SIZE':>10}  FILE"]
    for task in tasks:
        done = "" if task.get("progress") is None else f"{task['progress']:.1f}%"
        size = human_bytes(task["total_bytes"]) if task.get("total_bytes") else "-"
        line = f"{task['task_id'][:8]:<8}  {task['status']:<11}  {done:>6}  {size:>10}  " \
               f"{task['model_type']}/{task['filename']}"
        if width and len(line) > width:
            line = line[: width - 1] + "…"
        lines.append(line)
        if task.get("error") and task["status"] != "completed":
            lines.append(f"{'':10}{task['error']}")
        if task["status"] in ("interrupted", "paused", "failed"):
            lines.append(f"{'':10}resume: {command} tasks resume {task['task_id'][:8]}")
    return lines
