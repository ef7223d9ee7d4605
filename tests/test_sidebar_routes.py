"""Routes behind the sidebar: paged/searched/sorted model lists, link resolution, cached previews.

Real aiohttp server over a real runtime; Civitai and the Hub are the loopback fakes, pointed at
with CIVITAI_BASE_URL / HF_ENDPOINT before the runtime is built.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.resolve import guess_model_type
from comfyui_model_manager.nodes.routes import etag_matches
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.aiohttp_app import AppServer, local_session, routes_app
from support.fake_civitai import FakeCivitai
from support.fake_hub import FakeHub
from support.model_files import ModelFileHost
from support.scanner_files import image_bytes, write_safetensors

KEY = "civitai-sidebar-key-0123456789"
HF_KEY = "hf_sidebarToken0123456789abcdef"


@pytest.fixture
def fakes(monkeypatch):
    with FakeCivitai() as civitai, FakeHub() as hub:
        monkeypatch.setenv("CIVITAI_BASE_URL", civitai.base_url)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield civitai, hub


@pytest.fixture
def env(tmp_path, fakes):
    models = tmp_path / "models"
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(models), tmp_path / "state"))

    with AppServer(routes_app(holder)) as server:
        civitai, hub = fakes
        yield {"url": server.url, "http": local_session(), "models": models, "civitai": civitai, "hub": hub,
               "holder": holder}
    holder.shutdown()


def _get(env, path, **kwargs):
    return env["http"].get(env["url"](path), timeout=30, **kwargs)


def _post(env, path, body):
    return env["http"].post(env["url"](path), json=body, timeout=30)


# -- paging, search, sort ----------------------------------------------------------------------
def _library(env):
    loras = env["models"] / "loras"
    write_safetensors(loras / "Alpha.safetensors", payload=b"a" * 30)
    write_safetensors(loras / "beta.safetensors", {"ss_base_model_version": "sdxl_base_v1-0"}, payload=b"b" * 10)
    write_safetensors(loras / "sub" / "gamma.safetensors",
                      {"ss_tag_frequency": json.dumps({"set": {"watercolor": 5, "1girl": 9}})}, payload=b"c" * 20)
    (loras / "delta.safetensors").write_bytes(b"not really")
    (loras / "delta.civitai.info").write_text(json.dumps({
        "id": 2, "modelId": 1, "name": "v1", "baseModel": "Pony", "trainedWords": ["SparkleStyle"],
        "model": {"name": "Delta Sparkles", "type": "LORA"}}))
    now = time.time()
    for age, name in enumerate(["Alpha.safetensors", "beta.safetensors", "sub/gamma.safetensors",
                                "delta.safetensors"]):
        os.utime(loras / name, (now - 1000 + age * 10, now - 1000 + age * 10))  # delta newest


def test_models_page_search_and_sort(env):
    _library(env)
    old = _get(env, "/model-manager/models?type=loras").json()
    assert set(old) == {"models"} and len(old["models"]) == 4  # no paging parameters: as before

    page = _get(env, "/model-manager/models?type=loras&offset=0&limit=2").json()
    assert (page["total"], page["offset"], page["limit"]) == (4, 0, 2)
    assert [m["name"] for m in page["models"]] == ["Alpha.safetensors", "beta.safetensors"]  # case-insensitive
    rest = _get(env, "/model-manager/models?type=loras&offset=2&limit=2").json()
    assert [m["name"] for m in rest["models"]] == ["delta.safetensors", "sub/gamma.safetensors"]
    assert "metadata" not in rest["models"][0]  # light records, as the old list

    def names(query):
        answer = _get(env, f"/model-manager/models?type=loras&{query}")
        assert answer.status_code == 200, answer.text
        return [m["name"] for m in answer.json()["models"]]

    assert names("q=sparklestyle") == ["delta.safetensors"]  # trigger word, any case
    assert names("q=PONY") == ["delta.safetensors"]  # base model
    assert names("q=watercolor") == ["sub/gamma.safetensors"]  # tag from the header
    assert names("q=sdxl") == ["beta.safetensors"]
    assert names("q=delta%20sparkles") == ["delta.safetensors"]  # every word, Civitai model name
    assert names("q=sub%2F") == ["sub/gamma.safetensors"]
    assert names("q=nothing-like-this") == []
    assert _get(env, "/model-manager/models?type=loras&q=nothing").json()["total"] == 0

    assert names("sort=-name") == ["sub/gamma.safetensors", "delta.safetensors", "beta.safetensors",
                                   "Alpha.safetensors"]
    loras = env["models"] / "loras"
    by_size = sorted(["Alpha.safetensors", "beta.safetensors", "sub/gamma.safetensors", "delta.safetensors"],
                     key=lambda n: (loras / n).stat().st_size)
    assert names("sort=size") == by_size and names("sort=-size") == by_size[::-1]
    assert names("sort=-added") == ["delta.safetensors", "sub/gamma.safetensors", "beta.safetensors",
                                    "Alpha.safetensors"]
    assert names("sort=added&limit=1") == ["Alpha.safetensors"]
    everything = _get(env, "/model-manager/models?limit=10").json()  # no type: every type
    assert everything["total"] == 4


@pytest.mark.parametrize("query, word", [
    ("sort=popular", "sort"), ("limit=0", "limit"), ("limit=5000", "limit"), ("offset=-1", "offset"),
    ("offset=x", "offset"), ("type=nope&limit=2", "nope"),
])
def test_models_paging_refuses_bad_parameters(env, query, word):
    answer = _get(env, f"/model-manager/models?{query}")
    assert answer.status_code == 400, answer.text
    assert word in answer.json()["error"]["message"]


# -- previews -----------------------------------------------------------------------------------
def test_preview_etag_cache_control_and_304(env):
    loras = env["models"] / "loras"
    write_safetensors(loras / "pic.safetensors")
    (loras / "pic.png").write_bytes(image_bytes())
    first = _get(env, "/model-manager/models/loras/pic.safetensors/preview")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Cache-Control"] == "private, no-cache"
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = _get(env, "/model-manager/models/loras/pic.safetensors/preview", headers={"If-None-Match": header})
        assert again.status_code == 304 and again.content == b"", header
        assert again.headers["ETag"] == etag
    stale = _get(env, "/model-manager/models/loras/pic.safetensors/preview", headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200 and stale.content == first.content
    # A new preview: a new tag, so the browser's copy is replaced.
    put = env["http"].put(env["url"]("/model-manager/models/loras/pic.safetensors/preview"),
                          data=image_bytes(color=(250, 0, 0)), headers={"Content-Type": "image/png"})
    assert put.status_code == 200, put.text
    changed = _get(env, "/model-manager/models/loras/pic.safetensors/preview", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_etag_matching():
    assert etag_matches('"abc"', "abc") and etag_matches('W/"abc"', "abc")
    assert etag_matches(' "x" , W/"abc"', "abc") and etag_matches("*", "abc")
    assert not etag_matches('"abcd"', "abc") and not etag_matches("", "abc") and not etag_matches("abc", "abc")


# -- resolve -------------------------------------------------------------------------------------
def _civitai_model(civitai, **version_options):
    civitai.add_model(100, "Sparkle LoRA", "LORA", description="<p>shiny</p>")
    civitai.add_version(100, 200, "v1", base_model="SD 1.5", trained_words=["old"])
    civitai.add_file(200, 300, "sparkle_v1.safetensors", b"v1" * 1000)
    civitai.add_version(100, 201, "v2", base_model="SDXL 1.0", trained_words=["sparkle"], **version_options)
    civitai.add_file(201, 301, "sparkle_v2.safetensors", b"v2" * 2048)
    civitai.add_file(201, 302, "sparkle_v2_fp32.safetensors", b"v2" * 4096, fp="fp32", primary=False)
    return civitai.add_image(201, nsfw_level=1)


def test_resolve_a_civitai_model_page_lists_versions_and_files(env):
    civitai = env["civitai"]
    image_url = _civitai_model(civitai)
    before = len(civitai.storage_requests)
    answer = _post(env, "/model-manager/resolve", {"url": f"{civitai.base_url}/models/100/sparkle"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["source"] == "civitai" and body["filename"] == "sparkle_v2.safetensors"
    assert body["model_type"] == "loras" and body["name"] == "Sparkle LoRA" and body["base_model"] == "SDXL 1.0"
    assert body["size"] == 4096 and body["sha256"] and len(body["sha256"]) == 64
    assert body["preview_url"] == image_url and body["trigger_words"] == ["sparkle"]
    assert body["page_url"].endswith("/models/100?modelVersionId=201")
    assert [v["name"] for v in body["versions"]] == ["v2", "v1"]
    files = body["versions"][0]["files"]
    assert [(f["name"], f["primary"], f["fp"]) for f in files] == [
        ("sparkle_v2.safetensors", True, "fp16"), ("sparkle_v2_fp32.safetensors", False, "fp32")]
    assert files[1]["url"] == f"{civitai.base_url}/api/download/models/201?fileId=302"
    assert len(civitai.storage_requests) == before  # metadata only: no model byte fetched

    # The link a version's file gives resolves to exactly that file.
    picked = _post(env, "/model-manager/resolve", {"url": files[1]["url"]}).json()
    assert (picked["filename"], picked["size"], picked["version_id"], picked["file_id"]) == (
        "sparkle_v2_fp32.safetensors", 8192, 201, 302)
    assert [v["id"] for v in picked["versions"]] == [201, 200]
    assert len(civitai.storage_requests) == before


def test_resolve_civitai_errors_say_what_to_do(env):
    civitai = env["civitai"]
    civitai.add_model(110, "Locked", "Checkpoint")
    civitai.add_version(110, 210, "v1", require_auth=True)
    civitai.add_file(210, 310, "locked.safetensors", b"x" * 10)
    civitai.add_model(111, "Early", "LORA")
    civitai.add_version(111, 211, "v1", early_access_deadline="2030-01-01T00:00:00.000Z")
    civitai.add_file(211, 311, "early.safetensors", b"x" * 10)

    locked = _post(env, "/model-manager/resolve", {"url": f"{civitai.base_url}/api/download/models/210"})
    assert locked.status_code == 401
    assert locked.json()["error"]["code"] == "auth_required"
    assert "Civitai API key" in locked.json()["error"]["message"]
    assert "settings" in locked.json()["error"]["message"]

    early = _post(env, "/model-manager/resolve", {"url": f"{civitai.base_url}/models/111?modelVersionId=211"})
    assert early.status_code == 403 and "Early Access" in early.json()["error"]["message"]

    missing = _post(env, "/model-manager/resolve", {"url": f"{civitai.base_url}/models/999"})
    assert missing.status_code == 404 and "999" in missing.json()["error"]["message"]

    # With a key that Civitai knows, the locked model resolves; the key never comes back.
    civitai.valid_keys.add(KEY)
    assert env["http"].put(env["url"]("/model-manager/settings"), json={"civitai_api_key": KEY}).status_code == 200
    ok = _post(env, "/model-manager/resolve", {"url": f"{civitai.base_url}/api/download/models/210"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["model_type"] == "checkpoints" and KEY not in ok.text


@pytest.mark.parametrize("body, status, words", [
    ({"url": "ftp://example.invalid/x.safetensors"}, 400, "http"),
    ({"url": "not a link"}, 400, ""),
    ({"url": ""}, 400, "url"),
    ({}, 400, "url"),
    ({"url": 5}, 400, "url"),
])
def test_resolve_refuses_bad_links(env, body, status, words):
    answer = _post(env, "/model-manager/resolve", body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]


def test_resolve_a_hub_file_and_gated_repositories(env):
    hub = env["hub"]
    hub.add_repo("acme/models")
    data = b"w" * 5000
    hub.add_file("acme/models", "vae/acme_vae.safetensors", data)
    answer = _post(env, "/model-manager/resolve",
                   {"url": f"{hub.endpoint}/acme/models/blob/main/vae/acme_vae.safetensors"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["source"], body["filename"], body["size"], body["name"]) == (
        "huggingface", "acme_vae.safetensors", 5000, "acme/models")
    assert body["model_type"] == "vae"  # guessed from the path; the form lets the user change it
    assert body["page_url"] == f"{hub.endpoint}/acme/models"
    assert len(body["sha256"]) == 64 and "versions" not in body
    assert not hub.cdn_requests  # one HEAD, no bytes

    hub.add_repo("acme/gated", gated="manual", approved_tokens={HF_KEY})
    hub.add_file("acme/gated", "model.safetensors", data)
    link = {"url": f"{hub.endpoint}/acme/gated/resolve/main/model.safetensors"}
    gated = _post(env, "/model-manager/resolve", link)
    assert gated.status_code == 401 and "gated" in gated.json()["error"]["message"]
    assert "token" in gated.json()["error"]["message"]
    hub.valid_tokens.add("hf_notApproved0123456789")
    env["http"].put(env["url"]("/model-manager/settings"), json={"huggingface_token": "hf_notApproved0123456789"})
    denied = _post(env, "/model-manager/resolve", link)
    assert denied.status_code == 403 and "request access" in denied.json()["error"]["message"]
    env["http"].put(env["url"]("/model-manager/settings"), json={"huggingface_token": HF_KEY})
    assert _post(env, "/model-manager/resolve", link).status_code == 200
    missing = _post(env, "/model-manager/resolve", {"url": f"{hub.endpoint}/acme/models/resolve/main/nope.safetensors"})
    assert missing.status_code == 404


def test_resolve_a_direct_link_probes_one_byte(env):
    host = ModelFileHost()
    try:
        served = host.add("/files/plain.safetensors", 123_456)
        answer = _post(env, "/model-manager/resolve", {"url": host.url("/files/plain.safetensors")})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["source"], body["filename"], body["size"], body["model_type"]) == (
            "direct", "plain.safetensors", len(served.data), None)
        ranges = [r.header("Range") for r in host.requests_for("/files/plain.safetensors")]
        assert ranges == ["bytes=0-0"]
        gone = _post(env, "/model-manager/resolve", {"url": host.url("/files/gone.safetensors")})
        assert gone.status_code == 404
    finally:
        host.close()


def test_guess_model_type_from_paths():
    assert guess_model_type("split_files/vae/ae.safetensors") == "vae"
    assert guess_model_type("ae.safetensors") == "vae"
    assert guess_model_type("loras/thing.safetensors") == "loras"
    assert guess_model_type("text_encoders/t5xxl_fp16.safetensors") == "text_encoders"
    assert guess_model_type("4x_UltraSharp.pth") == "upscale_models"
    assert guess_model_type("model.safetensors") is None
    assert guess_model_type("vae/x.safetensors", {"checkpoints"}) is None
