"""``tasks`` as a user runs it: the listing on stdout, truthful states, control by ID prefix.

Real subprocesses against a real loopback file server; a download killed with SIGKILL shows as
``interrupted`` with the command that resumes it, and that command finishes the file.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.downloads import payload
from support.range_server import RangeServer

CLI = [sys.executable, "-m", "comfyui_model_manager.core.cli"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


def start_slow(server, models: Path, name: str, size: int = 2_000_000):
    """A ``download`` process that is busy with ``name`` (throttled); (process, partial, data, spec)."""
    data = payload(size, seed=len(name))
    spec = server.add(f"/{name}", data, rate=400_000)
    partial = models / "loras" / f".{name}.mmpart"
    proc = subprocess.Popen([*CLI, "download", server.url(f"/{name}"), "--type", "loras", "--models-dir", str(models)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size < 100_000):
        time.sleep(0.02)
    assert partial.exists(), proc.stderr.read() if proc.poll() is not None else "no partial"
    return proc, partial, data, spec


def tasks_json() -> list[dict]:
    listed = run("tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)["tasks"]


def test_killed_download_is_interrupted_and_the_listed_command_resumes_it(tmp_path, server) -> None:
    models = tmp_path / "models"
    proc, partial, data, spec = start_slow(server, models, "k.safetensors")
    running = run("tasks")
    assert running.returncode == 0 and running.stderr == ""
    assert " downloading " in running.stdout  # a live process runs it: not interrupted
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    held = partial.stat().st_size
    [task] = tasks_json()
    assert task["status"] == "interrupted" and task["speed_bps"] == 0
    listing = run("tasks")
    assert listing.stdout.splitlines()[0].split() == ["ID", "STATUS", "DONE", "SIZE", "FILE"]
    assert f"{task['task_id'][:8]}  interrupted" in listing.stdout
    resume_line = next(line for line in listing.stdout.splitlines() if "resume:" in line)
    command = resume_line.split("resume:", 1)[1].split()
    assert command == ["comfyui-model-manager", "tasks", "resume", task["task_id"][:8]]
    spec.rate = None
    resumed = run(*command[1:])  # from anywhere: the task knows its models folder
    assert resumed.returncode == 0, resumed.stderr
    assert (models / "loras/k.safetensors").read_bytes() == data
    assert server.requests_for("/k.safetensors")[-1].header("Range").startswith(f"bytes={held}-")
    assert [t["status"] for t in tasks_json()] == ["completed"]


def test_pause_cancel_remove_by_prefix_and_clear_finished(tmp_path, server) -> None:
    models = tmp_path / "models"
    server.add("/done.safetensors", payload(20_000))
    assert run("download", server.url("/done.safetensors"), "--type", "loras", "--models-dir", str(models)).returncode == 0
    proc, partial, _data, _spec = start_slow(server, models, "p.safetensors")
    try:
        tasks = {t["filename"]: t for t in tasks_json()}
        slow_id = tasks["p.safetensors"]["task_id"]
        paused = run("tasks", "pause", slow_id[:6], "--json")  # stops the process that runs it
        assert paused.returncode == 0, paused.stderr
        assert [t["status"] for t in json.loads(paused.stdout)["tasks"]] == ["paused"]
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert partial.exists()
    assert {t["filename"]: t["status"] for t in tasks_json()} == {"done.safetensors": "completed",
                                                                 "p.safetensors": "paused"}
    cancelled = run("tasks", "cancel", slow_id[:5])
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelled" in cancelled.stderr and not partial.exists()
    cleared = run("tasks", "clear", "--finished", "--json")
    assert cleared.returncode == 0
    assert len(json.loads(cleared.stdout)["removed"]) == 2
    assert tasks_json() == []
    assert (models / "loras/done.safetensors").is_file()  # the records go, the files stay


def test_ambiguous_and_unknown_prefixes_exit_2(tmp_path, server, capsys) -> None:
    from comfyui_model_manager.core.cli import main

    models = tmp_path / "models"
    ids = []
    for index in range(17):  # 17 hex ids: at least two share their first digit
        server.add(f"/m{index}.safetensors", payload(1000, seed=index))
        assert main(["download", server.url(f"/m{index}.safetensors"), "--type", "loras",
                     "--models-dir", str(models), "--json"]) == 0
        ids.append(json.loads(capsys.readouterr().out)["task_id"])
    firsts = [i[0] for i in ids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    ambiguous = run("tasks", "remove", shared, "--json")
    assert ambiguous.returncode == 2
    error = json.loads(ambiguous.stdout)["error"]
    assert error["code"] == "ambiguous_id" and "ambiguous" in error["message"] and "more characters" in error["message"]
    unknown = run("tasks", "remove", ids[0][:8], "zzzz")
    assert unknown.returncode == 2 and "no task with an id starting with 'zzzz'" in unknown.stderr
    assert len(tasks_json()) == 17  # every ID is checked before anything is removed
    removed = run("tasks", "remove", ids[0][:8], ids[1])
    assert removed.returncode == 0 and len(tasks_json()) == 15
