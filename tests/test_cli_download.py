"""``comfyui-model-manager download`` / ``tasks`` as real subprocesses against a real server."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from support.downloads import payload, sha256
from support.range_server import RangeServer

CLI = [sys.executable, "-c", "import sys; from comfyui_model_manager.core.cli import main; sys.exit(main())"]


def _run(*args, timeout=60):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


def test_download_json_and_tasks(tmp_path, server):
    data = payload(300_000)
    server.add("/m.safetensors", data)
    models = tmp_path / "models"
    done = _run("download", server.url("/m.safetensors"), "--type", "loras", "--models-dir", str(models),
                "--subfolder", "style", "--json")
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert task["status"] == "completed" and task["sha256"] == sha256(data)
    assert task["filename"] == "style/m.safetensors"
    assert (models / "loras/style/m.safetensors").read_bytes() == data
    listed = _run("tasks", "--json")
    assert listed.returncode == 0
    assert [t["task_id"] for t in json.loads(listed.stdout)["tasks"]] == [task["task_id"]]
    human = _run("tasks")
    assert "completed" in human.stdout and human.stderr == ""  # a listing is the output: stdout


def test_exit_status_1_on_checksum_mismatch_and_2_on_bad_input(tmp_path, server):
    server.add("/m.safetensors", payload(10_000))
    models = str(tmp_path / "models")
    failed = _run("download", server.url("/m.safetensors"), "--type", "loras", "--models-dir", models,
                  "--sha256", "0" * 64, "--json")
    assert failed.returncode == 1
    assert "checksum mismatch" in failed.stderr and json.loads(failed.stdout)["status"] == "failed"
    assert not (tmp_path / "models/loras/m.safetensors").exists()
    for bad in (["file:///etc/passwd", "--type", "loras"],
                [server.url("/m.safetensors"), "--type", "nope"],
                [server.url("/m.safetensors")],  # auto type, and the link says nothing
                [server.url("/m.safetensors"), "--type", "loras", "--sha256", "xyz"]):
        result = _run("download", *bad, "--models-dir", models)
        assert result.returncode == 2, (bad, result.stderr)
        assert result.stderr.startswith("error: ")


def test_kill_9_then_rerun_resumes_the_partial(tmp_path, server):
    data = payload(3_000_000)
    server.add("/big.safetensors", data, etag='"b"', rate=1_500_000)
    models = tmp_path / "models"
    partial = models / "checkpoints/.big.safetensors.mmpart"
    args = ["download", server.url("/big.safetensors"), "--type", "checkpoints", "--models-dir", str(models), "--json"]
    first = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size < 700_000):
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    held = partial.stat().st_size
    assert 0 < held < len(data)

    second = _run(*args)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["sha256"] == sha256(data)
    assert (models / "checkpoints/big.safetensors").read_bytes() == data
    assert "continuing the earlier download" in second.stderr
    transfers = [r for r in server.requests_for("/big.safetensors") if r.header("Range") != "bytes=0-0"]
    assert transfers[0].header("Range") == f"bytes=0-{len(data) - 1}"
    assert transfers[-1].header("Range") == f"bytes={held}-{len(data) - 1}"
    assert transfers[-1].header("If-Range") == '"b"'
    served = server.bytes_served("/big.safetensors")
    assert served < 1.1 * len(data), f"{served} bytes served for a {len(data)}-byte file: not resumed"


def test_ctrl_c_keeps_the_partial_and_says_how_to_resume(tmp_path, server):
    data = payload(2_000_000)
    server.add("/c.safetensors", data, rate=1_000_000)
    models = tmp_path / "models"
    partial = models / "loras/.c.safetensors.mmpart"
    args = ["download", server.url("/c.safetensors"), "--type", "loras", "--models-dir", str(models)]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size < 300_000):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "run the same command again to resume" in err
    held = partial.stat().st_size
    assert 0 < held < len(data)
    listed = json.loads(_run("tasks", "--json").stdout)["tasks"]
    assert [t["status"] for t in listed] == ["interrupted"]  # its process is gone; resumable, not failed
    again = _run(*args)
    assert again.returncode == 0, again.stderr
    assert (models / "loras/c.safetensors").read_bytes() == data
    assert server.requests_for("/c.safetensors")[-1].header("Range") == f"bytes={held}-{len(data) - 1}"
