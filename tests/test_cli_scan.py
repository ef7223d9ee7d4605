"""The scan / info / set-preview / set-description / delete commands, run in a real subprocess
(stdout must carry exactly one JSON document with --json) and in-process for the exit codes."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from comfyui_model_manager.core.cli import main
from support.scanner_files import image_bytes, write_safetensors


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_safetensors(root / "loras" / "style" / "a.safetensors", {"ss_base_model_version": "sdxl_base_v1-0"})
    (root / "loras" / "style" / "a.md").write_text("the a lora")
    (root / "checkpoints").mkdir(parents=True)
    (root / "checkpoints" / "broken.safetensors").write_bytes(b"\xff" * 16)
    return root


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "comfyui_model_manager.core.cli", *args],
                          capture_output=True, text=True, timeout=60, env=os.environ.copy())


def test_scan_json_prints_one_document_with_one_entry_per_model(models):
    result = run_cli("scan", "--models-dir", str(models), "--hashes", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # exactly one JSON document
    assert report["status"] == "completed" and report["count"] == 2 and report["hashed"] == 2
    entries = {m["name"]: m for m in report["models"]}
    a = entries["style/a.safetensors"]
    assert a["type"] == "loras" and a["description"] == "the a lora" and a["base_model"] == "sdxl_base_v1-0"
    assert a["sha256"] == hashlib.sha256((models / "loras" / "style" / "a.safetensors").read_bytes()).hexdigest()
    for key in ("root", "size", "mtime", "preview", "trigger_words", "civitai", "metadata", "header_error"):
        assert key in a
    assert "corrupt safetensors header" in entries["broken.safetensors"]["header_error"]
    assert "2 models indexed" in result.stderr and "checkpoints/broken.safetensors" in result.stderr


def test_scan_one_type_and_human_output(models, capsys):
    assert main(["scan", "--models-dir", str(models), "--type", "loras"]) == 0
    out, err = capsys.readouterr()
    assert "loras/style/a.safetensors" in out and "broken" not in out
    assert "1 models indexed" in err
    assert main(["scan", "--models-dir", str(models), "--type", "nope"]) == 2
    assert "unknown model type 'nope'" in capsys.readouterr().err


def test_info_set_description_and_set_preview(models, tmp_path, capsys):
    base = ["--models-dir", str(models)]
    assert main(["info", "loras", "style/a.safetensors", *base]) == 0
    out = capsys.readouterr().out
    assert "base model:    sdxl_base_v1-0" in out and "the a lora" in out
    assert main(["set-description", "loras", "style/a.safetensors", "new words", *base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["description"] == "new words"
    assert (models / "loras" / "style" / "a.md").read_text() == "new words"
    image = tmp_path / "p.jpg"
    image.write_bytes(image_bytes("JPEG"))
    assert main(["set-preview", "loras", "style/a.safetensors", str(image), *base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["preview"] == "style/a.webp"
    assert (models / "loras" / "style" / "a.webp").is_file()
    (tmp_path / "bad.png").write_bytes(b"nope")
    assert main(["set-preview", "loras", "style/a.safetensors", str(tmp_path / "bad.png"), *base]) == 2
    assert "not an image" in capsys.readouterr().err
    assert main(["set-preview", "loras", "style/a.safetensors", str(tmp_path / "missing.png"), *base]) == 1
    assert main(["info", "loras", "style/a.safetensors", *base, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["preview"] == "style/a.webp" and info["name"] == "style/a.safetensors"


def test_delete_refuses_traversal_and_moves_to_the_trash(models, capsys):
    base = ["--models-dir", str(models)]
    model = models / "loras" / "style" / "a.safetensors"
    assert main(["delete", "loras", "../checkpoints/broken.safetensors", *base]) == 2
    assert "must stay inside its model folder" in capsys.readouterr().err
    assert (models / "checkpoints" / "broken.safetensors").exists()
    assert main(["delete", "loras", "nothing.safetensors", *base]) == 1
    assert main(["delete", "loras", "style/a.safetensors", "--yes", "--json", *base]) == 0  # --yes: old scripts
    result = json.loads(capsys.readouterr().out)
    assert sorted(Path(p).name for p in result["deleted"]) == ["a.md", "a.safetensors"]
    assert len(result["trash_id"]) == 16
    assert not model.exists() and not (models / "loras" / "style" / "a.md").exists()


def test_scan_civitai_against_the_fake(tmp_path):
    from support.fake_civitai import FakeCivitai
    from support.scanner_files import safetensors_bytes

    data = safetensors_bytes(payload=b"cli civitai")
    loras = tmp_path / "models" / "loras"
    loras.mkdir(parents=True)
    (loras / "found.safetensors").write_bytes(data)
    with FakeCivitai() as civitai:
        civitai.add_model(5, "CLI model", "LORA", description="<p>hello</p>")
        civitai.add_version(5, 6, "v6", base_model="Pony", trained_words=["pony"])
        civitai.add_file(6, 7, "found.safetensors", data)
        civitai.add_image(6)
        env = {**os.environ, "CIVITAI_BASE_URL": civitai.base_url, "CIVITAI_API_TOKEN": "cli-secret-token-42"}
        result = subprocess.run([sys.executable, "-m", "comfyui_model_manager.core.cli", "scan", "--civitai",
                                 "--json", "--models-dir", str(tmp_path / "models")],
                                capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["matched"] == 1 and report["hashed"] == 1
    model = report["models"][0]
    assert model["civitai"]["version_id"] == 6 and model["base_model"] == "Pony" and model["preview"] == "found.webp"
    assert "cli-secret-token-42" not in result.stdout + result.stderr
    assert sorted(p.name for p in loras.iterdir()) == ["found.civitai.info", "found.md", "found.safetensors",
                                                       "found.webp"]
