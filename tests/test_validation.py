"""The one check of download fields and model references (nodes, REST, CLI and manager)."""
from __future__ import annotations

import pytest

from comfyui_model_manager.core.errors import InvalidInput, UnsafePath
from comfyui_model_manager.core.validation import (
    download_fields, expected_sha256, if_exists_choice, model_name, model_type_choice, problem, subfolder_text,
    url_text,
)

DIGEST = "ab" * 32


def test_if_exists_is_one_of_three_in_any_case_and_defaults_to_skip():
    assert [if_exists_choice(v) for v in (None, "", " Skip ", "OVERWRITE", "rename")] == [
        "skip", "skip", "skip", "overwrite", "rename"]
    with pytest.raises(InvalidInput, match=r"skip, overwrite, rename \(got 'replace'\)"):
        if_exists_choice("replace")
    with pytest.raises(InvalidInput):
        if_exists_choice(3)


def test_sha256_is_64_hex_characters_or_nothing():
    assert expected_sha256(DIGEST.upper()) == DIGEST and expected_sha256(f"  {DIGEST} ") == DIGEST
    assert expected_sha256("") is None and expected_sha256(None) is None
    for bad in ("abc", DIGEST + "0", "g" * 64, ["x"]):
        with pytest.raises(InvalidInput, match="64 hexadecimal"):
            expected_sha256(bad)


def test_type_and_name():
    assert model_type_choice("loras", ["vae", "loras"]) == "loras"
    assert model_type_choice("", ["loras"], allow_auto=True) == "auto"
    with pytest.raises(InvalidInput, match="unknown model type 'auto'; known types: loras"):
        model_type_choice("auto", ["loras"])
    assert model_name("sub\\x.safetensors") == "sub/x.safetensors"
    for bad in ("../x.safetensors", "/etc/passwd", "C:\\x", "a/.hidden", ""):
        with pytest.raises((InvalidInput, UnsafePath)):
            model_name(bad)
    assert subfolder_text("") == "" and subfolder_text("a/b/") == "a/b"
    with pytest.raises(UnsafePath):
        subfolder_text("../up")


def test_a_whole_request_and_the_node_message():
    fields = download_fields(url=" https://x/y ", model_type="loras", sha256=DIGEST.upper(), if_exists="Rename",
                             known_types=["loras"])
    assert (fields.url, fields.model_type, fields.sha256, fields.if_exists) == (
        "https://x/y", "loras", DIGEST, "rename")
    assert download_fields(url="u").model_type == "auto"
    with pytest.raises(InvalidInput, match="url is required"):
        download_fields(url="  ")
    assert problem(url_text, "") == "url is required: paste a Civitai, Hugging Face or other http(s) link"
    assert problem(url_text, "u") is None


def test_whole_numbers_for_settings_and_query_parameters_share_one_rule():
    from comfyui_model_manager.core.validation import whole_number

    assert whole_number("5", "limit", 1, 10) == 5 and whole_number(3, "limit", 1, 10) == 3
    with pytest.raises(InvalidInput, match=r"^limit must be from 1 to 10 \(got 99\)$"):
        whole_number("99", "limit", 1, 10)
    for bad in ("lots", True, 1.5, None):
        with pytest.raises(InvalidInput, match=r"^limit must be a whole number from 1 to 10$"):
            whole_number(bad, "limit", 1, 10)
