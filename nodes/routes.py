"""The /model-manager REST routes on ComfyUI's PromptServer (also usable on any aiohttp app).

Every handler runs core work through ``off_loop`` (a thread pool), so the server's event loop
never waits for disk or network.  Every ``{type}/{name}`` is resolved by ``ModelFolders.locate``
(inside one of the type's roots, symlinks resolved) before anything else touches it.
"""
from __future__ import annotations

import asyncio
import inspect
import os
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from ..core.errors import InvalidInput, NotFound, file_errors
from ..core.paths import is_within
from ..core.validation import download_fields, model_name, model_type_choice, whole_number
from ..core.redact import Redactor
from ..core.trash import validate_id
from .folders import forget_loader_cache
from .http_helpers import (
    MethodNotAllowed, json_errors, off_loop, parse_bool, query_flag, read_image, read_json_object,
)
from .runtime import HOLDER, Runtime, RuntimeHolder
from .workflow_routes import WorkflowRoutes

PREFIX = "/model-manager"
_PLAIN_REDACTOR = Redactor()  # inline credentials only, before the runtime (and its keys) exist
PREVIEW_SUFFIX = "/preview"
_REQUEST_FIELDS = ("url", "model_type", "subfolder", "filename", "sha256", "if_exists")
_PAGING = ("offset", "limit", "q", "sort")
_DEFAULT_LIMIT = 100
_MAX_LIMIT = 1000


def _task_json(task: Any) -> dict:
    return task.to_json()


def _preview_file(runtime: Runtime, model_type: str, name: str) -> Path | None:
    """The real path of the model's preview when it lies in the type's folders or our state
    folder, else None: a symlinked sidecar (``x.webp -> /etc/...``) can never expose another file.
    The real path is what gets served, so the check and the read name the same file.  Blocking
    (the index, ``realpath``): call it off the loop."""
    preview = runtime.index.preview_path(model_type, name)
    if preview is None:
        return None
    real = Path(os.path.realpath(preview))
    allowed = [*runtime.folders.get(model_type).roots, runtime.state_dir]
    return real if any(is_within(real, Path(os.path.realpath(root))) for root in allowed) else None


def _with_file_errors(action: str, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` with a file that vanished or may not be read or written as a 404/403
    that says so."""
    with file_errors(action):
        return call(*args)


class ModelManagerRoutes:
    """The handlers; ``runtime`` is fetched (and built, off the loop) on first use."""

    def __init__(self, holder: RuntimeHolder = HOLDER) -> None:
        self._holder = holder

    async def runtime(self) -> Runtime:
        if self._holder.created:
            return self._holder.get()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._holder.get)

    # -- registration -------------------------------------------------------------------
    def table(self) -> list[tuple[str, str, Callable]]:
        """(method, path below the prefix, handler)."""
        return [
            ("GET", "/tasks", self.list_tasks),
            ("POST", "/tasks", self.create_task),
            ("GET", "/tasks/{task_id}", self.get_task),
            ("DELETE", "/tasks/{task_id}", self.delete_task),
            ("POST", "/tasks/{task_id}/{action:pause|resume|cancel}", self.task_action),
            ("GET", "/models", self.list_models),
            ("GET", "/models/{type}/{name:.+}", self.get_model_or_preview),
            ("PATCH", "/models/{type}/{name:.+}", self.patch_model),
            ("PUT", "/models/{type}/{name:.+}", self.put_preview),
            ("DELETE", "/models/{type}/{name:.+}", self.delete_model),
            ("POST", "/scans", self.start_scan),
            ("GET", "/scans/{scan_id}", self.get_scan),
            ("POST", "/scans/{scan_id}/cancel", self.cancel_scan),
            ("GET", "/trash", self.list_trash),
            ("POST", "/trash/{trash_id}/restore", self.restore_trash),
            ("DELETE", "/trash/{trash_id}", self.purge_trash),
            ("GET", "/settings", self.get_settings),
            ("PUT", "/settings", self.put_settings),
            ("GET", "/types", self.list_types),
            ("POST", "/resolve", self.resolve_link),
            *WorkflowRoutes(self).table(),
        ]

    def register(self, routes: web.RouteTableDef, prefixes: tuple[str, ...] = (PREFIX,)) -> None:
        for prefix in prefixes:
            for method, path, handler in self.table():
                routes.route(method, prefix + path)(json_errors(handler, self.redact))

    def redact(self, text: str) -> str:
        """Error messages lose every known key and inline credential before they leave."""
        redactor = self._holder.get().settings.redactor if self._holder.created else _PLAIN_REDACTOR
        return redactor(text)

    # -- tasks --------------------------------------------------------------------------
    async def list_tasks(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        tasks = await off_loop(runtime.executor, runtime.manager.list)
        return web.json_response({"tasks": [_task_json(t) for t in tasks]})

    async def create_task(self, request: web.Request) -> web.Response:
        from ..core.downloads.manager import DownloadRequest

        body = await read_json_object(request, allow_empty=False)
        fields: dict[str, str] = {}
        for key in _REQUEST_FIELDS:
            value = body.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise InvalidInput(f"{key} must be a string")
            fields[key] = value.strip()
        runtime = await self.runtime()
        checked = download_fields(**fields, known_types=runtime.folders.names())
        download_request = DownloadRequest(url=checked.url, model_type=checked.model_type, subfolder=checked.subfolder,
                                           filename=checked.filename, sha256=checked.sha256 or "",
                                           if_exists=checked.if_exists)
        task, created = await off_loop(runtime.slow_executor, runtime.manager.submit, download_request)
        return web.json_response(_task_json(task), status=201 if created else 200)

    async def get_task(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        task = await off_loop(runtime.executor, runtime.manager.get, request.match_info["task_id"])
        return web.json_response(_task_json(task))

    async def task_action(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        action = getattr(runtime.manager, request.match_info["action"])
        task = await off_loop(runtime.slow_executor, action, request.match_info["task_id"])
        return web.json_response(_task_json(task))

    async def delete_task(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        await off_loop(runtime.slow_executor, runtime.manager.delete, request.match_info["task_id"])
        return web.Response(status=204)

    # -- models -------------------------------------------------------------------------
    async def list_models(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        model_type = request.query.get("type") or None
        if model_type is not None:
            runtime.folders.get(model_type)  # 400 for an unknown type
        paging = {key: request.query[key] for key in _PAGING if key in request.query}
        if not paging:
            models = await off_loop(runtime.executor, runtime.index.list_models, model_type)
            return web.json_response({"models": [model.to_json(light=True) for model in models]})
        offset = _int_param(paging.get("offset"), "offset", 0, 0, 1 << 31)
        limit = _int_param(paging.get("limit"), "limit", _DEFAULT_LIMIT, 1, _MAX_LIMIT)
        q = paging.get("q", "")[:200]
        sort = paging.get("sort", "name")
        models, total = await off_loop(runtime.executor, runtime.index.query_models,
                                       model_type, q, sort, offset, limit)
        return web.json_response({"models": [model.to_json(light=True) for model in models], "total": total,
                                  "offset": offset, "limit": limit})

    async def _locate(self, runtime: Runtime, request: web.Request, name: str | None = None):
        model_type = request.match_info["type"]
        name = request.match_info["name"] if name is None else name
        model_type = model_type_choice(model_type, runtime.folders.names())
        name = model_name(name)
        return await off_loop(runtime.executor, runtime.folders.locate, model_type, name)

    @staticmethod
    def _preview_target(request: web.Request) -> str | None:
        """The model name when the path ends in ``/preview``, else None."""
        name = request.match_info["name"]
        if name.endswith(PREVIEW_SUFFIX):
            return name[: -len(PREVIEW_SUFFIX)]
        return None

    async def get_model_or_preview(self, request: web.Request) -> web.StreamResponse:
        runtime = await self.runtime()
        target = self._preview_target(request)
        if target is not None:
            return await self._get_preview(runtime, request, target)
        location = await self._locate(runtime, request)
        model = await off_loop(runtime.executor, runtime.index.get_model, location.model_type, location.name)
        return web.json_response(model.to_json())

    async def _get_preview(self, runtime: Runtime, request: web.Request, name: str) -> web.StreamResponse:
        location = await self._locate(runtime, request, name)
        real = await off_loop(runtime.executor, _preview_file, runtime, location.model_type, location.name)
        if real is None:
            raise NotFound(f"{location.model_type}/{location.name} has no preview")
        original = request.query.get("original") in ("1", "true")
        action = f"read the preview of {location.model_type}/{location.name}"
        served = await off_loop(runtime.executor, _with_file_errors, action, runtime.previews.get, real, original)
        # nosniff: the browser takes the image type we send and never sniffs the bytes for HTML.
        # private: a model's preview is nobody else's business; no-cache: kept by the browser but
        # revalidated (a 304 without a body) so a new preview shows at once.
        headers = {"ETag": f'"{served.etag}"', "Cache-Control": "private, no-cache",
                   "X-Content-Type-Options": "nosniff"}
        if etag_matches(request.headers.get("If-None-Match", ""), served.etag):
            return web.Response(status=304, headers=headers)
        data = await off_loop(runtime.executor, _with_file_errors, action, served.path.read_bytes)
        return web.Response(body=data, content_type=served.content_type, headers=headers)

    async def patch_model(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        if self._preview_target(request) is not None:
            raise MethodNotAllowed("a preview takes GET or PUT")
        location = await self._locate(runtime, request)
        body = await read_json_object(request, allow_empty=False)
        description = body.get("description")
        if not isinstance(description, str):
            raise InvalidInput("description (a string) is required")
        model = await off_loop(runtime.executor, runtime.index.set_description,
                               location.model_type, location.name, description)
        return web.json_response(model.to_json())

    async def put_preview(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        target = self._preview_target(request)
        if target is None:
            raise MethodNotAllowed("PUT is for …/preview; use PATCH to change a description")
        location = await self._locate(runtime, request, target)
        image = await read_image(request)
        model = await off_loop(runtime.executor, runtime.index.set_preview,
                               location.model_type, location.name, image)
        return web.json_response(model.to_json())

    async def delete_model(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        if self._preview_target(request) is not None:
            raise MethodNotAllowed("a preview takes GET or PUT; DELETE the model itself")
        location = await self._locate(runtime, request)
        delete_sidecars = request.query.get("delete_sidecars", "true").lower() not in ("0", "false", "no")
        permanently = query_flag(request, "permanently")
        deleted = await off_loop(runtime.executor, runtime.index.delete_model,
                                 location.model_type, location.name, delete_sidecars, permanently)
        forget_loader_cache(location.model_type)
        headers = {"X-Model-Manager-Trash-Id": deleted.trash_id} if deleted.trash_id else None
        return web.Response(status=204, headers=headers)

    # -- trash --------------------------------------------------------------------------
    async def list_trash(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        entries = await off_loop(runtime.executor, runtime.index.trash.list)
        return web.json_response({"items": [entry.to_json() for entry in entries]})

    async def restore_trash(self, request: web.Request) -> web.Response:
        trash_id = validate_id(request.match_info["trash_id"])
        body = await read_json_object(request)
        rename = parse_bool(body.get("rename"), "rename")
        runtime = await self.runtime()
        model = await off_loop(runtime.executor, runtime.index.restore_model, trash_id, rename)
        forget_loader_cache(model.model_type)
        return web.json_response(model.to_json())

    async def purge_trash(self, request: web.Request) -> web.Response:
        trash_id = validate_id(request.match_info["trash_id"])
        runtime = await self.runtime()
        await off_loop(runtime.executor, runtime.index.purge_trash, trash_id)
        return web.Response(status=204)

    # -- scans --------------------------------------------------------------------------
    async def start_scan(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        model_type = body.get("model_type") or "all"
        if not isinstance(model_type, str):
            raise InvalidInput("model_type must be a string")
        compute_hashes = parse_bool(body.get("compute_hashes"), "compute_hashes")
        fetch_civitai_info = parse_bool(body.get("fetch_civitai_info"), "fetch_civitai_info")
        runtime = await self.runtime()
        if model_type != "all":
            runtime.folders.get(model_type)
        scan = await off_loop(runtime.executor, lambda: runtime.index.start_scan(
            model_type, compute_hashes=compute_hashes, fetch_civitai_info=fetch_civitai_info))
        return web.json_response({"scan_id": scan.scan_id}, status=202)

    async def get_scan(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        scan = await off_loop(runtime.executor, runtime.index.get_scan, request.match_info["scan_id"])
        return web.json_response(scan.to_json() if hasattr(scan, "to_json") else scan)

    async def cancel_scan(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        scan = await off_loop(runtime.executor, runtime.index.cancel_scan, request.match_info["scan_id"])
        return web.json_response(scan.to_json() if hasattr(scan, "to_json") else scan)

    # -- links ----------------------------------------------------------------------------
    async def resolve_link(self, request: web.Request) -> web.Response:
        """What a link is (file name, type, size, model name, preview, versions) from metadata
        only; the "New download" form shows it before a task is created."""
        from ..core.resolve import describe_link

        body = await read_json_object(request, allow_empty=False)
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            raise InvalidInput("url (a link to a model file or page) is required")
        runtime = await self.runtime()
        answer = await off_loop(runtime.slow_executor, describe_link, runtime.manager.sources, url.strip(),
                                runtime.settings.civitai_nsfw_level, set(runtime.folders.names()))
        return web.json_response(answer)

    # -- settings and types -------------------------------------------------------------
    async def get_settings(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        # off the loop: the Hub token may come from a file (huggingface_hub's saved login)
        view = await off_loop(runtime.executor, runtime.settings.public_view)
        return web.json_response(view)

    async def put_settings(self, request: web.Request) -> web.Response:
        body = await read_json_object(request, allow_empty=False)
        runtime = await self.runtime()
        view = await off_loop(runtime.executor, _with_file_errors, "save the settings", runtime.settings.update, body)
        return web.json_response(view)

    async def list_types(self, request: web.Request) -> web.Response:
        runtime = await self.runtime()
        types = [{"name": name, "extensions": sorted(runtime.folders.get(name).writable_extensions)}
                 for name in runtime.folders.names()]
        return web.json_response({"types": types})


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` (a list of strong or weak tags, or ``*``) names ``etag``."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == f'"{etag}"':
            return True
    return False


def _int_param(value: str | None, name: str, default: int, low: int, high: int) -> int:
    return default if value is None or value == "" else whole_number(value, name, low, high)


def server_adds_api_prefix(server: Any) -> bool:
    """Does this ComfyUI mirror every route under ``/api`` itself (since mid 2024)?"""
    try:
        return '"/api"' in inspect.getsource(type(server).add_routes)
    except (OSError, TypeError):
        return True


def register_on_prompt_server(server: Any, holder: RuntimeHolder = HOLDER) -> None:
    prefixes: tuple[str, ...] = (PREFIX,) if server_adds_api_prefix(server) else (PREFIX, "/api" + PREFIX)
    ModelManagerRoutes(holder).register(server.routes, prefixes)
