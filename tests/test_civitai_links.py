"""Every Civitai link form users paste is recognised and reduced to the right ids and filters."""
from __future__ import annotations

import pytest

from comfyui_model_manager.core.sources.civitai_links import parse_civitai_link


@pytest.mark.parametrize("text, model_id, version_id, filters, host", [
    ("https://civitai.com/models/827184", 827184, None, {}, "civitai.com"),
    ("https://civitai.com/models/827184/wai-illustrious-sdxl", 827184, None, {}, "civitai.com"),
    ("https://civitai.com/models/827184/wai?modelVersionId=2514310", 827184, 2514310, {}, "civitai.com"),
    ("https://civitai.com/models/827184?modelVersionId=2514310", 827184, 2514310, {}, "civitai.com"),
    ("https://www.civitai.com/models/827184/", 827184, None, {}, "civitai.com"),
    ("https://civitai.red/models/5/x?modelVersionId=6", 5, 6, {}, "civitai.red"),
    ("https://www.civitai.red/models/5", 5, None, {}, "civitai.red"),
    ("https://civitai.green/models/5?modelVersionId=7#gallery", 5, 7, {}, "civitai.green"),
    ("http://CIVITAI.COM/models/5", 5, None, {}, "civitai.com"),
    ("https://civitai.com/model-versions/2514310", None, 2514310, {}, "civitai.com"),
    ("https://civitai.com/api/download/models/2514310", None, 2514310, {}, "civitai.com"),
    ("https://civitai.com/api/download/models/2514310?type=Model&format=SafeTensor&size=pruned&fp=fp16",
     None, 2514310, {"type": "Model", "format": "SafeTensor", "size": "pruned", "fp": "fp16"}, "civitai.com"),
    ("https://civitai.com/api/download/models/9?type=Text%20Encoder&quantType=Q4_K_M", None, 9,
     {"type": "Text Encoder", "quantType": "Q4_K_M"}, "civitai.com"),
    ("https://civitai.com/api/download/models/9?fileId=77&utm=x", None, 9, {"fileId": "77"}, "civitai.com"),
    ("https://civitai.com/api/v1/model-versions/9", None, 9, {}, "civitai.com"),
    ("https://civitai.com/api/v1/models/5", 5, None, {}, "civitai.com"),
    ("urn:air:sdxl:checkpoint:civitai:827184@2514310", 827184, 2514310, {}, None),
    ("urn:air:sd1:lora:civitai:5", 5, None, {}, None),
    ("URN:AIR:flux1:lora:civitai:5@6:model.safetensors", 5, 6, {}, None),
    ("  urn:air:sdxl:embedding:civitai:5@6  ", 5, 6, {}, None),
    ("civitai.com/models/5?modelVersionId=6", 5, 6, {}, "civitai.com"),
    ("www.civitai.red/api/download/models/6", None, 6, {}, "civitai.red"),
])
def test_link_forms(text, model_id, version_id, filters, host) -> None:
    link = parse_civitai_link(text)
    assert link is not None
    assert (link.model_id, link.version_id, link.file_filters, link.host) == (model_id, version_id, filters, host)
    assert link.url_token is None


def test_token_in_query_is_taken_out_and_hidden() -> None:
    link = parse_civitai_link("https://civitai.com/api/download/models/9?token=sekrit-key-123&type=Model")
    assert link.url_token == "sekrit-key-123"
    assert link.file_filters == {"type": "Model"}
    assert "sekrit" not in repr(link)


@pytest.mark.parametrize("text", [
    "https://huggingface.co/a/b/resolve/main/x.safetensors",
    "https://example.com/models/5",
    "https://notcivitai.com/models/5",
    "https://civitai.com.evil.example/models/5",
    "ftp://civitai.com/models/5",
    "urn:air:sdxl:checkpoint:huggingface:a/b",
    "owner/repo/file.safetensors",
    "",
])
def test_not_civitai(text) -> None:
    assert parse_civitai_link(text) is None


def test_civitai_page_without_ids_is_recognised_but_empty() -> None:
    link = parse_civitai_link("https://civitai.com/images/123")
    assert link is not None and link.model_id is None and link.version_id is None


def test_configured_host_counts_as_civitai() -> None:
    link = parse_civitai_link("http://127.0.0.1:8123/models/5?modelVersionId=6", ("127.0.0.1:8123",))
    assert (link.model_id, link.version_id) == (5, 6)
    assert parse_civitai_link("http://127.0.0.1:9999/models/5", ("127.0.0.1:8123",)) is None


@pytest.mark.parametrize("text, model_id, version_id, filters", [
    ("urn:air:sdxl:lora:civitai:328553@368189", 328553, 368189, {}),
    ("air:sdxl:checkpoint:civitai:827184@2514310", 827184, 2514310, {}),
    ("sdxl:checkpoint:civitai:827184@2514310", 827184, 2514310, {}),
    ("lora:civitai:5@6", 5, 6, {}),
    ("civitai:5@6", 5, 6, {}),
    ("urn:air:civitai:5", 5, None, {}),
    ("urn:air:sdxl:checkpoint:civitai:827184@2514310+2402203", 827184, 2514310, {"fileId": "2402203"}),
    ("urn:air:sd1:checkpoint:civitai:5@6.safetensor", 5, 6, {"format": "SafeTensor"}),
    ("urn:air:sd1:checkpoint:civitai:5@6+7.ckpt", 5, 6, {"fileId": "7", "format": "PickleTensor"}),
    ("urn:air:flux1:lora:civitai:5@6:model.safetensors", 5, 6, {}),  # an older AIR with a layer
])
def test_air_forms(text, model_id, version_id, filters) -> None:
    link = parse_civitai_link(text)
    assert (link.model_id, link.version_id, link.file_filters) == (model_id, version_id, filters)


@pytest.mark.parametrize("text, message", [
    ("urn:air:sdxl:lora:civitai:abc@def", "a Civitai AIR names the model, version and file by their numeric ids"),
    ("urn:air:sdxl:lora:civitai:5@0", "a Civitai AIR names the model, version and file by their numeric ids"),
    ("urn:air:sdxl:lora:civitai:", "nothing usable after 'civitai':"),
    ("civitai:5@6@7", "a Civitai AIR names the model, version and file by their numeric ids"),
    ("urn:air:sdxl:lora:5@6", "no supported source such as civitai or huggingface (got 'lora')"),
    ("urn:air:dalle:model:openai:dalle@2", "AIRs from 'openai' cannot be downloaded: only civitai and huggingface"),
    ("urn:air:other:other:civitai-r2:civitai-worker-assets@sam_vit_b_01ec64.pth", "AIRs from 'civitai-r2'"),
])
def test_invalid_airs_say_what_the_form_is(text, message) -> None:
    from comfyui_model_manager.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as info:
        parse_civitai_link(text)
    assert message in info.value.message
    if "not a valid AIR" in info.value.message:
        assert "urn:air:{ecosystem}:{type}:{source}:{id}@{version}" in info.value.message


@pytest.mark.parametrize("text, host, version_id, file_hash", [
    ("https://civitai.com/api/download/models/9?", "civitai.com", 9, None),
    ("https://civitai.green/api/v1/model-versions/9?foo=bar", "civitai.green", 9, None),
    ("https://www.civitai.com:443/api/download/models/9", "civitai.com", 9, None),
    ("https://civitai.com/api/v1/models/5?modelVersionId=9", "civitai.com", 9, None),
    ("https://civitai.com/api/v1/model-versions/by-hash/a5f58eb1c3", "civitai.com", None, "A5F58EB1C3"),
])
def test_more_api_link_forms(text, host, version_id, file_hash) -> None:
    link = parse_civitai_link(text)
    assert (link.host, link.version_id, link.file_hash) == (host, version_id, file_hash)


def test_configured_host_matches_by_origin() -> None:
    """``CIVITAI_BASE_URL=https://mirror.example`` also owns ``https://MIRROR.example:443/…``."""
    from comfyui_model_manager.core.sources.civitai_links import netloc_key

    extra = (netloc_key("https://mirror.example"),)
    assert parse_civitai_link("https://MIRROR.example:443/api/download/models/6", extra).version_id == 6
    assert parse_civitai_link("https://mirror.example/api/v1/model-versions/6", extra).version_id == 6
    assert parse_civitai_link("https://mirror.example:8443/api/download/models/6", extra) is None
