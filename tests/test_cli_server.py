"""``--server URL`` / ``COMFYUI_URL``: every command acts on a running server's REST routes.

The server is the real aiohttp app of our routes (as ComfyUI serves them) on 127.0.0.1 with a
real runtime over a temporary models folder; the CLI runs as a subprocess with no models folder
of its own, so whatever it shows or changes can only have come through the routes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from PIL import Image

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.aiohttp_app import AppServer, routes_app
from support.model_files import ModelFileHost
from support.scanner_files import write_safetensors

CLI = [sys.executable, "-m", "comfyui_model_manager.core.cli"]


@pytest.fixture
def remote(tmp_path):
    models = tmp_path / "server-models"
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(models), tmp_path / "state",
                                                 lambda event, payload: None))

    files = ModelFileHost()
    workdir = tmp_path / "client"
    workdir.mkdir()
    with AppServer(routes_app(holder)) as server:
        base = server.url("")

        def cli(*args: str, env: dict | None = None, use_flag: bool = True, stdin: str | None = None):
            argv = [*CLI, *args, *(["--server", base] if use_flag else [])]
            return subprocess.run(argv, capture_output=True, text=True, timeout=90, cwd=workdir,
                                  env={**os.environ, **(env or {})}, input=stdin)

        yield {"cli": cli, "url": base, "files": files, "models": models, "workdir": workdir}
    holder.shutdown()
    files.close()


def as_json(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_download_and_task_control_run_on_the_server(remote):
    cli, files, models = remote["cli"], remote["files"], remote["models"]
    served = files.add("/files/fast.safetensors", 300_000)
    task = as_json(cli("download", files.url("/files/fast.safetensors"), "--type", "loras",
                       "--filename", "styles/fast.safetensors", "--json"))
    assert task["status"] == "completed" and task["sha256"] == served.sha256
    assert (models / "loras/styles/fast.safetensors").read_bytes() == served.data
    assert not (remote["workdir"] / "models").exists()  # nothing local was touched

    slow = files.add("/files/slow.safetensors", 8_000_000)
    files.delay = 0.25  # about 30 s for the whole file: time to list and pause it on a busy machine
    started = subprocess.Popen([*CLI, "download", files.url("/files/slow.safetensors"), "--type", "checkpoints",
                                "--server", remote["url"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        listed = []
        while time.monotonic() < deadline:
            listed = as_json(cli("tasks", "--json", use_flag=False, env={"COMFYUI_URL": remote["url"]}))["tasks"]
            if any(t["filename"] == "slow.safetensors" and t["downloaded_bytes"] > 0 for t in listed):
                break
            time.sleep(0.2)
        slow_id = next(t["task_id"] for t in listed if t["filename"] == "slow.safetensors")
        table = cli("tasks")
        assert table.returncode == 0 and f"{slow_id[:8]}  downloading" in table.stdout
        paused = as_json(cli("tasks", "pause", slow_id[:7], "--json"))["tasks"]
        assert [t["status"] for t in paused] == ["paused"]
        _out, err = started.communicate(timeout=30)  # the following command sees the pause and says so
        assert started.returncode == 1
        assert f"continue with: comfyui-model-manager --server {remote['url']} tasks resume {slow_id[:8]}" in err
    finally:
        if started.poll() is None:
            started.kill()
    files.delay = 0
    resumed = as_json(cli("tasks", "resume", slow_id[:7], "--json"))["tasks"]
    assert resumed[0]["status"] in ("queued", "downloading", "completed")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (models / "checkpoints/slow.safetensors").exists():
        time.sleep(0.1)
    assert (models / "checkpoints/slow.safetensors").read_bytes() == slow.data
    removed = as_json(cli("tasks", "clear", "--finished", "--json"))["removed"]
    assert sorted(removed) == sorted([task["task_id"], slow_id])
    assert as_json(cli("tasks", "--json"))["tasks"] == []


def test_models_scan_info_set_delete_trash_on_the_server(remote, tmp_path):
    cli, models = remote["cli"], remote["models"]
    write_safetensors(models / "loras" / "a.safetensors", payload=b"A" * 4096)
    write_safetensors(models / "vae" / "v.safetensors", payload=b"V" * 2048)
    report = as_json(cli("scan", "--type", "loras", "--hashes", "--json"))
    assert report["status"] == "completed" and [m["name"] for m in report["models"]] == ["a.safetensors"]
    assert report["models"][0]["sha256"]
    everything = cli("scan")
    assert everything.returncode == 0 and "loras/a.safetensors" in everything.stdout
    assert "vae/v.safetensors" in everything.stdout

    assert cli("set-description", "loras", "a.safetensors", "-", stdin="from the laptop").returncode == 0
    assert (models / "loras" / "a.md").read_text() == "from the laptop"
    image = tmp_path / "p.png"
    Image.new("RGB", (16, 16), "blue").save(image)
    assert cli("set-preview", "loras", "a.safetensors", str(image)).returncode == 0
    assert (models / "loras" / "a.webp").is_file()
    info = as_json(cli("info", "loras", "a.safetensors", "--json"))
    assert info["description"] == "from the laptop" and info["preview"]
    shown = cli("info", "loras", "a.safetensors")
    assert shown.stdout.startswith("loras/a.safetensors\n")

    deleted = as_json(cli("delete", "loras", "a.safetensors", "--json"))
    assert deleted["trash_id"] and not (models / "loras" / "a.safetensors").exists()
    items = as_json(cli("trash", "--json"))["items"]
    assert [item["name"] for item in items] == ["a.safetensors"]
    restored = as_json(cli("trash", "restore", deleted["trash_id"][:6], "--json"))
    assert restored["name"] == "a.safetensors" and (models / "loras" / "a.safetensors").is_file()
    assert cli("delete", "vae", "v.safetensors").returncode == 0
    emptied = as_json(cli("trash", "empty", "--json"))
    assert [item["name"] for item in emptied["purged"]] == ["v.safetensors"]
    assert as_json(cli("trash", "--json"))["items"] == []


def test_settings_and_workflow_on_the_server(remote, tmp_path):
    cli, files, models = remote["cli"], remote["files"], remote["models"]
    host = files.url("").split("//", 1)[1]
    view = as_json(cli("settings", "set", "workflow_allowed_hosts", host, "--json"))
    assert view["workflow_allowed_hosts"] == [host] and "settings_file" not in view
    assert as_json(cli("settings", "set", "civitai_api_key", "-", "--json", stdin="key-1234567890\n"))[
        "civitai_api_key_set"] is True
    shown = cli("settings")
    assert "civitai_api_key: set" in shown.stdout and "key-1234567890" not in shown.stdout + shown.stderr
    served = files.add("/files/wf_vae.safetensors", 100_000)
    graph = {"nodes": [{"id": 1, "type": "VAELoader", "widgets_values": ["wf_vae.safetensors"], "properties": {
        "models": [{"name": "wf_vae.safetensors", "url": files.url("/files/wf_vae.safetensors"),
                    "directory": "vae"}]}}], "links": [], "version": 0.4}
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(graph))
    listed = cli("workflow", str(path), "--no-sizes")
    assert listed.returncode == 1 and "wf_vae.safetensors" in listed.stdout and "missing" in listed.stdout
    fetched = as_json(cli("workflow", str(path), "--download", "--json"))
    assert [m["status"] for m in fetched["models"]] == ["present"]
    assert (models / "vae" / "wf_vae.safetensors").read_bytes() == served.data


def test_server_usage_errors_and_an_unreachable_server(remote):
    cli = remote["cli"]
    typo = cli("download", "https://example.invalid/x.safetensors", "--type", "lora", "--json")
    assert typo.returncode == 2 and "did you mean `loras`?" in json.loads(typo.stdout)["error"]["message"]
    both = cli("tasks", "--models-dir", "somewhere")
    assert both.returncode == 2 and "--models-dir is for local files" in both.stderr
    bad = cli("tasks", use_flag=False, env={"COMFYUI_URL": "ftp://host"})
    assert bad.returncode == 2 and "--server" in bad.stderr
    missing = cli("info", "loras", "nope.safetensors", "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"]["code"] == "not_found"
    ambiguous = cli("tasks", "cancel", "zz")
    assert ambiguous.returncode == 2 and "no task with an id starting with 'zz'" in ambiguous.stderr
    gone = subprocess.run([*CLI, "tasks", "--server", "http://127.0.0.1:9", "--json"], capture_output=True,
                          text=True, timeout=60)
    assert gone.returncode == 1
    assert json.loads(gone.stdout)["error"]["code"] == "remote_error" and "could not reach" in gone.stderr
