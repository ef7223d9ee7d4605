"""``--server URL``: the same commands against a running ComfyUI's REST routes.

Downloads then run on that machine (a script on a laptop fills the GPU box's folders), and
``tasks`` lists the server's tasks.  Answers are the routes' JSON; an error answer
``{"error": {code, message}}`` becomes the same ``ModelManagerError`` the local core would
raise (same code, same exit status), so output and exit statuses do not depend on the backend.
"""
from __future__ import annotations

import time
from typing import Any, Callable
from urllib.parse import quote, urlsplit

from ..errors import ModelManagerError, RemoteError
from .backend import SETTLED, TaskListener, resolve_prefix
from .usage import UsageError

PREFIX = "/model-manager"
#: Seconds between two looks at a task or scan that is being followed.
POLL_SECONDS = 0.5


def check_server_url(url: str) -> str:
    """The base URL of a ComfyUI (scheme + host + port + optional path), or a usage error."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--server: {url!r} is not an http(s) URL of a ComfyUI (e.g. http://127.0.0.1:8188)")
    if parts.username or parts.password:
        raise UsageError("--server: put no user name or password in the URL")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class ServerError(ModelManagerError):
    """An error answer of the server, keeping its code and mapped to the matching exit status."""

    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.exit_code = 2 if http_status in (400, 413, 422) else 1  # as the same error raised here


class RemoteBackend:
    remote = True

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        import requests

        self.base_url = base_url
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "comfyui-model-manager-cli"
        self._types: list[str] | None = None
        self._listeners: list[TaskListener] = []
        self.last_headers: Any = {}
        self.last_status = 0

    @property
    def where(self) -> str:
        return f"ComfyUI at {self.base_url}"

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ HTTP
    def call(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
             params: dict | None = None, headers: dict | None = None, timeout: float | None = None) -> Any:
        """One request to ``/model-manager{path}``; the JSON answer (None for 204) or an error."""
        import requests

        url = self.base_url + PREFIX + path
        try:
            response = self._session.request(method, url, json=json, data=data, params=params, headers=headers,
                                             timeout=timeout or self.timeout)
        except requests.RequestException as exc:
            raise RemoteError(f"could not reach the ComfyUI at {self.base_url} ({type(exc).__name__}); "
                              "is it running, and is --server right?") from None
        self.last_headers, self.last_status = response.headers, response.status_code
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                raise ServerError(str(error.get("code") or "error"), error["message"], response.status_code)
            if response.status_code == 404 and body is None:
                raise RemoteError(f"{self.base_url} has no Model Manager routes (HTTP 404 for {PREFIX}{path}); "
                                  "is the Model Manager installed in that ComfyUI?")
            raise RemoteError(f"the ComfyUI at {self.base_url} answered HTTP {response.status_code}")
        if body is None:
            raise RemoteError(f"the ComfyUI at {self.base_url} sent an answer that is not JSON")
        return body

    def model_types(self) -> list[str]:
        if self._types is None:
            self._types = [t["name"] for t in self.call("GET", "/types")["types"]]
        return self._types

    # ------------------------------------------------------------------ download tasks
    def list_tasks(self) -> list[dict]:
        return self.call("GET", "/tasks")["tasks"]

    def task_ids(self) -> list[str]:
        return [t["task_id"] for t in self.list_tasks()]

    def get_task(self, task_id: str) -> dict:
        return self.call("GET", f"/tasks/{quote(task_id, safe='')}")

    def submit(self, fields: dict[str, str]) -> tuple[dict, bool]:
        task = self.call("POST", "/tasks", json=fields, timeout=120)
        return task, self.last_status == 201

    def pause(self, task_id: str) -> dict:
        return self.call("POST", f"/tasks/{quote(task_id, safe='')}/pause")

    def resume(self, task_id: str) -> dict:
        return self.call("POST", f"/tasks/{quote(task_id, safe='')}/resume")

    def cancel(self, task_id: str) -> dict:
        return self.call("POST", f"/tasks/{quote(task_id, safe='')}/cancel")

    def remove(self, task_id: str) -> None:
        self.call("DELETE", f"/tasks/{quote(task_id, safe='')}")

    def watch(self, listener: TaskListener) -> Callable[[], None]:
        """Poll the tasks being waited for and hand every answer to ``listener``."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def wait(self, task_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            task = self.get_task(task_id)
            for listener in list(self._listeners):
                listener(task)
            if task["status"] in SETTLED or time.monotonic() >= deadline:
                return task
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    # ------------------------------------------------------------------ models and scans
    def scan(self, model_type: str, hashes: bool, civitai: bool, on_progress: Callable[[dict], None]) -> dict:
        scan_id = self.call("POST", "/scans", json={"model_type": model_type, "compute_hashes": hashes or civitai,
                                                    "fetch_civitai_info": civitai})["scan_id"]
        try:
            while True:
                scan = self.call("GET", f"/scans/{quote(scan_id, safe='')}")
                on_progress(scan)
                if scan.get("finished_at") is not None:
                    break
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            self.call("POST", f"/scans/{quote(scan_id, safe='')}/cancel")
            raise
        params = {} if model_type == "all" else {"type": model_type}
        models = self.call("GET", "/models", params=params)["models"]
        return {key: scan.get(key) for key in ("scan_id", "model_type", "status", "hashed", "hashes_computed",
                                              "matched", "errors")} | {"count": len(models), "models": models}

    @staticmethod
    def _model_path(model_type: str, name: str) -> str:
        return f"/models/{quote(model_type, safe='')}/{quote(name, safe='/')}"

    def get_model(self, model_type: str, name: str) -> dict:
        return self.call("GET", self._model_path(model_type, name))

    def set_preview(self, model_type: str, name: str, image: bytes) -> dict:
        return self.call("PUT", self._model_path(model_type, name) + "/preview", data=image,
                         headers={"Content-Type": "application/octet-stream"}, timeout=120)

    def set_description(self, model_type: str, name: str, text: str) -> dict:
        return self.call("PATCH", self._model_path(model_type, name), json={"description": text})

    def delete_model(self, model_type: str, name: str, sidecars: bool, permanently: bool) -> dict:
        self.call("DELETE", self._model_path(model_type, name),
                  params={"delete_sidecars": str(sidecars).lower(), "permanently": str(permanently).lower()})
        return {"model_type": model_type, "name": name, "files": [],
                "trash_id": self.last_headers.get("X-Model-Manager-Trash-Id")}

    # ------------------------------------------------------------------ trash
    def trash_list(self) -> list[dict]:
        return self.call("GET", "/trash")["items"]

    def trash_restore(self, trash_id: str, rename: bool) -> dict:
        full = resolve_prefix(trash_id, [item["id"] for item in self.trash_list()], "trash entry")
        return self.call("POST", f"/trash/{quote(full, safe='')}/restore", json={"rename": rename})

    def trash_empty(self, older_than_days: float) -> list[dict]:
        cutoff = time.time() - older_than_days * 86400
        purged = []
        for item in self.trash_list():
            if older_than_days <= 0 or item["deleted_at"] < cutoff:
                self.call("DELETE", f"/trash/{quote(item['id'], safe='')}")
                purged.append(item)
        return purged

    # ------------------------------------------------------------------ settings
    def settings_view(self) -> dict:
        return self.call("GET", "/settings")

    def settings_update(self, changes: dict) -> dict:
        return self.call("PUT", "/settings", json=changes)

    # ------------------------------------------------------------------ workflows
    def workflow_models(self, body: dict, download: bool) -> dict:
        path = "/workflow-models/download" if download else "/workflow-models"
        return self.call("POST", path, json=body, timeout=300)

