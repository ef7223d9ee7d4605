"""The command line next to a running ComfyUI.

- ``--server`` against a real ComfyUI (``COMFYUI_PATH``; skipped with the reason otherwise): the
  download lands in that ComfyUI's models folder, ``tasks`` lists that ComfyUI's tasks, and model
  commands act on its files.
- Without ``--server``, a local command over the models folder a running ComfyUI uses says so.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.comfyui_harness import ComfyUIServer, require_comfyui

CLI = [sys.executable, "-m", "comfyui_model_manager.core.cli"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    server = ComfyUIServer(require_comfyui(), tmp_path_factory.mktemp("comfy-cli"))
    server.start()
    yield server
    server.stop()


@pytest.mark.comfyui
def test_every_command_can_drive_a_real_comfyui(comfy, files, tmp_path):
    served = files.add("/cli/remote.safetensors", 400_000)
    env = {"COMFYUI_URL": comfy.base_url}
    done = cli("download", files.url("/cli/remote.safetensors"), "--type", "loras", "--subfolder", "cli", "--json",
               env=env)
    assert done.returncode == 0, done.stderr + comfy.log_tail()
    task = json.loads(done.stdout)
    assert task["status"] == "completed" and task["sha256"] == served.sha256
    assert (comfy.models_dir / "loras/cli/remote.safetensors").read_bytes() == served.data
    listed = cli("tasks", "--server", comfy.base_url)
    assert listed.returncode == 0 and f"{task['task_id'][:8]}  completed" in listed.stdout
    assert cli("set-description", "loras", "cli/remote.safetensors", "from the CLI", env=env).returncode == 0
    info = json.loads(cli("info", "loras", "cli/remote.safetensors", "--json", env=env).stdout)
    assert info["description"] == "from the CLI"
    report = json.loads(cli("scan", "--type", "loras", "--json", env=env).stdout)
    assert "cli/remote.safetensors" in [m["name"] for m in report["models"]]
    assert json.loads(cli("settings", "--json", env=env).stdout)["civitai_api_key_set"] is False
    deleted = json.loads(cli("delete", "loras", "cli/remote.safetensors", "--json", env=env).stdout)
    assert deleted["trash_id"] and not (comfy.models_dir / "loras/cli/remote.safetensors").exists()
    restored = cli("trash", "restore", deleted["trash_id"], env=env)
    assert restored.returncode == 0 and (comfy.models_dir / "loras/cli/remote.safetensors").is_file()
    removed = cli("tasks", "remove", task["task_id"][:8], env=env)
    assert removed.returncode == 0
    assert json.loads(cli("tasks", "--json", env=env).stdout)["tasks"] == []


@pytest.mark.comfyui
def test_a_local_command_over_a_running_comfyuis_folder_says_so(comfy, files):
    files.add("/cli/local.safetensors", 50_000)
    done = cli("download", files.url("/cli/local.safetensors"), "--type", "vae", "--models-dir", str(comfy.models_dir))
    assert done.returncode == 0, done.stderr
    assert f"the ComfyUI running here (pid {comfy.process.pid}) uses this models folder" in done.stderr
    assert f"--server http://127.0.0.1:{comfy.port}" in done.stderr


def test_the_note_needs_the_same_folder(tmp_path, files):
    """A process that looks like ComfyUI (main.py beside folder_paths.py) over one models folder."""
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir()
    (comfy / "folder_paths.py").write_text("")
    (comfy / "main.py").write_text("import time\nwhile True:\n    time.sleep(1)\n")
    process = subprocess.Popen([sys.executable, "main.py", "--port", "8765"], cwd=comfy)
    try:
        time.sleep(0.3)
        files.add("/cli/near.safetensors", 20_000)
        shared = cli("download", files.url("/cli/near.safetensors"), "--type", "vae",
                     "--models-dir", str(comfy / "models"))
        assert shared.returncode == 0, shared.stderr
        assert f"(pid {process.pid}) uses this models folder" in shared.stderr
        assert "--server http://127.0.0.1:8765" in shared.stderr
        elsewhere = cli("download", files.url("/cli/near.safetensors"), "--type", "vae",
                        "--models-dir", str(tmp_path / "other"))
        assert elsewhere.returncode == 0 and "uses this models folder" not in elsewhere.stderr
    finally:
        process.kill()
        process.wait(10)
    assert Path(comfy / "models" / "vae" / "near.safetensors").is_file()
