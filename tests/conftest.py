"""Shared test setup: every test runs with a clean, isolated environment.

No developer key or proxy may leak into a test (a real token must never reach a fake), and
the pack's config/state goes to a temporary folder.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/support importable as "support"

_SCRUBBED = (
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CIVITAI_API_TOKEN", "HF_ENDPOINT", "CIVITAI_BASE_URL",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
    "NO_PROXY", "no_proxy", "COMFYUI_MODEL_MANAGER_HOME",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("mm-home")
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COMFYUI_MODEL_MANAGER_HOME", str(home / "config"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,127.0.0.2,localhost")
    return home


@pytest.fixture(scope="module")
def files():
    """One loopback model file host per test module (``support.model_files.ModelFileHost``);
    a module that needs another kind of file server defines its own ``files``."""
    from support.model_files import ModelFileHost

    host = ModelFileHost()
    yield host
    host.close()


@pytest.fixture
def manager_factory(tmp_path):
    """``factory(**make_manager kwargs)`` -> a started DownloadManager, shut down after the test."""
    from support.downloads import make_manager

    managers = []

    def factory(**kwargs):
        manager = make_manager(tmp_path, **kwargs)
        managers.append(manager)
        return manager

    yield factory
    for manager in managers:
        manager.shutdown(timeout=5)
