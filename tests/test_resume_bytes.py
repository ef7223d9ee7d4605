"""Resume fetches only what is missing: a real CLI process killed with SIGKILL at ~40 % of a
100 MB segmented download, re-run, bytes counted at the real local server."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from support.downloads import sha256
from support.range_server import RangeServer

CLI = [sys.executable, "-c", "import sys; from comfyui_model_manager.core.cli import main; sys.exit(main())"]
MiB = 1024 * 1024
SIZE = 100 * 1000 * 1000
CONNECTIONS = 4  # the default connections_per_download
BOUNDED = re.compile(r"^bytes=(\d+)-(\d+)$")


def _bytes_on_disk(partial_path, data: bytes) -> int:
    """Bytes of the partial that are the file's own bytes at their offset (64 KiB pieces: a
    piece counts as far as it matches from its start; a connection writes in order)."""
    piece = 64 * 1024
    held = 0
    with open(partial_path, "rb") as partial:
        for offset in range(0, len(data), piece):
            mine = partial.read(piece)
            theirs = data[offset:offset + piece]
            if mine == theirs:
                held += len(theirs)
                continue
            low, high = 0, min(len(mine), len(theirs))  # longest matching prefix
            while low < high:
                middle = (low + high + 1) // 2
                if mine[:middle] == theirs[:middle]:
                    low = middle
                else:
                    high = middle - 1
            held += low if any(mine[:low]) else 0
    return held


def test_kill_9_at_40_percent_then_rerun_fetches_only_the_missing_bytes(tmp_path):
    data = os.urandom(SIZE)
    models = tmp_path / "models"
    partial = models / "checkpoints" / ".big.safetensors.mmpart"
    with RangeServer("127.0.0.1") as server:
        spec = server.add("/big.safetensors", data, etag='"big"', rate=8 * MiB)  # per connection
        url = server.url("/big.safetensors")
        args = ["download", url, "--type", "checkpoints", "--models-dir", str(models), "--json"]
        first = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if partial.exists() and partial.stat().st_blocks * 512 >= 0.4 * SIZE:
                    break
                time.sleep(0.02)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        first_run = len(server.requests)
        held = _bytes_on_disk(partial, data)
        missing = SIZE - held
        assert 0.3 * SIZE < held < 0.7 * SIZE, held

        spec.rate = None
        second = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["sha256"] == sha256(data)
        log = server.requests_for("/big.safetensors")
        rerun = server.requests[first_run:]
        fetched = sum(r.body_bytes for r in rerun)

    placed = models / "checkpoints" / "big.safetensors"
    assert placed.stat().st_size == SIZE and not partial.exists()
    print(f"kill -9 resume: {held} bytes on disk, {missing} missing, {fetched} fetched by the re-run "
          f"({fetched - missing:+d})")
    assert fetched <= missing + CONNECTIONS * MiB, (fetched, missing)
    # every ranged request of both runs is bounded, and the re-run's ranges never overlap
    ranges = [r.header("Range") for r in log]
    assert all(r and BOUNDED.match(r) for r in ranges), ranges
    spans = sorted((int(m.group(1)), int(m.group(2))) for m in
                   (BOUNDED.match(r.header("Range")) for r in rerun if r.path == "/big.safetensors")
                   if m and m.group(2) != "0")
    assert all(a_end < b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), spans


def test_replanning_from_disk_finds_each_block_prefix_and_never_takes_a_hole_for_data(tmp_path):
    from comfyui_model_manager.core.downloads.fileio import PositionalFile
    from comfyui_model_manager.core.downloads.partial_scan import still_missing

    grid, total = 64 * 1024, 10 * 64 * 1024
    data = bytes(range(1, 256)) * (total // 255 + 1)
    path = tmp_path / "p.mmpart"
    file = PositionalFile(path)
    try:
        # The record (saved a moment ago) says blocks 2..9 are missing; since then block 2 got
        # 1000 bytes more, block 3 all of it, block 5 a prefix ending in written zeros.
        file.write_at(memoryview(data[:2 * grid + 1000]), 0)
        file.write_at(memoryview(data[3 * grid:4 * grid]), 3 * grid)
        tail = data[5 * grid:5 * grid + 5000] + b"\0" * 100
        file.write_at(memoryview(tail), 5 * grid)
        left = still_missing(file, [[2 * grid, total]], grid, total)
    finally:
        file.close()
    assert left == [[2 * grid + 1000, 3 * grid], [4 * grid, 5 * grid],
                    [5 * grid + 5000, total]]


def test_blocks_end_on_grid_lines():
    from comfyui_model_manager.core.downloads.segments import ByteRanges

    ranges = ByteRanges(1000, [[150, 1000]], grid=100)
    first = ranges.claim(100)
    second = ranges.claim(250)
    exact = ranges.claim(at=450, until=470)
    assert (first.start, first.end) == (150, 200)
    assert (second.start, second.end) == (200, 400)
    assert ranges.claim(None, at=400) is not None and exact is None  # 450 is not a free start
