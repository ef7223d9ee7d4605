"""Hugging Face downloads end to end through the DownloadManager against the fake Hub."""
from __future__ import annotations

import json
import logging
import os
import re

import pytest
from support.downloads import file_sha, listing, payload, sha256
from support.fake_hub import FakeHub

from comfyui_model_manager.core.errors import AuthRequired, InvalidInput
from comfyui_model_manager.core.downloads.manager import DownloadRequest

TOKEN = "hf_e2e_token_0987654321"
WEIGHTS = payload(180_000, seed=3)
SMALL = payload(5_000, seed=4)


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as fake:
        fake.add_repo("acme/gated", gated="manual", approved_tokens={TOKEN})
        fake.add_file("acme/gated", "vae/sdxl_vae.safetensors", WEIGHTS)
        fake.add_repo("acme/open")
        fake.add_file("acme/open", "tiny.safetensors", SMALL, lfs=False)  # a plain git file
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


def state_text(tmp_path) -> str:
    texts = []
    for root, _dirs, files in os.walk(tmp_path / "state"):
        for name in files:
            texts.append(open(os.path.join(root, name), "rb").read().decode("utf-8", "replace"))
    return "\n".join(texts)


def test_gated_lfs_file_with_token(hub, manager_factory, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    manager = manager_factory(settings={"huggingface_token": TOKEN})
    events: list = []
    manager.events.subscribe(lambda name, payload: events.append((name, payload)))
    task, _ = manager.submit(DownloadRequest(
        url="https://huggingface.co/acme/gated/blob/main/vae/sdxl_vae.safetensors", model_type="vae"))
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert file_sha(tmp_path / "models" / "vae" / "sdxl_vae.safetensors") == sha256(WEIGHTS)
    assert done.sha256 == sha256(WEIGHTS) and done.total_bytes == len(WEIGHTS)
    commit = hub.repos["acme/gated"].refs["main"]
    assert done.to_json()["url"] == f"{hub.endpoint}/acme/gated/resolve/{commit}/vae/sdxl_vae.safetensors"
    assert done.to_json()["source"] == "huggingface"
    assert hub.cdn_requests and not any(r.has_authorization for r in hub.cdn_requests)
    for text in (json.dumps(done.to_json()), json.dumps(events), state_text(tmp_path), caplog.text):
        assert TOKEN not in text


def test_gated_without_token_fails_at_submit_with_the_repo_page(hub, manager_factory) -> None:
    manager = manager_factory()
    with pytest.raises(AuthRequired) as info:
        manager.submit(DownloadRequest(url="acme/gated/vae/sdxl_vae.safetensors", model_type="vae"))
    assert f"accept its conditions on {hub.endpoint}/acme/gated" in info.value.message
    assert manager.list() == []


def test_auto_type_is_refused_for_hub_files(hub, manager_factory) -> None:
    with pytest.raises(InvalidInput, match="Hugging Face files do not say which kind of model they are; choose a"):
        manager_factory().submit(DownloadRequest(url="acme/open/tiny.safetensors", model_type="auto"))


def test_git_file_downloads_and_is_hashed_locally(hub, manager_factory, tmp_path) -> None:
    manager = manager_factory()
    task, _ = manager.submit(DownloadRequest(url="acme/open/tiny.safetensors", model_type="loras"))
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert done.sha256 == sha256(SMALL)
    assert listing(tmp_path / "models" / "loras") == ["tiny.safetensors"]


def test_resume_after_the_cdn_url_expired(hub, manager_factory, tmp_path) -> None:
    """The CDN drops the connection at 70 000 bytes and its signed URL expires at that moment:
    the manager re-resolves (a new HEAD at the Hub) and continues from the partial."""
    hub.cdn_fault(drop_after=70_000, expire_on_drop=True)
    manager = manager_factory(settings={"huggingface_token": TOKEN})
    task, _ = manager.submit(DownloadRequest(url="acme/gated/vae/sdxl_vae.safetensors", model_type="vae"))
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert file_sha(tmp_path / "models" / "vae" / "sdxl_vae.safetensors") == sha256(WEIGHTS)
    assert any(r.query.get("Signature") for r in hub.cdn_requests)
    assert len({r.query["Signature"] for r in hub.cdn_requests}) >= 2, "a fresh CDN URL was used"
    ranged = [r for r in hub.cdn_requests if r.header("Range")]
    assert ranged and 0 < int(re.match(r"bytes=(\d+)-", ranged[-1].header("Range")).group(1)) <= 70_000
    assert not any(r.has_authorization for r in hub.cdn_requests)


def test_lowercase_response_headers_are_read(hub, manager_factory, tmp_path) -> None:
    """HTTP/2 servers and many proxies send header names in lower case (``x-repo-commit``,
    ``x-linked-etag``, ``x-linked-size``, ``location``): the file is still verified against the
    Hub's sha256, its size known before the first byte, and the renamed repo's redirect followed."""
    hub.lowercase_headers = True
    hub.rename_repo("acme/gated", "acme/moved")
    manager = manager_factory(settings={"huggingface_token": TOKEN})
    task, _ = manager.submit(DownloadRequest(url="acme/gated/vae/sdxl_vae.safetensors", model_type="vae"))
    assert task.sha256 == sha256(WEIGHTS) and task.sha256_expected and task.total_bytes == len(WEIGHTS)
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert file_sha(tmp_path / "models" / "vae" / "sdxl_vae.safetensors") == sha256(WEIGHTS)
    commit = hub.repos["acme/moved"].refs["main"]
    assert done.to_json()["url"] == f"{hub.endpoint}/acme/gated/resolve/{commit}/vae/sdxl_vae.safetensors"
    heads = [r for r in hub.hub_requests if r.method == "HEAD"]
    assert [r.path for r in heads][:2] == ["/acme/gated/resolve/main/vae/sdxl_vae.safetensors",
                                           "/acme/moved/resolve/main/vae/sdxl_vae.safetensors"]
    assert hub.cdn_requests and not any(r.has_authorization for r in hub.cdn_requests)


def test_lowercase_headers_on_a_git_file(hub, manager_factory, tmp_path) -> None:
    hub.lowercase_headers = True
    manager = manager_factory()
    task, _ = manager.submit(DownloadRequest(url="acme/open/tiny.safetensors", model_type="loras"))
    assert task.total_bytes == len(SMALL)
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert done.sha256 == sha256(SMALL)


def test_a_hub_air_downloads_into_the_folder_its_type_names(hub, manager_factory, tmp_path) -> None:
    manager = manager_factory(settings={"huggingface_token": TOKEN})
    task, _ = manager.submit(DownloadRequest(url="urn:air:sdxl:vae:huggingface:acme/gated/vae/sdxl_vae.safetensors",
                                             model_type="auto"))
    assert task.model_type == "vae" and task.source == "huggingface"
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed", done.error
    assert file_sha(tmp_path / "models" / "vae" / "sdxl_vae.safetensors") == sha256(WEIGHTS)
