"""One writer per partial file across real processes, bytes counted at a real local server:
CLI + CLI (sharing a state folder or not), and a writer killed with ``kill -9`` whose follower
takes the lock and resumes the partial (one stream through the CLI, ranged segments through a
second download manager process)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from comfyui_model_manager.core.downloads.writer_lock import WriterLock
from support.downloads import listing, payload, sha256
from support.range_server import RangeServer
from support.waiting import fetched_bytes, served_ranges, wait_for

CLI = [sys.executable, "-m", "comfyui_model_manager.core.cli"]
WRITER = [sys.executable, str(Path(__file__).resolve().parent / "support" / "writer_process.py")]


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


class Running:
    """A child process whose stderr is collected line by line while it runs."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def finish(self, timeout: float = 90) -> tuple[int, dict]:
        out = self.proc.stdout.read()
        self.proc.wait(timeout)
        self._reader.join(5)
        return self.proc.returncode, json.loads(out) if out.strip() else {}

    def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


#: Bytes a killed writer may leave unread: what the server had already pushed into its sockets
#: and what it wrote after its last note.  On a loaded machine a few hundred KB.
IN_FLIGHT = 768 * 1024


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _home_env(home: Path) -> dict[str, str]:
    return {**os.environ, "COMFYUI_MODEL_MANAGER_HOME": str(home)}


@pytest.mark.parametrize("state", ["shared state folder", "separate state folders"])
def test_cli_and_cli_the_second_follows_the_first(tmp_path, server, state):
    data = payload(2_500_000)
    spec = server.add("/m.safetensors", data, etag='"m"', rate=200_000)  # slow until the second follows
    models = tmp_path / "models"
    partial = models / "checkpoints/.m.safetensors.mmpart"
    args = ["download", server.url("/m.safetensors"), "--type", "checkpoints", "--models-dir", str(models), "--json"]
    first = Running([*CLI, *args], _home_env(tmp_path / "home-a"))
    second = None
    try:
        wait_for(lambda: _size(partial) > 300_000, what="the first download under way")
        home_b = tmp_path / ("home-a" if state == "shared state folder" else "home-b")
        second = Running([*CLI, *args], _home_env(home_b))
        wait_for(lambda: "being downloaded by another process" in second.stderr or second.proc.poll() is not None,
                  what="the second following")
        spec.rate = None
        code_a, task_a = first.finish()
        code_b, task_b = second.finish()
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert (code_a, code_b) == (0, 0), (first.stderr, second.stderr)
    for task in (task_a, task_b):
        assert task["status"] == "completed" and task["sha256"] == sha256(data) and task["error"] is None
    assert f"being downloaded by another process (pid {first.pid})" in second.stderr
    assert "Traceback" not in first.stderr + second.stderr
    assert (models / "checkpoints/m.safetensors").read_bytes() == data
    assert listing(models / "checkpoints") == ["m.safetensors"]  # no partial, lock or state file left
    served = fetched_bytes(server, "/m.safetensors")
    print(f"\nCLI+CLI ({state}): {served} bytes served for a {len(data)}-byte file")
    assert served == len(data)


def test_cli_writer_killed_with_kill_9_the_following_cli_resumes_its_partial(tmp_path, server):
    data = payload(2_500_000)
    spec = server.add("/k.safetensors", data, etag='"k"', rate=200_000)
    models = tmp_path / "models"
    partial = models / "checkpoints/.k.safetensors.mmpart"
    args = ["download", server.url("/k.safetensors"), "--type", "checkpoints", "--models-dir", str(models), "--json"]
    lock = WriterLock(models / "checkpoints/k.safetensors")
    first = Running([*CLI, *args], _home_env(tmp_path / "home-a"))
    second = None
    try:
        wait_for(lambda: lock.previous() is not None and lock.previous().pid == first.pid,
                  what="the first writing")
        second = Running([*CLI, *args], _home_env(tmp_path / "home-b"))
        wait_for(lambda: "being downloaded by another process" in second.stderr, what="the second following")
        wait_for(lambda: _size(partial) > 0.4 * len(data), what="40 % downloaded")
        first.kill9()
        at_kill = _size(partial)
        spec.rate = None
        code, task = second.finish()
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert code == 0, second.stderr
    assert task["status"] == "completed" and task["sha256"] == sha256(data)
    assert "Traceback" not in second.stderr
    assert (models / "checkpoints/k.safetensors").read_bytes() == data
    assert listing(models / "checkpoints") == ["k.safetensors"]
    resumed = [r for r in server.requests_for("/k.safetensors") if not r.header("Range").startswith("bytes=0-")]
    assert resumed and resumed[0].header("If-Range") == '"k"'
    assert int(resumed[0].header("Range")[6:].split("-")[0]) >= at_kill
    served = fetched_bytes(server, "/k.safetensors")
    print(f"\nkill -9 at {at_kill} bytes, CLI follower resumed: {served} bytes served for {len(data)}")
    assert served <= len(data) + IN_FLIGHT, served_ranges(server, "/k.safetensors")  # on the wire at the kill


def test_segmented_writer_killed_with_kill_9_the_follower_resumes_the_missing_ranges(tmp_path, server):
    data = payload(4_000_000)
    spec = server.add("/s.safetensors", data, etag='"s"', rate=100_000)  # per connection; 4 connections
    models, url = tmp_path / "models", server.url("/s.safetensors")
    lock = WriterLock(models / "checkpoints/s.safetensors")
    first = Running([*WRITER, str(models), str(tmp_path / "state-a"), url])
    second = None
    try:
        wait_for(lambda: lock.previous() is not None and lock.previous().pid == first.pid,
                  what="the first writing")
        second = Running([*WRITER, str(models), str(tmp_path / "state-b"), url])
        wait_for(lambda: "being downloaded by another process" in second.stderr, what="the second following")
        assert f"being downloaded by another process (pid {first.pid})" in second.stderr
        wait_for(lambda: (lock.previous() is not None and lock.previous().downloaded > 0.4 * len(data)),
                  what="40 % downloaded")
        held = lock.previous()  # before the kill: the follower rewrites the state once it takes over
        first.kill9()
        spec.rate = None
        code, task = second.finish()
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert held.pid == first.pid and held.segmented
    assert code == 0, second.stderr
    assert task["status"] == "completed" and task["sha256"] == sha256(data)
    assert (models / "checkpoints/s.safetensors").read_bytes() == data
    assert listing(models / "checkpoints") == ["s.safetensors"]
    served = fetched_bytes(server, "/s.safetensors")
    print(f"\nsegmented kill -9 at {held.downloaded} bytes: {served} bytes served for {len(data)}")
    # Lost with the writer: what it wrote after its last note (a quarter second, more on a busy
    # machine) and what the server had pushed into its four sockets.  Typically about 30 KB here.
    assert served <= len(data) + IN_FLIGHT, served_ranges(server, "/s.safetensors")
