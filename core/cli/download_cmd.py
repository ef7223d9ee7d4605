"""``download URL`` and ``tasks``: the download manager on the command line.

The manager runs in this process with its state under ``CliContext.state_dir``, so running the
same ``download`` again after Ctrl-C, a kill or a crash joins the saved task and resumes its
partial file.  Exit status: 0 only when the file is in place and verified, 1 when the download
failed, 2 for bad input.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from ..diskspace import human_bytes
from ..manager import IF_EXISTS_CHOICES, DownloadRequest
from ..observers import UPDATE_DOWNLOAD_TASK
from ..task import COMPLETED, PAUSED
from .common import add_common_arguments, context_from, emit_json, human


def register(subparsers: argparse._SubParsersAction) -> None:
    download = subparsers.add_parser(
        "download", help="download a model file (resumes an interrupted download of the same URL)",
        description="Download a model from Civitai, Hugging Face or any http(s) URL into a model folder.",
    )
    download.add_argument("url", help="Civitai / Hugging Face link, AIR URN, or any http(s) URL")
    download.add_argument("--type", dest="model_type", default="auto",
                          help="model type = folder (checkpoints, loras, vae, ...); default: from the link")
    download.add_argument("--subfolder", default="", help="subfolder inside the type's folder")
    download.add_argument("--filename", default="", help="file name (default: the name the server gives)")
    download.add_argument("--sha256", default="", help="expected sha256; the download fails if it differs")
    download.add_argument("--if-exists", dest="if_exists", choices=IF_EXISTS_CHOICES, default="skip",
                          help="when the file is already there (default: skip)")
    add_common_arguments(download)
    download.set_defaults(func=run_download)

    tasks = subparsers.add_parser("tasks", help="list download tasks")
    add_common_arguments(tasks)
    tasks.set_defaults(func=run_tasks)


def run_download(args: argparse.Namespace) -> int:
    ctx = context_from(args)
    app = ctx.app()
    manager = app.manager
    bar = ProgressBar(sys.stderr)
    manager.events.subscribe(bar.on_event)
    app.start(resume_persisted=False)  # only the task asked for now runs
    try:
        task, created = manager.submit(DownloadRequest(
            url=args.url, model_type=args.model_type, subfolder=args.subfolder, filename=args.filename,
            sha256=args.sha256, if_exists=args.if_exists,
        ))
        bar.task_id = task.task_id
        kept_existing = created and task.status == COMPLETED
        if not created and task.status != COMPLETED:
            human(f"continuing the earlier download of {task.filename} ({human_bytes(task.downloaded_bytes)} "
                  "already on disk)")
        if task.status == PAUSED:
            manager.resume(task.task_id)
        final = manager.wait(task.task_id)
    finally:
        ctx.close()  # stops the transfer on Ctrl-C; the partial stays for the next run
        bar.close()
    if ctx.json:
        emit_json(final.to_json())
    if final.status == COMPLETED:
        human(f"{final.model_type}/{final.filename}: {human_bytes(final.total_bytes)}, sha256 {final.sha256}")
        if not final.verified:
            human("kept the existing file unverified (no checksum known)" if kept_existing
                  else "no checksum was known, so the file could not be verified")
        return 0
    human(f"error: {final.error or final.status}")
    return 1


def run_tasks(args: argparse.Namespace) -> int:
    ctx = context_from(args)
    tasks = ctx.app().manager.list()
    if ctx.json:
        emit_json({"tasks": [t.to_json() for t in tasks]})
        return 0
    if not tasks:
        human("no download tasks")
    for task in tasks:
        progress = "" if task.progress is None else f" {task.progress:.1f}%"
        line = f"{task.task_id[:8]}  {task.status:<11}{progress:>7}  {task.model_type}/{task.filename}  {task.url}"
        if task.error:
            line += f"\n          {task.error}"
        human(line)
    return 0


class ProgressBar:
    """One redrawn line on a terminal; on a pipe, a line every 10 %."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.task_id: str | None = None
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_step = -1
        self._drawn = False
        self._last_draw = 0.0
        self._notice: str | None = None

    def on_event(self, event: str, task: dict) -> None:
        if event != UPDATE_DOWNLOAD_TASK or (self.task_id and task.get("task_id") != self.task_id):
            return
        if task.get("status") not in ("downloading", "verifying"):
            return
        notice = task.get("error") if task.get("status") == "downloading" else None
        if notice and notice != self._notice:  # a retry: say so on a line of its own
            self.stream.write(("\n" if self._drawn else "") + notice + "\n")
            self.stream.flush()
            self._drawn = False
        self._notice = notice
        percent = task.get("progress")
        if self._tty:
            now = time.monotonic()
            if now - self._last_draw < 0.2 and task.get("status") == "downloading":
                return
            self._last_draw = now
            self.stream.write("\r" + self.render(task))
            self.stream.flush()
            self._drawn = True
        elif percent is not None and int(percent // 10) > self._last_step:
            self._last_step = int(percent // 10)
            self.stream.write(self.render(task) + "\n")
            self.stream.flush()

    def render(self, task: dict) -> str:
        percent = task.get("progress")
        done = int(self.width * (percent or 0) / 100)
        bar = "#" * done + "." * (self.width - done)
        text = f"[{bar}] {'' if percent is None else f'{percent:5.1f}%'} " \
               f"{human_bytes(task.get('downloaded_bytes'))}/{human_bytes(task.get('total_bytes'))}"
        if task.get("status") == "verifying":
            return text + " verifying"
        speed = task.get("speed_bps") or 0
        eta = task.get("eta_seconds")
        text += f" {human_bytes(speed)}/s"
        if eta is not None:
            text += f" ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        return text + "   "

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
