"""Is a ComfyUI running on this machine over the same models folder?

Then a local ``download`` and that ComfyUI write into the same folders.  That is safe (one
writer per partial file, through the partial's lock), but the person should know, and may prefer
the ComfyUI's own queue (``--server``).  Found from ``/proc`` (Linux): processes running a
``main.py`` that sits beside ComfyUI's ``folder_paths.py``; their models folder is
``--base-directory``/models or the ComfyUI folder's ``models``.  Elsewhere nothing is found.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunningComfyUI:
    pid: int
    models_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _read(pid: str) -> RunningComfyUI | None:
    try:
        argv = [a.decode("utf-8", "replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None
    script = next((a for a in argv[1:3] if a.endswith("main.py")), None)
    if script is None:
        return None
    comfy = (cwd / script).parent
    if not (comfy / "folder_paths.py").is_file():
        return None
    base = _option(argv, "--base-directory")
    models = (cwd / base if base else comfy) / "models"
    try:
        port = int(_option(argv, "--port") or 8188)
    except ValueError:
        port = 8188
    return RunningComfyUI(int(pid), Path(os.path.realpath(models)), port)


def comfyui_sharing(models_dir: Path) -> RunningComfyUI | None:
    """A running ComfyUI whose models folder is ``models_dir``, if any."""
    if not os.path.isdir("/proc"):
        return None
    wanted = Path(os.path.realpath(models_dir))
    me = str(os.getpid())
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and p != me]
    except OSError:
        return None
    for pid in pids:
        found = _read(pid)
        if found is not None and found.models_dir == wanted:
            return found
    return None


def sharing_note(models_dir: Path) -> str | None:
    found = comfyui_sharing(models_dir)
    if found is None:
        return None
    return (f"note: the ComfyUI running here (pid {found.pid}) uses this models folder too; downloads of the "
            f"same file are written by one process at a time. To use its queue instead: --server {found.url}")
