"""Where keys come from, in which order, and that they never show up anywhere."""
from __future__ import annotations

import json
import logging
import stat

import pytest

from comfyui_model_manager.core.errors import InvalidInput
from comfyui_model_manager.core.redact import RedactingFilter
from comfyui_model_manager.core.settings import Settings

KEY = "civitai-key-abcdef123456"
ENV_KEY = "civitai-env-key-654321"
HF = "hf_settings_token_123456"
HF_ENV = "hf_env_token_7654321"


def test_civitai_key_precedence(tmp_path) -> None:
    settings = Settings(tmp_path / "s.json", environ={"CIVITAI_API_TOKEN": ENV_KEY})
    assert settings.civitai_api_key() == ENV_KEY and settings.secret_source("civitai_api_key") == "CIVITAI_API_TOKEN"
    settings.update({"civitai_api_key": KEY})
    assert settings.civitai_api_key() == KEY and settings.secret_source("civitai_api_key") == "settings"
    settings.update({"civitai_api_key": ""})
    assert settings.civitai_api_key() == ENV_KEY


def test_hf_token_precedence(tmp_path) -> None:
    settings = Settings(tmp_path / "s.json", environ={"HF_TOKEN": HF_ENV, "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"})
    assert settings.huggingface_token() == HF_ENV and settings.secret_source("huggingface_token") == "HF_TOKEN"
    settings.update({"huggingface_token": HF})
    assert settings.huggingface_token() == HF
    empty = Settings(tmp_path / "e.json", environ={"HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"})
    assert empty.huggingface_token() is None and empty.secret_source("huggingface_token") is None
    with pytest.raises(InvalidInput):
        empty.secret_source("proxy")


def test_file_is_owner_only_json_and_survives_reload(tmp_path) -> None:
    path = tmp_path / "conf" / "settings.json"
    Settings(path, environ={}).update({"civitai_api_key": KEY, "civitai_nsfw_level": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"civitai_api_key": KEY, "civitai_nsfw_level": 2}
    again = Settings(path, environ={})
    assert again.civitai_api_key() == KEY and again.civitai_nsfw_level == 2
    assert not [p for p in path.parent.iterdir() if p.name != "settings.json"]  # no temp files left


def test_public_view_and_repr_hide_secrets(tmp_path) -> None:
    settings = Settings(tmp_path / "s.json", environ={"HF_TOKEN": HF_ENV})
    settings.update({"civitai_api_key": KEY})
    view = settings.public_view()
    assert view["civitai_api_key_set"] is True and view["huggingface_token_set"] is True
    text = json.dumps(view) + repr(settings)
    assert KEY not in text and HF_ENV not in text


def test_keys_are_redacted_from_logs(tmp_path, caplog) -> None:
    settings = Settings(tmp_path / "s.json", environ={"HF_TOKEN": HF_ENV})
    settings.update({"civitai_api_key": KEY})
    logger = logging.getLogger("test.redaction")
    handler_filter = RedactingFilter(settings.redactor)
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("request with %s and token %s", KEY, HF_ENV)
            logger.info("Authorization: Bearer %s", "some-other-bearer-value")
    finally:
        logger.removeFilter(handler_filter)
    assert KEY not in caplog.text and HF_ENV not in caplog.text and "some-other-bearer-value" not in caplog.text
    assert "***" in caplog.text
