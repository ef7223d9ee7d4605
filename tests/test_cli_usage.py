"""The command line's words and exit statuses, as a user meets them (real subprocesses).

Bad usage is exit 2 with the option's name, the allowed values and the closest one, before any
request leaves; ``--json`` gives exactly one document, and a failure is always the REST shape.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from support.downloads import payload
from support.range_server import RangeServer

CLI = [sys.executable, "-m", "comfyui_model_manager.core.cli"]


def run(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


def test_version_on_stdout() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "comfyui-model-manager 0.1.0"


@pytest.mark.parametrize(("argv", "words"), [
    (["dowload", "http://h/x"], ["unknown command 'dowload'", "did you mean `download`?"]),
    (["download", "URL", "--type", "lora"], ["--type: unknown model type 'lora'", "did you mean `loras`?",
                                             "checkpoints"]),
    (["download", "URL", "--tpye", "loras"], ["unknown option --tpye", "did you mean `--type`?"]),
    (["download", "URL", "--type", "loras", "--if-exists", "skp"],
     ["--if-exists: unknown value 'skp'", "did you mean `skip`?", "overwrite, rename"]),
    (["download", "URL", "--type", "loras", "--sha256", "xyz"], ["--sha256 must be 64 hexadecimal characters"]),
    (["scan", "--type", "checkpoint"], ["--type: unknown model type 'checkpoint'", "`checkpoints`"]),
    (["info", "lora", "x.safetensors"], ["TYPE: unknown model type 'lora'", "`loras`"]),
    (["tasks", "pasue", "abc"], ["unknown action 'pasue'", "`pause`"]),
])
def test_usage_errors_speak_in_options_and_suggest(tmp_path, server, argv, words) -> None:
    server.add("/x.safetensors", b"x" * 100)
    argv = [server.url("/x.safetensors") if a == "URL" else a for a in argv]
    result = run(*argv, "--models-dir", str(tmp_path / "models"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    for word in words:
        assert word in result.stderr
    assert "model_type" not in result.stderr and "invalid choice" not in result.stderr
    assert server.requests_for("/x.safetensors") == []  # refused before any network call
    assert not (tmp_path / "models").exists()


def test_json_failures_have_one_shape(tmp_path, server) -> None:
    server.add("/x.safetensors", b"x" * 1000)
    usage = run("download", server.url("/x.safetensors"), "--type", "lora", "--json",
                "--models-dir", str(tmp_path))
    failed = run("download", server.url("/x.safetensors"), "--type", "loras", "--sha256", "0" * 64, "--json",
                 "--models-dir", str(tmp_path))
    missing = run("info", "loras", "nope.safetensors", "--json", "--models-dir", str(tmp_path))
    for result, code, status in ((usage, "usage", 2), (missing, "not_found", 1)):
        assert result.returncode == status, result.stderr
        document = json.loads(result.stdout)  # exactly one document
        assert set(document) == {"error"} and set(document["error"]) == {"code", "message"}
        assert document["error"]["code"] == code
    assert failed.returncode == 1 and json.loads(failed.stdout)["status"] == "failed"


def test_filename_with_a_folder_places_the_file_there_or_is_refused(tmp_path, server) -> None:
    data = payload(50_000)
    server.add("/m.safetensors", data)
    models = tmp_path / "models"
    placed = run("download", server.url("/m.safetensors"), "--type", "loras", "--subfolder", "styles",
                 "--filename", "anime/x.safetensors", "--models-dir", str(models), "--json")
    assert placed.returncode == 0, placed.stderr
    assert json.loads(placed.stdout)["filename"] == "styles/anime/x.safetensors"
    assert (models / "loras/styles/anime/x.safetensors").read_bytes() == data
    requests_before = len(server.requests_for("/m.safetensors"))
    for bad in ("../x.safetensors", "/etc/x.safetensors", "sub/../../x.safetensors", "sub/.hidden/x.safetensors",
                "x.exe"):
        refused = run("download", server.url("/m.safetensors"), "--type", "loras", "--filename", bad,
                      "--models-dir", str(models))
        assert refused.returncode == 2, (bad, refused.stderr)
        assert refused.stderr.startswith("error: --filename: "), refused.stderr
    assert len(server.requests_for("/m.safetensors")) == requests_before
    assert sorted(p.relative_to(models).as_posix() for p in models.rglob("*") if p.is_file()) == \
        ["loras/styles/anime/x.safetensors"]


def test_models_dir_gets_only_the_type_folder_it_needs(tmp_path, server) -> None:
    server.add("/v.safetensors", payload(10_000))
    models = tmp_path / "models"
    done = run("download", server.url("/v.safetensors"), "--type", "vae", "--models-dir", str(models))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in models.iterdir()) == ["vae"]
    assert sorted(p.name for p in (models / "vae").iterdir()) == ["v.safetensors"]


def test_a_comfyui_path_without_comfyui_exits_2_and_creates_nothing(tmp_path, server) -> None:
    server.add("/v.safetensors", payload(10_000))
    nowhere = tmp_path / "not-comfy"
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (nowhere, empty):
        for argv in (["download", server.url("/v.safetensors"), "--type", "vae"], ["scan"], ["tasks"]):
            result = run(*argv, env={"COMFYUI_PATH": str(folder)}, cwd=tmp_path)
            assert result.returncode == 2, (argv, result.stderr)
            assert f"COMFYUI_PATH={folder} is not a ComfyUI folder" in result.stderr
    assert not nowhere.exists() and list(empty.iterdir()) == []
    assert not (tmp_path / "models").exists()
    assert server.requests_for("/v.safetensors") == []
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "loras").mkdir(parents=True)
    (comfy / "folder_paths.py").write_text("")
    found = run("scan", "--json", env={"COMFYUI_PATH": str(comfy)})
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["count"] == 0


def test_scan_of_a_missing_folder_exits_2(tmp_path) -> None:
    missing = tmp_path / "no-models"
    result = run("scan", "--models-dir", str(missing))
    assert result.returncode == 2
    assert f"the models folder {missing} does not exist" in result.stderr
    (tmp_path / "models" / "loras").mkdir(parents=True)
    typed = run("scan", "--type", "vae", "--models-dir", str(tmp_path / "models"), "--json")
    assert typed.returncode == 2 and json.loads(typed.stdout)["error"]["code"] == "invalid_input"
    assert "--type vae: there is no folder" in typed.stderr
    assert not missing.exists() and not (tmp_path / "models" / "vae").exists()


def test_sidecars_get_the_usual_mode_and_the_settings_stay_private(tmp_path) -> None:
    from support.scanner_files import write_safetensors
    from PIL import Image

    models = tmp_path / "models"
    write_safetensors(models / "loras" / "a.safetensors", payload=b"A" * 1024)
    image = tmp_path / "p.png"
    Image.new("RGB", (8, 8), "red").save(image)
    old = os.umask(0o022)
    try:
        assert run("set-description", "loras", "a.safetensors", "hello", "--models-dir", str(models)).returncode == 0
        assert run("set-preview", "loras", "a.safetensors", str(image), "--models-dir", str(models)).returncode == 0
        assert run("settings", "set", "civitai_api_key", "k-123456789").returncode == 0
    finally:
        os.umask(old)
    for sidecar in ("a.md", "a.webp"):
        assert stat.S_IMODE((models / "loras" / sidecar).stat().st_mode) == 0o644, sidecar
    settings = Path(os.environ["COMFYUI_MODEL_MANAGER_HOME"]) / "settings.json"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys; from comfyui_model_manager.core.cli import main; main(['--help']); "
            "print(sorted(m for m in ('requests', 'tqdm', 'PIL', 'huggingface_hub', 'aiohttp', 'sqlite3', "
            "'comfyui_model_manager.nodes', 'comfyui_model_manager.core.downloads.manager') if m in sys.modules), "
            "file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "download" in result.stdout
    assert result.stderr.strip() == "[]"


def test_the_command_table_names_every_command_and_only_its_module_is_built():
    """A command line naming a command builds only its module's parsers: the table of commands
    must list every command the modules add, and the short build must parse like the full one."""
    from comfyui_model_manager.core.cli import COMMANDS, build_parser, named_command

    full = build_parser()
    [sub] = [a for a in full._actions if getattr(a, "choices", None) and "download" in a.choices]
    assert set(sub.choices) == set(COMMANDS)
    assert named_command(["--json", "--models-dir", "m", "download", "u"]) == "download"
    assert named_command(["--models", "download", "tasks"]) == "tasks"  # an abbreviated value option
    assert named_command(["--help"]) is None and named_command([]) is None
    argv = ["--models-dir", "m", "download", "http://x/a.safetensors", "--type", "loras"]
    assert vars(build_parser(argv).parse_args(argv))["url"] == vars(full.parse_args(argv))["url"]
