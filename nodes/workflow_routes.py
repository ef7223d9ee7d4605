"""REST routes for workflow models (thin: reading the body, then core off the event loop).

``POST /model-manager/workflow-models``: a JSON body ``{"workflow": …}`` / ``{"prompt": …}`` (or a
bare workflow), or PNG/WebP bytes, → 200 ``{"models": [reference]}``.
``POST /model-manager/workflow-models/download``: the same plus ``names`` and ``allow_any_host``
(JSON fields, or query parameters with an image body) → 202 ``{"tasks", "refused", "present"}``.
Bodies up to 32 MB; ``sizes: false`` (or ``?sizes=false``) skips the size look-ups of a listing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..core.errors import InvalidInput
from ..core.workflow.limits import MAX_WORKFLOW_BYTES, WorkflowTooLarge
from ..core.workflow.reader import Workflow, from_document, is_image, parse_json, read_bytes
from .http_helpers import off_loop, parse_bool, read_limited
from .workflow_loaders import loader_specs

if TYPE_CHECKING:
    from .routes import ModelManagerRoutes
    from .runtime import Runtime

_OPTIONS = ("names", "allow_any_host", "sizes")


def _service(runtime: "Runtime"):
    from ..core.workflow.service import WorkflowModels

    return WorkflowModels(runtime.folders, runtime.settings, digests=runtime.index.hash_cache,
                          manager=runtime.manager, http=runtime.http, loaders=loader_specs)


async def _read_body(request: web.Request) -> bytes:
    def too_large() -> Exception:
        return WorkflowTooLarge(f"the workflow is larger than {MAX_WORKFLOW_BYTES // (1024 * 1024)} MB; it is not read")

    data = await read_limited(request, MAX_WORKFLOW_BYTES, too_large)
    if not data.strip():
        raise InvalidInput('send a workflow: a JSON body {"workflow": …} or {"prompt": …}, or a PNG/WebP image')
    return data


def _parse(data: bytes, query: Any) -> tuple[Workflow, dict[str, Any]]:
    """(workflow, options) from a body; blocking (JSON of up to 32 MB, image chunks)."""
    if is_image(data):
        names = [n for value in query.getall("names", []) for n in value.split(",") if n.strip()]
        options = {"names": names or None,
                   "allow_any_host": query.get("allow_any_host", "").lower() in ("1", "true", "yes"),
                   "sizes": query.get("sizes", "true").lower() not in ("0", "false", "no")}
        return read_bytes(data), options
    document = parse_json(data)
    if not isinstance(document, dict):
        raise InvalidInput('the body must be a JSON object: {"workflow": …} or {"prompt": …}')
    names = document.get("names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise InvalidInput("names must be a list of model names")
    sizes = document.get("sizes")
    options = {"names": names, "allow_any_host": parse_bool(document.get("allow_any_host"), "allow_any_host"),
               "sizes": True if sizes is None else parse_bool(sizes, "sizes")}
    return from_document({k: v for k, v in document.items() if k not in _OPTIONS}), options


class WorkflowRoutes:
    def __init__(self, routes: "ModelManagerRoutes") -> None:
        self._routes = routes

    def table(self) -> list[tuple[str, str, Any]]:
        return [("POST", "/workflow-models", self.list_models),
                ("POST", "/workflow-models/download", self.download)]

    async def _workflow(self, request: web.Request) -> tuple["Runtime", Workflow, dict[str, Any]]:
        data = await _read_body(request)
        runtime = await self._routes.runtime()
        workflow, options = await off_loop(runtime.executor, _parse, data, request.query)
        return runtime, workflow, options

    async def list_models(self, request: web.Request) -> web.Response:
        runtime, workflow, options = await self._workflow(request)
        service = _service(runtime)
        references = await off_loop(runtime.slow_executor, lambda: service.list(
            workflow, allow_any_host=options["allow_any_host"], sizes=options["sizes"]))
        return web.json_response({"models": [r.to_json() for r in references]})

    async def download(self, request: web.Request) -> web.Response:
        runtime, workflow, options = await self._workflow(request)
        service = _service(runtime)
        result, _references = await off_loop(runtime.slow_executor, lambda: service.download(
            workflow, names=options["names"], allow_any_host=options["allow_any_host"]))
        return web.json_response(result.to_json(), status=202)
