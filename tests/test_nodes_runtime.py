"""The runtime's lifetime: built once, lazily, after the server listens; shut down cleanly."""
from __future__ import annotations

import asyncio
import threading
import time

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime, schedule_startup


class Counting:
    """A stand-in runtime that records its lifetime calls."""

    def __init__(self, log):
        self.log = log
        log.append("built")

    def start(self):
        self.log.append("started")

    def shutdown(self):
        self.log.append("shut down")


def test_holder_builds_once_even_when_raced():
    log = []
    barrier = threading.Barrier(8)

    def factory():
        time.sleep(0.05)
        return Counting(log)

    holder = RuntimeHolder(factory)
    results = []

    def get():
        barrier.wait()
        results.append(holder.get())

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log == ["built", "started"] and len({id(r) for r in results}) == 1
    holder.shutdown()
    assert log[-1] == "shut down" and not holder.created


def test_startup_waits_until_the_server_listens_and_does_not_block_the_loop():
    log = []
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = type("Server", (), {})()
    server.loop = loop
    holder = RuntimeHolder(lambda: (time.sleep(0.3), Counting(log))[1])
    try:
        schedule_startup(server, holder, poll=0.02)
        time.sleep(0.2)
        assert not holder.created and holder.background_tasks  # waiting for the server
        server.address = "127.0.0.1"
        started = time.monotonic()
        # the loop stays responsive while the runtime is built in a thread
        ping = asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop)
        ping.result(1)
        assert time.monotonic() - started < 0.2
        deadline = time.monotonic() + 5
        while not holder.created and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.created and log == ["built", "started"]
        while holder.background_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not holder.background_tasks  # the start-up task is done and forgotten
    finally:
        holder.shutdown()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_build_runtime_touches_no_network_and_keeps_state_in_its_folder(tmp_path):
    sent = []
    runtime = build_runtime(ModelFolders.from_models_dir(tmp_path / "models"), tmp_path / "state",
                            lambda event, payload: sent.append(event))
    try:
        runtime.start()
        assert runtime.state_dir == tmp_path / "state" and runtime.state_dir.is_dir()
        assert runtime.manager.list() == [] and sent == []
        runtime.settings.update({"civitai_api_key": "abcdef-123456-secret"})
        assert (tmp_path / "state" / "settings.json").stat().st_mode & 0o777 == 0o600
        assert "abcdef-123456-secret" not in repr(runtime.settings)
    finally:
        runtime.shutdown()
