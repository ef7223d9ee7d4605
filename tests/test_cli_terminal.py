"""The download display as a person sees it: in an 80-column pseudo-terminal and through a pipe.

On a terminal no line may be longer than the terminal (nothing wraps), the bar shows size,
speed and ETA while it runs, and nothing of it stays once the download ended: only the final
lines remain.  Through a pipe there is never a carriage return, only whole lines.  With faults
injected (a dropped connection, a stall, a 429) the retry the task reports shows up on stderr.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from support.downloads import payload, sha256
from support.range_server import RangeServer
from support.terminal import Screen, run_in_terminal

CLI = [sys.executable, "-m", "comfyui_model_manager.core.cli"]
NAME = "an-example-lora-with-a-long-name_v2.safetensors"
RETRY = re.compile(r"retry \d+/\d+ in ")


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


def download_args(server, models, name=NAME) -> list[str]:
    return [*CLI, "download", server.url(f"/{name}"), "--type", "loras", "--models-dir", str(models)]


@pytest.mark.parametrize("columns", [80, 52])
def test_bar_fits_the_terminal_and_leaves_nothing_behind(tmp_path, server, columns) -> None:
    data = payload(2_500_000)
    server.add(f"/{NAME}", data, rate=1_000_000)
    models = tmp_path / "models"
    run = run_in_terminal(download_args(server, models), columns=columns)
    assert run.returncode == 0, run.output
    assert (models / "loras" / NAME).read_bytes() == data
    result_at = run.output.index(f"loras/{NAME}: ")
    progress = Screen(columns).feed(run.output[:result_at])
    assert progress.wraps == 0, run.output  # the bar never wraps ...
    assert progress.longest_write <= columns
    assert "\r" in run.output  # ... it is redrawn in place ...
    screen = Screen(columns).feed(run.output)
    drawn = run.output[:result_at].split("\r")
    wanted = ("%|", "MiB", "/s", "ETA", "1 conn") if columns >= 80 else ("%|", "MiB", "ETA")  # narrower: less
    assert any(all(word in part for word in wanted) for part in drawn), run.output
    result = Screen(1000).feed(run.output[result_at:]).text()
    assert result == [f"loras/{NAME}: 2.4 MiB", f"  sha256 {sha256(data)}",
                      "no checksum was known, so the file could not be verified"]
    assert "".join(screen.text()) == "".join(result)  # ... and erased: only the result stays


def test_piped_output_is_plain_lines(tmp_path, server) -> None:
    data = payload(2_000_000)
    server.add(f"/{NAME}", data, rate=800_000)
    models = tmp_path / "models"
    env = {**os.environ, "COMFYUI_MODEL_MANAGER_PROGRESS_INTERVAL": "0.5"}
    result = subprocess.run(download_args(server, models), capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith(f"{NAME}: ")]
    assert len(progress) >= 2, result.stderr
    pattern = rf"{re.escape(NAME)}: \d+% [\d.]+ [KM]iB of 1\.9 MiB(, [\d.]+ [KM]?i?B/s, ETA \d+:\d\d(, \d+ conn)?)?$"
    assert all(re.match(pattern, line) for line in progress if "verifying" not in line), progress
    assert any("/s, ETA " in line for line in progress), progress
    assert result.stdout == ""


def answer_429_after_the_first_transfer(spec):
    """A hook for the served file: once bytes have flowed, the next request gets a 429."""
    seen = []

    def hook(request) -> None:
        if request.header("Range") != "bytes=0-0":
            seen.append(request)
            if len(seen) == 2:
                spec.fail.append((429, "1"))
    return hook


@pytest.mark.parametrize("fault", ["drop", "stall", "429"])
def test_retries_are_visible(tmp_path, server, fault) -> None:
    data = payload(1_500_000)
    faults = {"drop": {"drop_after": [600_000]}, "stall": {"stall_after": 600_000, "stall_seconds": 1.0},
              "429": {"drop_after": [600_000]}}[fault]
    spec = server.add(f"/{NAME}", data, rate=1_000_000, **faults)
    if fault == "429":
        spec.on_request = answer_429_after_the_first_transfer(spec)
    models = tmp_path / "models"
    piped = subprocess.run(download_args(server, models), capture_output=True, text=True, timeout=90)
    assert piped.returncode == 0, piped.stderr
    assert (models / "loras" / NAME).read_bytes() == data
    retries = [line for line in piped.stderr.splitlines() if RETRY.search(line)]
    assert retries, piped.stderr
    if fault == "429":
        assert any("429" in line for line in retries), retries
    else:
        assert "connection" in retries[0] or "stall" in retries[0] or "lost" in retries[0]


def test_retry_lines_stay_above_the_bar_in_a_terminal(tmp_path, server) -> None:
    data = payload(1_500_000)
    server.add(f"/{NAME}", data, rate=1_000_000, drop_after=[500_000])
    models = tmp_path / "models"
    run = run_in_terminal(download_args(server, models), columns=80)
    assert run.returncode == 0, run.output
    screen = Screen(80).feed(run.output)
    assert screen.wraps == 0
    lines = screen.text()
    assert any(RETRY.search(line) for line in lines) or RETRY.search(" ".join(lines)), lines
    assert not any("%|" in line for line in lines), lines
