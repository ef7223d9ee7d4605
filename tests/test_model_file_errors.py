"""File-system trouble with one model (vanished, permission denied, read-only folder, a folder
in the way) is a 4xx with a message that names the model, never a 500, on real files.

The process running the suite may be root, for whom permissions do not apply: the permission
cases run in a child process that they apply to."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from aiohttp import web

from comfyui_model_manager.core.errors import (
    Conflict, FilePermissionDenied, InsufficientSpace, NotFound, error_for_os_error,
)
from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.nodes.routes import PREFIX, ModelManagerRoutes
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.aiohttp_app import AppServer
from support.scanner_files import make_index, write_safetensors

def test_real_os_errors_map_to_clear_4xx_errors(tmp_path):
    with pytest.raises(OSError) as gone:
        open(tmp_path / "missing.safetensors", "rb")
    error = error_for_os_error(gone.value, "read loras/missing.safetensors")
    assert isinstance(error, NotFound) and error.http_status == 404
    assert error.message == ("could not read loras/missing.safetensors: the file is gone "
                             "(moved or deleted meanwhile?)")
    (tmp_path / "x.md").mkdir()
    with pytest.raises(OSError) as in_the_way:
        open(tmp_path / "x.md", "wb")
    error = error_for_os_error(in_the_way.value, "write the description of loras/x.safetensors")
    assert isinstance(error, Conflict) and error.http_status == 409 and "in the way" in error.message
    full = OSError(28, os.strerror(28))
    assert isinstance(error_for_os_error(full, "write"), InsufficientSpace)
    denied = PermissionError(13, os.strerror(13))
    error = error_for_os_error(denied, "delete loras/x.safetensors")
    assert isinstance(error, FilePermissionDenied) and error.http_status == 403
    assert error.message.startswith("could not delete loras/x.safetensors: Permission denied; check the permissions")


def test_a_folder_in_the_way_of_a_sidecar_is_a_409_over_rest(tmp_path):
    models = tmp_path / "models"
    write_safetensors(models / "loras" / "x.safetensors")
    (models / "loras" / "x.md").mkdir()  # where the description would be written
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(models), tmp_path / "state"))

    def app():
        application = web.Application()
        routes = web.RouteTableDef()
        ModelManagerRoutes(holder).register(routes, (PREFIX,))
        application.add_routes(routes)
        return application

    try:
        with AppServer(app) as server:
            answer = requests.patch(server.url("/model-manager/models/loras/x.safetensors"),
                                    json={"description": "hello"}, timeout=30)
    finally:
        holder.shutdown()
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["message"].startswith("could not write the description of loras/x.safetensors")


CHILD = r"""
import json, sys
from pathlib import Path
sys.path[:0] = json.loads(sys.argv[2])
from support.scanner_files import make_index
from comfyui_model_manager.core.errors import ModelManagerError

index = make_index(Path(sys.argv[1]))
out = {}
for name, call in [
    ("describe", lambda: index.set_description("loras", "locked/a.safetensors", "words")),
    ("delete", lambda: index.delete_model("loras", "locked/a.safetensors", permanently=True)),
    ("get", lambda: index.get_model("loras", "locked/a.safetensors")),
]:
    try:
        call()
        out[name] = "ok"
    except ModelManagerError as exc:
        out[name] = [type(exc).__name__, exc.http_status, exc.message]
print(json.dumps(out))
"""


def unprivileged_prefix() -> list[str]:
    """How to run a command that file permissions apply to: as is for a normal user; for root,
    inside a new user namespace (root there has no power over the host's files, so the owner
    bits count, as for anyone)."""
    if os.geteuid() != 0:
        return []
    probe = subprocess.run(["unshare", "--user", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root and cannot make a user namespace (unshare --user) to drop privileges")
    return ["unshare", "--user"]


def run_unprivileged(tmp_path: Path) -> dict:
    prefix = unprivileged_prefix()
    paths = [str(Path(__file__).parent), *sys.path]
    locked = tmp_path / "models" / "loras" / "locked"
    os.chmod(locked, 0o555)  # read-only folder: nothing can be written or removed in it
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", CHILD, str(tmp_path), json.dumps(paths)],
                              capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(locked, 0o755)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_read_only_model_folder_gives_403s_and_the_model_stays(tmp_path):
    model = write_safetensors(tmp_path / "models" / "loras" / "locked" / "a.safetensors")
    make_index(tmp_path).list_models("loras")  # the state folder exists before the child runs
    answers = run_unprivileged(tmp_path)
    assert answers["describe"][:2] == ["FilePermissionDenied", 403], answers
    assert answers["describe"][2].startswith("could not write the description of loras/locked/a.safetensors: "
                                             "Permission denied")
    assert answers["delete"][:2] == ["FilePermissionDenied", 403], answers
    assert answers["get"] == "ok"  # reading still works
    assert model.is_file() and not model.with_suffix(".md").exists()
