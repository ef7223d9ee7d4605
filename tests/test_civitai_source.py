"""Civitai links resolved against the fake Civitai: files, types, keys, and the messages users see."""
from __future__ import annotations

import hashlib
import logging

import pytest
from support.fake_civitai import FakeCivitai

from comfyui_model_manager.core.errors import AccessDenied, AuthRequired, InvalidInput, NotFound, RateLimited
from comfyui_model_manager.core.http import HttpClient
from comfyui_model_manager.core.settings import Settings
from comfyui_model_manager.core.sources.base import SourceRegistry
from comfyui_model_manager.core.sources.civitai import CivitaiClient, CivitaiSource, folder_for

KEY = "civitai-key-0123456789abcdef"
LORA = b"lora-bytes-" * 300
VAE = b"vae-bytes-" * 200


@pytest.fixture
def civitai(monkeypatch):
    with FakeCivitai() as fake:
        fake.valid_keys.add(KEY)
        fake.add_model(100, "Cool Style", "LORA", description="<p>A <b>cool</b> style</p>")
        fake.add_version(100, 200, "v1", base_model="SD 1.5", trained_words=["old"])
        fake.add_file(200, 300, "cool_v1.safetensors", b"old-version")
        fake.add_version(100, 201, "v2", base_model="SDXL 1.0", trained_words=["coolstyle", "neon"])
        fake.add_file(201, 301, "cool_v2.safetensors", LORA)
        fake.add_file(201, 302, "cool_v2_vae.safetensors", VAE, file_type="VAE")
        fake.add_file(201, 303, "cool_v2_fp32.safetensors", b"fp32" * 10, fp="fp32", size="full")
        monkeypatch.setenv("CIVITAI_BASE_URL", fake.base_url)
        yield fake


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(tmp_path / "settings.json", environ={})


def source(settings: Settings, http: HttpClient | None = None) -> CivitaiSource:
    return CivitaiSource(settings, http or HttpClient())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("link, file_id", [
    ("https://civitai.com/models/100", 301),
    ("https://civitai.com/models/100/cool-style", 301),
    ("https://www.civitai.com/models/100/cool-style?modelVersionId=200", 300),
    ("https://civitai.red/models/100?modelVersionId=201", 301),
    ("https://civitai.green/models/100", 301),
    ("https://civitai.com/model-versions/200", 300),
    ("https://civitai.com/api/download/models/201", 301),
    ("https://civitai.com/api/download/models/201?type=VAE", 302),
    ("https://civitai.com/api/download/models/201?fp=fp32&size=full", 303),
    ("https://civitai.com/api/download/models/201?fileId=303", 303),
    ("urn:air:sdxl:lora:civitai:100@200", 300),
    ("urn:air:sdxl:lora:civitai:100", 301),
])
def test_every_link_form_resolves_to_the_named_file(civitai, settings, link, file_id) -> None:
    resolved = source(settings).resolve(link)
    item = next(f for v in civitai.versions.values() for f in v.files if f.id == file_id)
    assert resolved.source == "civitai"
    assert resolved.filename == item.name
    assert resolved.sha256 == sha(item.data)
    assert resolved.url.startswith(civitai.base_url + "/api/download/models/")
    assert resolved.url.endswith(f"?fileId={file_id}")
    assert resolved.display_url == resolved.url
    assert resolved.size is None
    assert resolved.metadata["civitai_version"]["files"]
    # The URL the downloader GETs really delivers those bytes.
    with HttpClient().request("GET", resolved.url) as response:
        assert response.status == 200
        assert b"".join(response.iter_chunks()) == item.data
        assert response.headers["Content-Disposition"] == f'attachment; filename="{item.name}"'


def test_registry_picks_civitai_for_its_links(civitai, settings) -> None:
    registry = SourceRegistry(settings, HttpClient())
    assert registry.resolve("https://civitai.com/models/100").source == "civitai"
    assert registry.resolve(f"{civitai.base_url}/models/100?modelVersionId=200").filename == "cool_v1.safetensors"


@pytest.mark.parametrize("civitai_type, file_type, folder", [
    ("Checkpoint", "Model", "checkpoints"),
    ("LORA", "Model", "loras"),
    ("LoCon", "Model", "loras"),
    ("DoRA", "Model", "loras"),
    ("TextualInversion", "Model", "embeddings"),
    ("TextualInversion", "Negative", "embeddings"),
    ("Hypernetwork", "Model", "hypernetworks"),
    ("VAE", "Model", "vae"),
    ("Controlnet", "Model", "controlnet"),
    ("Upscaler", "Model", "upscale_models"),
    ("TextEncoder", "Model", "text_encoders"),
    ("UNet", "Model", "diffusion_models"),
    ("CLIPVision", "Model", "clip_vision"),
    ("Checkpoint", "VAE", "vae"),
    ("Checkpoint", "Pruned Model", "checkpoints"),
    ("Checkpoint", "Text Encoder", "text_encoders"),
    ("Poses", "Model", None),
    ("Wildcards", "Model", None),
    ("Checkpoint", "Training Data", None),
])
def test_auto_type_mapping(civitai_type, file_type, folder) -> None:
    assert folder_for(civitai_type, file_type) == folder


@pytest.mark.parametrize("civitai_type, folder", [("Checkpoint", "checkpoints"), ("DoRA", "loras"),
                                                  ("TextualInversion", "embeddings"), ("Upscaler", "upscale_models")])
def test_resolved_model_type_comes_from_civitai(civitai, settings, civitai_type, folder) -> None:
    civitai.add_model(500, "Thing", civitai_type)
    civitai.add_version(500, 600, "v1")
    civitai.add_file(600, 700, "thing.safetensors", b"thing")
    resolved = source(settings).resolve("https://civitai.com/models/500")
    assert resolved.model_type == folder
    assert "model_type_hint" not in resolved.metadata


def test_type_without_comfyui_folder_explains_what_to_do(civitai, settings) -> None:
    civitai.add_model(501, "Hand poses", "Poses")
    civitai.add_version(501, 601, "v1")
    civitai.add_file(601, 701, "poses.zip", b"zip", format="Other", size=None, fp=None)
    resolved = source(settings).resolve("https://civitai.com/models/501")
    assert resolved.model_type is None
    assert resolved.metadata["model_type_hint"] == (
        "Civitai lists this model as type 'Poses', which has no ComfyUI model folder; "
        "choose a model_type (for example checkpoints, loras or embeddings)")


def test_login_required_without_key(civitai, settings) -> None:
    civitai.versions[201].require_auth = True
    with pytest.raises(AuthRequired) as info:
        source(settings).resolve("https://civitai.com/models/100")
    message = info.value.message
    assert message.startswith("this model needs a Civitai API key: set it in the settings or CIVITAI_API_TOKEN")
    assert f"{civitai.base_url}/models/100?modelVersionId=201" in message


def test_login_required_with_unknown_key(civitai, tmp_path) -> None:
    civitai.versions[201].require_auth = True
    settings = Settings(tmp_path / "s.json", environ={"CIVITAI_API_TOKEN": "wrong-key-987654"})
    with pytest.raises(AuthRequired) as info:
        source(settings).resolve("https://civitai.com/models/100")
    assert "Civitai did not accept the API key" in info.value.message
    assert "wrong-key-987654" not in info.value.message


def test_login_required_with_key_downloads_and_key_stays_on_civitai(civitai, tmp_path) -> None:
    civitai.versions[201].require_auth = True
    settings = Settings(tmp_path / "s.json", environ={"CIVITAI_API_TOKEN": KEY})
    http = HttpClient()
    resolved = source(settings, http).resolve("https://civitai.com/models/100")
    assert resolved.auth_headers == {"Authorization": f"Bearer {KEY}"}
    assert KEY not in resolved.url and KEY not in resolved.display_url
    with http.request("GET", resolved.url, auth_headers=resolved.auth_headers) as response:
        assert response.status == 200
        assert b"".join(response.iter_chunks()) == LORA
        assert response.redirected_cross_origin
    assert civitai.storage_requests, "the file came from storage"
    assert not any(r.has_authorization for r in civitai.storage_requests)
    assert all(r.has_authorization for r in civitai.api_requests)


def test_key_pasted_in_the_link_is_used_but_never_kept(civitai, settings) -> None:
    civitai.versions[201].require_auth = True
    resolved = source(settings).resolve(f"https://civitai.com/api/download/models/201?token={KEY}")
    assert resolved.auth_headers == {"Authorization": f"Bearer {KEY}"}
    assert KEY not in resolved.url and KEY not in repr(resolved) and KEY not in str(resolved.metadata)
    assert settings.redactor(f"x {KEY} y") == "x *** y"


def test_storage_refuses_a_forwarded_key(civitai, settings) -> None:
    """Why the key must not follow the redirect: signed storage answers 400 (as R2 does)."""
    resolved = source(settings).resolve("https://civitai.com/models/100")
    with HttpClient().request("GET", resolved.url, follow_redirects=False) as first:
        signed = first.headers["Location"]
    with HttpClient().request("GET", signed, auth_headers={"Authorization": f"Bearer {KEY}"}) as response:
        assert response.status == 400
        assert b"InvalidArgument" in response.read(1000)


def test_expired_signature_is_refused_and_a_new_resolve_works(civitai, settings) -> None:
    resolved = source(settings).resolve("https://civitai.com/models/100")
    with HttpClient().request("GET", resolved.url, follow_redirects=False) as first:
        signed = first.headers["Location"]
    civitai.expire_signatures()
    with HttpClient().request("GET", signed) as response:
        assert response.status == 403
    with HttpClient().request("GET", resolved.url, headers={"Range": "bytes=10-"}) as response:
        assert response.status == 206
        assert b"".join(response.iter_chunks()) == LORA[10:]


def test_early_access_names_the_date(civitai, settings) -> None:
    civitai.versions[201].early_access_deadline = "2026-12-01T18:00:00.000Z"
    with pytest.raises(AccessDenied) as info:
        source(settings).resolve("https://civitai.com/models/100")
    assert info.value.message.startswith(
        "this Civitai model version is in Early Access until 2026-12-01 18:00 UTC: it can be downloaded after "
        "that, or now by buying early access on ")


def test_downloads_disabled(civitai, settings) -> None:
    civitai.versions[201].downloads_disabled = True
    with pytest.raises(AccessDenied, match="disabled downloads of this file"):
        source(settings).resolve("https://civitai.com/models/100")


def test_unknown_version_and_model(civitai, settings) -> None:
    with pytest.raises(NotFound, match=r"Civitai has no model version 999 \(Model not found\)"):
        source(settings).resolve("https://civitai.com/models/100?modelVersionId=999")
    with pytest.raises(NotFound, match=r"Civitai has no model 12345 \(No model with id 12345\)"):
        source(settings).resolve("https://civitai.com/models/12345")


def test_filters_matching_no_file_list_the_files(civitai, settings) -> None:
    with pytest.raises(NotFound) as info:
        source(settings).resolve("https://civitai.com/api/download/models/201?format=GGUF")
    assert "has no file matching format=GGUF" in info.value.message
    assert "cool_v2.safetensors (Model, SafeTensor, pruned, fp16)" in info.value.message


def test_archived_model(civitai, settings) -> None:
    civitai.versions[201].archived = True
    with pytest.raises(NotFound, match="archived"):
        source(settings).resolve("https://civitai.com/models/100")
    client = CivitaiClient(settings, HttpClient())
    with pytest.raises(NotFound, match="archived and its files can no longer be downloaded"):
        client.check_download(f"{civitai.base_url}/api/download/models/201", version_id=201)


def test_download_limiter_429(civitai, settings) -> None:
    civitai.download_limited = True
    with pytest.raises(RateLimited) as info:
        source(settings).resolve("https://civitai.com/models/100")
    assert "unusual amount of downloading" in info.value.message


def test_link_without_ids(civitai, settings) -> None:
    with pytest.raises(InvalidInput, match="names no model"):
        source(settings).resolve("https://civitai.com/user/someone")


def test_browser_user_agent_gets_html_which_is_reported(civitai, settings) -> None:
    """A browser-like UA is sent a login page instead of a 401: the check catches it."""
    civitai.versions[201].require_auth = True
    browser = HttpClient(user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/120")
    with browser.request("GET", f"{civitai.base_url}/api/download/models/201") as response:
        assert response.status == 200 and "text/html" in response.headers["Content-Type"]
    with pytest.raises(AuthRequired, match="needs a Civitai API key"):
        source(settings, browser).resolve("https://civitai.com/models/100")
    # our own client never looks like a browser
    assert not any("mozilla" in (r.header("User-Agent") or "").lower()
                   for r in civitai.api_requests if r.header("User-Agent") and "Chrome" not in r.header("User-Agent"))


def test_key_never_in_messages_reprs_or_logs(civitai, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(tmp_path / "s.json", environ={"CIVITAI_API_TOKEN": KEY})
    civitai.versions[201].early_access_deadline = "2026-12-01T18:00:00Z"
    src = source(settings)
    with pytest.raises(AccessDenied) as info:
        src.resolve("https://civitai.com/models/100")
    civitai.versions[201].early_access_deadline = None
    resolved = src.resolve("https://civitai.com/models/100")
    texts = [info.value.message, str(info.value), repr(src), repr(CivitaiClient(settings, HttpClient())),
             repr(resolved), resolved.url, resolved.display_url, str(resolved.metadata), repr(settings),
             caplog.text]
    for text in texts:
        assert KEY not in text


def test_api_host_follows_the_link_when_no_base_url_is_configured(settings, monkeypatch) -> None:
    from comfyui_model_manager.core.sources.civitai_links import parse_civitai_link

    monkeypatch.delenv("CIVITAI_BASE_URL", raising=False)
    s = source(settings)
    assert s.client_for(parse_civitai_link("https://www.civitai.red/models/1")).base_url == "https://civitai.red"
    assert s.client_for(parse_civitai_link("https://civitai.green/models/1")).base_url == "https://civitai.com"
    assert s.client_for(parse_civitai_link("urn:air:sdxl:lora:civitai:1@2")).base_url == "https://civitai.com"
    assert not s.matches("http://127.0.0.1:1/models/1")


def test_early_access_newest_version_suggests_an_older_one(civitai, settings) -> None:
    civitai.versions[201].early_access_deadline = "2026-12-01T18:00:00.000Z"
    with pytest.raises(AccessDenied) as info:
        source(settings).resolve("https://civitai.com/models/100")
    assert info.value.message.endswith("This link names no version, so the newest was taken; an older version "
                                       "may be free to download: pick it on the model page")
    # naming the older version works
    assert source(settings).resolve("https://civitai.com/models/100?modelVersionId=200").filename == "cool_v1.safetensors"


#: A checkpoint version as Civitai lists it: every file of a checkpoint is named
#: ``{Model}_{version}.{ext}``, so pruned/full and fp16/fp32 share one name.
SHARED_NAME = "bigCkpt_v16.safetensors"
VARIANTS = {  # file id -> (format, size, fp, bytes)
    310: ("SafeTensor", "pruned", "fp16", b"pruned-fp16" * 50),
    311: ("SafeTensor", "full", "fp32", b"full-fp32" * 50),
    312: ("SafeTensor", "pruned", "fp32", b"pruned-fp32" * 50),
    313: ("SafeTensor", "full", "fp16", b"full-fp16" * 50),
}


@pytest.fixture
def shared_names(civitai):
    civitai.add_model(110, "bigCkpt", "Checkpoint")
    civitai.add_version(110, 210, "v16")
    for file_id, (fmt, size, fp, data) in VARIANTS.items():
        civitai.add_file(210, file_id, SHARED_NAME, data, format=fmt, size=size, fp=fp)
    civitai.add_file(210, 314, "bigCkpt_v16.ckpt", b"pickle" * 50, format="PickleTensor", size="full", fp="fp32")
    return civitai


def test_each_file_of_a_version_with_shared_names_resolves_to_itself(shared_names, settings) -> None:
    """Every ``downloadUrl`` the API lists for the version (the bare one for the primary file,
    ``?type=&format=&size=&fp=`` for the others) picks exactly that file: its id, sha256 and
    bytes, never its namesake."""
    version = CivitaiClient(settings, HttpClient()).get_version(210)
    assert [f["name"] for f in version["files"]].count(SHARED_NAME) == 4
    for item in version["files"]:
        resolved = source(settings).resolve(item["downloadUrl"])
        assert resolved.url.endswith(f"?fileId={item['id']}"), (item["downloadUrl"], resolved.url)
        assert resolved.metadata["civitai_file_id"] == item["id"]
        assert resolved.filename == item["name"]
        assert resolved.sha256 == item["hashes"]["SHA256"].lower()
        with HttpClient().request("GET", resolved.url) as response:
            assert hashlib.sha256(b"".join(response.iter_chunks())).hexdigest() == resolved.sha256


@pytest.mark.parametrize("query, file_id", [
    ("", 310),                                   # the primary: SafeTensor, pruned, fp16
    ("?fp=fp32", 312),                           # Civitai's preference fills in the rest (pruned)
    ("?size=full", 313),                         # ... and fp16
    ("?size=full&fp=fp32", 311),
    ("?type=Model&format=SafeTensor&size=full&fp=fp32", 311),
    ("?type=Model&format=SafeTensor&size=pruned&fp=fp32", 312),
    ("?format=PickleTensor", 314),
    ("?fileId=313&fp=fp32", 313),               # a file id wins over everything
])
def test_the_link_query_picks_the_file_civitai_would_serve(shared_names, settings, query, file_id) -> None:
    link = f"https://civitai.com/api/download/models/210{query}"
    resolved = source(settings).resolve(link)
    assert resolved.metadata["civitai_file_id"] == file_id
    # the same link sent to Civitai itself (no fileId) serves the same file
    with HttpClient().request("GET", f"{shared_names.base_url}/api/download/models/210{query}") as response:
        assert response.status == 200
        assert hashlib.sha256(b"".join(response.iter_chunks())).hexdigest() == resolved.sha256


def test_a_file_that_states_what_the_link_asks_beats_the_primary(civitai, settings) -> None:
    """The primary file says nothing about fp; the link asks fp32 and one file says fp32."""
    civitai.add_model(111, "Quiet", "Checkpoint")
    civitai.add_version(111, 211, "v1")
    civitai.add_file(211, 320, "quiet_v1.safetensors", b"no-fp" * 10, fp=None, primary=True)
    civitai.add_file(211, 321, "quiet_v1.safetensors", b"fp32!" * 10, fp="fp32", size="full")
    assert source(settings).resolve("https://civitai.com/api/download/models/211?fp=fp32").metadata[
        "civitai_file_id"] == 321
    assert source(settings).resolve("https://civitai.com/api/download/models/211").metadata[
        "civitai_file_id"] == 320


@pytest.mark.parametrize("link, file_id", [
    ("sdxl:lora:civitai:100@200", 300),
    ("air:lora:civitai:100@201", 301),
    ("civitai:100@201+303", 303),
    ("urn:air:sdxl:lora:civitai:100@201+302", 302),
])
def test_air_forms_resolve(civitai, settings, link, file_id) -> None:
    resolved = SourceRegistry(settings, HttpClient()).resolve(link)
    assert resolved.source == "civitai" and resolved.metadata["civitai_file_id"] == file_id


def test_every_download_link_form_on_every_host_is_civitai(civitai, settings) -> None:
    """Download and API links on civitai.com/.red/.green (www. too) and on the configured
    CIVITAI_BASE_URL host, with or without a query, are Civitai links: the API is asked and the
    file is pinned by id, never fetched as a plain URL."""
    base = civitai.base_url
    registry = SourceRegistry(settings, HttpClient())
    links = [f"https://{host}/api/download/models/201{query}"
             for host in ("civitai.com", "www.civitai.com", "civitai.red", "civitai.green", base.split("//")[1])
             for query in ("", "?", "?type=Model", "?type=Model&format=SafeTensor&size=pruned&fp=fp16")]
    links = [link.replace("https://127.0.0.1", "http://127.0.0.1") for link in links]
    links += [f"{base}/api/v1/model-versions/201", f"https://civitai.red/api/v1/model-versions/201?x=1",
              f"{base}/api/download/models/201/", f"{base}/model-versions/201", f"{base}/api/v1/models/100?modelVersionId=201"]
    for link in links:
        resolved = registry.resolve(link)
        assert resolved.source == "civitai", link
        assert resolved.url == f"{base}/api/download/models/201?fileId=301", link
        assert resolved.sha256 == sha(LORA)


def test_by_hash_link_resolves_to_the_file_with_that_hash(shared_names, settings) -> None:
    data = VARIANTS[311][3]
    for digest in (sha(data), sha(data)[:10]):  # SHA256 or AutoV2
        resolved = source(settings).resolve(f"https://civitai.com/api/v1/model-versions/by-hash/{digest}")
        assert resolved.metadata["civitai_file_id"] == 311 and resolved.sha256 == sha(data)
    with pytest.raises(NotFound, match="Civitai knows no published model file with the hash ABCDEF0123"):
        source(settings).resolve("https://civitai.com/api/v1/model-versions/by-hash/abcdef0123")


@pytest.mark.parametrize("text, message", [
    ("urn:air:sdxl:lora:civitai:abc", "is not a valid AIR (a Civitai AIR names the model, version and file"),
    ("urn:air:dalle:model:openai:dalle@2", "AIRs from 'openai' cannot be downloaded"),
    ("urn:air:model:huggingface:stabilityai/sdxl-vae", "a Hugging Face AIR names a file"),
])
def test_invalid_airs_are_clear_errors_from_the_registry(civitai, settings, text, message) -> None:
    with pytest.raises(InvalidInput) as info:
        SourceRegistry(settings, HttpClient()).resolve(text)
    assert message in info.value.message
    assert not civitai.requests
