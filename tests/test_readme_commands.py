"""The command-line examples in README.md and docs/CLI.md run as printed, against local fakes.

Every fenced ``bash``/``sh`` block is read, and every line in it that runs
``comfyui-model-manager`` (or ``curl`` at ComfyUI's ``127.0.0.1:8188``) is an example. The
examples of one page run in order, in bash, in one temporary ComfyUI folder, as a reader who
follows the page would run them. Hugging Face and Civitai links go to the local fakes
(``HF_ENDPOINT`` / ``CIVITAI_BASE_URL``, the links stay as printed); any other ``https://host/path``
is rewritten to a loopback file host serving that path; ``127.0.0.1:8188`` becomes the port of a
real aiohttp server carrying the pack's REST routes. Upper-case placeholders that stand for a run's
own ids (``TASK_ID``, ``TRASH_ID``) are replaced by the ids of that run.

A trailing comment ``# exit N`` gives the expected exit status (default 0). The promised effect of
each example is checked by the first entry of ``EFFECTS`` whose pattern matches the printed line;
an example without an entry fails ``test_every_example_has_a_check``, so a new example needs one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from support.fake_civitai import FakeCivitai, make_image
from support.fake_hub import FakeHub
from support.model_files import ModelFileHost, safetensors_file

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"README.md": ROOT / "README.md", "docs/CLI.md": ROOT / "docs" / "CLI.md"}
COMFY_ADDRESS = "127.0.0.1:8188"
FAKED_HOSTS = ("huggingface.co", "hf.co", "civitai.com", "127.0.0.1")
_BLOCK = re.compile(r"^```(?:bash|sh|shell)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_RUNS_CLI = re.compile(r"(?:^|[\s|;&])comfyui-model-manager(?:\s|$)")
_INSTALLS = re.compile(r"^(?:pip|pipx|python -m pip|git|cd|comfy)\b")  # lines naming the package
_EXIT = re.compile(r"#.*\bexit (\d+)\b")
_URL = re.compile(r"https://([A-Za-z0-9.-]+)(/[^\s\"']*)")
PLACEHOLDERS = ("TASK_ID", "TRASH_ID")


@dataclass(frozen=True)
class Example:
    page: str
    line: str  # as printed (continuations joined)

    @property
    def kind(self) -> str:
        return "curl" if self.line.startswith("curl ") else "cli"

    @property
    def expected_exit(self) -> int:
        found = _EXIT.search(self.line)
        return int(found.group(1)) if found else 0


def examples(page: str) -> list[Example]:
    text = PAGES[page].read_text(encoding="utf-8")
    found = []
    for block in _BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+", " ", line).strip()
            if line.startswith("#"):
                continue
            if (_RUNS_CLI.search(line) and not _INSTALLS.match(line)) or (line.startswith("curl ") and COMFY_ADDRESS in line):
                found.append(Example(page, line))
    return found


# -- the fakes behind the examples ---------------------------------------------------------
HUB_FILES = {
    ("latent-consistency/lcm-lora-sdv1-5", "pytorch_lora_weights.safetensors"): 40_000,
    ("stabilityai/sdxl-vae", "sdxl_vae.safetensors"): 30_000,
}
DIRECT_FILES = {"/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth": 20_000,
                "/xinntao/Real-ESRGAN/releases/download/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth": 18_000}
#: Served slowly (a 64 KiB chunk every SLOW_DELAY seconds), so an example can interrupt the download.
SLOW_FILES = {"/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth": 2_000_000}
SLOW_DELAY = 0.4
CIVITAI = {"model": 4384, "name": "DreamShaper", "type": "Checkpoint", "version": 128713,
           "file_id": 92000, "filename": "dreamshaper_8.safetensors"}


@dataclass
class Fakes:
    hub: FakeHub
    civitai: FakeCivitai
    files: ModelFileHost
    slow: ModelFileHost
    data: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes served

    def url(self, path: str) -> str:
        return (self.slow if path in SLOW_FILES else self.files).url(path)

    def sha256(self, name: str) -> str:
        return hashlib.sha256(self.data[name]).hexdigest()


@pytest.fixture(scope="module")
def fakes():
    hub, civitai, files, slow = FakeHub(), FakeCivitai(), ModelFileHost(), ModelFileHost()
    try:
        served = Fakes(hub, civitai, files, slow)
        for (repo, path), size in HUB_FILES.items():
            if repo not in hub.repos:
                hub.add_repo(repo)
            data = safetensors_file(os.urandom(size))
            hub.add_file(repo, path, data)
            served.data[path.rsplit("/", 1)[-1]] = data
        for path, size in DIRECT_FILES.items():
            served.data[path.rsplit("/", 1)[-1]] = files.add(path, size).data
        for path, size in SLOW_FILES.items():
            served.data[path.rsplit("/", 1)[-1]] = slow.add(path, size).data
        civitai.add_model(CIVITAI["model"], CIVITAI["name"], CIVITAI["type"],
                          description="<p>A general purpose <b>SD 1.5</b> model.</p>")
        civitai.add_version(CIVITAI["model"], CIVITAI["version"], "8", base_model="SD 1.5",
                            trained_words=[])
        data = safetensors_file(os.urandom(50_000))
        civitai.add_file(CIVITAI["version"], CIVITAI["file_id"], CIVITAI["filename"], data)
        civitai.add_image(CIVITAI["version"], nsfw_level=1)
        served.data[CIVITAI["filename"]] = data
        yield served
    finally:
        hub.close()
        civitai.close()
        files.close()
        slow.close()


# -- one reader following one page -----------------------------------------------------------
def _cli_executable(bin_dir: Path) -> Path:
    """The installed console script when there is one (as a user runs it), else a shim."""
    installed = Path(sys.executable).parent / "comfyui-model-manager"
    if installed.exists():
        return installed.parent
    shim = bin_dir / "comfyui-model-manager"
    shim.write_text(f"#!/bin/sh\nexec '{sys.executable}' -m comfyui_model_manager.core.cli \"$@\"\n")
    shim.chmod(0o755)
    return bin_dir


WORKFLOW = {
    "last_node_id": 1,
    "nodes": [{
        "id": 1, "type": "VAELoader", "widgets_values": ["sdxl_vae.safetensors"],
        "properties": {"models": [{
            "name": "sdxl_vae.safetensors", "directory": "vae",
            "url": "https://huggingface.co/stabilityai/sdxl-vae/resolve/main/sdxl_vae.safetensors"}]},
    }],
}


@dataclass
class Reader:
    """The folder, environment and fakes of one page's run; ``run`` runs one example."""
    home: Path
    comfy: Path  # the current directory: a ComfyUI folder
    env: dict[str, str]
    fakes: Fakes
    server_port: int | None = None
    server_models: Path | None = None
    page: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    in_trash: dict[str, tuple[str, str]] = field(default_factory=dict)  # trash id -> (type, name)
    before: set[Path] = field(default_factory=set)
    civitai_seen: int = 0

    @property
    def models(self) -> Path:
        return self.comfy / "models"

    def files(self) -> set[Path]:
        return {p for p in self.models.rglob("*") if p.is_file()}

    def substitute(self, line: str) -> str:
        def rewrite(match: re.Match) -> str:
            host, path = match.group(1), match.group(2)
            if host.lower().removeprefix("www.") in FAKED_HOSTS:
                return match.group(0)
            return self.fakes.url(path)

        line = _URL.sub(rewrite, line)
        if self.server_port is not None:
            line = line.replace(COMFY_ADDRESS, f"127.0.0.1:{self.server_port}")
        for name in PLACEHOLDERS:
            if re.search(rf"\b{name}\b", line):
                assert name in self.ids, f"{name} used before any example produced one: {line}"
                line = re.sub(rf"\b{name}\b", self.ids[name], line)
        return line

    def run(self, example: Example) -> subprocess.CompletedProcess:
        self.before = self.files()
        self.fakes.slow.delay = SLOW_DELAY if "timeout " in example.line else 0.0
        self.civitai_seen = len(self.fakes.civitai.api_requests)
        command = self.substitute(example.line)
        return subprocess.run(["bash", "-c", command], cwd=self.comfy, env=self.env,
                              capture_output=True, text=True, timeout=120)

    @property
    def config(self) -> Path:
        return Path(self.env["COMFYUI_MODEL_MANAGER_HOME"])

    def trash(self) -> dict[str, dict]:
        """The trash entries on disk (id -> record), read from the files themselves."""
        records = (json.loads(p.read_text()) for p in self.models.glob(".model-manager-trash/*/record.json"))
        return {record["id"]: record for record in records}

    def saved_settings(self) -> dict:
        return json.loads((self.config / "settings.json").read_text())

    def cli_json(self, *args: str) -> dict:
        """A helper call (not an example) to look at the state the examples left."""
        done = subprocess.run(["comfyui-model-manager", *args, "--json"], cwd=self.comfy, env=self.env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def _reader(tmp_path: Path, fakes: Fakes, page: str) -> Reader:
    home, comfy, bin_dir = tmp_path / "home", tmp_path / "home" / "ComfyUI", tmp_path / "bin"
    for folder in (home, comfy / "models", bin_dir):
        folder.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items()
           if key not in ("COMFYUI_PATH", "COMFYUI_URL", "COMFYUI_MODEL_MANAGER_HOME")}
    env.update(HOME=str(home), COLUMNS="80", HF_ENDPOINT=fakes.hub.endpoint,
               CIVITAI_BASE_URL=fakes.civitai.base_url, PYTHONUNBUFFERED="1",
               COMFYUI_MODEL_MANAGER_HOME=str(home / ".config" / "comfyui-model-manager"),
               PATH=f"{_cli_executable(bin_dir)}{os.pathsep}{os.environ.get('PATH', '')}")
    (comfy / "my_workflow.json").write_text(json.dumps(WORKFLOW))
    (comfy / "picture.png").write_bytes(make_image("PNG", (20, 120, 200), (64, 64)))
    (comfy / "civitai_key.txt").write_text("civitai-key-of-the-readme-test\n")
    return Reader(home, comfy, env, fakes, page=page)


def _read_json(text: str):
    return json.loads(text) if text.strip() else None


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path} did not appear"


# -- the promised effects ----------------------------------------------------------------------
def _words(line: str) -> list[str]:
    """The command's words after ``comfyui-model-manager`` (comment, redirections and pipes cut)."""
    command = line.split(" #", 1)[0]
    command = command[command.index("comfyui-model-manager"):]
    words = shlex.split(re.split(r"\s[<>|]", command, maxsplit=1)[0])
    return words[1:]


def _output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def _downloaded(folder: str, name: str, source: str | None = None, models: str | None = None) -> Callable:
    def check(reader: Reader, done: subprocess.CompletedProcess) -> None:
        root = reader.models if models is None else reader.home / models
        target = root / folder / name
        assert target.is_file(), f"{target} missing; stderr: {done.stderr}"
        assert hashlib.sha256(target.read_bytes()).hexdigest() == reader.fakes.sha256(source or name)
        assert not list(target.parent.glob(".*.mmpart")), "a partial file stayed behind"
    return check


def _civitai_download(reader: Reader, done: subprocess.CompletedProcess) -> None:
    _downloaded("checkpoints", CIVITAI["filename"])(reader, done)
    stem = reader.models / "checkpoints" / CIVITAI["filename"].removesuffix(".safetensors")
    for suffix in (".civitai.info", ".md", ".webp"):
        assert Path(f"{stem}{suffix}").is_file(), f"no {suffix} beside the Civitai model"
    assert "DreamShaper" in Path(f"{stem}.md").read_text()
    if "--json >" in done.args[-1]:
        saved = json.loads((reader.comfy / done.args[-1].rsplit("> ", 1)[1].strip()).read_text())
        assert saved["status"] == "completed" and saved["verified"] is True, saved


def _checksum_mismatch(reader: Reader, done: subprocess.CompletedProcess) -> None:
    assert "sha256" in done.stderr or "checksum" in done.stderr, done.stderr
    assert not (reader.models / "upscale_models" / "RealESRGAN_x4plus_anime_6B.pth").exists()
    assert not list((reader.models / "upscale_models").glob(".*")), "a partial file stayed behind"


def _renamed_copy(reader: Reader, done: subprocess.CompletedProcess) -> None:
    _downloaded("upscale_models", "RealESRGAN_x4plus (1).pth", "RealESRGAN_x4plus.pth")(reader, done)
    _downloaded("upscale_models", "RealESRGAN_x4plus.pth")(reader, done)


def _refused_before_any_work(reader: Reader, done: subprocess.CompletedProcess) -> None:
    assert done.stderr.startswith("error: "), done.stderr
    assert reader.files() == reader.before, "a refused command changed the models folder"
    suggestion = re.search(r"did you mean `(\w+)`", done.args[-1])
    if suggestion:
        assert f"did you mean `{suggestion.group(1)}`" in done.stderr, done.stderr
    if "--json" in _words(done.args[-1]):
        failure = json.loads(done.stdout)
        assert set(failure) == {"error"} and set(failure["error"]) == {"code", "message"}, failure
        assert failure["error"]["code"] == "usage", failure


def _version(reader: Reader, done: subprocess.CompletedProcess) -> None:
    from importlib.metadata import version

    assert done.stdout.strip() == f"comfyui-model-manager {version('comfyui-model-manager')}"


def _task_records(reader: Reader) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(reader.config.glob("state/tasks/*.json"))]


def _interrupted(reader: Reader, done: subprocess.CompletedProcess) -> None:
    name = "RealESRGAN_x2plus.pth"
    partial = reader.models / "upscale_models" / f".{name}.mmpart"
    assert not (reader.models / "upscale_models" / name).exists()
    assert partial.is_file(), "the interrupted download left no partial file"
    (task,) = [t for t in _task_records(reader) if t["filename"] == name]
    reader.ids["TASK_ID"] = task["task_id"][:8]
    reader.fakes.slow.delay = 0.0


def _resumed(reader: Reader, done: subprocess.CompletedProcess) -> None:
    (task,) = [t for t in _task_records(reader) if t["task_id"].startswith(reader.ids["TASK_ID"])]
    assert task["status"] == "completed", task
    target = Path(task["destination_path"])
    served = reader.fakes.data.get(target.name, reader.fakes.data["pytorch_lora_weights.safetensors"])
    assert target.read_bytes() == served, f"{target} does not hold the served bytes"


def _task_removed(reader: Reader, done: subprocess.CompletedProcess) -> None:
    assert not [t for t in _task_records(reader) if t["task_id"].startswith(reader.ids["TASK_ID"])]
    assert (reader.models / "upscale_models" / "RealESRGAN_x2plus.pth").is_file(), "remove took the file"


def _finished_cleared(reader: Reader, done: subprocess.CompletedProcess) -> None:
    left = [t["status"] for t in _task_records(reader)]
    assert not set(left) & {"completed", "failed", "cancelled"}, left
    assert (reader.models / "loras" / "lcm" / "lcm-lora-sdv1-5.safetensors").is_file(), "clear took a file"


def _server_download(reader: Reader, done: subprocess.CompletedProcess) -> None:
    target = reader.server_models / "loras" / "lcm-lora-sdv1-5.safetensors"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == reader.fakes.sha256("pytorch_lora_weights.safetensors")


def _server_listing(reader: Reader, done: subprocess.CompletedProcess) -> None:
    assert "lcm-lora-sdv1-5.safetensors" in done.stdout, done.stdout


def _help(reader: Reader, done: subprocess.CompletedProcess) -> None:
    for command in ("download", "tasks", "scan", "workflow", "settings", "trash"):
        assert command in done.stdout, done.stdout


def _lists_tasks(reader: Reader, done: subprocess.CompletedProcess) -> None:
    listing = _output(done)  # the listing moves to stdout; either way it is printed
    for name in ("lcm-lora-sdv1-5.safetensors", CIVITAI["filename"]):
        assert name in listing, listing
    assert "completed" in listing
    records = _task_records(reader)
    for task in records:
        if task["status"] not in ("completed", "failed", "cancelled"):  # and no process runs it
            row = next(line for line in listing.splitlines() if line.startswith(task["task_id"][:8]))
            assert "interrupted" in row, (row, task["status"])
    reader.ids.setdefault("TASK_ID", next(t for t in records if t["status"] == "completed")["task_id"][:8])


def _tasks_json(reader: Reader, done: subprocess.CompletedProcess) -> None:
    tasks = json.loads(done.stdout)["tasks"]
    assert {"lcm-lora-sdv1-5.safetensors", CIVITAI["filename"]} <= {t["filename"].rsplit("/", 1)[-1] for t in tasks}


def _scanned(reader: Reader, done: subprocess.CompletedProcess) -> None:
    index = json.loads((reader.config / "state" / "model_index.json").read_text())
    assert CIVITAI["filename"] in json.dumps(index)


def _scanned_with_hashes(reader: Reader, done: subprocess.CompletedProcess) -> None:
    words = _words(done.args[-1])
    name = "lcm-lora-sdv1-5.safetensors" if reader.page == "README.md" else "lcm/lcm-lora-sdv1-5.safetensors"
    info = reader.cli_json("info", "loras", name)
    assert info["sha256"] == reader.fakes.sha256("pytorch_lora_weights.safetensors")
    if "--json" in words:
        report = json.loads((reader.comfy / done.args[-1].rsplit("> ", 1)[1].strip()).read_text())
        assert name in [m["name"] for m in report["models"]], report


def _asked_civitai_by_hash(reader: Reader, done: subprocess.CompletedProcess) -> None:
    asked = [r.path for r in reader.fakes.civitai.api_requests[reader.civitai_seen:]]
    assert any("/by-hash/" in path for path in asked), asked


def _info(reader: Reader, done: subprocess.CompletedProcess) -> None:
    model_type, name = _words(done.args[-1])[1:3]
    if "--json" in done.args[-1]:
        info = json.loads(done.stdout)
        assert info["name"] == name
        if model_type == "checkpoints":
            assert info["civitai"]["version_id"] == CIVITAI["version"] and info["base_model"] == "SD 1.5", info
    else:
        assert name in _output(done)


def _preview_set(reader: Reader, done: subprocess.CompletedProcess) -> None:
    model_type, name = _words(done.args[-1])[1:3]
    preview = reader.models / model_type / (name.rsplit(".", 1)[0] + ".webp")
    data = preview.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def _description_set(reader: Reader, done: subprocess.CompletedProcess) -> None:
    words = _words(done.args[-1])
    model_type, name, text = words[1:4]
    if text == "-":
        text = re.search(r'echo "([^"]+)"', done.args[-1]).group(1)
    description = reader.models / model_type / (name.rsplit(".", 1)[0] + ".md")
    assert description.read_text().strip() == text


def _workflow_listed(reader: Reader, done: subprocess.CompletedProcess) -> None:
    assert "missing" in _output(done) and "sdxl_vae.safetensors" in _output(done)
    assert reader.files() == reader.before


def _workflow_downloaded(reader: Reader, done: subprocess.CompletedProcess) -> None:
    _downloaded("vae", "sdxl_vae.safetensors")(reader, done)
    assert "sdxl_vae.safetensors" in _output(done)


def _workflow_json(reader: Reader, done: subprocess.CompletedProcess) -> None:
    document = json.loads(done.stdout)
    assert [m["status"] for m in document["models"]] == ["present"], document


def _deleted(reader: Reader, done: subprocess.CompletedProcess) -> None:
    words = _words(done.args[-1])
    model_type, name = words[1:3]
    assert not (reader.models / model_type / name).exists()
    items = {record["name"]: trash_id for trash_id, record in reader.trash().items()}
    if "--permanently" in words:
        assert name not in items
    else:
        assert name in items, items
        reader.ids["TRASH_ID"] = items[name][:6]
        reader.in_trash[items[name]] = (model_type, name)


def _lists_trash(reader: Reader, done: subprocess.CompletedProcess) -> None:
    for trash_id, record in reader.trash().items():
        assert record["name"] in _output(done) and trash_id[:4] in _output(done)


def _restored(reader: Reader, done: subprocess.CompletedProcess) -> None:
    (trash_id, (model_type, name)), = [(i, m) for i, m in reader.in_trash.items()
                                       if i.startswith(reader.ids["TRASH_ID"])]
    assert (reader.models / model_type / name).is_file()
    assert trash_id not in reader.trash()
    del reader.in_trash[trash_id]


def _trash_emptied(reader: Reader, done: subprocess.CompletedProcess) -> None:
    assert reader.trash() == {}


def _key_saved(reader: Reader, done: subprocess.CompletedProcess) -> None:
    key = (reader.comfy / "civitai_key.txt").read_text().strip()
    assert key not in _output(done)
    assert reader.saved_settings()["civitai_api_key"] == key
    settings_file = reader.config / "settings.json"
    assert settings_file.stat().st_mode & 0o077 == 0, "the settings file is readable by others"


def _setting_saved(reader: Reader, done: subprocess.CompletedProcess) -> None:
    words = _words(done.args[-1])
    saved = reader.saved_settings()
    if words[1] == "unset":
        assert words[2] not in saved, saved
    elif isinstance(saved[words[2]], list):
        assert saved[words[2]] == [host.strip() for host in words[3].split(",")], saved
    else:
        assert str(saved[words[2]]) == words[3], saved


def _settings_shown(reader: Reader, done: subprocess.CompletedProcess) -> None:
    key = (reader.comfy / "civitai_key.txt").read_text().strip()
    assert key not in _output(done)
    if "--json" in done.args[-1]:
        assert json.loads(done.stdout)["max_concurrent_downloads"] == 3
    else:
        assert "civitai_api_key" in _output(done)


def _rest_created(reader: Reader, done: subprocess.CompletedProcess) -> None:
    task = _read_json(done.stdout)
    assert task["status"] in ("queued", "downloading", "verifying", "completed"), task
    _wait_for(reader.server_models / "loras" / task["filename"])


def _rest_tasks(reader: Reader, done: subprocess.CompletedProcess) -> None:
    tasks = _read_json(done.stdout)["tasks"]
    assert [t["filename"] for t in tasks] == ["lcm-lora-sdv1-5.safetensors"]


def _rest_models(reader: Reader, done: subprocess.CompletedProcess) -> None:
    models = _read_json(done.stdout)["models"]
    assert "lcm-lora-sdv1-5.safetensors" in [m["name"] for m in models]


_HF_LCM = r"\S+lcm-lora-sdv1-5/resolve/main/pytorch_lora_weights.safetensors"
_ESRGAN = r"\S+/RealESRGAN_x4plus.pth --type upscale_models"
#: (pattern searched in the printed line, check). The first match wins.
EFFECTS: list[tuple[str, Callable]] = [
    (r"# exit 2", _refused_before_any_work),
    (r"^curl -s -X POST \S+/model-manager/tasks", _rest_created),
    (r"^curl -s \S+/model-manager/tasks$", _rest_tasks),
    (r"^curl -s \S+/model-manager/models\?type=loras", _rest_models),
    (r"comfyui-model-manager --help$", _help),
    (r"comfyui-model-manager --version$", _version),
    (r"^timeout --preserve-status -s INT \d+ comfyui-model-manager download \S+/RealESRGAN_x2plus.pth", _interrupted),
    (r"comfyui-model-manager tasks resume TASK_ID", _resumed),
    (r"comfyui-model-manager tasks remove TASK_ID", _task_removed),
    (r"comfyui-model-manager tasks clear --finished$", _finished_cleared),
    (r"comfyui-model-manager --server \S+ download ", _server_download),
    (r"comfyui-model-manager --server \S+ tasks", _server_listing),
    (r"^COMFYUI_URL=\S+ comfyui-model-manager scan --type loras$", _server_listing),
    (r"download stabilityai/sdxl-vae/sdxl_vae.safetensors --type vae --filename sdxl/sdxl_vae.safetensors",
     _downloaded("vae/sdxl", "sdxl_vae.safetensors")),
    (rf"download {_HF_LCM} --type loras --filename lcm-lora-sdv1-5.safetensors",
     _downloaded("loras", "lcm-lora-sdv1-5.safetensors", "pytorch_lora_weights.safetensors")),
    (rf"download {_HF_LCM} --type loras --subfolder lcm --filename lcm-lora-sdv1-5.safetensors",
     _downloaded("loras/lcm", "lcm-lora-sdv1-5.safetensors", "pytorch_lora_weights.safetensors")),
    (r"download latent-consistency/lcm-lora-sdv1-5/pytorch_lora_weights.safetensors --type loras",
     _downloaded("loras", "pytorch_lora_weights.safetensors")),
    (r"download \"https://civitai.com/models/4384/dreamshaper\?modelVersionId=128713\"", _civitai_download),
    (r"download \S+/RealESRGAN_x4plus_anime_6B.pth --type upscale_models --sha256 0+ .*# exit 1", _checksum_mismatch),
    (rf"download {_ESRGAN} --if-exists rename", _renamed_copy),
    (rf"download {_ESRGAN}(\s+#|$)", _downloaded("upscale_models", "RealESRGAN_x4plus.pth")),
    (r"download stabilityai/sdxl-vae/sdxl_vae.safetensors --type vae --models-dir ~/shared-models$",
     _downloaded("vae", "sdxl_vae.safetensors", models="shared-models")),
    (r"comfyui-model-manager tasks(\s+#|$)", _lists_tasks),
    (r"comfyui-model-manager tasks --json$", _tasks_json),
    (r"comfyui-model-manager scan$", _scanned),
    (r"comfyui-model-manager scan( --type loras)? --hashes", _scanned_with_hashes),
    (r"comfyui-model-manager scan --civitai$", _asked_civitai_by_hash),
    (r"comfyui-model-manager info ", _info),
    (r"comfyui-model-manager set-preview ", _preview_set),
    (r"comfyui-model-manager set-description ", _description_set),
    (r"comfyui-model-manager workflow my_workflow.json +# exit 1", _workflow_listed),
    (r"comfyui-model-manager workflow my_workflow.json --download", _workflow_downloaded),
    (r"comfyui-model-manager workflow my_workflow.json --json$", _workflow_json),
    (r"comfyui-model-manager delete ", _deleted),
    (r"comfyui-model-manager trash(\s+#|$)", _lists_trash),
    (r"comfyui-model-manager trash restore TRASH_ID$", _restored),
    (r"comfyui-model-manager trash empty$", _trash_emptied),
    (r"comfyui-model-manager settings set civitai_api_key - < civitai_key.txt$", _key_saved),
    (r"comfyui-model-manager settings (set \w+ [^-<].*|unset \w+)$", _setting_saved),
    (r"comfyui-model-manager settings( --json)?$", _settings_shown),
]


def check_for(example: Example) -> Callable | None:
    for pattern, check in EFFECTS:
        if re.search(pattern, example.line):
            return check
    return None


@pytest.mark.parametrize("page", PAGES)
def test_every_example_has_a_check(page):
    found = examples(page)
    if page == "README.md":
        assert len(found) >= 8, "the README's CLI examples were not found"
    unchecked = [e.line for e in found if check_for(e) is None]
    assert not unchecked, "examples without a check in EFFECTS:\n" + "\n".join(unchecked)


def _route_server(reader: Reader, tmp_path: Path):
    """The pack's routes on a real aiohttp server, over their own models folder (the "GPU box")."""
    from comfyui_model_manager.core.model_types import ModelFolders
    from comfyui_model_manager.nodes.routes import PREFIX
    from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
    from support.aiohttp_app import AppServer, routes_app

    reader.server_models = tmp_path / "server" / "models"
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(reader.server_models),
                                                 tmp_path / "server" / "state", lambda *_: None))
    return holder, AppServer(routes_app(holder, (PREFIX, "/api" + PREFIX)))


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_as_printed(page, tmp_path, fakes, monkeypatch):
    found = examples(page)
    if not found:
        pytest.skip(f"{page} has no runnable examples")
    if any(e.kind == "curl" for e in found) and shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    monkeypatch.setenv("HF_ENDPOINT", fakes.hub.endpoint)  # the route server's runtime reads them
    monkeypatch.setenv("CIVITAI_BASE_URL", fakes.civitai.base_url)
    reader = _reader(tmp_path, fakes, page)
    holder, server = _route_server(reader, tmp_path)
    with server:
        reader.server_port = server.port
        try:
            for example in found:
                done = reader.run(example)
                report = f"{page}: {example.line}\nexit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
                assert done.returncode == example.expected_exit, report
                check = check_for(example)
                assert check is not None, f"no check for {example.line}"
                try:
                    check(reader, done)
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\n{report}") from None
        finally:
            holder.shutdown()
