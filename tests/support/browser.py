"""Drive the ComfyUI page in headless Chromium (Playwright) for the browser-extension tests.

Chromium is found through ``CHROMIUM_PATH``, else ``/usr/bin/chromium`` / ``chromium`` on PATH;
Playwright's own browser download is never used.  ``require_browser()`` skips the calling test
with the reason when Chromium or the ``playwright`` package is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .comfyui_harness import PACK_LINK_NAME

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
EXTENSION_NAME = "ModelManager.Extension"
EXTENSION_URL_PART = f"/extensions/{PACK_LINK_NAME}/"
PANEL_WIDGET = "model_manager_progress"

#: ComfyUI settings that keep first-run dialogs out of the way of the tests and screenshots.
QUIET_COMFY_SETTINGS = {
    "Comfy.TutorialCompleted": True,
    "Comfy.InstalledVersion": "1.27.10",
}


def find_chromium(environ: dict[str, str] | os._Environ = os.environ) -> tuple[str | None, str]:
    candidates = [environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                  shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate, ""
    return None, "no Chromium found (set CHROMIUM_PATH or install Debian's chromium)"


def require_browser() -> str:
    """Path of Chromium, or skip the calling test with the reason."""
    import pytest

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright)")
    path, reason = find_chromium()
    if path is None:
        pytest.skip(reason)
    return path


def quiet_comfy_user(base_dir: Path) -> Path:
    """Pre-seeds ComfyUI's own settings file (no template dialog); returns its path."""
    path = Path(base_dir) / "user" / "default" / "comfy.settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(QUIET_COMFY_SETTINGS)
    path.write_text(json.dumps(current))
    return path


@dataclass
class PageLog:
    """Console messages, uncaught page errors and failed responses seen by a page."""

    console: list[tuple[str, str, str]] = field(default_factory=list)  # (type, text, url)
    page_errors: list[str] = field(default_factory=list)  # message + stack
    bad_responses: list[tuple[int, str]] = field(default_factory=list)
    ok_extension_files: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.console.clear()
        self.page_errors.clear()
        self.bad_responses.clear()

    def ours(self) -> list[str]:
        """Errors that come from this pack's scripts or routes (ComfyUI's own noise excluded)."""
        found = [f"console {kind}: {text} ({url})" for kind, text, url in self.console
                 if kind == "error" and (EXTENSION_URL_PART in url or "model_manager" in text.lower()
                                         or "model manager" in text.lower() or "model-manager" in url)]
        found += [f"page error: {error}" for error in self.page_errors if EXTENSION_URL_PART in error]
        found += [f"HTTP {status}: {url}" for status, url in self.bad_responses
                  if EXTENSION_URL_PART in url or "/model-manager/" in url]
        found += [f"console: {text}" for kind, text, _ in self.console
                  if "Error loading extension" in text and PACK_LINK_NAME in text]
        return found


@contextmanager
def chromium(user_data_dir: Path, executable: str) -> Iterator[Any]:
    """A persistent Chromium context with a fresh profile in ``user_data_dir``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, device_scale_factor=1,
        )
        try:
            yield context
        finally:
            context.close()


class ComfyPage:
    """One tab showing a ComfyUI, with helpers that use the real graph, canvas and menus."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.base_url = base_url
        self.page = context.new_page()
        self.log = PageLog()
        self.page.on("console", lambda m: self.log.console.append((m.type, m.text, m.location.get("url", ""))))
        self.page.on("pageerror", lambda e: self.log.page_errors.append(f"{e}\n{e.stack or ''}"))
        self.page.on("response", self._on_response)

    def _on_response(self, response: Any) -> None:
        if response.status >= 400:
            self.log.bad_responses.append((response.status, response.url))
        elif EXTENSION_URL_PART in response.url:
            self.log.ok_extension_files.append(response.url)

    # -- loading ------------------------------------------------------------------------
    def open(self, timeout: float = 60.0) -> "ComfyPage":
        self.page.goto(self.base_url + "/", timeout=timeout * 1000)
        self.wait_ready(timeout)
        return self

    def reload(self, timeout: float = 60.0) -> None:
        self.page.reload(timeout=timeout * 1000)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.page.wait_for_function(
            "() => window.app?.graph && window.app.vueAppReady && window.app.canvas"
            f" && window.app.extensions?.some(e => e.name === {json.dumps(EXTENSION_NAME)})",
            timeout=timeout * 1000,
        )

    def reset(self) -> None:
        """Back to an empty graph with no menu, dialog or toast open.  Node ids continue from
        where they were, so late events of an earlier test's tasks never match a new node."""
        self.close_menus()
        self.close_dialogs()
        self.evaluate("""() => {
            const last = app.graph.state?.lastNodeId ?? app.graph.last_node_id ?? 0;
            app.graph.clear();
            if (app.graph.state) app.graph.state.lastNodeId = last + 100;
            else app.graph.last_node_id = last + 100;
            app.extensionManager.toast.removeAll?.();
            document.querySelectorAll('.mm-toast').forEach((note) => note.remove());
            app.canvas.setDirty(true, true);
        }""")
        self.page.wait_for_function("() => !document.querySelector('.p-toast-message')", timeout=5000)

    def close_dialogs(self) -> None:
        """Closes ComfyUI dialogs (e.g. the error report of a failed node) with Escape."""
        for _ in range(3):
            if not self.page.locator(".p-dialog").count():
                return
            self.page.keyboard.press("Escape")
            self.page.wait_for_timeout(150)

    def evaluate(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    # -- graph --------------------------------------------------------------------------
    def add_node(self, node_type: str, pos: tuple[int, int] = (80, 80),
                 widgets: dict[str, Any] | None = None) -> int:
        return self.evaluate("""([type, pos, widgets]) => {
            const node = LiteGraph.createNode(type);
            node.pos = pos;
            app.graph.add(node);
            for (const [name, value] of Object.entries(widgets)) {
                const widget = node.widgets.find((w) => w.name === name);
                if (!widget) throw new Error(`no widget ${name} on ${type}`);
                widget.value = value;
            }
            app.canvas.setDirty(true, true);
            return node.id;
        }""", [node_type, list(pos), widgets or {}])

    def clear_graph(self) -> None:
        self.evaluate("() => { app.graph.clear(); app.canvas.setDirty(true, true); }")

    def queue(self) -> None:
        self.evaluate("() => app.queuePrompt(0, 1)")

    def panel(self, node_id: int) -> dict[str, Any]:
        """The progress panel of a node: its data attributes and its visible text."""
        return self.evaluate("""([id, name]) => {
            const node = app.graph.getNodeById(id);
            const widget = node?.widgets?.find((w) => w.name === name);
            if (!widget) return null;
            const el = widget.element;
            return { ...el.dataset, text: el.innerText, visible: el.offsetParent !== null };
        }""", [node_id, PANEL_WIDGET])

    def wait_panel(self, node_id: int, condition: str, timeout: float = 30.0) -> dict[str, Any]:
        """Waits until ``condition`` (a JS expression over ``p``, the panel's dataset) holds."""
        self.page.wait_for_function(f"""([id, name]) => {{
            const node = app.graph.getNodeById(id);
            const p = node?.widgets?.find((w) => w.name === name)?.element?.dataset;
            return !!p && ({condition});
        }}""", arg=[node_id, PANEL_WIDGET], timeout=timeout * 1000, polling=100)
        return self.panel(node_id)

    # -- canvas, menus, toasts ----------------------------------------------------------
    def node_title_point(self, node_id: int) -> tuple[float, float]:
        """Page coordinates of the right end of a node's title bar (a menu opened there does
        not cover the node)."""
        x, y = self.evaluate("""(id) => {
            const node = app.graph.getNodeById(id);
            const title = LiteGraph.NODE_TITLE_HEIGHT;
            const [cx, cy] = app.canvas.ds.convertOffsetToCanvas(
                [node.pos[0] + node.size[0] - 16, node.pos[1] - title / 2]);
            const rect = app.canvas.canvas.getBoundingClientRect();
            return [rect.left + cx, rect.top + cy];
        }""", node_id)
        return float(x), float(y)

    def node_box(self, node_id: int, margin: int = 24) -> dict[str, float]:
        """Page rectangle around a node (title included), for screenshots."""
        return self.evaluate("""([id, margin]) => {
            const node = app.graph.getNodeById(id);
            const title = LiteGraph.NODE_TITLE_HEIGHT;
            const scale = app.canvas.ds.scale;
            const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0], node.pos[1] - title]);
            const rect = app.canvas.canvas.getBoundingClientRect();
            return { x: Math.max(0, rect.left + x - margin), y: Math.max(0, rect.top + y - margin),
                     width: node.size[0] * scale + 2 * margin, height: (node.size[1] + title) * scale + 2 * margin };
        }""", [node_id, margin])

    def open_node_menu(self, node_id: int) -> list[dict[str, Any]]:
        """Right-clicks the node's title on the canvas; answers the menu's entries."""
        self.close_menus()
        self.close_dialogs()
        x, y = self.node_title_point(node_id)
        self.page.mouse.click(x, y, button="right")
        self.page.wait_for_selector(".litecontextmenu .litemenu-entry", timeout=5000)
        return self.menu_entries()

    def menu_entries(self) -> list[dict[str, Any]]:
        return self.evaluate("""() => [...document.querySelectorAll('.litecontextmenu .litemenu-entry')]
            .map((e) => ({ text: e.innerText.trim(), disabled: e.classList.contains('disabled') }))""")

    def click_menu(self, label: str) -> None:
        self.page.locator(".litecontextmenu .litemenu-entry", has_text=label).first.click()

    def close_menus(self) -> None:
        self.evaluate("() => document.querySelectorAll('.litecontextmenu').forEach((m) => m.remove())")

    def toasts(self) -> list[str]:
        return self.evaluate("""() => [...document.querySelectorAll('.p-toast-message, .mm-toast')]
            .map((e) => e.innerText.replace(/\\s+/g, ' ').trim())""")

    def wait_toast(self, *parts: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.toasts():
                if all(part in text for part in parts):
                    return text
            time.sleep(0.1)
        raise TimeoutError(f"no toast with {parts!r} within {timeout} s; toasts: {self.toasts()!r}")

    def dismiss_toasts(self) -> None:
        self.evaluate("() => app.extensionManager.toast.removeAll?.()")

    def screenshot(self, path: Path, clip: dict[str, float] | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), clip=clip)
        return path
