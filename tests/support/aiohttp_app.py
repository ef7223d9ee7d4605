"""Serve an aiohttp application on 127.0.0.1 from a background thread (for route tests).

The routes run on a real event loop and a real socket, exactly as under ComfyUI's
PromptServer; tests talk to it with ``requests``.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Callable

import requests
from aiohttp import web


class AppServer:
    def __init__(self, build: Callable[[], web.Application]) -> None:
        self._build = build
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="aiohttp-app")

    def __enter__(self) -> "AppServer":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the aiohttp test app did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._runner = web.AppRunner(self._build())
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()


def routes_app(holder, prefixes: tuple[str, ...] | None = None,
               **options) -> Callable[[], web.Application]:
    """What ``AppServer`` builds for route tests: the pack's REST routes over ``holder`` (a
    ``RuntimeHolder``), as ComfyUI registers them (``options`` go to ``web.Application``)."""
    from comfyui_model_manager.nodes.routes import PREFIX, ModelManagerRoutes

    def build() -> web.Application:
        application = web.Application(**options)
        routes = web.RouteTableDef()
        ModelManagerRoutes(holder).register(routes, prefixes or (PREFIX,))
        application.add_routes(routes)
        return application

    return build


def local_session() -> requests.Session:
    """A ``requests`` session that ignores proxy settings (the app is on loopback)."""
    session = requests.Session()
    session.trust_env = False
    return session
