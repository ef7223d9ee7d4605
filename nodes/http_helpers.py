"""Small helpers for the REST routes: error bodies, size-limited bodies, off-loop calls."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from ..core.errors import InvalidInput, MethodNotAllowed, ModelManagerError, PayloadTooLarge

__all__ = ["MAX_IMAGE_BYTES", "MAX_JSON_BYTES", "MethodNotAllowed", "PayloadTooLarge", "json_errors",
           "off_loop", "parse_bool", "query_flag", "read_image", "read_json_object", "read_limited"]

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 1 << 20  # 1 MiB
MAX_IMAGE_BYTES = 64 << 20  # 64 MiB

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InternalError(ModelManagerError, code="internal_error", http_status=500):
    """Anything unexpected: the details go to the log, never to the client."""


def error_response(error: ModelManagerError, redact: Callable[[str], str] | None = None) -> web.Response:
    """``{"error": {code, message}}`` with the error's own HTTP status; ``redact``
    cleans the message (keys, signed-URL parameters) once more before it leaves."""
    body = error.to_json()
    if redact is not None:
        body["error"]["message"] = redact(body["error"]["message"])
    return web.json_response(body, status=error.http_status)


def json_errors(handler: Handler, redact: Callable[[str], str] | None = None) -> Handler:
    """Turn core errors into ``{"error": {code, message}}`` with their HTTP status."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ModelManagerError as exc:
            return error_response(exc, redact)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("Model Manager route %s %s failed", request.method, request.path)
            return error_response(InternalError(
                "the Model Manager hit an unexpected error; see the ComfyUI log"))

    return wrapped


async def read_limited(request: web.Request, limit: int,
                       too_large: Callable[[], Exception] | None = None) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes before reading it all;
    ``too_large()`` makes the error when the caller has a more telling one."""
    def refuse() -> Exception:
        return too_large() if too_large else PayloadTooLarge(f"the request body is larger than {limit} bytes")

    if request.content_length is not None and request.content_length > limit:
        raise refuse()
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise refuse()
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: web.Request, limit: int = MAX_JSON_BYTES,
                           allow_empty: bool = True) -> dict[str, Any]:
    raw = await read_limited(request, limit)
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidInput("a JSON object body is required")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the request body is not valid JSON") from None
    except RecursionError:  # [[[[... nested deeper than the parser goes
        raise InvalidInput("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


async def read_image(request: web.Request, limit: int = MAX_IMAGE_BYTES) -> bytes:
    """An image from a raw body or from the multipart field ``image``."""
    if request.content_type.startswith("multipart/"):
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise PayloadTooLarge(f"the image is larger than {limit} bytes")
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if getattr(part, "name", None) != "image":
                continue
            data = bytearray()
            while True:
                chunk = await part.read_chunk(64 * 1024)
                if not chunk:
                    break
                data.extend(chunk)
                if len(data) > limit:
                    raise PayloadTooLarge(f"the image is larger than {limit} bytes")
            return bytes(data)
        raise InvalidInput("the multipart body has no field named 'image'")
    data = await read_limited(request, limit)
    if not data:
        raise InvalidInput("an image body is required")
    return data


async def off_loop(executor: Any, function: Callable[..., Any], *args: Any) -> Any:
    """Run blocking core work in ``executor`` so the event loop never waits on disk or network."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(function, *args))


def parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    raise InvalidInput(f"{name} must be true or false")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def query_flag(request: web.Request, name: str) -> bool:
    """``?name=true`` (1/yes/on) or false (0/no/off/absent); anything else is a 400."""
    value = request.query.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput(f"{name} must be true or false")
