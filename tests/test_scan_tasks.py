"""Scan tasks: throttled progress events, the final summary, cancel, joining a running scan."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from comfyui_model_manager.core.errors import NotFound
from comfyui_model_manager.core.observers import COMPLETE_SCAN_TASK, UPDATE_SCAN_TASK
from comfyui_model_manager.core.scanner.hashing import FileHasher
from support.scanner_files import make_index, write_safetensors


class SlowHasher(FileHasher):
    """Really hashes, but takes ``delay`` seconds per file so that a scan lasts long enough to watch."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.started = threading.Event()

    def sha256(self, path, should_stop=lambda: False, on_bytes=None):
        self.started.set()
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline:
            if should_stop():
                break
            time.sleep(0.005)
        return super().sha256(path, should_stop, on_bytes)


def library(tmp_path: Path, count: int) -> None:
    for i in range(count):
        write_safetensors(tmp_path / "models" / "loras" / f"m{i:03d}.safetensors", payload=bytes([i % 256]) * 64)


def record_events(index) -> list[tuple[float, str, dict]]:
    events: list[tuple[float, str, dict]] = []
    index.events.subscribe(lambda name, payload: events.append((time.monotonic(), name, dict(payload))))
    return events


def test_progress_is_throttled_to_four_a_second_and_a_summary_ends_the_scan(tmp_path):
    library(tmp_path, 30)
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = SlowHasher(0.05)
    events = record_events(index)
    report = index.scan("loras", compute_hashes=True)
    updates = [e for e in events if e[1] == UPDATE_SCAN_TASK]
    completes = [e for e in events if e[1] == COMPLETE_SCAN_TASK]
    assert len(updates) >= 4  # the scan lasts ~1.5 s
    gaps = [b[0] - a[0] for a, b in zip(updates, updates[1:])]
    # The throttle spaces them 0.25 s apart; a busy machine may delay noting one a little.
    assert min(gaps) >= 0.2, gaps
    assert len(updates) <= 4 * (updates[-1][0] - updates[0][0]) + 1
    for _, _, payload in updates:
        assert set(payload) == {"scan_id", "model_type", "scanned", "total", "current", "status"}
        assert payload["scan_id"] == report.task.scan_id and payload["model_type"] == "loras"
        assert 0 <= payload["scanned"] <= payload["total"]
    assert {p["status"] for _, _, p in updates} <= {"scanning", "hashing"}
    assert any(p["status"] == "hashing" and p["current"].startswith("m0") for _, _, p in updates)
    assert len(completes) == 1 and completes[0][0] >= updates[-1][0]
    assert completes[0][2] == {"scan_id": report.task.scan_id, "model_type": "loras", "count": 30,
                               "hashed": 30, "matched": 0, "errors": 0}
    status = index.get_scan(report.task.scan_id).to_json()
    assert status["status"] == "completed" and status["count"] == 30 and status["finished_at"]


def test_cancel_stops_a_running_scan(tmp_path):
    library(tmp_path, 40)
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = SlowHasher(0.05)
    events = record_events(index)
    task = index.start_scan("loras", compute_hashes=True)
    assert index.hasher.started.wait(5)
    time.sleep(0.1)
    assert index.cancel_scan(task.scan_id) is task
    assert task.wait(5)
    assert task.status == "cancelled"
    assert 0 < task.hashes_computed < 40
    complete = [p for _, name, p in events if name == COMPLETE_SCAN_TASK]
    assert len(complete) == 1 and complete[0]["hashed"] == task.hashes_computed
    # The models found are indexed; what was hashed stays cached for the next scan.
    assert len(index.list_models("loras")) == 40
    index.hasher = FileHasher()
    again = index.scan("loras", compute_hashes=True)
    assert again.task.status == "completed" and again.task.hashes_computed == 40 - task.hashes_computed


def test_a_second_request_joins_the_running_scan(tmp_path):
    library(tmp_path, 10)
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = SlowHasher(0.05)
    first = index.start_scan("all", compute_hashes=True)
    assert index.start_scan("loras") is first                         # covered: same task
    assert index.start_scan("all", compute_hashes=True) is first
    later = index.start_scan("loras", fetch_civitai_info=False, compute_hashes=False)
    assert later is first
    other = index.start_scan("vae", compute_hashes=True)
    assert other is first  # "all" covers vae too
    first.wait(10)
    assert first.status == "completed"
    # Once finished, a new request starts a new scan.
    assert index.start_scan("loras").scan_id != first.scan_id


def test_requests_not_covered_queue_behind_the_running_one(tmp_path):
    library(tmp_path, 6)
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = SlowHasher(0.05)
    first = index.start_scan("loras")                      # no hashing
    second = index.start_scan("loras", compute_hashes=True)  # wants more: its own task
    assert second is not first
    assert second.wait(10) and first.wait(10)
    assert second.status == "completed" and second.hashed == 6
    assert first.finished_at <= second.finished_at


def test_unknown_scan_and_unknown_type(tmp_path):
    index = make_index(tmp_path)
    with pytest.raises(NotFound, match="no scan with id 'nope'"):
        index.get_scan("nope")
    from comfyui_model_manager.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown model type"):
        index.start_scan("not_a_type")


def test_scan_should_stop_cancels_a_blocking_scan(tmp_path):
    library(tmp_path, 40)
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = SlowHasher(0.05)
    started = time.monotonic()
    report = index.scan("loras", compute_hashes=True, should_stop=lambda: time.monotonic() - started > 0.3)
    assert report.task.status == "cancelled"
    assert time.monotonic() - started < 1.5
    assert report.to_json()["status"] == "cancelled"


def test_scan_events_carry_the_node_that_asked_and_a_joining_request_keeps_it(tmp_path):
    library(tmp_path, 8)
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = SlowHasher(0.05)
    events = record_events(index)
    first = index.start_scan("loras", compute_hashes=True, node_id="12", prompt_id="p-1")
    assert index.start_scan("loras", node_id="99", prompt_id="p-2") is first  # joins: keeps node 12
    assert first.wait(10) and first.status == "completed"
    updates = [p for _, name, p in events if name == UPDATE_SCAN_TASK]
    completes = [p for _, name, p in events if name == COMPLETE_SCAN_TASK]
    assert updates and len(completes) == 1
    for payload in [*updates, *completes]:
        assert payload["node_id"] == "12" and payload["prompt_id"] == "p-1"
    # the contract's keys stay, the requester is extra
    assert set(updates[0]) == {"scan_id", "model_type", "scanned", "total", "current", "status",
                               "node_id", "prompt_id"}
    assert set(completes[0]) == {"scan_id", "model_type", "count", "hashed", "matched", "errors",
                                 "node_id", "prompt_id"}
    status = index.get_scan(first.scan_id).to_json()
    assert status["node_id"] == "12" and status["prompt_id"] == "p-1"


def test_a_node_joining_a_scan_nobody_named_becomes_its_requester(tmp_path):
    library(tmp_path, 8)
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = SlowHasher(0.05)
    events = record_events(index)
    first = index.start_scan("loras", compute_hashes=True)  # REST or CLI: no node
    assert first.to_json()["node_id"] is None
    assert index.start_scan("loras", node_id="5", prompt_id="p-5") is first
    assert index.start_scan("loras", node_id="6", prompt_id="p-6") is first  # 5 stays
    assert first.wait(10)
    complete = [p for _, name, p in events if name == COMPLETE_SCAN_TASK][0]
    assert (complete["node_id"], complete["prompt_id"]) == ("5", "p-5")


def test_listing_a_type_not_indexed_yet_does_not_wait_for_a_running_hashing_scan(tmp_path):
    """The list needs the index phase only; joining a long hashing scan must not make it wait
    for every hash."""
    library(tmp_path, 40)
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = SlowHasher(0.05)  # ~2 s of hashing
    running = index.start_scan("all", compute_hashes=True)
    started = time.monotonic()
    models = index.list_models("loras")
    assert len(models) == 40
    assert time.monotonic() - started < 1.5 and not running.finished
    assert running.wait(10) and running.status == "completed" and running.hashed == 40
