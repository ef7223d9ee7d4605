"""``download URL``: fetch one model file, with a progress bar, resuming on a re-run.

Locally the download runs in this process with its state under the CLI's config folder, so
running the same ``download`` again after Ctrl-C, a kill or a crash joins the saved task and
resumes its partial file.  With ``--server`` the ComfyUI downloads it and this command follows.
Exit status: 0 only when the file is in place and verified, 1 when the download failed or
stopped, 2 for bad input (found before any network call).
"""
from __future__ import annotations

import argparse
import re
TYPE_CHECKING = False  # typing itself costs start-up time; annotations are strings here
if TYPE_CHECKING:
    from typing import Any

from .common import add_global_options, backend_for, check_type, cli_command, emit_json, human
from .usage import UsageError, check_choice

IF_EXISTS = ("skip", "overwrite", "rename")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    download = subparsers.add_parser(
        "download", help="download a model file (resumes an interrupted download of the same URL)",
        description="Download a model from Civitai, Hugging Face or any http(s) URL into a model folder.")
    download.add_argument("url", metavar="URL", help="Civitai / Hugging Face link, AIR URN, or any http(s) URL")
    download.add_argument("--type", dest="model_type", default="auto", metavar="TYPE",
                          help="model type = folder (checkpoints, loras, vae, ...); default: from the link")
    download.add_argument("--subfolder", default="", help="subfolder inside the type's folder")
    download.add_argument("--filename", default="",
                          help="file name (default: the server's); sub/x.safetensors puts it in sub/")
    download.add_argument("--sha256", default="", help="expected sha256; the download fails if it differs")
    download.add_argument("--if-exists", dest="if_exists", default="skip", metavar="skip|overwrite|rename",
                          help="when the file is already there (default: skip)")
    add_global_options(download)
    download.set_defaults(func=run_download)


def split_filename(subfolder: str, filename: str) -> tuple[str, str]:
    """``--filename sub/x.safetensors`` means subfolder ``sub`` (after ``--subfolder``), name
    ``x.safetensors``; anything that would leave the type's folder is refused, never rewritten."""
    from ..errors import InvalidInput
    from ..paths import validate_relative_name, validate_subfolder

    try:
        base = validate_subfolder(subfolder)
    except InvalidInput as exc:
        raise UsageError(f"--subfolder: {exc.message}") from None
    filename = filename.strip()
    if not filename:
        return base.as_posix() if base.parts else "", ""
    try:
        relative = validate_relative_name(filename)
    except InvalidInput as exc:
        raise UsageError(f"--filename: {exc.message}") from None
    folder = base.joinpath(*relative.parts[:-1]) if len(relative.parts) > 1 else base
    return (folder.as_posix() if folder.parts else ""), relative.name


def request_fields(args: argparse.Namespace, backend: Any) -> dict[str, str]:
    """The download request, checked as far as it can be without the network."""
    if_exists = check_choice("--if-exists", args.if_exists, IF_EXISTS)
    sha256 = args.sha256.strip().lower()
    if sha256 and not _SHA256.match(sha256):
        raise UsageError("--sha256 must be 64 hexadecimal characters")
    url = args.url.strip()
    if not url:
        raise UsageError("URL: give a link to download")
    subfolder, filename = split_filename(args.subfolder, args.filename)
    model_type = check_type(backend, "--type", args.model_type.strip(), ("auto",))
    if not backend.remote and model_type != "auto" and filename:
        from ..errors import InvalidInput

        try:
            backend.folders.destination(model_type, subfolder, filename)
        except InvalidInput as exc:
            raise UsageError(f"--filename: {exc.message}") from None
    return {"url": url, "model_type": model_type, "subfolder": subfolder, "filename": filename,
            "sha256": sha256, "if_exists": if_exists}


def run_download(args: argparse.Namespace) -> int:
    backend = backend_for(args)
    fields = request_fields(args, backend)
    if not backend.remote:
        from .neighbours import sharing_note

        note = sharing_note(backend.models_dir)
        if note:
            human(note)
    task, created = backend.submit(fields)
    kept_existing = created and task["status"] == "completed"
    if not created and task["status"] not in ("completed",):
        from ..diskspace import human_bytes

        human(f"continuing the earlier download of {task['filename']} "
              f"({human_bytes(task['downloaded_bytes'])} already on disk)")
    if task["status"] == "paused":
        task = backend.resume(task["task_id"])
    final = follow(backend, [task])[0]
    if args.json:
        emit_json(final)
    return outcome(final, kept_existing, cli_command(backend))


def follow(backend: Any, tasks: list[dict], label: str | None = None) -> list[dict]:
    """Show progress until every task is finished, paused or interrupted; the last states."""
    from .backend import SETTLED
    from .progress import DownloadProgress

    progress = DownloadProgress(label=label)
    for task in tasks:
        progress.watch(task)
    unwatch = backend.watch(progress.update)
    finals = []
    try:
        for task in tasks:
            current = task
            while current["status"] not in SETTLED:
                current = backend.wait(task["task_id"], timeout=0.5)
                progress.update(current)
            finals.append(current)
    finally:
        unwatch()
        progress.close()
    return finals


def outcome(task: dict, kept_existing: bool = False, command: str = "comfyui-model-manager") -> int:
    """The last line about a task, and the exit status it means."""
    from ..diskspace import human_bytes

    where = f"{task['model_type']}/{task['filename']}"
    if task["status"] == "completed":
        human(f"{where}: {human_bytes(task['total_bytes'])}")
        human(f"  sha256 {task['sha256']}")
        if task.get("verified") is False:
            human("kept the existing file unverified (no checksum known)" if kept_existing
                  else "no checksum was known, so the file could not be verified")
        return 0
    if task["status"] in ("paused", "interrupted"):
        human(f"{where}: {task['status']} at {human_bytes(task['downloaded_bytes'])}; "
              f"continue with: {command} tasks resume {task['task_id'][:8]}")
        return 1
    human(f"error: {where}: {task.get('error') or task['status']}")
    return 1
