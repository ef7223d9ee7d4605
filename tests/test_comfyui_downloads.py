"""End to end in a real ComfyUI: controlling downloads while a workflow waits on them.

Pause / resume / cancel through the REST routes, ComfyUI's Interrupt (the node stops waiting
within a second, the task keeps running, re-queueing joins it) and a ComfyUI restart in the
middle of a download (clean Ctrl-C, and a crash) after which the download completes.
The file host is throttled by sleeping between 64 KiB chunks; tests speed it up once the
state they need to observe has been reached.
"""
from __future__ import annotations

import hashlib
import json
import signal
import time

import pytest

from support.comfyui_harness import ComfyUIServer, require_comfyui

pytestmark = pytest.mark.comfyui

SLOW = 0.25  # seconds per 64 KiB chunk and connection: a 4 MiB file takes > 4 s


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    server = ComfyUIServer(require_comfyui(), tmp_path_factory.mktemp("comfy-downloads"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fast_again(files):
    yield
    files.delay = 0.0


def _prompt(url, **inputs):
    node = {"url": url, "model_type": "checkpoints", "subfolder": "", "filename": "", "sha256": "",
            "if_exists": "skip", "wait": True, **inputs}
    return {"1": {"class_type": "DownloadModel", "inputs": node},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


def _task_when_bytes_flow(comfy, ws, filename, timeout=30):
    created = ws.wait_for(lambda m: m["type"] == "model_manager.create_download_task"
                          and m["data"]["filename"] == filename, timeout=timeout)
    task_id = created["data"]["task_id"]
    ws.wait_for(lambda m: m["type"] == "model_manager.update_download_task"
                and m["data"]["task_id"] == task_id and m["data"]["downloaded_bytes"] > 0, timeout=timeout)
    return task_id


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _partials(folder):
    return list(folder.glob(".*.mmpart"))


def test_pause_resume_and_cancel_through_rest_while_a_workflow_waits(comfy, files):
    served = files.add("/files/paused.safetensors", 4 << 20)
    files.delay = SLOW
    folder = comfy.models_dir / "checkpoints"
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt(_prompt(files.url("/files/paused.safetensors")), client_id=ws.client_id)
        task_id = _task_when_bytes_flow(comfy, ws, "paused.safetensors")

        paused = comfy.post(f"/model-manager/tasks/{task_id}/pause")
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        partial = _partials(folder)
        assert len(partial) == 1
        size = partial[0].stat().st_size
        time.sleep(0.8)
        assert partial[0].stat().st_size == size  # nothing is written while paused
        assert comfy.get(f"/model-manager/tasks/{task_id}").json()["status"] == "paused"
        assert not [m for m in ws.of_type("execution_success", "execution_error")
                    if m["data"]["prompt_id"] == prompt_id]  # the workflow still waits
        downloaded = comfy.get(f"/model-manager/tasks/{task_id}").json()["downloaded_bytes"]
        assert 0 < downloaded < len(served.data)

        files.server.clear_log()
        files.delay = 0.0
        resumed = comfy.post(f"/api/model-manager/tasks/{task_id}/resume")
        assert resumed.status_code == 200 and resumed.json()["status"] in ("queued", "downloading")
        end = ws.wait_for_prompt_end(prompt_id, timeout=60)
        assert end["type"] == "execution_success", end
    assert _sha(folder / "paused.safetensors") == served.sha256
    ranges = [r.header("Range") for r in files.requests_for("/files/paused.safetensors")]
    assert ranges and all(r and not r.startswith("bytes=0-") for r in ranges if r != "bytes=0-0"), ranges

    # cancel: the waiting node fails with a clear message, the partial is removed
    files.add("/files/cancelled.safetensors", 4 << 20)
    files.delay = SLOW
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt(_prompt(files.url("/files/cancelled.safetensors")), client_id=ws.client_id)
        task_id = _task_when_bytes_flow(comfy, ws, "cancelled.safetensors")
        cancelled = comfy.post(f"/model-manager/tasks/{task_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        end = ws.wait_for_prompt_end(prompt_id, timeout=30)
    assert end["type"] == "execution_error"
    assert "cancelled" in end["data"]["exception_message"]
    assert not (folder / "cancelled.safetensors").exists() and not _partials(folder)
    assert comfy.delete(f"/model-manager/tasks/{task_id}").status_code == 204
    assert comfy.get(f"/model-manager/tasks/{task_id}").status_code == 404


def test_interrupt_stops_waiting_within_a_second_and_requeue_joins(comfy, files):
    served = files.add("/files/interrupted.safetensors", 4 << 20)
    files.delay = SLOW
    folder = comfy.models_dir / "checkpoints"
    prompt = _prompt(files.url("/files/interrupted.safetensors"))
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt(prompt, client_id=ws.client_id)
        task_id = _task_when_bytes_flow(comfy, ws, "interrupted.safetensors")
        asked = time.monotonic()
        comfy.interrupt()
        end = ws.wait_for_prompt_end(prompt_id, timeout=10)
        took = end["_received"] - asked
        assert end["type"] == "execution_interrupted", end
        assert took <= 1.0, f"the node took {took:.2f} s to stop waiting"
        task = comfy.get(f"/model-manager/tasks/{task_id}").json()
        assert task["status"] == "downloading"  # the manager keeps the download going
        before = task["downloaded_bytes"]
        time.sleep(0.6)
        assert comfy.get(f"/model-manager/tasks/{task_id}").json()["downloaded_bytes"] > before

        mark = ws.mark()
        again = comfy.queue_prompt(prompt, client_id=ws.client_id)
        ws.wait_for(lambda m: m["type"] == "model_manager.update_download_task"
                    and m["data"]["prompt_id"] == again and m["data"]["node_id"] == "1", start=mark)
        files.delay = 0.0
        end = ws.wait_for_prompt_end(again, timeout=60)
        assert end["type"] == "execution_success", end
        created_again = [m for m in ws.messages[mark:] if m["type"] == "model_manager.create_download_task"]
        assert not created_again  # joined, not a new task
        complete = ws.wait_for(lambda m: m["type"] == "model_manager.complete_download_task", start=mark)
        assert complete["data"]["task_id"] == task_id
        assert complete["data"]["prompt_id"] == again  # events now name the prompt that waits
    assert _sha(folder / "interrupted.safetensors") == served.sha256
    assert len([t for t in comfy.get("/model-manager/tasks").json()["tasks"]
                if t["filename"] == "interrupted.safetensors"]) == 1


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "crash"])
def test_restart_in_the_middle_of_a_download_then_it_completes(comfy, files, stop_signal):
    name = f"restart_{stop_signal.name.lower()}.safetensors"
    served = files.add(f"/files/{name}", 4 << 20)
    files.delay = SLOW
    folder = comfy.models_dir / "checkpoints"
    with comfy.websocket() as ws:
        response = comfy.post("/model-manager/tasks", json={
            "url": files.url(f"/files/{name}"), "model_type": "checkpoints", "sha256": served.sha256})
        assert response.status_code == 201, response.text
        task_id = response.json()["task_id"]
        ws.wait_for(lambda m: m["type"] == "model_manager.update_download_task"
                    and m["data"]["task_id"] == task_id and m["data"]["downloaded_bytes"] > 256 << 10)
    time.sleep(1.2)  # let a progress record reach the task file
    comfy.stop(stop_signal)
    assert _partials(folder), "the partial file must survive the restart"
    record = json.loads((comfy.state_dir / "tasks" / f"{task_id}.json").read_text())
    # Ctrl-C runs the atexit shutdown (record saved as queued); a crash leaves "downloading"
    assert record["status"] == ("queued" if stop_signal == signal.SIGINT else "downloading"), record
    assert record["downloaded_bytes"] > 0
    assert not (folder / name).exists()
    files.server.clear_log()
    files.delay = 0.0
    comfy.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (folder / name).exists():
        time.sleep(0.1)  # nobody calls ComfyUI meanwhile: the runtime resumes it by itself
    assert (folder / name).exists(), comfy.log_tail()
    for _ in range(50):  # the record turns "completed" right after the rename
        task = comfy.get(f"/model-manager/tasks/{task_id}").json()
        if task["status"] == "completed":
            break
        time.sleep(0.1)
    assert task["status"] == "completed", task
    assert _sha(folder / name) == served.sha256
    ranges = [r.header("Range") for r in files.requests_for(f"/files/{name}")]
    assert any(r and not r.startswith("bytes=0-") for r in ranges), ranges  # resumed, not restarted


def test_interrupt_while_the_link_is_still_being_resolved(comfy):
    """A source that takes long to answer (the probe) does not hold the node past Interrupt."""
    from support.fake_http import FakeServer, Reply

    def slow(request):
        time.sleep(4.0)
        return Reply(404, {"Content-Type": "text/plain"}, b"gone")

    slow_host = FakeServer("127.0.0.2", slow)
    try:
        with comfy.websocket() as ws:
            prompt_id = comfy.queue_prompt(_prompt(slow_host.url + "/slow.safetensors"), client_id=ws.client_id)
            ws.wait_for(lambda m: m["type"] == "executing" and m["data"].get("node") == "1"
                        and m["data"].get("prompt_id") == prompt_id)
            time.sleep(0.3)
            asked = time.monotonic()
            comfy.interrupt()
            end = ws.wait_for_prompt_end(prompt_id, timeout=10)
        assert end["type"] == "execution_interrupted", end
        assert end["_received"] - asked <= 1.0
    finally:
        slow_host.close()
