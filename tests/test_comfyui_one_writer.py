"""One writer per partial file with real ComfyUIs: the CLI next to a running ComfyUI, and two
ComfyUIs on one base directory (two ports, as with two GPUs) sharing models and state.  Bytes are
counted at the file server; the lock and state files never show up in ComfyUI's model lists."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from support.comfyui_harness import ComfyUIServer, require_comfyui
from support.downloads import listing, payload, sha256
from support.range_server import RangeServer
from support.waiting import fetched_bytes, served_ranges, wait_for

pytestmark = pytest.mark.comfyui

CLI = [sys.executable, "-m", "comfyui_model_manager.core.cli"]


@pytest.fixture(scope="module")
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two ComfyUIs on one base directory: same models, same user folder, different ports."""
    installation = require_comfyui()
    base = tmp_path_factory.mktemp("comfy-pair")
    first, second = ComfyUIServer(installation, base), ComfyUIServer(installation, base)
    first.start()
    second.start()
    yield first, second
    for comfy in (first, second):
        if comfy.process is not None and comfy.process.poll() is None:
            comfy.stop()


#: A killed writer leaves what the server had already pushed into its socket buffers unread: a
#: busy ComfyUI can lag its download by a few hundred KB at these rates.
IN_FLIGHT = 512 * 1024


def _size(path):
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _submit(comfy, url):
    answer = comfy.post("/model-manager/tasks", json={"url": url, "model_type": "checkpoints"})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _task(comfy, task_id):
    return comfy.get(f"/model-manager/tasks/{task_id}").json()


def _finished(comfy, task_id, timeout=90):
    return wait_for(lambda: (t := _task(comfy, task_id))["status"] in ("completed", "failed", "cancelled") and t,
                     timeout=timeout, what="the task finishing")


def _checkpoint_names(comfy):
    info = comfy.object_info("CheckpointLoaderSimple")["CheckpointLoaderSimple"]
    return info["input"]["required"]["ckpt_name"][0]


def test_cli_next_to_comfyui_follows_its_download(pair, server, tmp_path):
    comfy = pair[0]
    data = payload(3_000_000, seed=11)
    spec = server.add("/cc.safetensors", data, etag='"cc"', rate=300_000)
    folder = comfy.models_dir / "checkpoints"
    task = _submit(comfy, server.url("/cc.safetensors"))
    wait_for(lambda: _size(folder / ".cc.safetensors.mmpart") > 200_000, what="ComfyUI downloading")
    assert (folder / ".cc.safetensors.mmlock").exists() and (folder / ".cc.safetensors.mmstate").exists()
    names = _checkpoint_names(comfy)
    assert not [n for n in names if "cc.safetensors" in n], names  # partial, lock, state: not models

    env = {**os.environ, "COMFYUI_MODEL_MANAGER_HOME": str(tmp_path / "cli-home")}
    spec.rate = 600_000  # the CLI still starts well before the end
    cli = subprocess.run([*CLI, "download", server.url("/cc.safetensors"), "--type", "checkpoints",
                          "--models-dir", str(comfy.models_dir), "--json"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert cli.returncode == 0, cli.stderr
    followed = json.loads(cli.stdout)
    assert followed["status"] == "completed" and followed["sha256"] == sha256(data)
    assert f"being downloaded by another process (pid {comfy.process.pid})" in cli.stderr
    assert "Traceback" not in cli.stderr
    done = _finished(comfy, task["task_id"])
    assert done["status"] == "completed" and done["sha256"] == sha256(data), done
    assert (folder / "cc.safetensors").read_bytes() == data
    assert [n for n in listing(folder) if "cc." in n] == ["cc.safetensors"]
    assert "cc.safetensors" in _checkpoint_names(comfy)
    served = fetched_bytes(server, "/cc.safetensors")
    print(f"\nComfyUI + CLI: {served} bytes served for a {len(data)}-byte file")
    assert served == len(data)


def test_comfyui_workflow_follows_a_cli_download_and_takes_over_after_kill_9(pair, server, tmp_path):
    comfy = pair[0]
    data = payload(3_000_000, seed=12)
    spec = server.add("/ck.safetensors", data, etag='"ck"', rate=200_000)
    folder = comfy.models_dir / "checkpoints"
    partial = folder / ".ck.safetensors.mmpart"
    env = {**os.environ, "COMFYUI_MODEL_MANAGER_HOME": str(tmp_path / "cli-home")}
    cli = subprocess.Popen([*CLI, "download", server.url("/ck.safetensors"), "--type", "checkpoints",
                            "--models-dir", str(comfy.models_dir)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _size(partial) > 100_000, what="the CLI downloading")
        prompt = {"1": {"class_type": "DownloadModel",
                        "inputs": {"url": server.url("/ck.safetensors"), "model_type": "checkpoints",
                                   "subfolder": "", "filename": "", "sha256": "", "if_exists": "skip",
                                   "wait": True}},
                  "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
        with comfy.websocket() as ws:
            prompt_id = comfy.queue_prompt(prompt, client_id=ws.client_id)
            waiting = ws.wait_for(lambda m: m["type"] == "model_manager.update_download_task"
                                  and m["data"]["filename"] == "ck.safetensors" and m["data"].get("message"),
                                  timeout=60)["data"]
            assert waiting["message"] == f"being downloaded by another process (pid {cli.pid})"
            assert waiting["status"] == "downloading"
            wait_for(lambda: _size(partial) > 0.4 * len(data), what="40 % downloaded")
            os.kill(cli.pid, signal.SIGKILL)
            cli.wait(10)
            at_kill = _size(partial)
            spec.rate = None
            end = ws.wait_for_prompt_end(prompt_id, timeout=90)
        assert end["type"] == "execution_success", end
    finally:
        if cli.poll() is None:
            cli.kill()
    task = next(t for t in comfy.get("/model-manager/tasks").json()["tasks"] if t["filename"] == "ck.safetensors")
    assert task["status"] == "completed" and task["sha256"] == sha256(data) and task["message"] is None
    assert (folder / "ck.safetensors").read_bytes() == data
    assert [n for n in listing(folder) if "ck." in n] == ["ck.safetensors"]
    served = fetched_bytes(server, "/ck.safetensors")
    print(f"\nCLI killed at {at_kill} bytes, ComfyUI took over: {served} bytes served for {len(data)}")
    assert served <= len(data) + IN_FLIGHT, served_ranges(server, "/ck.safetensors")


def test_two_comfyuis_on_one_folder_fetch_once_and_survive_kill_9_of_the_writer(pair, server):
    first, second = pair
    data = payload(4_000_000, seed=13)
    spec = server.add("/two.safetensors", data, etag='"two"', rate=200_000)
    folder = first.models_dir / "checkpoints"
    partial = folder / ".two.safetensors.mmpart"
    a = _submit(first, server.url("/two.safetensors"))
    wait_for(lambda: _size(partial) > 100_000, what="the first ComfyUI downloading")
    b = _submit(second, server.url("/two.safetensors"))
    waiting = wait_for(lambda: (t := _task(second, b["task_id"])).get("message") and t, what="following")
    assert waiting["message"] == f"being downloaded by another process (pid {first.process.pid})"
    assert waiting["status"] == "downloading"
    wait_for(lambda: _task(second, b["task_id"])["downloaded_bytes"] > waiting["downloaded_bytes"],
              what="the follower's progress moving")
    assert not [n for n in _checkpoint_names(second) if "two" in n]
    wait_for(lambda: _size(partial) > 0.4 * len(data), what="40 % downloaded")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    at_kill = _size(partial)
    spec.rate = None
    done = _finished(second, b["task_id"])
    assert done["status"] == "completed" and done["sha256"] == sha256(data) and done["message"] is None, done
    assert (folder / "two.safetensors").read_bytes() == data
    assert [n for n in listing(folder) if "two." in n] == ["two.safetensors"]
    assert "two.safetensors" in _checkpoint_names(second)
    served = fetched_bytes(server, "/two.safetensors")
    print(f"\ntwo ComfyUIs, writer killed at {at_kill} bytes: {served} bytes served for {len(data)}")
    assert served <= len(data) + IN_FLIGHT, served_ranges(server, "/two.safetensors")
    first.start()  # the killed one comes back: its task record says completed, the file is there
    assert wait_for(lambda: (t := _task(first, a["task_id"]))["status"] in ("completed", "failed") and t,
                     what="the restarted ComfyUI settling")["status"] == "completed"
    assert fetched_bytes(server, "/two.safetensors") == served
