"""Download progress on stderr: a tqdm bar on a terminal, plain lines everywhere else.

On a terminal the bar is tqdm's (it measures the terminal on every redraw, so it fits any
width, 80 columns included) and is erased when the download ends, so only the command's final
line stays.  It shows name, percent, bytes done and total, speed, ETA and, when the task says,
the number of connections.  Anything else (a pipe, a file, CI logs) gets one plain line every few
seconds and never a carriage return.  Messages a task carries while it runs (a retry: "connection
lost at 1.2 GB; retry 2/8 in 4 s") are printed once each, as lines of their own.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

from ..diskspace import human_bytes

#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL = float(os.environ.get("COMFYUI_MODEL_MANAGER_PROGRESS_INTERVAL") or 5.0)
_RUNNING = ("queued", "downloading", "verifying")
#: tqdm formats: with a known size, and without (no bar, no percent).  Sizes, speed and ETA are
#: the task's own (as the browser shows them), in the postfix; tqdm draws the bar to fit.
_BAR = "{desc} {percentage:3.0f}%|{bar}| {details}"
_NO_TOTAL = "{desc} {details}"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def sizes(done: int, total: int | None) -> str:
    """``1.4/2.4 MiB`` (one unit when both share it), ``512.0 KiB/2.4 MiB``, or ``1.4 MiB``."""
    if not total:
        return human_bytes(done)
    left, right = human_bytes(done), human_bytes(total)
    if left.split()[-1] == right.split()[-1]:
        return f"{left.split()[0]}/{right}"
    return f"{left}/{right}"


def task_message(task: dict) -> str | None:
    """What a running task has to say (a retry, a wait), if anything."""
    if task.get("status") not in _RUNNING:
        return None
    return task.get("message") or task.get("error") or None


class DownloadProgress:
    """Progress of one or more tasks (a workflow's downloads share one bar); thread-safe."""

    def __init__(self, stream: TextIO | None = None, label: str | None = None,
                 interval: float = PLAIN_INTERVAL) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.interval = interval
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._tasks: dict[str, dict] = {}
        self._messages: dict[str, str] = {}
        self._bar: Any = None
        self._last_line = 0.0
        self._said_verifying = False
        self._closed = False

    def watch(self, task: dict) -> None:
        """Follow ``task`` (its updates count from now on)."""
        with self._lock:
            self._tasks[task["task_id"]] = task

    def update(self, task: dict) -> None:
        with self._lock:
            if self._closed or task.get("task_id") not in self._tasks:
                return
            self._tasks[task["task_id"]] = task
            message = task_message(task)
            if message and self._messages.get(task["task_id"]) != message:
                self._messages[task["task_id"]] = message
                name = f"{task.get('filename')}: " if len(self._tasks) > 1 else ""
                self._note(name + message)
            elif not message:
                self._messages.pop(task["task_id"], None)
            if self._tty:
                self._draw()
            else:
                self._plain()

    def note(self, text: str) -> None:
        """A line of its own, above the bar."""
        with self._lock:
            self._note(text)

    def close(self) -> None:
        """Erase the bar (a terminal keeps nothing of it)."""
        with self._lock:
            self._closed = True
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    # ------------------------------------------------------------------ internals
    def _note(self, text: str) -> None:
        if self._tty:  # a note is a few lines of its own, never wider than the terminal
            import shutil
            import textwrap

            columns = shutil.get_terminal_size((80, 24)).columns if self._bar is None else (self._bar.ncols or 80)
            text = "\n".join(textwrap.wrap(text, width=max(20, columns), subsequent_indent="  ")) or text
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _sums(self) -> dict[str, Any]:
        tasks = list(self._tasks.values())
        done = sum(int(t.get("downloaded_bytes") or 0) for t in tasks)
        totals = [t.get("total_bytes") for t in tasks]
        total = sum(totals) if all(isinstance(x, int) and x > 0 for x in totals) else None
        speed = sum(float(t.get("speed_bps") or 0) for t in tasks)
        eta = (total - done) / speed if total and speed > 0 else None
        connections = [t.get("connections") for t in tasks if isinstance(t.get("connections"), int)]
        verifying = bool(tasks) and all(t.get("status") in ("verifying", "completed") for t in tasks) \
            and any(t.get("status") == "verifying" for t in tasks)
        finished = sum(1 for t in tasks if t.get("status") == "completed")
        return {"done": done, "total": total, "speed": speed, "eta": eta, "verifying": verifying,
                "connections": sum(connections) if connections else None, "count": len(tasks),
                "finished": finished}

    def _name(self) -> str:
        if self.label:
            return self.label
        tasks = list(self._tasks.values())
        if len(tasks) == 1:
            return os.path.basename(str(tasks[0].get("filename") or "download"))
        return f"{sum(1 for t in tasks if t.get('status') == 'completed')}/{len(tasks)} files"

    def _details(self, sums: dict[str, Any], with_size: bool = True, width: int | None = None) -> str:
        """Size, speed, ETA, connections; with ``width``, the longest variant that fits it."""
        size = sizes(sums["done"], sums["total"]) if with_size else ""
        if sums["verifying"]:
            variants = [[size, "verifying sha256"], [size, "verifying"]]
        elif sums["speed"] > 0:  # no "0 B/s, ETA --:--" before the first measurement
            speed, eta = f"{human_bytes(sums['speed'])}/s", f"ETA {clock(sums['eta'])}"
            connections = f"{sums['connections']} conn" if sums["connections"] else ""
            variants = [[size, speed, eta, connections], [size, speed, eta], [size, eta], [eta]]
        else:
            variants = [[size]]
        texts = [", ".join(part for part in variant if part) for variant in variants]
        if width is None:
            return texts[0]
        return next((text for text in texts if len(text) <= width), texts[-1])

    def _draw(self) -> None:
        sums = self._sums()
        if self._bar is None:
            self._bar = _bar_class()(total=sums["total"] or None, initial=sums["done"], file=self.stream, leave=False,
                             dynamic_ncols=True, mininterval=0, miniters=0, desc=self._name()[:8],
                             bar_format=_BAR if sums["total"] else _NO_TOTAL)
        bar = self._bar
        columns = bar.ncols or 80
        name = self._name()
        limit = max(8, columns // 5)
        if len(name) > limit:
            name = name[: limit - 1] + "…"
        room = columns - len(name) - len(" 100%|") - 8 - len("| ")  # a bar of at least 8 cells
        bar.set_description_str(name, refresh=False)
        bar.total = sums["total"] or None
        bar.bar_format = _BAR if sums["total"] else _NO_TOTAL
        bar.n = sums["done"]
        bar.details = self._details(sums, width=room)
        bar.refresh()

    def _plain(self) -> None:
        sums = self._sums()
        if sums["finished"] == sums["count"]:
            return  # the command reports the result itself
        if sums["verifying"]:
            if not self._said_verifying:
                self._said_verifying = True
                self.stream.write(f"{self._name()}: verifying sha256\n")
                self.stream.flush()
            return
        now = time.monotonic()
        if self._last_line and now - self._last_line < self.interval:
            return
        if not sums["done"] and not self._last_line:
            return  # nothing to say yet
        self._last_line = now
        size = human_bytes(sums["done"])
        if sums["total"]:
            size = f"{100.0 * sums['done'] / sums['total']:.0f}% {size} of {human_bytes(sums['total'])}"
        details = self._details(sums, with_size=False)
        self.stream.write(f"{self._name()}: {size}{', ' + details if details else ''}\n")
        self.stream.flush()


def _bar_class() -> type:
    """tqdm with a ``{details}`` field (tqdm itself would put ", " before a postfix)."""
    from tqdm import tqdm

    class Bar(tqdm):
        details = ""

        @property
        def format_dict(self) -> dict:
            return {**super().format_dict, "details": self.details}

    return Bar
