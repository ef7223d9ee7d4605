"""The task JSON says how many connections a download streams over right now (the CLI bar shows it)."""
from __future__ import annotations

import threading

from comfyui_model_manager.core.observers import UPDATE_DOWNLOAD_TASK
from support.downloads import payload, request
from support.range_server import RangeServer


def test_connections_while_downloading_and_zero_after(manager_factory):
    data = payload(2_000_000)
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()
    with RangeServer("127.0.0.1") as server:
        server.add("/seg.safetensors", data, rate=600_000, etag='"s"')
        manager = manager_factory(settings={"connections_per_download": 4})
        manager.events.subscribe(lambda event, task: event == UPDATE_DOWNLOAD_TASK and (
            lock.acquire(), seen.append((task["status"], task["connections"])), lock.release()))
        task, _ = manager.submit(request(server.url("/seg.safetensors")))
        final = manager.wait(task.task_id, timeout=60)
    assert final.status == "completed"
    assert final.to_json()["connections"] == 0
    during = [count for status, count in seen if status == "downloading"]
    assert max(during) > 1, seen  # several ranged connections for a file over the segment threshold
    assert all(count == 0 for status, count in seen if status != "downloading")
