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
    Conflict, FilePermissionDenied, InsufficientSpace, InvalidInput, NotFound, error_for_os_error,
)
from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.nodes.routes import PREFIX, ModelManagerRoutes
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.aiohttp_app import AppServer
from support.scanner_files import cover_metadata, image_bytes, make_index, safetensors_bytes, write_safetensors

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
    with pytest.raises(OSError) as too_long:
        (tmp_path / ("n" * 300)).stat()
    error = error_for_os_error(too_long.value, "find loras/nnn")
    assert isinstance(error, InvalidInput) and error.http_status == 400 and "at most 255 bytes" in error.message
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(OSError) as loop:
        open(tmp_path / "loop", "rb")
    error = error_for_os_error(loop.value, "read loras/loop")
    assert isinstance(error, Conflict) and error.http_status == 409 and "symlink" in error.message


def test_a_folder_in_the_way_of_a_sidecar_is_a_409_over_rest(tmp_path):
    models = tmp_path / "models"
    write_safetensors(models / "loras" / "x.safetensors")
    (models / "loras" / "x.md").mkdir()  # where the description would be written
    server, holder = serve(tmp_path)
    try:
        with server:
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


# -- every route that touches a model file, on real trouble ---------------------------------------
METHODS = [("GET", "", {}), ("GET", "/preview", {}), ("PATCH", "", {"json": {"description": "new words"}}),
           ("PUT", "/preview", {"data": image_bytes("PNG")}), ("DELETE", "", {}),
           ("DELETE", "?permanently=true", {})]


def serve(tmp_path: Path):
    """(server, holder) for the model folders under ``tmp_path/models``."""
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(tmp_path / "models"), tmp_path / "state"))

    def app():
        application = web.Application()
        routes = web.RouteTableDef()
        ModelManagerRoutes(holder).register(routes, (PREFIX,))
        application.add_routes(routes)
        return application

    return AppServer(app), holder


def answers_for(tmp_path: Path, names: list[str], before=None) -> dict:
    """{(name, method + path): (status, message)} for every model route and name, and
    {("scan", "errors"): (0, the errors of a scan of the loras)}."""
    server, holder = serve(tmp_path)
    found = {}
    try:
        with server:
            assert requests.get(server.url(f"{PREFIX}/models?type=loras"), timeout=30).status_code == 200
            if before is not None:
                before()
            found["scan", "errors"] = (0, holder.get().index.scan("loras").task.errors)
            for name in names:
                for method, path, extra in METHODS:
                    answer = requests.request(method, server.url(f"{PREFIX}/models/loras/{name}{path}"),
                                              timeout=30, **extra)
                    body = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
                    found[name, method + path] = (answer.status_code, body.get("error", {}).get("message"))
    finally:
        holder.shutdown()
    return found


def test_a_model_that_vanished_after_the_listing_is_a_404_on_every_route(tmp_path):
    loras = tmp_path / "models" / "loras"
    write_safetensors(loras / "gone.safetensors")
    answers = answers_for(tmp_path, ["gone.safetensors"], before=(loras / "gone.safetensors").unlink)
    assert answers.pop(("scan", "errors")) == (0, [])
    for key, (status, message) in answers.items():
        assert status == 404 and message == "no loras model named 'gone.safetensors' was found", (key, status, message)
    assert sorted(os.listdir(loras)) == []  # no description or preview written for a model that is gone


def test_names_that_are_no_model_file_are_404s_and_nothing_is_touched(tmp_path):
    """A folder named like a model, a dangling symlink, a symlink to itself, a name below a file."""
    loras = tmp_path / "models" / "loras"
    (loras / "folder.safetensors").mkdir(parents=True)
    (loras / "folder.safetensors" / "inner.safetensors").write_bytes(safetensors_bytes())
    os.symlink(loras / "nothing.safetensors", loras / "dangling.safetensors")
    os.symlink("loop.safetensors", loras / "loop.safetensors")
    write_safetensors(loras / "file.safetensors")
    names = ["folder.safetensors", "dangling.safetensors", "loop.safetensors", "file.safetensors/x.safetensors"]
    answers = answers_for(tmp_path, names)
    assert answers.pop(("scan", "errors")) == (0, [])
    for (name, route), (status, message) in answers.items():
        assert status == 404 and message == f"no loras model named {name!r} was found", (name, route, status, message)
    assert sorted(os.listdir(loras)) == sorted(["folder.safetensors", "dangling.safetensors", "loop.safetensors",
                                                "file.safetensors"])
    assert os.listdir(loras / "folder.safetensors") == ["inner.safetensors"]
    assert os.readlink(loras / "loop.safetensors") == "loop.safetensors"


def test_a_name_too_long_for_the_file_system_is_a_400_and_a_long_one_that_fits_works(tmp_path):
    loras = tmp_path / "models" / "loras"
    fits = "L" * 240 + ".safetensors"  # 252 bytes: its sidecars fit, a temporary name beside it would not
    write_safetensors(loras / fits)
    too_long = "L" * 300 + ".safetensors"
    answers = answers_for(tmp_path, [too_long])
    answers.pop(("scan", "errors"))
    for key, (status, message) in answers.items():
        assert status == 400 and message.startswith(f"could not find loras/{too_long}: File name too long"), key
    server, holder = serve(tmp_path)
    try:
        with server:
            described = requests.patch(server.url(f"{PREFIX}/models/loras/{fits}"), json={"description": "x"}, timeout=30)
            previewed = requests.put(server.url(f"{PREFIX}/models/loras/{fits}/preview"), data=image_bytes("PNG"),
                                     timeout=30)
    finally:
        holder.shutdown()
    assert described.status_code == 200 and described.json()["description"] == "x", described.text
    assert previewed.status_code == 200 and previewed.json()["preview"] == "L" * 240 + ".webp", previewed.text
    assert sorted(os.listdir(loras)) == sorted([fits, "L" * 240 + ".md", "L" * 240 + ".webp"])


def test_a_folder_where_the_preview_goes_is_a_404_to_read_and_a_409_to_write(tmp_path):
    loras = tmp_path / "models" / "loras"
    model = write_safetensors(loras / "x.safetensors")
    (loras / "x.webp").mkdir()
    answers = answers_for(tmp_path, ["x.safetensors"])
    assert answers["x.safetensors", "GET/preview"] == (404, "loras/x.safetensors has no preview")
    status, message = answers["x.safetensors", "PUT/preview"]
    assert status == 409 and message.startswith("could not write the preview of loras/x.safetensors: a folder "
                                                "or file is in the way")
    assert (loras / "x.webp").is_dir() and not model.exists()  # the delete that came after still worked
    write_safetensors(loras / "x.safetensors")
    deleted = make_index(tmp_path).delete_model("loras", "x.safetensors", permanently=True)
    assert [p.name for p in deleted.files] == ["x.safetensors"]  # a folder named like a sidecar is none
    assert sorted(os.listdir(loras)) == ["x.webp"]


def test_a_file_that_vanishes_between_finding_and_reading_is_a_404(tmp_path):
    model = write_safetensors(tmp_path / "models" / "loras" / "x.safetensors")
    index = make_index(tmp_path)
    location = index.folders.locate("loras", "x.safetensors")
    model.unlink()
    with pytest.raises(FileNotFoundError):
        index.refresh_one(location)  # the index's own step lets the OSError pass ...
    with pytest.raises(NotFound, match="no loras model named 'x.safetensors'"):
        index.get_model("loras", "x.safetensors")  # ... every public call answers it


# -- permissions: in a child process they apply to --------------------------------------------------
CHILD_REST = r"""
import json, sys
from pathlib import Path
sys.path[:0] = json.loads(sys.argv[2])
from test_model_file_errors import answers_for
names = json.loads(sys.argv[3])
answers = answers_for(Path(sys.argv[1]), names)
print(json.dumps([[name, route, status, message] for (name, route), (status, message) in answers.items()]))
"""


def rest_unprivileged(tmp_path: Path, names: list[str], locked: dict[Path, int]) -> dict:
    prefix = unprivileged_prefix()
    paths = [str(Path(__file__).parent), *sys.path]
    modes = {path: path.stat().st_mode & 0o777 for path in locked}
    for path, mode in locked.items():
        os.chmod(path, mode)
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", CHILD_REST, str(tmp_path), json.dumps(paths),
                               json.dumps(names)], capture_output=True, text=True, timeout=180)
    finally:
        for path, mode in modes.items():
            if path.exists():  # a deleted model is in the trash now
                os.chmod(path, mode)
    assert done.returncode == 0, done.stderr
    return {(name, route): (status, message) for name, route, status, message
            in json.loads(done.stdout.strip().splitlines()[-1])}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_folders_and_files_that_may_not_be_read_give_403s_and_nothing_changes(tmp_path):
    """A folder that may not be entered, one that may not be listed (its sidecars are unknown, so
    nothing may be written or deleted there), a model file that may not be read (its preview is
    inside it), a preview file that may not be read."""
    loras = tmp_path / "models" / "loras"
    write_safetensors(loras / "closed" / "a.safetensors")
    write_safetensors(loras / "unlisted" / "a.safetensors")
    (loras / "unlisted" / "a.md").write_text("kept")
    write_safetensors(loras / "sealed.safetensors", cover_metadata(image_bytes("PNG")))
    write_safetensors(loras / "dim.safetensors")
    (loras / "dim.png").write_bytes(image_bytes("PNG"))
    make_index(tmp_path).scan("loras")  # indexed while readable, as after a chmod
    answers = rest_unprivileged(
        tmp_path, ["closed/a.safetensors", "unlisted/a.safetensors", "sealed.safetensors", "dim.safetensors"],
        {loras / "closed": 0o000, loras / "unlisted": 0o311, loras / "sealed.safetensors": 0o000,
         loras / "dim.png": 0o000})
    hint = "Permission denied; check the permissions of the model folder for the user ComfyUI runs as"
    assert sorted(answers["scan", "errors"][1]) == [
        f"loras/{name}/: could not list the folder (Permission denied); the models in it are left out"
        for name in ("closed", "unlisted")]
    for route in ("GET", "GET/preview", "PATCH", "PUT/preview", "DELETE", "DELETE?permanently=true"):
        assert answers["closed/a.safetensors", route] == (403, f"could not find loras/closed/a.safetensors: {hint}")
    assert answers["unlisted/a.safetensors", "GET"] == (403, f"could not read loras/unlisted/a.safetensors: {hint}")
    assert answers["unlisted/a.safetensors", "PATCH"] == (
        403, f"could not write the description of loras/unlisted/a.safetensors: {hint}")
    assert answers["unlisted/a.safetensors", "PUT/preview"] == (
        403, f"could not write the preview of loras/unlisted/a.safetensors: {hint}")
    assert answers["unlisted/a.safetensors", "DELETE"] == (403, f"could not delete loras/unlisted/a.safetensors: {hint}")
    assert sorted(os.listdir(loras / "closed")) == ["a.safetensors"]
    assert sorted(os.listdir(loras / "unlisted")) == ["a.md", "a.safetensors"]  # nothing written, nothing lost
    assert (loras / "unlisted" / "a.md").read_text() == "kept"
    assert answers["sealed.safetensors", "GET/preview"] == (
        403, f"could not read the preview of loras/sealed.safetensors: {hint}")
    assert answers["dim.safetensors", "GET/preview"] == (403, f"could not read the preview dim.png: {hint}")
    for name in ("sealed.safetensors", "dim.safetensors"):  # the folder itself is fine: edits and delete work
        assert answers[name, "GET"][0] == 200 and answers[name, "PATCH"][0] == 200
        assert answers[name, "PUT/preview"][0] == 200 and answers[name, "DELETE"][0] == 204


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_state_folder_that_may_not_be_written_never_fails_a_model_operation(tmp_path):
    """The index file, the hash cache and the thumbnails are caches: a read-only state folder
    costs re-reading later, never a failed (or half-done and then refused) change."""
    loras = tmp_path / "models" / "loras"
    write_safetensors(loras / "a.safetensors")
    write_safetensors(loras / "b.safetensors")
    big = image_bytes("PNG", size=(900, 700))  # served through a thumbnail normally
    (loras / "b.png").write_bytes(big)
    index = make_index(tmp_path)
    index.scan("loras", compute_hashes=True)
    index.shutdown()
    state = tmp_path / "state"
    locked = {state: 0o555, **{p: 0o444 for p in state.iterdir() if p.is_file()}}
    answers = rest_unprivileged(tmp_path, ["a.safetensors", "b.safetensors"], locked)
    assert answers["a.safetensors", "GET"][0] == 200
    assert answers["a.safetensors", "PATCH"][0] == 200 and answers["a.safetensors", "PUT/preview"][0] == 200
    assert answers["b.safetensors", "GET/preview"][0] == 200  # the original, as no thumbnail can be kept
    assert answers["a.safetensors", "DELETE"][0] == 204  # to the trash beside the models
    assert answers["b.safetensors", "DELETE"][0] == 204
    assert answers["b.safetensors", "DELETE?permanently=true"] == (404, "no loras model named 'b.safetensors' was found")
    assert sorted(os.listdir(loras)) == []


# -- the graph nodes: the same clear errors (ComfyUI shows the message on the node) ----------------
CHILD_NODES = r"""
import json, sys
from pathlib import Path
sys.path[:0] = json.loads(sys.argv[2])
from test_model_file_errors import node_errors
print(json.dumps(node_errors(Path(sys.argv[1]), json.loads(sys.argv[3]))))
"""


def node_errors(tmp_path: Path, names: list[str]) -> dict:
    """{name: {node: [error type, message] or "ok"}} for ModelInfo, SetModelPreview (a
    description) and DeleteModel on each name."""
    from comfyui_model_manager.core.errors import ModelManagerError
    from comfyui_model_manager.nodes import info, metadata

    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(tmp_path / "models"), tmp_path / "state"))
    info.get_runtime = metadata.get_runtime = holder.get  # the runtime ComfyUI's entry would make
    calls = {"ModelInfo": lambda name: info.ModelInfo().info("loras", name),
             "SetModelPreview": lambda name: metadata.SetModelPreview().set_preview("loras", name, description="d"),
             "DeleteModel": lambda name: metadata.DeleteModel().delete("loras", name, confirm=True)}
    found: dict = {}
    try:
        for name in names:
            for node, call in calls.items():
                try:
                    call(name)
                    found.setdefault(name, {})[node] = "ok"
                except ImportError:  # ModelInfo got to its image output: torch is ComfyUI's, not ours
                    found.setdefault(name, {})[node] = "ok"
                except ModelManagerError as exc:
                    found.setdefault(name, {})[node] = [type(exc).__name__, exc.message]
    finally:
        holder.shutdown()
    return found


def test_the_nodes_name_the_model_and_the_trouble(tmp_path, monkeypatch):
    from comfyui_model_manager.nodes import info, metadata

    loras = tmp_path / "models" / "loras"
    write_safetensors(loras / "closed" / "a.safetensors")
    write_safetensors(loras / "ro" / "a.safetensors")
    monkeypatch.setattr(info, "get_runtime", info.get_runtime)  # node_errors rebinds them: put back after
    monkeypatch.setattr(metadata, "get_runtime", metadata.get_runtime)
    too_long = "L" * 300 + ".safetensors"
    here = node_errors(tmp_path, ["gone.safetensors", too_long])
    for node in ("ModelInfo", "SetModelPreview", "DeleteModel"):
        assert here["gone.safetensors"][node] == ["NotFound", "no loras model named 'gone.safetensors' was found"]
        kind, message = here[too_long][node]
        assert kind == "InvalidInput" and message.startswith(f"could not find loras/{too_long}: File name too long")

    prefix = unprivileged_prefix()
    os.chmod(loras / "closed", 0o000)
    os.chmod(loras / "ro", 0o555)
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", CHILD_NODES, str(tmp_path),
                               json.dumps([str(Path(__file__).parent), *sys.path]),
                               json.dumps(["closed/a.safetensors", "ro/a.safetensors"])],
                              capture_output=True, text=True, timeout=180)
    finally:
        os.chmod(loras / "closed", 0o755)
        os.chmod(loras / "ro", 0o755)
    assert done.returncode == 0, done.stderr
    there = json.loads(done.stdout.strip().splitlines()[-1])
    hint = "Permission denied; check the permissions of the model folder for the user ComfyUI runs as"
    for node in ("ModelInfo", "SetModelPreview", "DeleteModel"):
        assert there["closed/a.safetensors"][node] == [
            "FilePermissionDenied", f"could not find loras/closed/a.safetensors: {hint}"]
    assert there["ro/a.safetensors"]["SetModelPreview"] == [
        "FilePermissionDenied", f"could not write the description of loras/ro/a.safetensors: {hint}"]
    assert there["ro/a.safetensors"]["DeleteModel"] == [
        "FilePermissionDenied", f"could not delete loras/ro/a.safetensors: {hint}"]
    assert there["ro/a.safetensors"]["ModelInfo"] == "ok"  # reading is allowed there
    assert os.listdir(loras / "ro") == ["a.safetensors"] and os.listdir(loras / "closed") == ["a.safetensors"]
