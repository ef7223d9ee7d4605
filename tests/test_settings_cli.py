"""``comfyui-model-manager settings``: show, set, unset; keys only ever as set / not set."""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from comfyui_model_manager.core.cli import main

KEY = "civitai-secret-key-42424242"
HF = "hf_secrettoken4242424242"


def settings_file() -> Path:
    return Path(os.environ["COMFYUI_MODEL_MANAGER_HOME"]) / "settings.json"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["settings", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_show_defaults(capsys) -> None:
    code, out, err = run(capsys)  # the view is the command's output: stdout
    assert code == 0 and err == ""
    assert f"settings file: {settings_file()}" in out
    assert "civitai_api_key: not set" in out and "huggingface_token: not set" in out
    assert "civitai_nsfw_level: 1 (PG (safe only))" in out
    assert "max_concurrent_downloads: 2" in out


def test_set_show_unset_keys_never_printed(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, "set", "civitai_api_key", KEY)
    assert code == 0 and "civitai_api_key saved" in err and KEY not in out + err
    monkeypatch.setattr(sys, "stdin", io.StringIO(HF + "\n"))
    code, out, err = run(capsys, "set", "huggingface_token", "-", "--json")
    assert code == 0
    view = json.loads(out)
    assert view["civitai_api_key_set"] is True and view["huggingface_token_set"] is True
    assert view["civitai_api_key_source"] == "settings"
    assert KEY not in out + err and HF not in out + err
    saved = json.loads(settings_file().read_text())
    assert saved["civitai_api_key"] == KEY and saved["huggingface_token"] == HF
    assert stat.S_IMODE(settings_file().stat().st_mode) == 0o600
    code, out, err = run(capsys, "--json")
    assert KEY not in out + err and HF not in out + err
    assert json.loads(out)["huggingface_token_source"] == "settings"
    code, out, err = run(capsys, "unset", "civitai_api_key")
    assert code == 0 and "removed" in err
    assert "civitai_api_key" not in json.loads(settings_file().read_text())
    code, out, err = run(capsys)
    assert "civitai_api_key: not set" in out and "huggingface_token: set (from settings)" in out


def test_key_from_the_environment_is_reported_with_its_source(capsys, monkeypatch) -> None:
    monkeypatch.setenv("CIVITAI_API_TOKEN", KEY)
    code, out, err = run(capsys, "--json")
    view = json.loads(out)
    assert view["civitai_api_key_set"] and view["civitai_api_key_source"] == "CIVITAI_API_TOKEN"
    assert KEY not in out + err


def test_hf_saved_login_is_found() -> None:
    """In a fresh process: huggingface_hub reads HF_HOME when it is first imported."""
    hf_home = Path(os.environ["HF_HOME"])
    hf_home.mkdir(parents=True, exist_ok=True)
    (hf_home / "token").write_text(HF)
    done = subprocess.run([sys.executable, "-m", "comfyui_model_manager.core.cli", "settings", "--json"],
                          env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["huggingface_token_set"] and view["huggingface_token_source"] == "huggingface_hub login"
    assert HF not in done.stdout + done.stderr


def test_numbers_and_proxy(capsys) -> None:
    assert run(capsys, "set", "civitai_nsfw_level", "4")[0] == 0
    assert run(capsys, "set", "max_concurrent_downloads", "3")[0] == 0
    code, out, err = run(capsys, "set", "proxy", "http://user:pa55word@proxy.local:3128", "--json")
    view = json.loads(out)
    assert view["civitai_nsfw_level"] == 4 and view["max_concurrent_downloads"] == 3
    assert view["proxy"] == "http://proxy.local:3128" and "pa55word" not in out + err
    assert run(capsys, "unset", "max_concurrent_downloads")[0] == 0
    assert run(capsys, "unset", "proxy", "--json")[1] and json.loads(capsys.readouterr().out or "{}") == {}
    saved = json.loads(settings_file().read_text())
    assert saved == {"civitai_nsfw_level": 4, "max_concurrent_downloads": 2}


@pytest.mark.parametrize("argv, message", [
    (["set", "max_concurrent_downloads", "99"], "max_concurrent_downloads must be from 1 to 8 (got 99)"),
    (["set", "civitai_nsfw_level", "lots"], "civitai_nsfw_level must be a whole number from 1 to 32"),
    (["set", "proxy", "ftp://x"], "proxy must be an http://, https:// or socks5:// URL"),
    (["set", "civitai_api_key", "two words"], "civitai_api_key must not contain spaces"),
])
def test_bad_values_exit_2_and_save_nothing(capsys, argv, message) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and err.strip() == f"error: {message}" and out == ""
    assert not settings_file().exists()


def test_unknown_key_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "set", "nope", "1")
    assert code == 2 and "KEY: 'nope' is not allowed" in err and "civitai_api_key" in err


def test_console_script_end_to_end(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items()}
    done = subprocess.run([sys.executable, "-m", "comfyui_model_manager.core.cli", "settings", "set",
                           "civitai_api_key", "-", "--json"], input=KEY + "\n", env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["civitai_api_key_set"] is True
    assert KEY not in done.stdout + done.stderr
