"""Hub links resolved against the fake Hub: pinned commit, size, sha256, token confinement, messages."""
from __future__ import annotations

import hashlib
import logging

import pytest
from support.fake_civitai import FakeCivitai
from support.fake_hub import FakeHub

from comfyui_model_manager.core.errors import AccessDenied, AuthRequired, InvalidInput, NotFound, RateLimited, RemoteError
from comfyui_model_manager.core.http import HttpClient
from comfyui_model_manager.core.settings import Settings
from comfyui_model_manager.core.sources.base import SourceRegistry
from comfyui_model_manager.core.sources.huggingface import HuggingFaceSource

TOKEN = "hf_goodtoken1234567890"
WEIGHTS = bytes(range(256)) * 800
CONFIG = b'{"model": "x"}\n'


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as fake:
        fake.add_repo("acme/models")
        fake.add_file("acme/models", "unet/sub dir/w.safetensors", WEIGHTS)
        fake.add_file("acme/models", "config.json", CONFIG)
        fake.add_file("acme/models", "w.safetensors", b"pull-request" * 10, revision="refs/pr/2")
        fake.add_file("acme/models", "w.safetensors", b"tagged" * 10, revision="v1.0")
        fake.add_repo("acme/data", repo_type="dataset")
        fake.add_file("acme/data", "x.bin", b"dataset" * 10, repo_type="dataset")
        fake.add_repo("acme/space", repo_type="space")
        fake.add_file("acme/space", "m.pth", b"space" * 10, repo_type="space")
        fake.add_repo("acme/gated", gated="manual", approved_tokens={TOKEN})
        fake.add_file("acme/gated", "g.safetensors", b"gated" * 100)
        fake.add_repo("acme/other-gated", gated="auto")
        fake.add_file("acme/other-gated", "g.safetensors", b"gated" * 100)
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


def settings_with(tmp_path, **environ) -> Settings:
    return Settings(tmp_path / "settings.json", environ=environ)


def source(settings: Settings, **options) -> HuggingFaceSource:
    return HuggingFaceSource(settings, HttpClient(), **options)


def fetch(url: str, auth: dict | None = None) -> bytes:
    with HttpClient().request("GET", url, auth_headers=auth) as response:
        assert response.status == 200
        return b"".join(response.iter_chunks())


@pytest.mark.parametrize("link, data, lfs", [
    ("https://huggingface.co/acme/models/resolve/main/unet/sub%20dir/w.safetensors", WEIGHTS, True),
    ("https://huggingface.co/acme/models/resolve/main/unet/sub%20dir/w.safetensors?download=true", WEIGHTS, True),
    ("https://huggingface.co/acme/models/blob/main/unet/sub%20dir/w.safetensors", WEIGHTS, True),
    ("https://huggingface.co/acme/models/raw/main/unet/sub%20dir/w.safetensors", WEIGHTS, True),
    ("https://hf.co/acme/models/resolve/main/unet/sub%20dir/w.safetensors", WEIGHTS, True),
    ("https://huggingface.co/acme/models/resolve/main/config.json", CONFIG, False),
    ("https://huggingface.co/acme/models/blob/refs%2Fpr%2F2/w.safetensors", b"pull-request" * 10, True),
    ("https://huggingface.co/acme/models/resolve/refs/pr/2/w.safetensors", b"pull-request" * 10, True),
    ("https://huggingface.co/acme/models/resolve/v1.0/w.safetensors", b"tagged" * 10, True),
    ("https://huggingface.co/datasets/acme/data/resolve/main/x.bin", b"dataset" * 10, True),
    ("https://huggingface.co/spaces/acme/space/blob/main/m.pth", b"space" * 10, True),
    ("acme/models/config.json", CONFIG, False),
    ("acme/models/w.safetensors@refs/pr/2", b"pull-request" * 10, True),
    ("acme/models/w.safetensors@v1.0", b"tagged" * 10, True),
    ("hf://datasets/acme/data/x.bin", b"dataset" * 10, True),
], ids=lambda value: value if isinstance(value, str) else "-")
def test_every_link_form_resolves(hub, tmp_path, link, data, lfs) -> None:
    resolved = source(settings_with(tmp_path)).resolve(link)
    assert resolved.source == "huggingface"
    commit = resolved.metadata["huggingface"]["commit"]
    assert len(commit) == 40 and f"/resolve/{commit}/" in resolved.url
    assert resolved.url.startswith(hub.endpoint + "/") and resolved.display_url == resolved.url
    assert resolved.size == len(data)
    assert resolved.filename == link.split("@")[0].rsplit("/", 1)[-1].replace("%20", " ").split("?")[0]
    assert resolved.sha256 == (hashlib.sha256(data).hexdigest() if lfs else None)
    assert resolved.model_type is None and "model_type" in resolved.metadata["model_type_hint"]
    assert fetch(resolved.url) == data  # never the LFS pointer text
    # metadata came from a HEAD that did not follow the CDN redirect
    heads = [r for r in hub.hub_requests if r.method == "HEAD"]
    assert len(heads) == 1
    assert all(r.method == "GET" for r in hub.cdn_requests)


def test_registry_picks_the_hub_for_its_links(hub, tmp_path) -> None:
    registry = SourceRegistry(settings_with(tmp_path), HttpClient())
    assert registry.resolve("acme/models/config.json").source == "huggingface"
    assert registry.resolve(f"{hub.endpoint}/acme/models/resolve/main/config.json").source == "huggingface"


def test_commit_is_pinned_so_a_moved_branch_does_not_change_the_bytes(hub, tmp_path) -> None:
    resolved = source(settings_with(tmp_path)).resolve("acme/models/config.json")
    hub.add_file("acme/models", "config.json", b"changed")
    assert fetch(resolved.url) == CONFIG
    assert fetch(source(settings_with(tmp_path)).resolve("acme/models/config.json").url) == b"changed"


def test_gated_without_token(hub, tmp_path) -> None:
    with pytest.raises(AuthRequired) as info:
        source(settings_with(tmp_path)).resolve("acme/gated/g.safetensors")
    assert info.value.message == (
        f"acme/gated is a gated repository: accept its conditions on {hub.endpoint}/acme/gated while logged in, "
        "then set a Hugging Face token in the settings (huggingface_token), in HF_TOKEN, "
        "or log in with `hf auth login`")


def test_gated_with_a_token_not_yet_approved(hub, tmp_path) -> None:
    with pytest.raises(AccessDenied) as info:
        source(settings_with(tmp_path, HF_TOKEN=TOKEN)).resolve("acme/other-gated/g.safetensors")
    assert info.value.message == (
        "your Hugging Face token has no access to the gated repository acme/other-gated yet: request access on "
        f"{hub.endpoint}/acme/other-gated (approval may take a while), then try again")
    assert TOKEN not in info.value.message


def test_gated_with_token_downloads_and_token_never_reaches_the_cdn(hub, tmp_path) -> None:
    settings = settings_with(tmp_path, HF_TOKEN=TOKEN)
    resolved = source(settings).resolve("https://huggingface.co/acme/gated/resolve/main/g.safetensors")
    assert resolved.auth_headers == {"Authorization": f"Bearer {TOKEN}"}
    assert fetch(resolved.url, resolved.auth_headers) == b"gated" * 100
    assert hub.cdn_requests and not any(r.has_authorization for r in hub.cdn_requests)
    assert all(r.header("Authorization") == f"Bearer {TOKEN}" for r in hub.hub_requests)
    assert TOKEN not in repr(resolved) and TOKEN not in resolved.url


def test_missing_repo_revision_and_file(hub, tmp_path) -> None:
    s = source(settings_with(tmp_path))
    with pytest.raises(NotFound) as info:
        s.resolve("acme/nope/x.safetensors")
    assert info.value.message == (
        f"the Hugging Face repository acme/nope was not found ({hub.endpoint}/acme/nope); if it is private or gated, "
        "set a Hugging Face token in the settings (huggingface_token), in HF_TOKEN, or log in with `hf auth login`")
    with pytest.raises(NotFound, match=r"the revision 'v9' does not exist in acme/models"):
        s.resolve("acme/models/config.json@v9")
    with pytest.raises(NotFound) as info:
        s.resolve("https://huggingface.co/acme/models/resolve/main/nope.safetensors")
    assert info.value.message == ("'nope.safetensors' is not in acme/models at revision 'main'; "
                                  f"check the file list on {hub.endpoint}/acme/models/tree/main")
    with pytest.raises(NotFound, match="datasets/acme/nothing was not found"):
        s.resolve("https://huggingface.co/datasets/acme/nothing/resolve/main/x.bin")


def test_invalid_token(hub, tmp_path) -> None:
    with pytest.raises(AuthRequired, match="did not accept the token"):
        source(settings_with(tmp_path, HF_TOKEN="hf_wrongtoken999")).resolve("acme/models/config.json")


def test_repository_page_is_not_a_file(hub, tmp_path) -> None:
    with pytest.raises(InvalidInput, match="names a repository or folder"):
        source(settings_with(tmp_path)).resolve("https://huggingface.co/acme/models/tree/main/unet")
    assert not hub.requests


def test_rate_limit_is_retried_then_reported(hub, tmp_path) -> None:
    waits: list[float] = []
    hub.rate_limit(2)
    resolved = source(settings_with(tmp_path), sleep=waits.append).resolve("acme/models/config.json")
    assert resolved.size == len(CONFIG) and waits == [1.0, 1.0]
    hub.rate_limit(10)
    with pytest.raises(RateLimited, match="rate limiting"):
        source(settings_with(tmp_path), sleep=waits.append, retries=1).resolve("acme/models/config.json")


def test_503_with_retry_after_as_an_http_date_is_honoured(hub, tmp_path) -> None:
    import email.utils
    import time

    waits: list[float] = []
    hub.rate_limit(1, status=503, retry_after=email.utils.formatdate(time.time() + 8, usegmt=True))
    resolved = source(settings_with(tmp_path), sleep=waits.append).resolve("acme/models/config.json")
    assert resolved.size == len(CONFIG)
    assert len(waits) == 1 and 6.5 <= waits[0] <= 8.0
    hub.rate_limit(1, status=503, retry_after="2")
    source(settings_with(tmp_path), sleep=waits.append).resolve("acme/models/config.json")
    assert waits[1] == 2.0


def test_an_endpoint_that_is_not_a_hub(tmp_path, monkeypatch) -> None:
    with FakeCivitai() as other:
        monkeypatch.setenv("HF_ENDPOINT", other.base_url)
        with pytest.raises((RemoteError, NotFound)):
            source(settings_with(tmp_path)).resolve("acme/models/config.json")


def test_token_never_in_messages_reprs_or_logs(hub, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_with(tmp_path, HF_TOKEN=TOKEN)
    s = source(settings)
    texts = []
    for link in ("acme/other-gated/g.safetensors", "acme/nope/x.safetensors", "acme/models/x.bin"):
        with pytest.raises(Exception) as info:
            s.resolve(link)
        texts.append(str(info.value))
    resolved = s.resolve("acme/gated/g.safetensors")
    texts += [repr(resolved), repr(s), str(resolved.metadata), repr(settings), caplog.text]
    assert not any(TOKEN in text for text in texts)


def test_renamed_repo_redirect_is_followed_on_the_hub_only(hub, tmp_path) -> None:
    hub.rename_repo("acme/models", "acme/renamed")
    settings = settings_with(tmp_path, HF_TOKEN=TOKEN)
    hub.valid_tokens.add(TOKEN)
    resolved = source(settings).resolve("acme/models/config.json")
    assert resolved.size == len(CONFIG)
    assert fetch(resolved.url, resolved.auth_headers) == CONFIG
    heads = [r for r in hub.hub_requests if r.method == "HEAD"]
    assert [r.path for r in heads] == ["/acme/models/resolve/main/config.json", "/acme/renamed/resolve/main/config.json"]
    assert all(r.header("Authorization") == f"Bearer {TOKEN}" for r in hub.hub_requests)
