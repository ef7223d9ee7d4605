"""Civitai downloads end to end through the DownloadManager against the fake Civitai."""
from __future__ import annotations

import json
import logging
import os
import re
import time

import pytest
from support.downloads import file_sha, listing, payload, sha256
from support.fake_civitai import FakeCivitai

from comfyui_model_manager.core.errors import AuthRequired, InvalidInput
from comfyui_model_manager.core.downloads.manager import DownloadRequest

KEY = "civitai-e2e-key-1234567890"
LORA = payload(150_000, seed=7)  # below the test segment threshold: one connection


@pytest.fixture
def civitai(monkeypatch):
    with FakeCivitai() as fake:
        fake.valid_keys.add(KEY)
        fake.add_model(100, "Neon Style", "LORA", description="<p>A <b>neon</b> style.</p>")
        fake.add_version(100, 201, "v2", base_model="SDXL 1.0", trained_words=["neonstyle"])
        fake.add_file(201, 301, "neon_v2.safetensors", LORA)
        fake.add_image(201, nsfw_level=1)
        monkeypatch.setenv("CIVITAI_BASE_URL", fake.base_url)
        yield fake


def auto(url: str, **fields) -> DownloadRequest:
    return DownloadRequest(url=url, model_type="auto", **fields)


def settled_listing(folder, expected: list[str], timeout: float = 10.0) -> list[str]:
    """The sidecars are written just after the task completes: wait until ``expected`` shows."""
    deadline = time.monotonic() + timeout
    while listing(folder) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return listing(folder)


def everything_written(tmp_path) -> str:
    """All text the pack wrote to disk outside the models (task records, settings excluded)."""
    texts = []
    for root, _dirs, files in os.walk(tmp_path / "state"):
        for name in files:
            texts.append(open(os.path.join(root, name), "rb").read().decode("utf-8", "replace"))
    return "\n".join(texts)


def test_model_page_auto_type_sidecars_and_no_key_anywhere(civitai, manager_factory, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    civitai.versions[201].require_auth = True
    manager = manager_factory(settings={"civitai_api_key": KEY})
    events: list[tuple[str, dict]] = []
    manager.events.subscribe(lambda name, payload: events.append((name, payload)))
    task, created = manager.submit(auto("https://civitai.com/models/100/neon-style"))
    assert created and task.model_type == "loras" and task.filename == "neon_v2.safetensors"
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    folder = tmp_path / "models" / "loras"
    assert file_sha(folder / "neon_v2.safetensors") == sha256(LORA)
    assert done.sha256 == sha256(LORA)
    expected = ["neon_v2.civitai.info", "neon_v2.md", "neon_v2.safetensors", "neon_v2.webp"]
    assert settled_listing(folder, expected) == expected
    assert json.loads((folder / "neon_v2.civitai.info").read_text())["id"] == 201
    assert "- Trigger words: `neonstyle`" in (folder / "neon_v2.md").read_text()
    # the key went to Civitai only, never to storage or the image host
    assert civitai.storage_requests and not any(r.has_authorization for r in civitai.storage_requests)
    assert not any(r.has_authorization for r in civitai.image_requests)
    # ... and is nowhere a user or a log can see it
    task_json = json.dumps(done.to_json())
    assert done.to_json()["source"] == "civitai" and done.to_json()["url"].startswith(civitai.base_url)
    for text in (task_json, json.dumps(events), everything_written(tmp_path), caplog.text):
        assert KEY not in text
    assert any(name == "model_manager.complete_download_task" for name, _ in events)


def test_login_required_without_key_fails_at_submit(civitai, manager_factory, tmp_path) -> None:
    civitai.versions[201].require_auth = True
    manager = manager_factory()
    with pytest.raises(AuthRequired, match=r"^this model needs a Civitai API key: set it in the settings or "
                                           r"CIVITAI_API_TOKEN"):
        manager.submit(auto("urn:air:sdxl:lora:civitai:100@201"))
    assert manager.list() == []
    assert listing(tmp_path / "models" / "loras") == []


def test_type_without_folder_asks_for_model_type(civitai, manager_factory) -> None:
    civitai.add_model(500, "Poses pack", "Poses")
    civitai.add_version(500, 600, "v1")
    civitai.add_file(600, 700, "poses.safetensors", b"poses")
    manager = manager_factory()
    with pytest.raises(InvalidInput) as info:
        manager.submit(auto("https://civitai.com/models/500"))
    assert info.value.message == ("Civitai lists this model as type 'Poses', which has no ComfyUI model folder; "
                                  "choose a model_type (for example checkpoints, loras or embeddings)")
    task, _ = manager.submit(DownloadRequest(url="https://civitai.com/models/500", model_type="checkpoints"))
    assert manager.wait(task.task_id, timeout=30).status == "completed"


def test_html_instead_of_the_model_is_a_clear_failure(civitai, manager_factory, tmp_path) -> None:
    civitai.storage_serves_html = True
    manager = manager_factory()
    task, _ = manager.submit(auto("https://civitai.com/api/download/models/201"))
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "failed"
    assert re.search(r"web page|HTML", done.error, re.IGNORECASE), done.error
    assert not (tmp_path / "models" / "loras" / "neon_v2.safetensors").exists()


def test_existing_sidecars_are_kept(civitai, manager_factory, tmp_path) -> None:
    folder = tmp_path / "models" / "loras"
    folder.mkdir(parents=True)
    (folder / "neon_v2.md").write_text("my own notes")
    (folder / "neon_v2.png").write_bytes(b"my preview")
    manager = manager_factory()
    task, _ = manager.submit(auto("https://civitai.com/models/100"))
    assert manager.wait(task.task_id, timeout=30).status == "completed"
    assert (folder / "neon_v2.md").read_text() == "my own notes"
    assert (folder / "neon_v2.png").read_bytes() == b"my preview"
    expected = ["neon_v2.civitai.info", "neon_v2.md", "neon_v2.png", "neon_v2.safetensors"]
    assert settled_listing(folder, expected) == expected


def test_resume_after_the_signed_url_expired_mid_download(civitai, manager_factory, tmp_path) -> None:
    """The connection drops at 60 000 bytes and every signature issued so far expires: the
    retry gets 403 from storage, the manager re-resolves and continues with a Range request."""
    civitai.storage_fault(drop_after=60_000, expire_on_drop=True)
    manager = manager_factory(settings={"civitai_api_key": KEY})
    task, _ = manager.submit(auto("https://civitai.com/models/100"))
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert file_sha(tmp_path / "models" / "loras" / "neon_v2.safetensors") == sha256(LORA)
    storage = civitai.storage_requests
    signatures = [r.query["X-Amz-Signature"] for r in storage]
    assert len(set(signatures)) >= 2, "a fresh signed URL was fetched"
    resumed = [r for r in storage if r.header("Range")]
    assert resumed, "the second fetch asked for the rest only"
    start = int(re.match(r"bytes=(\d+)-", resumed[-1].header("Range")).group(1))
    assert 0 < start <= 60_000
    assert resumed[-1].query["X-Amz-Signature"] != signatures[0]
    assert not any(r.has_authorization for r in storage)


def test_resume_after_restart_with_an_expired_signature(civitai, manager_factory, tmp_path) -> None:
    """Paused mid-file, the signed URL expires, a new manager resumes from the partial."""
    civitai.storage_delay = 0.3  # 64 KiB chunks every 300 ms: slow enough to pause after the first
    first = manager_factory()
    task, _ = first.submit(auto("https://civitai.com/models/100"))
    partial = tmp_path / "models" / "loras" / ".neon_v2.safetensors.mmpart"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (partial.exists() and partial.stat().st_size > 0):
        time.sleep(0.01)
    first.pause(task.task_id)
    first.shutdown(timeout=5)
    have = partial.stat().st_size
    assert 0 < have < len(LORA)
    civitai.expire_signatures()
    civitai.storage_delay = 0.0
    before = len(civitai.storage_requests)
    second = manager_factory()
    second.resume(task.task_id)
    done = second.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert file_sha(tmp_path / "models" / "loras" / "neon_v2.safetensors") == sha256(LORA)
    later = civitai.storage_requests[before:]
    assert later and later[0].header("Range") == f"bytes={have}-{len(LORA) - 1}"


def test_remote_file_names_cannot_escape_or_smuggle_extensions(civitai, manager_factory, tmp_path) -> None:
    civitai.add_model(800, "Evil", "LORA")
    civitai.add_version(800, 801, "v1")
    civitai.add_file(801, 802, "../../../evil.safetensors", b"evil-bytes")
    civitai.add_version(800, 803, "v2")
    civitai.add_file(803, 804, "payload.exe", b"MZ")
    manager = manager_factory()
    task, _ = manager.submit(auto("https://civitai.com/models/800?modelVersionId=801"))
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert (tmp_path / "models" / "loras" / "evil.safetensors").read_bytes() == b"evil-bytes"
    assert not (tmp_path / "evil.safetensors").exists()
    with pytest.raises(InvalidInput, match="does not have a model file extension"):
        manager.submit(auto("https://civitai.com/models/800?modelVersionId=803"))


def test_key_pasted_in_the_link_downloads_and_is_stored_nowhere(civitai, manager_factory, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    civitai.versions[201].require_auth = True
    manager = manager_factory()
    events: list = []
    manager.events.subscribe(lambda name, payload: events.append(payload))
    task, _ = manager.submit(auto(f"https://civitai.com/api/download/models/201?type=Model&token={KEY}"))
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert file_sha(tmp_path / "models" / "loras" / "neon_v2.safetensors") == sha256(LORA)
    assert done.to_json()["url"] == f"{civitai.base_url}/api/download/models/201?fileId=301"
    for text in (json.dumps(done.to_json()), json.dumps(events), everything_written(tmp_path), caplog.text):
        assert KEY not in text
    assert not any(r.has_authorization or "token" in r.query for r in civitai.storage_requests)
