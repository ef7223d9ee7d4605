"""The event bridge: the model_manager.* event names, throttling, requester ids, no secrets."""
from __future__ import annotations

import threading
import time

from comfyui_model_manager.core.observers import (
    COMPLETE_DOWNLOAD_TASK, CREATE_DOWNLOAD_TASK, DELETE_DOWNLOAD_TASK, UPDATE_DOWNLOAD_TASK,
    UPDATE_SCAN_TASK, EventHub,
)
from comfyui_model_manager.core.redact import Redactor
from comfyui_model_manager.nodes.bridge import EventBridge


def _task(status="downloading", downloaded=0, **extra):
    return {"task_id": "t1", "url": "https://example.com/m.safetensors", "status": status,
            "downloaded_bytes": downloaded, "node_id": None, **extra}


class Recorder:
    def __init__(self):
        self.sent = []
        self.lock = threading.Lock()

    def __call__(self, event, payload):
        with self.lock:
            self.sent.append((event, payload, time.monotonic()))


def test_progress_is_throttled_to_four_a_second_but_status_changes_always_pass():
    sent = Recorder()
    bridge = EventBridge(sent)
    hub = EventHub()
    hub.subscribe(bridge)
    hub.emit(CREATE_DOWNLOAD_TASK, _task("queued"))
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 1.0:  # ~1000 progress updates in one second
        hub.emit(UPDATE_DOWNLOAD_TASK, _task("downloading", n))
        n += 1
        time.sleep(0.001)
    hub.emit(UPDATE_DOWNLOAD_TASK, _task("paused", n))
    hub.emit(UPDATE_DOWNLOAD_TASK, _task("downloading", n))
    hub.emit(UPDATE_DOWNLOAD_TASK, _task("verifying", n))
    hub.emit(COMPLETE_DOWNLOAD_TASK, _task("completed", n))
    events = [e for e, _p, _t in sent.sent]
    updates = [p for e, p, _t in sent.sent if e == UPDATE_DOWNLOAD_TASK and p["status"] == "downloading"]
    assert n > 200
    assert 3 <= len(updates) <= 7  # 1 s at <= 4/s, plus the status-change events
    assert events[0] == CREATE_DOWNLOAD_TASK and events[-1] == COMPLETE_DOWNLOAD_TASK
    statuses = [p["status"] for e, p, _t in sent.sent if e == UPDATE_DOWNLOAD_TASK]
    assert statuses[-3:] == ["paused", "downloading", "verifying"]
    times = [t for e, p, t in sent.sent if e == UPDATE_DOWNLOAD_TASK and p["status"] == "downloading"][:5]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap >= 0.22 for gap in gaps[:3]), gaps


def test_a_well_paced_emitter_loses_no_update_to_jitter():
    """Events paced at exactly 4 a second by the core all go through, even when one of them
    reaches the bridge a little late and the next one a little early."""
    sent = Recorder()
    now = [100.0]
    bridge = EventBridge(sent, clock=lambda: now[0])
    bridge(UPDATE_DOWNLOAD_TASK, _task("downloading", 0))
    for i, jitter in enumerate((0.004, -0.003, 0.002, -0.004, 0.0), start=1):
        now[0] = 100.0 + 0.25 * i + jitter
        bridge(UPDATE_DOWNLOAD_TASK, _task("downloading", i))
    assert len(sent.sent) == 6


def test_requester_node_and_prompt_are_added():
    sent = Recorder()
    bridge = EventBridge(sent)
    bridge(CREATE_DOWNLOAD_TASK, _task("queued", node_id="3"))
    assert sent.sent[-1][1]["node_id"] == "3" and sent.sent[-1][1]["prompt_id"] is None
    bridge.attach("t1", "12", "prompt-abc")
    bridge(UPDATE_DOWNLOAD_TASK, _task("downloading"))
    assert sent.sent[-1][1]["node_id"] == "12" and sent.sent[-1][1]["prompt_id"] == "prompt-abc"
    bridge(COMPLETE_DOWNLOAD_TASK, _task("completed"))
    assert sent.sent[-1][1]["node_id"] == "12"
    bridge(DELETE_DOWNLOAD_TASK, {"task_id": "t1"})
    assert sent.sent[-1][1] == {"task_id": "t1"}


def test_secrets_never_leave_through_events():
    key = "civitai-secret-key-123456"
    sent = Recorder()
    bridge = EventBridge(sent, Redactor([key]))
    bridge(UPDATE_DOWNLOAD_TASK, _task("failed", error=f"server said: bad key {key}",
                                      url=f"https://h/x?token={key}"))
    text = repr(sent.sent)
    assert key not in text and "***" in text


def test_scan_progress_is_throttled_and_final_status_passes():
    sent = Recorder()
    bridge = EventBridge(sent)
    for status in ("scanning", "hashing", "fetching_info"):
        for i in range(50):
            bridge(UPDATE_SCAN_TASK, {"scan_id": "s", "model_type": "all", "scanned": i, "total": 50,
                                      "current": f"m{i}", "status": status})
    bridge(UPDATE_SCAN_TASK, {"scan_id": "s", "model_type": "all", "scanned": 50, "total": 50,
                              "current": "", "status": "completed"})
    assert [p["status"] for _e, p, _t in sent.sent] == ["scanning", "hashing", "fetching_info", "completed"]


def test_a_closed_loop_does_not_break_the_download():
    def closed(event, payload):
        raise RuntimeError("Event loop is closed")

    EventBridge(closed)(CREATE_DOWNLOAD_TASK, _task("queued"))  # no exception


def test_scan_events_always_carry_node_and_prompt_keys():
    sent = Recorder()
    bridge = EventBridge(sent)
    bridge(UPDATE_SCAN_TASK, {"scan_id": "rest", "model_type": "all", "scanned": 0, "total": 1,
                              "current": "", "status": "scanning"})
    bridge(UPDATE_SCAN_TASK, {"scan_id": "node", "model_type": "all", "scanned": 0, "total": 1,
                              "current": "", "status": "scanning", "node_id": "4", "prompt_id": "p"})
    (_e, rest, _t), (_e2, node, _t2) = sent.sent
    assert rest["node_id"] is None and rest["prompt_id"] is None  # a REST or CLI scan
    assert node["node_id"] == "4" and node["prompt_id"] == "p"
