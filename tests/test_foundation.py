"""The shared building blocks: safe names, model folders, redaction, settings, atomic JSON."""
from __future__ import annotations

import json
import os
import stat

import pytest

from comfyui_model_manager.core.errors import InvalidInput, UnsafePath
from comfyui_model_manager.core.jsonio import atomic_write_json, read_json
from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.paths import sanitize_filename, validate_relative_name
from comfyui_model_manager.core.redact import Redactor, redact_url
from comfyui_model_manager.core.settings import Settings


@pytest.mark.parametrize("raw, clean", [
    ("model.safetensors", "model.safetensors"),
    ("../../etc/passwd.safetensors", "passwd.safetensors"),
    ("..\\..\\win.ckpt", "win.ckpt"),
    ("a\x00b\x1f.pt", "ab.pt"),
    ("...hidden.pt", "hidden.pt"),
    ("CON.safetensors", "_CON.safetensors"),
    ('bad<>:"|?*.pt', "bad_______.pt"),
])
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


@pytest.mark.parametrize("raw", ["", "..", "/", "../", "\x00"])
def test_sanitize_filename_refuses_empty(raw: str) -> None:
    with pytest.raises(InvalidInput):
        sanitize_filename(raw)


@pytest.mark.parametrize("name", ["../x.pt", "/etc/x.pt", "a/../../x.pt", "C:/x.pt", "a//b.pt", ".x/y.pt", "a\\..\\b.pt"])
def test_relative_names_cannot_escape(name: str) -> None:
    with pytest.raises(UnsafePath):
        validate_relative_name(name)


def test_destination_and_symlink_escape(tmp_path) -> None:
    folders = ModelFolders.from_models_dir(tmp_path / "models")
    loc = folders.destination("loras", "style", "x.safetensors")
    assert loc.path == (tmp_path / "models" / "loras" / "style" / "x.safetensors").resolve()
    assert loc.name == "style/x.safetensors"
    with pytest.raises(InvalidInput):
        folders.destination("loras", "", "x.exe")
    with pytest.raises(InvalidInput):
        folders.destination("nope", "", "x.pt")
    (tmp_path / "models" / "loras").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pt").write_bytes(b"x")
    os.symlink(outside, tmp_path / "models" / "loras" / "link")
    with pytest.raises(UnsafePath):
        folders.destination("loras", "link", "y.pt")
    with pytest.raises(UnsafePath):
        folders.locate("loras", "link/secret.pt")


def test_redaction() -> None:
    url = "https://user:pw@civitai.com/api/download/models/1?type=Model&token=SECRET123&X-Amz-Signature=abc"
    assert redact_url(url) == "https://civitai.com/api/download/models/1?type=Model"
    redactor = Redactor(["SECRET123"])
    assert "SECRET123" not in redactor("failed: key SECRET123 was refused")
    assert "hf_abcdefgh" not in redactor("Authorization: Bearer hf_abcdefgh")


def test_settings_file_is_private_and_hides_secrets(tmp_path) -> None:
    settings = Settings(tmp_path / "cfg" / "settings.json", environ={})
    view = settings.update({"civitai_api_key": "ck_0123456789", "max_concurrent_downloads": 3})
    assert view["civitai_api_key_set"] is True and "ck_0123456789" not in json.dumps(view)
    assert stat.S_IMODE(os.stat(settings.path).st_mode) == 0o600
    assert "ck_0123456789" not in repr(settings)
    assert Settings(settings.path, environ={}).civitai_api_key() == "ck_0123456789"
    with pytest.raises(InvalidInput):
        settings.update({"connections_per_download": 99})
    assert settings.connections_per_download == 4
    assert Settings(tmp_path / "none.json", environ={"CIVITAI_API_TOKEN": "env_key_123"}).civitai_api_key() == "env_key_123"


def test_atomic_json_roundtrip(tmp_path) -> None:
    target = tmp_path / "a" / "b.json"
    atomic_write_json(target, {"x": 1})
    assert read_json(target) == {"x": 1}
    target.write_text("{broken")
    assert read_json(target, default={}) == {}
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_saved_hf_login_and_proxy_view(tmp_path) -> None:
    hf_home = tmp_path / "hf"
    hf_home.mkdir()
    (hf_home / "token").write_text("hf_savedlogin123\n")
    settings = Settings(tmp_path / "s.json", environ={"HF_HOME": str(hf_home)})
    assert settings.huggingface_token() == "hf_savedlogin123"
    assert Settings(tmp_path / "s.json", environ={"HF_HOME": str(hf_home), "HF_TOKEN": "hf_env_token1"}).huggingface_token() == "hf_env_token1"
    settings.update({"proxy": "http://user:pa55word@proxy.local:3128"})
    assert settings.proxy == "http://user:pa55word@proxy.local:3128"
    assert "pa55word" not in json.dumps(settings.public_view())
    settings.update({"proxy": settings.public_view()["proxy"], "max_concurrent_downloads": 2})
    assert settings.proxy == "http://user:pa55word@proxy.local:3128"


@pytest.mark.parametrize("subfolder", ["/tmp", "C:\\\\x", "../up", "a/../../b", ".hidden"])
def test_subfolders_cannot_escape(tmp_path, subfolder: str) -> None:
    with pytest.raises(UnsafePath):
        ModelFolders.from_models_dir(tmp_path).destination("loras", subfolder, "x.safetensors")
    assert ModelFolders.from_models_dir(tmp_path).destination("loras", "style/", "x.safetensors").name == "style/x.safetensors"


def test_read_json_survives_absurd_nesting(tmp_path) -> None:
    target = tmp_path / "deep.json"
    target.write_text("[" * 200_000 + "]" * 200_000)
    assert read_json(target, default={"ok": True}) == {"ok": True}


def test_exclusive_create_without_hard_links(tmp_path) -> None:
    from comfyui_model_manager.core.sources.civitai_sidecars import create_exclusive_without_links

    target = tmp_path / "m.md"
    assert create_exclusive_without_links(target, b"first") is True
    assert create_exclusive_without_links(target, b"second") is False
    assert target.read_bytes() == b"first"
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    os.symlink(outside, tmp_path / "link.md")
    assert create_exclusive_without_links(tmp_path / "link.md", b"x") is False
    assert outside.read_text() == "keep"
