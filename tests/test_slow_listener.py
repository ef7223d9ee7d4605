"""A slow event listener (a busy websocket, a database) stalls nothing: the manager's lock is
never held while listeners run or records are written.  Real aiohttp routes, real downloads."""
from __future__ import annotations

import threading
import time

import pytest

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.aiohttp_app import AppServer, local_session, routes_app
from support.model_files import ModelFileHost

SLEEP = 2.0


class SleepsOnce:
    """Forwards events like ``send_sync``; the "completed" event of ``slow.safetensors`` takes
    ``SLEEP`` seconds (say a listener that writes to a database on completion)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict]] = []
        self.sleeping = threading.Event()
        self.woke = threading.Event()

    def __call__(self, event: str, payload: dict) -> None:
        self.events.append((time.monotonic(), event, payload))
        if payload.get("filename") == "slow.safetensors" and event.endswith("complete_download_task"):
            self.sleeping.set()
            time.sleep(SLEEP)
            self.woke.set()


@pytest.fixture
def env(tmp_path):
    sent = SleepsOnce()
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(tmp_path / "models"),
                                                 tmp_path / "state", sent))

    files = ModelFileHost()
    with AppServer(routes_app(holder)) as server:
        yield {"url": server.url, "http": local_session(), "files": files, "sent": sent}
    holder.shutdown()
    files.close()


def _tasks(env) -> tuple[dict, float]:
    started = time.monotonic()
    response = env["http"].get(env["url"]("/model-manager/tasks"), timeout=10)
    assert response.status_code == 200
    return {t["filename"]: t for t in response.json()["tasks"]}, time.monotonic() - started


def _start(env, name: str, size: int) -> str:
    path = f"/files/{name}"
    env["files"].add(path, size)
    response = env["http"].post(env["url"]("/model-manager/tasks"),
                                json={"url": env["files"].url(path), "model_type": "loras"}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["task_id"]


def test_a_listener_sleeping_2_s_stalls_neither_other_downloads_nor_the_routes(env):
    env["files"].delay = 0.01  # 64 KiB per 10 ms: each download takes a few seconds
    _start(env, "other.safetensors", 12_000_000)
    deadline = time.monotonic() + 10
    while _tasks(env)[0]["other.safetensors"]["downloaded_bytes"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    _start(env, "slow.safetensors", 100_000)
    assert env["sent"].sleeping.wait(10), "the small download never completed"

    seen, slowest = [], 0.0
    while not env["sent"].woke.is_set():  # the listener is asleep now
        tasks, took = _tasks(env)
        slowest = max(slowest, took)
        seen.append(tasks["other.safetensors"]["downloaded_bytes"])
        time.sleep(0.1)
    env["files"].delay = 0.0
    assert len(seen) >= 10, seen  # the route answered all along, many times
    assert slowest < 0.5, f"GET /model-manager/tasks took {slowest:.2f} s while a listener slept"
    assert seen[-1] > seen[0], seen  # the other download went on (its bytes kept arriving)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks, _ = _tasks(env)
        if all(t["status"] == "completed" for t in tasks.values()):
            break
        time.sleep(0.1)
    assert [t["status"] for t in tasks.values()] == ["completed", "completed"], tasks
    # the events still reached the listener, in order, each task's "completed" last of its own
    for name in ("other.safetensors", "slow.safetensors"):
        mine = [event for _t, event, payload in env["sent"].events if payload.get("filename") == name]
        assert mine[0].endswith("create_download_task") and mine[-1].endswith("complete_download_task"), mine
