"""Retries are visible (the task's ``error`` says what happened and when the next try comes,
the CLI prints it on stderr) and a download that fails before its first byte leaves nothing
behind.  Real servers with injected faults: drops, stalls, 429."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from comfyui_model_manager.core.observers import UPDATE_DOWNLOAD_TASK
from comfyui_model_manager.core.retry import RetryPolicy
from support.downloads import FAST, listing, make_manager, payload, request, sha256
from support.range_server import RangeServer

CLI = [sys.executable, "-c", "import sys; from comfyui_model_manager.core.cli import main; sys.exit(main())"]
#: Retries slow enough to be seen, fast enough for a test.
SEEN = replace(FAST, retry=RetryPolicy(max_tries=4, base_delay=0.3, max_delay=0.3, jitter=False,
                                       max_retry_after=1.0))


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


def _after_probe(spec, **faults):
    """Arm ``faults`` on the first request after the source's one-byte probe."""
    def arm(entry):
        if entry.header("Range") != "bytes=0-0" and not getattr(spec, "_armed", False):
            spec._armed = True
            for name, value in faults.items():
                setattr(spec, name, value)
    spec.on_request = arm


def _download_watching(tmp_path, server, path, config=SEEN):
    manager = make_manager(tmp_path, config=config)
    notices = []
    manager.events.subscribe(lambda event, task: notices.append(task["error"])
                             if event == UPDATE_DOWNLOAD_TASK and task["status"] == "downloading"
                             and task["error"] else None)
    try:
        task, _ = manager.submit(request(server.url(path)))
        done = manager.wait(task.task_id, timeout=30)
    finally:
        manager.shutdown()
    # progress updates repeat the notice until bytes flow again; each retry is one notice
    return done, [n for i, n in enumerate(notices) if i == 0 or notices[i - 1] != n]


def test_a_dropped_connection_says_where_and_when_the_next_try_comes(tmp_path, server):
    data = payload(120_000)
    server.add("/d.safetensors", data, drop_after=[50_000])
    task, notices = _download_watching(tmp_path, server, "/d.safetensors")
    assert task.status == "completed" and task.error is None  # the notice went once bytes flowed
    host = server.url("")[len("http://"):]
    assert notices == [f"{host} closed the connection early (50000 of 120000 bytes) at 48.8 KiB; "
                       "retry 1/3 in 0.3 s"]


def test_a_stall_says_so(tmp_path, server):
    server.add("/s.safetensors", payload(100_000), stall_after=30_000, stall_seconds=3)
    task, notices = _download_watching(tmp_path, server, "/s.safetensors")
    assert task.status == "completed", task.error
    assert len(notices) == 1 and re.fullmatch(r"no data from \S+ for 1 s \(stalled\) at 29\.3 KiB; "
                                               r"retry 1/3 in 0\.3 s", notices[0]), notices


def test_429_says_when_the_server_wants_us_back(tmp_path, server):
    spec = server.add("/r.safetensors", payload(50_000))
    _after_probe(spec, fail=[(429, "1"), (429, "1")])
    task, notices = _download_watching(tmp_path, server, "/r.safetensors")
    assert task.status == "completed", task.error
    host = server.url("")[len("http://"):]
    assert notices == [f"{host} answered HTTP 429 Too Many Requests; retry 1/3 in 1 s",
                       f"{host} answered HTTP 429 Too Many Requests; retry 2/3 in 1 s"]


@pytest.mark.parametrize("fault", [
    {"drop_after": [0] * 10},  # every answer hangs up before its first byte
    {"stall_after": 0, "stall_seconds": 2, "stall_times": 10},
    {"fail": [(429, None)] * 10},
    {"fail": [(404, None)]},
])
def test_a_download_failing_before_its_first_byte_leaves_nothing_behind(tmp_path, server, fault):
    spec = server.add("/e.safetensors", payload(80_000))
    _after_probe(spec, **fault)
    task, _ = _download_watching(tmp_path, server, "/e.safetensors")
    assert task.status == "failed"
    assert "gave up after 4 tries" in task.error or "not found" in task.error, task.error
    assert listing(tmp_path / "models" / "checkpoints") == []  # no partial, empty or not


def test_the_cli_prints_retries_on_stderr_and_the_json_stays_clean(tmp_path, server):
    data = payload(400_000)
    spec = server.add("/c.safetensors", data, drop_after=[100_000])
    _after_probe(spec, fail=[(429, "1")])
    done = subprocess.run([*CLI, "download", server.url("/c.safetensors"), "--type", "loras",
                           "--models-dir", str(tmp_path / "models"), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sha256"] == sha256(data)  # stdout: the one JSON document
    host = server.url("")[len("http://"):]
    lines = done.stderr.splitlines()
    assert f"{host} answered HTTP 429 Too Many Requests; retry 1/5 in 1 s" in lines, done.stderr
    assert any(re.fullmatch(rf"{re.escape(host)} closed the connection early \(100000 of 400000 bytes\) "
                            r"at 97\.7 KiB; retry 1/5 in \d(\.\d)? s", line) for line in lines), done.stderr
