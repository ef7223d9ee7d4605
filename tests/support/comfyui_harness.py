"""Start and drive a real ComfyUI for end-to-end tests (the browser tests reuse it).

Where ComfyUI is found:
  * ``COMFYUI_PATH``: a ComfyUI checkout (the folder holding ``main.py``);
  * its interpreter: ``COMFYUI_PYTHON``, else ``$COMFYUI_PATH/.venv/bin/python``, else
    ``$COMFYUI_PATH/venv/bin/python``.
When either is missing, ``require_comfyui()`` skips the test and says why.

Each server runs as ``main.py --cpu --listen 127.0.0.1 --port <free> --base-directory <tmp>``
with this pack symlinked into ``<tmp>/custom_nodes/``; its stdout+stderr go to
``<tmp>/comfyui.log`` (appended across restarts).  The environment is scrubbed of keys and
proxies (a developer's token must never reach a test server); pass ``env=`` to add variables
such as ``CIVITAI_BASE_URL`` or ``HF_ENDPOINT``.

Typical use (one ComfyUI per test module)::

    @pytest.fixture(scope="module")
    def comfy(tmp_path_factory):
        server = ComfyUIServer(require_comfyui(), tmp_path_factory.mktemp("comfy"))
        server.start()
        yield server
        server.stop()

    def test_x(comfy):
        with comfy.websocket() as ws:
            prompt_id = comfy.queue_prompt({...}, client_id=ws.client_id)
            end = ws.wait_for_prompt_end(prompt_id)
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import requests

PACK_ROOT = Path(__file__).resolve().parents[2]
#: Folder name the pack is linked as (a hyphenated name, like most packs in the wild).
PACK_LINK_NAME = "ComfyUI-Model-Manager"

_SCRUBBED_ENV = (
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CIVITAI_API_TOKEN", "HF_ENDPOINT", "CIVITAI_BASE_URL",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
    "NO_PROXY", "no_proxy", "COMFYUI_MODEL_MANAGER_HOME", "PYTHONPATH",
)

#: Event types ComfyUI sends when a prompt stops, whatever the reason.
PROMPT_END_EVENTS = ("execution_success", "execution_error", "execution_interrupted")


@dataclass(frozen=True)
class ComfyUIInstallation:
    path: Path
    python: Path


def find_comfyui(environ: dict[str, str] | os._Environ = os.environ) -> tuple[ComfyUIInstallation | None, str]:
    """The ComfyUI to test against, or ``(None, reason)``."""
    root = environ.get("COMFYUI_PATH")
    if not root:
        return None, "COMFYUI_PATH is not set (point it at a ComfyUI checkout to run the e2e tests)"
    path = Path(root).expanduser()
    if not (path / "main.py").is_file():
        return None, f"COMFYUI_PATH={root} has no main.py"
    candidates = [environ.get("COMFYUI_PYTHON"), path / ".venv/bin/python", path / "venv/bin/python"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return ComfyUIInstallation(path, Path(candidate)), ""
    return None, (f"no interpreter for ComfyUI at {root}: set COMFYUI_PYTHON or create "
                  f"{root}/.venv with ComfyUI's requirements")


def require_comfyui() -> ComfyUIInstallation:
    """The installation, or skip the calling test with the reason."""
    import pytest

    installation, reason = find_comfyui()
    if installation is None:
        pytest.skip(reason)
    return installation


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update({
        "NO_PROXY": "127.0.0.1,127.0.0.2,localhost",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "PYTHONUNBUFFERED": "1",
        "DO_NOT_TRACK": "1",
    })
    env.update(extra or {})
    return env


class ComfyUIServer:
    """One ComfyUI process on a free port with a private base directory."""

    def __init__(self, installation: ComfyUIInstallation, base_dir: Path,
                 env: dict[str, str] | None = None, port: int | None = None,
                 extra_args: Iterable[str] = (), pack_dir: Path = PACK_ROOT,
                 link_name: str = PACK_LINK_NAME) -> None:
        self.installation = installation
        self.base_dir = Path(base_dir)
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.extra_args = list(extra_args)
        self.log_path = self.base_dir / "comfyui.log"
        self.process: subprocess.Popen | None = None
        self.session = requests.Session()
        self.session.trust_env = False
        (self.base_dir / "custom_nodes").mkdir(parents=True, exist_ok=True)
        link = self.base_dir / "custom_nodes" / link_name
        if not link.exists():
            link.symlink_to(pack_dir, target_is_directory=True)
        for folder in ("models", "input", "output", "user"):
            (self.base_dir / folder).mkdir(exist_ok=True)

    # -- folders ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def models_dir(self) -> Path:
        return self.base_dir / "models"

    @property
    def input_dir(self) -> Path:
        return self.base_dir / "input"

    @property
    def state_dir(self) -> Path:
        """The pack's state folder inside ComfyUI's user directory."""
        return self.base_dir / "user" / "model_manager"

    # -- process ------------------------------------------------------------------------
    def command(self) -> list[str]:
        return [
            str(self.installation.python), "main.py", "--cpu", "--listen", "127.0.0.1",
            "--port", str(self.port), "--base-directory", str(self.base_dir),
            "--disable-auto-launch", "--database-url", "sqlite:///:memory:", *self.extra_args,
        ]

    def start(self, timeout: float = 120.0) -> "ComfyUIServer":
        if self.process is not None and self.process.poll() is None:
            return self
        log = open(self.log_path, "ab")
        log.write(f"\n===== start {time.strftime('%H:%M:%S')} port {self.port} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            self.command(), cwd=self.installation.path, env=clean_environment(self.extra_env),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.session.get(self.url("/system_stats"), timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.kill()
        raise TimeoutError(f"ComfyUI did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int | None:
        """Stop with ``sig`` (SIGINT = Ctrl-C: atexit handlers run); SIGKILL after ``timeout``."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return process.returncode if process else None
        process.send_signal(sig)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout=10)

    def kill(self) -> None:
        """Crash-stop (no atexit, no clean shutdown)."""
        self.stop(signal.SIGKILL, timeout=10)

    def restart(self, sig: int = signal.SIGINT) -> "ComfyUIServer":
        self.stop(sig)
        return self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # -- HTTP ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def object_info(self, node_class: str | None = None) -> dict:
        path = f"/object_info/{node_class}" if node_class else "/object_info"
        response = self.get(path, timeout=60)
        response.raise_for_status()
        return response.json()

    def queue_prompt(self, prompt: dict, client_id: str | None = None) -> str:
        """POST /prompt; returns the prompt_id (raises AssertionError with ComfyUI's errors)."""
        body: dict[str, Any] = {"prompt": prompt}
        if client_id:
            body["client_id"] = client_id
        response = self.post("/prompt", json=body)
        if response.status_code != 200:
            raise AssertionError(f"POST /prompt answered {response.status_code}: {response.text}")
        return response.json()["prompt_id"]

    def history(self, prompt_id: str) -> dict | None:
        return self.get(f"/history/{prompt_id}").json().get(prompt_id)

    def wait_for_history(self, prompt_id: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.history(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                return entry
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout} s")

    def interrupt(self) -> None:
        self.post("/interrupt").raise_for_status()

    def websocket(self, client_id: str | None = None) -> "ComfyWebSocket":
        return ComfyWebSocket(self.base_url.replace("http://", "ws://") + "/ws",
                              client_id or uuid.uuid4().hex)


class ComfyWebSocket:
    """A /ws client that records every JSON message in a background thread."""

    def __init__(self, ws_url: str, client_id: str) -> None:
        import websocket  # websocket-client

        self.client_id = client_id
        self.messages: list[dict] = []
        self._cond = threading.Condition()
        self._ws = websocket.create_connection(f"{ws_url}?clientId={client_id}", timeout=30,
                                               http_proxy_host=None, suppress_origin=True)
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True, name="comfy-ws")
        self._thread.start()

    def __enter__(self) -> "ComfyWebSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        import websocket

        self._ws.settimeout(None)
        while not self._closed:
            try:
                opcode, data = self._ws.recv_data()
            except (websocket.WebSocketException, OSError):
                break
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue  # binary previews
            try:
                message = json.loads(data)
            except ValueError:
                continue
            message["_received"] = time.monotonic()
            with self._cond:
                self.messages.append(message)
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def close(self) -> None:
        self._closed = True
        try:
            self._ws.close()
        except Exception:
            pass

    def of_type(self, *types: str) -> list[dict]:
        with self._cond:
            return [m for m in self.messages if m.get("type") in types]

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 30.0,
                 start: int = 0) -> dict:
        """The first message (from index ``start``) matching ``predicate``; waits for it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages[start:]:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    types = [m.get("type") for m in self.messages[-30:]]
                    raise TimeoutError(f"no matching websocket message within {timeout} s; "
                                       f"last types: {types}")
                self._cond.wait(remaining)

    def wait_for_prompt_end(self, prompt_id: str, timeout: float = 60.0) -> dict:
        """The execution_success / _error / _interrupted message of ``prompt_id``."""
        return self.wait_for(lambda m: m.get("type") in PROMPT_END_EVENTS
                             and (m.get("data") or {}).get("prompt_id") == prompt_id, timeout)

    def mark(self) -> int:
        """Index of the next message (pass as ``start=`` to wait only for newer ones)."""
        with self._cond:
            return len(self.messages)
