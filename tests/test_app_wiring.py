"""One wiring for ComfyUI and the CLI: ``core.app.build_app`` builds the core objects and
``shutdown`` stops all of them, the model index included."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from comfyui_model_manager.core.app import build_app
from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.scanner.hashing import FileHasher
from comfyui_model_manager.nodes.runtime import build_runtime
from support.scanner_files import write_safetensors


class SlowHasher(FileHasher):
    """Really hashes, after ``delay`` seconds per file (a scan that lasts long enough to stop)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.started = threading.Event()

    def sha256(self, path, should_stop=lambda: False, on_bytes=None):
        self.started.set()
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline and not should_stop():
            time.sleep(0.005)
        return super().sha256(path, should_stop, on_bytes)


def _library(models, count):
    for i in range(count):
        write_safetensors(models / "loras" / f"m{i:03d}.safetensors", payload=bytes([i]) * 64)


def test_runtime_shutdown_stops_a_running_scan(tmp_path):
    models = tmp_path / "models"
    _library(models, 40)
    runtime = build_runtime(ModelFolders.from_models_dir(models), tmp_path / "state")
    runtime.start()
    runtime.index.hasher = SlowHasher(0.1)
    task = runtime.index.start_scan("loras", compute_hashes=True)
    assert runtime.index.hasher.started.wait(5)
    runtime.shutdown(timeout=5)
    assert task.wait(0)  # the scan ended with the runtime, not 4 s later
    assert task.status == "cancelled" and task.hashes_computed < 40


def test_the_runtime_and_the_cli_share_one_wiring(tmp_path):
    runtime = build_runtime(ModelFolders.from_models_dir(tmp_path / "models"), tmp_path / "state")
    try:
        app = runtime.app
        assert runtime.manager is app.manager and runtime.index is app.index
        assert app.manager.http is app.http and app.index.http is app.http and app.sources.http is app.http
        assert app.manager.sources is app.sources
        assert app.hash_cache is app.index.hash_cache
    finally:
        runtime.shutdown()


def test_a_cli_scan_uses_the_digests_the_server_already_cached(tmp_path):
    models = tmp_path / "models"
    _library(models, 3)
    state = tmp_path / "config" / "state"  # the CLI's state folder, as a ComfyUI would share it
    server_side = build_app(ModelFolders.from_models_dir(models), state)
    try:
        first = server_side.index.scan("loras", compute_hashes=True)
        assert first.task.hashes_computed == 3
    finally:
        server_side.shutdown()
    env = {**os.environ, "COMFYUI_MODEL_MANAGER_HOME": str(tmp_path / "config")}
    result = subprocess.run([sys.executable, "-m", "comfyui_model_manager.core.cli", "scan", "--hashes",
                             "--json", "--models-dir", str(models)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["hashed"] == 3 and report["hashes_computed"] == 0


def test_a_finished_download_is_in_the_model_index_at_once(tmp_path):
    """The library lists a download as soon as it completes, before any scan."""
    from comfyui_model_manager.core.observers import COMPLETE_DOWNLOAD_TASK

    models = tmp_path / "models"
    _library(models, 2)
    app = build_app(ModelFolders.from_models_dir(models), tmp_path / "state")
    try:
        assert app.index.query_models("loras")[1] == 2  # indexed before the download lands
        write_safetensors(models / "loras" / "new" / "fresh.safetensors", payload=b"f" * 64)
        app.manager.events.emit(COMPLETE_DOWNLOAD_TASK, {
            "task_id": "t1", "model_type": "loras", "filename": "new/fresh.safetensors", "status": "completed"})
        names = [m.name for m in app.index.query_models("loras")[0]]
        assert "new/fresh.safetensors" in names
        app.manager.events.emit(COMPLETE_DOWNLOAD_TASK, {  # a failed one changes nothing
            "task_id": "t2", "model_type": "loras", "filename": "nope.safetensors", "status": "failed"})
        assert app.index.query_models("loras")[1] == 3
    finally:
        app.shutdown()


def test_every_listener_hears_downloads_and_scans_from_one_thread_in_order(tmp_path):
    """One delivery thread per app: download and scan events reach a listener from the same
    thread, each task's and scan's events in the order they happened."""
    from comfyui_model_manager.core.downloads.manager import DownloadRequest
    from support.downloads import payload
    from support.range_server import RangeServer

    models = tmp_path / "models"
    _library(models, 3)
    heard: list[tuple[str, str, dict]] = []
    app = build_app(ModelFolders.from_models_dir(models), tmp_path / "state")
    app.subscribe(lambda event, body: heard.append((threading.current_thread().name, event, dict(body))))
    try:
        assert not app.index_made  # nothing asked for the index yet
        with RangeServer("127.0.0.1") as server:
            server.add("/one.safetensors", payload(300_000))
            app.start()
            task, _ = app.manager.submit(DownloadRequest(url=server.url("/one.safetensors"), model_type="loras"))
            report = app.index.scan("loras", compute_hashes=True)
            assert app.manager.wait(task.task_id, timeout=30).status == "completed"
        app.outbox.wait_delivered(app.outbox.last, timeout=10)
    finally:
        app.shutdown()
    assert len({thread for thread, _event, _body in heard}) == 1
    downloads = [event for _t, event, body in heard if body.get("task_id") == task.task_id]
    scans = [event for _t, event, body in heard if body.get("scan_id") == report.task.scan_id]
    assert downloads[0].endswith("create_download_task") and downloads[-1].endswith("complete_download_task")
    assert scans and scans[-1].endswith("complete_scan_task")
