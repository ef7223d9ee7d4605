"""``if_exists=skip`` keeps a file only when it is the expected one, or says it is unverified."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from comfyui_model_manager.core.app import build_app
from comfyui_model_manager.core.errors import Conflict
from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.settings import Settings
from support.downloads import FAST, request


@pytest.fixture
def app(tmp_path: Path):
    folders = ModelFolders.from_models_dir(tmp_path / "models")
    settings = Settings(tmp_path / "config" / "settings.json", environ={})
    app = build_app(folders, tmp_path / "state", settings)
    app.manager.transfer_config = FAST
    app.start()
    yield app
    app.shutdown()


def existing(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "models" / "loras" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_skip_with_the_right_hash_is_verified_and_not_rehashed(app, files, tmp_path):
    served = files.add("/v/right.safetensors", 4096)
    path = existing(tmp_path, "right.safetensors", served.data)
    for _ in range(2):
        task, _ = app.manager.submit(request(files.url("/v/right.safetensors"), "loras", sha256=served.sha256))
        body = task.to_json()
        assert body["status"] == "completed"
        assert body["sha256"] == served.sha256 and body["verified"] is True
    assert app.manager.file_digest.hasher.files_read == 1  # the second skip came from the cache
    assert path.read_bytes() == served.data
    fetches = [r for r in files.requests_for("/v/right.safetensors") if r.headers.get("Range") != "bytes=0-0"]
    assert not fetches  # only the link's metadata probe, no model bytes


def test_skip_with_a_different_file_fails_and_touches_nothing(app, files, tmp_path):
    served = files.add("/v/wrong.safetensors", 4096)
    other = b"not the model the link names" * 10
    path = existing(tmp_path, "wrong.safetensors", other)
    before = path.stat().st_mtime_ns
    with pytest.raises(Conflict) as raised:
        app.manager.submit(request(files.url("/v/wrong.safetensors"), "loras", sha256=served.sha256.upper()))
    actual = hashlib.sha256(other).hexdigest()
    assert str(raised.value) == (f"a different file is already at wrong.safetensors (sha256 {actual}); "
                                 "choose overwrite or rename")
    assert path.read_bytes() == other and path.stat().st_mtime_ns == before
    assert not [t for t in app.manager.list() if t.filename == "wrong.safetensors"]


def test_skip_without_a_known_hash_says_unverified(app, files, tmp_path):
    files.add("/v/plain.safetensors", 4096)
    path = existing(tmp_path, "plain.safetensors", b"whatever is there")
    task, _ = app.manager.submit(request(files.url("/v/plain.safetensors"), "loras"))
    body = task.to_json()
    assert body["status"] == "completed" and body["verified"] is False and body["sha256"] is None
    assert path.read_bytes() == b"whatever is there"


def test_a_downloaded_file_with_a_known_hash_is_verified(app, files):
    served = files.add("/v/fresh.safetensors", 300_000)
    task, _ = app.manager.submit(request(files.url("/v/fresh.safetensors"), "loras", sha256=served.sha256))
    assert task.to_json()["verified"] is None  # not finished yet
    final = app.manager.wait(task.task_id, timeout=20)
    assert final.status == "completed" and final.to_json()["verified"] is True
