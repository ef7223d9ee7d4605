"""Drive the ComfyUI page in headless Chromium (Playwright) for the browser-extension tests.

Chromium is found through ``CHROMIUM_PATH``, else ``/usr/bin/chromium`` / ``chromium`` on PATH;
Playwright's own browser download is never used.  ``require_browser()`` skips the calling test
with the reason when Chromium or the ``playwright`` package is missing.  The browser only ever
talks to loopback addresses: every other host goes to a dead proxy (see ``CHROMIUM_ARGS``), so
the frontend's own update checks or a workflow's model links never leave the machine.

Frontend modes
--------------
Every browser test should run on the three frontends the extension supports:

  ``pinned``      the frontend ComfyUI's requirements pin (1.27.x, installed in its venv);
  ``newest``      the newest frontend (1.58.x), classic canvas nodes;
  ``newest-vue``  the newest frontend with Vue nodes (user setting ``Comfy.VueNodes.Enabled``).

The newest frontend is a ``comfyui-frontend-package`` ``static`` folder named by
``COMFYUI_FRONTEND_NEW_ROOT`` and passed to ComfyUI as ``--front-end-root``; without that
variable the ``newest*`` modes skip and say why.  ``MM_FRONTEND_MODES`` (comma-separated, e.g.
``pinned`` or ``newest,newest-vue``) limits the modes a run uses; the others skip.

The reusable pieces: the module-scoped, parametrized fixture ``frontend_mode`` (tests/conftest.py)
yields a ``FrontendMode``, and ``start_comfy_for_mode`` starts the ComfyUI that serves it.  One
ComfyUI and one Chromium per mode per module::

    @pytest.fixture(scope="module")
    def comfy(frontend_mode, tmp_path_factory):
        base = tmp_path_factory.mktemp(f"comfy-{frontend_mode.name}")
        # (write files into base/user/... here, before the start, if the test needs them)
        server = start_comfy_for_mode(frontend_mode, base)
        yield server
        server.stop()

    @pytest.fixture(scope="module")
    def tab(comfy, tmp_path_factory):
        with chromium(tmp_path_factory.mktemp("profile"), require_browser()) as context:
            opened = ComfyPage(context, comfy.base_url).open()
            yield opened

    def test_something(tab, frontend_mode):       # runs as test_something[pinned], [newest], [newest-vue]
        tab.reset()
        if frontend_mode.vue_nodes: ...           # the rare place where a test must know

``ComfyPage`` helpers (add_node, panel, open_node_menu, toasts, ...) work on every mode; drive the
UI through them so a test needs no per-mode code.
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

from .comfyui_harness import PACK_LINK_NAME, ComfyUIServer, require_comfyui

#: Loopback only: every other host (names and IP literals alike, link-local included: the
#: ``<-loopback>`` rule drops Chromium's implicit bypass list) goes to a proxy that is not
#: there (names are then never looked up here either: a proxy would resolve them).
LOOPBACK_ONLY_ARGS = [
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>;127.0.0.1/8;localhost",
]
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    *LOOPBACK_ONLY_ARGS,
]
VIEWPORT = {"width": 1280, "height": 800}
EXTENSION_NAME = "ModelManager.Extension"
EXTENSION_URL_PART = f"/extensions/{PACK_LINK_NAME}/"
PANEL_WIDGET = "model_manager_progress"

#: ComfyUI settings that keep first-run dialogs out of the way of the tests and screenshots.
QUIET_COMFY_SETTINGS = {
    "Comfy.TutorialCompleted": True,
    "Comfy.InstalledVersion": "1.27.10",
    # newer frontends: no release notes, no missing-model popup for a dropped workflow
    "Comfy.Notification.ShowVersionUpdates": False,
    "Comfy.Workflow.ShowMissingModelsWarning": False,
}
VUE_NODES_SETTING = "Comfy.VueNodes.Enabled"
#: The frontend's dialogs: PrimeVue's up to 1.27, role=dialog in newer ones.
DIALOG = ".p-dialog, [role='dialog']"
#: Node menus: litegraph's on the canvas; the newest frontend's own (ARIA roles) on Vue nodes.
LITEGRAPH_MENU_ENTRY = ".litecontextmenu .litemenu-entry"
ARIA_MENU = "[role='menu']"
ARIA_MENU_ENTRY = "[role='menu'] [role='menuitem']"
#: The frontend's toasts: PrimeVue's up to 1.27, data-testid="toast" in newer ones; and ours.
FRONTEND_TOASTS = ".p-toast-message, [data-testid='toast']"
TOAST_SELECTOR = f"{FRONTEND_TOASTS}, .mm-toast"
#: Closes every frontend toast (removeAll up to 1.27, dismissAll in newer frontends).
DISMISS_TOASTS = "(app.extensionManager.toast.removeAll ?? app.extensionManager.toast.dismissAll)?.call(app.extensionManager.toast)"

FRONTEND_MODES = ("pinned", "newest", "newest-vue")
NEW_FRONTEND_ENV = "COMFYUI_FRONTEND_NEW_ROOT"
MODES_ENV = "MM_FRONTEND_MODES"


@dataclass(frozen=True)
class FrontendMode:
    """One frontend a browser test runs on (see the module docstring)."""

    name: str
    #: ``--front-end-root`` for ComfyUI; None = the frontend package in ComfyUI's venv
    root: Path | None = None
    vue_nodes: bool = False

    @property
    def comfy_args(self) -> list[str]:
        return ["--front-end-root", str(self.root)] if self.root else []

    @property
    def settings(self) -> dict[str, Any]:
        """What the per-test user's comfy.settings.json holds for this mode."""
        return {**QUIET_COMFY_SETTINGS, VUE_NODES_SETTING: self.vue_nodes}

    @property
    def newest(self) -> bool:
        return self.root is not None

    def __str__(self) -> str:
        return self.name


def find_frontend_mode(name: str, environ: dict[str, str] | os._Environ = os.environ
                       ) -> tuple[FrontendMode | None, str]:
    """The mode called ``name``, or ``(None, reason)`` when this machine cannot run it."""
    if name not in FRONTEND_MODES:
        raise ValueError(f"unknown frontend mode {name!r}; known: {', '.join(FRONTEND_MODES)}")
    selected = [m.strip() for m in environ.get(MODES_ENV, "").split(",") if m.strip()]
    if selected and name not in selected:
        return None, f"frontend mode {name} not selected ({MODES_ENV}={environ[MODES_ENV]})"
    if name == "pinned":
        return FrontendMode(name), ""
    root = environ.get(NEW_FRONTEND_ENV)
    if not root:
        return None, (f"{NEW_FRONTEND_ENV} is not set (point it at the static folder of a newer "
                      f"comfyui-frontend-package to run the {name} frontend tests)")
    path = Path(root).expanduser()
    if not (path / "index.html").is_file():
        return None, f"{NEW_FRONTEND_ENV}={root} has no index.html (it must be the package's static folder)"
    return FrontendMode(name, path.resolve(), vue_nodes=name == "newest-vue"), ""


def require_frontend_mode(name: str) -> FrontendMode:
    """The mode, or skip the calling test with the reason."""
    import pytest

    mode, reason = find_frontend_mode(name)
    if mode is None:
        pytest.skip(reason)
    return mode


def start_comfy_for_mode(mode: FrontendMode, base_dir: Path, *, env: dict[str, str] | None = None,
                         extra_args: list[str] | tuple[str, ...] = (), timeout: float = 120.0) -> ComfyUIServer:
    """A started ComfyUI serving ``mode``'s frontend with its user settings (skips the test when
    ComfyUI or Chromium is missing).  Files the test needs in ``base_dir`` go there first;
    ``timeout`` bounds the start (a busy machine may need more)."""
    installation = require_comfyui()
    require_browser()
    quiet_comfy_user(base_dir, mode)
    server = ComfyUIServer(installation, base_dir, env=env, extra_args=[*mode.comfy_args, *extra_args])
    return server.start(timeout=timeout)


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


def quiet_comfy_user(base_dir: Path, mode: FrontendMode | None = None) -> Path:
    """Pre-seeds ComfyUI's own settings file (no template dialog; Vue nodes on or off as ``mode``
    says, the pinned frontend's defaults without one); returns its path."""
    path = Path(base_dir) / "user" / "default" / "comfy.settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(mode.settings if mode else QUIET_COMFY_SETTINGS)
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
            (app.extensionManager.toast.removeAll ?? app.extensionManager.toast.dismissAll)?.call(app.extensionManager.toast);
            document.querySelectorAll('.mm-toast').forEach((note) => note.remove());
            app.canvas.setDirty(true, true);
        }""")
        self.page.wait_for_function(f"() => !document.querySelector({json.dumps(FRONTEND_TOASTS)})", timeout=5000)

    def close_dialogs(self) -> None:
        """Closes ComfyUI dialogs (e.g. the error report of a failed node) with Escape."""
        for _ in range(3):
            if not self.page.locator(DIALOG).count():
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

    def click_empty_canvas(self) -> None:
        """A real click on the canvas beside the nodes.  Frontends note a user's edits when a
        mouse action ends (1.58 saves the open workflow's draft then), and nodes added by
        ``add_node`` were no such action."""
        x, y = self.evaluate("""() => {
            const right = Math.max(0, ...app.graph.nodes.map((n) => n.pos[0] + n.size[0]));
            const top = Math.min(...app.graph.nodes.map((n) => n.pos[1]), 80);
            const [cx, cy] = app.canvas.ds.convertOffsetToCanvas([right + 60, top]);
            const rect = app.canvas.canvas.getBoundingClientRect();
            return [Math.min(rect.left + cx, rect.right - 300), Math.min(rect.top + cy, rect.bottom - 300)];
        }""")
        self.page.mouse.click(float(x), float(y))

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
        """Right-clicks the node's title as a user does; answers the entries of the menu that
        opens: litegraph's on the canvas, the frontend's own (an ARIA menu) on Vue nodes."""
        self.close_menus()
        self.close_dialogs()
        x, y = self.node_title_point(node_id)
        self.page.mouse.click(x, y, button="right")
        self.page.wait_for_selector(f"{LITEGRAPH_MENU_ENTRY}, {ARIA_MENU_ENTRY}", timeout=5000)
        return self.menu_entries()

    def menu_entries(self) -> list[dict[str, Any]]:
        """The open menu's entries: text (first line; a shortcut may follow) and disabled."""
        return self.evaluate("""([lite, aria]) => [
            ...[...document.querySelectorAll(lite)].map((e) => ({
                text: e.innerText.trim(), disabled: e.classList.contains('disabled') })),
            ...[...document.querySelectorAll(aria)].map((e) => ({
                text: e.innerText.trim().split('\\n')[0].trim(),
                disabled: e.getAttribute('aria-disabled') === 'true' })),
        ]""", [LITEGRAPH_MENU_ENTRY, ARIA_MENU_ENTRY])

    def click_menu(self, label: str) -> None:
        self.page.locator(f"{LITEGRAPH_MENU_ENTRY}, {ARIA_MENU_ENTRY}", has_text=label).first.click()

    def close_menus(self) -> None:
        self.evaluate("() => document.querySelectorAll('.litecontextmenu').forEach((m) => m.remove())")
        for _ in range(3):  # the frontend's own menus close on Escape, as for a user
            if not self.page.locator(ARIA_MENU).count():
                return
            self.page.keyboard.press("Escape")
            self.page.wait_for_timeout(100)

    def toasts(self) -> list[str]:
        return self.evaluate("""(selector) => [...document.querySelectorAll(selector)]
            .map((e) => e.innerText.replace(/\\s+/g, ' ').trim())""", TOAST_SELECTOR)

    def wait_toast(self, *parts: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.toasts():
                if all(part in text for part in parts):
                    return text
            time.sleep(0.1)
        raise TimeoutError(f"no toast with {parts!r} within {timeout} s; toasts: {self.toasts()!r}")

    def dismiss_toasts(self) -> None:
        self.evaluate(f"() => {DISMISS_TOASTS}")

    def screenshot(self, path: Path, clip: dict[str, float] | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), clip=clip)
        return path
