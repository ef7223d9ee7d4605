"""User settings, including API keys, in one owner-only JSON file.

Where: in ComfyUI, ``<user directory>/model_manager/settings.json`` (outside the per-user
``default/`` folder, so ComfyUI's userdata API never serves it to a browser); on the command
line, ``$XDG_CONFIG_HOME/comfyui-model-manager/settings.json`` (or ``$COMFYUI_MODEL_MANAGER_HOME``).

Key precedence: the key saved in the settings wins (it is what the user set in the UI), then
the environment (``CIVITAI_API_TOKEN``; ``HF_TOKEN``), then huggingface_hub's saved login.
Secrets are only ever reported as ``*_set: bool``.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import InvalidInput
from .jsonio import atomic_write_json, read_json
from .redact import Redactor, redact_url
from .setting_names import HOST_LISTS, INT_RANGES, SECRET_KEYS
from .validation import whole_number


def default_config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("COMFYUI_MODEL_MANAGER_HOME"):
        return Path(environ["COMFYUI_MODEL_MANAGER_HOME"]).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "comfyui-model-manager"


class _WholeNumber:
    """A whole-number setting: the saved value clamped into its range of ``INT_RANGES``; a
    missing or unreadable one reads as the default."""

    def __init__(self, doc: str | None = None) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, settings: "Settings | None", owner: type | None = None) -> Any:
        if settings is None:
            return self
        default, low, high = INT_RANGES[self.name]
        value = settings._data.get(self.name, default)
        try:
            value = int(value)
        except (TypeError, ValueError):
            return default
        return min(max(value, low), high)


class Settings:
    """Thread-safe settings backed by ``path`` (mode 0600, written atomically)."""

    def __init__(self, path: Path, environ: Mapping[str, str] | None = None,
                 redactor: Redactor | None = None) -> None:
        self.path = Path(path)
        self._environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self.redactor = redactor or Redactor()
        self._listeners: list[Callable[["Settings"], None]] = []
        data = read_json(self.path, {})
        self._data: dict[str, Any] = data if isinstance(data, dict) else {}
        for key in SECRET_KEYS:
            self.redactor.add(self._data.get(key))
        self.redactor.add(self._environ.get("CIVITAI_API_TOKEN"))
        self.redactor.add(self._environ.get("HF_TOKEN"))

    # -- plain settings ---------------------------------------------------------------
    max_concurrent_downloads = _WholeNumber()
    connections_per_download = _WholeNumber()
    civitai_nsfw_level = _WholeNumber("Highest Civitai image ``nsfwLevel`` allowed for previews (1 = safe only).")
    trash_days = _WholeNumber("Days a deleted model stays in the trash before it is removed for good (0: forever).")

    @property
    def proxy(self) -> str | None:
        return self._data.get("proxy") or None

    @property
    def workflow_allowed_hosts(self) -> list[str]:
        """Hosts a workflow's links may point at besides Hugging Face and Civitai."""
        value = self._data.get("workflow_allowed_hosts")
        return [h for h in value if isinstance(h, str)] if isinstance(value, list) else []

    # -- secrets ----------------------------------------------------------------------
    def civitai_api_key(self) -> str | None:
        return self._data.get("civitai_api_key") or self._environ.get("CIVITAI_API_TOKEN") or None

    def huggingface_token(self) -> str | None:
        token = self._data.get("huggingface_token") or self._environ.get("HF_TOKEN")
        if not token and self._environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN", "").lower() not in ("1", "true"):
            token = _saved_hf_login(self._environ)
        if token:
            self.redactor.add(token)
        return token or None

    def secret_source(self, name: str) -> str | None:
        """Where a secret comes from: "settings", "CIVITAI_API_TOKEN"/"HF_TOKEN", "huggingface_hub login" or None."""
        if name not in SECRET_KEYS:
            raise InvalidInput(f"{name!r} is not a secret setting")
        if self._data.get(name):
            return "settings"
        variable = "CIVITAI_API_TOKEN" if name == "civitai_api_key" else "HF_TOKEN"
        if self._environ.get(variable):
            return variable
        if name == "huggingface_token" and self.huggingface_token():
            return "huggingface_hub login"
        return None

    # -- reading and writing ----------------------------------------------------------
    def public_view(self) -> dict[str, Any]:
        """Everything a browser may see: secrets only as ``*_set`` flags."""
        view: dict[str, Any] = {name: getattr(self, name) for name in INT_RANGES}
        view.update(proxy=redact_url(self.proxy) if self.proxy else "",
                    workflow_allowed_hosts=self.workflow_allowed_hosts,
                    civitai_api_key_set=bool(self.civitai_api_key()),
                    huggingface_token_set=bool(self.huggingface_token()))
        return view

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and save ``changes``; an empty string or None clears a secret/proxy.

        Unknown keys and out-of-range numbers raise ``InvalidInput`` and nothing is saved.
        """
        if not isinstance(changes, Mapping):
            raise InvalidInput("settings must be a JSON object")
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key in INT_RANGES:
                _default, low, high = INT_RANGES[key]
                clean[key] = whole_number(value, key, low, high)
            elif key in SECRET_KEYS or key == "proxy":
                if value is not None and not isinstance(value, str):
                    raise InvalidInput(f"{key} must be a string")
                value = (value or "").strip()
                if key == "proxy" and value and not value.lower().startswith(("http://", "https://", "socks5://", "socks5h://")):
                    raise InvalidInput("proxy must be an http://, https:// or socks5:// URL")
                if key == "proxy" and self.proxy and value == redact_url(self.proxy):
                    continue  # the redacted echo of public_view(): keep the stored credentials
                if any(c.isspace() for c in value):
                    raise InvalidInput(f"{key} must not contain spaces")
                clean[key] = value or None
            elif key in HOST_LISTS:
                clean[key] = _host_list(key, value)
            elif key.endswith("_set"):
                continue  # echoes of public_view() are ignored
            else:
                raise InvalidInput(f"unknown setting {key!r}")
        with self._lock:
            data = dict(self._data)
            for key, value in clean.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            atomic_write_json(self.path, data, mode=0o600)
            self._data = data
        for key in SECRET_KEYS:
            self.redactor.add(clean.get(key))
        for listener in list(self._listeners):
            listener(self)
        return self.public_view()

    def on_change(self, listener: Callable[["Settings"], None]) -> None:
        self._listeners.append(listener)

    def __repr__(self) -> str:  # never show secrets
        return f"Settings(path={str(self.path)!r}, {self.public_view()!r})"


def _host_list(key: str, value: Any) -> list[str] | None:
    """A list of host names (``host`` or ``host:port``), lower-case; None/empty clears it."""
    if value is None or value == "":
        return None
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidInput(f"{key} must be a list of host names")
    hosts: list[str] = []
    for item in items:
        host = item.strip().lower().rstrip(".")
        if not host:
            continue
        if "/" in host or "@" in host or any(c.isspace() for c in host):
            raise InvalidInput(f"{key}: {item[:80]!r} is not a host name (write it without scheme or path)")
        if host not in hosts:
            hosts.append(host)
    return hosts or None


def _saved_hf_login(environ: Mapping[str, str] = os.environ) -> str | None:
    """huggingface_hub's saved login (``hf auth login``): the token file it writes.

    Read directly (``HF_TOKEN_PATH``, else ``$HF_HOME/token``, else
    ``$XDG_CACHE_HOME/huggingface/token``) with the same order as ``huggingface_hub.get_token``:
    importing huggingface_hub costs ~300 ms, too slow for a settings view on the server loop.
    """
    if environ.get("HF_TOKEN_PATH"):
        path = Path(environ["HF_TOKEN_PATH"]).expanduser()
    else:
        cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = environ.get("HF_HOME") or os.path.join(cache, "huggingface")
        path = Path(home).expanduser() / "token"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None
