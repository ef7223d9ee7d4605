"""``delete``, ``trash``, ``trash restore`` and ``trash empty`` as a user runs them: real
subprocesses for the stdout/--json contract, in-process calls for exit codes and messages."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comfyui_model_manager.core.cli import main
from comfyui_model_manager.core.trash_location import TRASH_FOLDER
from support.scanner_files import write_safetensors


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_safetensors(root / "loras" / "style" / "a.safetensors", payload=b"A" * 4096)
    (root / "loras" / "style" / "a.md").write_text("the a lora")
    write_safetensors(root / "checkpoints" / "big.safetensors", payload=b"B" * 8192)
    return root


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "comfyui_model_manager.core.cli", *args],
                          capture_output=True, text=True, timeout=60, env=os.environ.copy())


def test_delete_list_restore_with_json_and_prefix_ids(models):
    base = ("--models-dir", str(models))
    model = models / "loras" / "style" / "a.safetensors"
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    deleted = run_cli("delete", "loras", "style/a.safetensors", *base, "--json")
    assert deleted.returncode == 0, deleted.stderr
    document = json.loads(deleted.stdout)
    trash_id = document["trash_id"]
    assert f"trash restore {trash_id}" in deleted.stderr and not model.exists()
    assert (models / TRASH_FOLDER / trash_id / "files" / "a.safetensors").is_file()

    listing = run_cli("trash", *base)
    assert listing.returncode == 0
    [line] = listing.stdout.splitlines()  # the list is the command's output: stdout
    assert line.startswith(trash_id) and "loras/style/a.safetensors" in line
    items = json.loads(run_cli("trash", *base, "--json").stdout)["items"]
    assert [i["id"] for i in items] == [trash_id]
    assert items[0]["files"] == [str(model), str(model.with_name("a.md"))]
    assert set(items[0]) == {"id", "model_type", "name", "files", "size", "deleted_at"}

    restored = run_cli("trash", "restore", trash_id[:6], "--json", *base)
    assert restored.returncode == 0, restored.stderr
    record = json.loads(restored.stdout)
    assert record["name"] == "style/a.safetensors" and "restored loras/style/a.safetensors" in restored.stderr
    assert hashlib.sha256(model.read_bytes()).hexdigest() == digest
    assert model.with_name("a.md").read_text() == "the a lora"
    assert json.loads(run_cli("trash", "--json", *base).stdout) == {"items": []}


def test_restore_conflict_and_rename(models, capsys):
    base = ["--models-dir", str(models)]
    assert main(["delete", "loras", "style/a.safetensors", "--json", *base]) == 0
    trash_id = json.loads(capsys.readouterr().out)["trash_id"]
    model = models / "loras" / "style" / "a.safetensors"
    model.write_bytes(b"a newer download")
    assert main(["trash", "restore", trash_id, "--json", *base]) == 1
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert error["code"] == "conflict" and "exists now and is never replaced" in error["message"]
    assert "rename" in err and model.read_bytes() == b"a newer download"
    assert main(["trash", "restore", trash_id, "--rename", *base]) == 0
    assert "restored loras/style/a (1).safetensors" in capsys.readouterr().err
    assert (models / "loras" / "style" / "a (1).md").read_text() == "the a lora"
    assert model.read_bytes() == b"a newer download"


def test_bad_and_ambiguous_ids_and_unknown(models, capsys):
    base = ["--models-dir", str(models)]
    assert main(["trash", "restore", "../../etc/passwd", *base]) == 2
    assert "is not a trash id" in capsys.readouterr().err
    assert main(["trash", "restore", "abc", "--json", *base]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid_input"
    assert main(["trash", "restore", "abcdef", *base]) == 1
    assert "nothing in the trash has an id starting with abcdef" in capsys.readouterr().err
    assert main(["trash", "empty", "--older-than", "soon", *base]) == 2


def test_permanently_and_empty_older_than(models, capsys):
    base = ["--models-dir", str(models)]
    assert main(["delete", "checkpoints", "big.safetensors", "--permanently", "--json", *base]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["trash_id"] is None and not (models / "checkpoints" / "big.safetensors").exists()
    assert main(["delete", "loras", "style/a.safetensors", *base]) == 0
    capsys.readouterr()
    entry = next((models / TRASH_FOLDER).iterdir())
    record = json.loads((entry / "record.json").read_text())
    record["deleted_at"] = time.time() - 10 * 86400
    (entry / "record.json").write_text(json.dumps(record))
    assert main(["trash", "empty", "--older-than", "11", "--json", *base]) == 0
    assert json.loads(capsys.readouterr().out) == {"purged": []}
    assert main(["trash", "empty", "--older-than", "9", *base]) == 0
    assert "emptied 1 models" in capsys.readouterr().err
    assert list((models / TRASH_FOLDER).iterdir()) == []
    assert main(["trash", *base]) == 0
    assert "the trash is empty" in capsys.readouterr().err
