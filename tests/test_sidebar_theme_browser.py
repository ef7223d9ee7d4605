"""The Models sidebar in the dark and the light palette, and by keyboard, on every frontend mode.

One ComfyUI + Chromium per frontend mode (pinned 1.27, newest 1.58, newest with Vue nodes); a
small library (a LoRA with a preview, Civitai facts, trigger words and a description with a link,
a few plain ones) and three downloads from the loopback Civitai fake: one failed, one finished,
one paused.  The palette is switched the way the product does it, through the public settings
API (``Comfy.ColorPalette``), and every view is opened by clicking: the downloads, the new-download
form with a resolved link, the library, a model's details.  In each, every text of ours must
reach 4.5:1 against the background it is painted on (tests/support/contrast.py), and the colours
must follow the palette.  Light-theme screenshots go into docs/ with MM_UPDATE_SCREENSHOTS=1
(pinned mode).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.browser import TOAST_SELECTOR, ComfyPage, chromium, require_browser, start_comfy_for_mode
from support.comfyui_harness import PACK_ROOT, ComfyUIServer
from support.contrast import text_contrast, theme_colours, unreadable
from support.fake_civitai import FakeCivitai
from support.scanner_files import image_bytes, safetensors_bytes, write_safetensors
from support.sidebar import new_download, open_details, open_sidebar, search, show_models, show_view, sidebar_icon, sidebar_shot

pytestmark = [pytest.mark.comfyui, pytest.mark.browser, pytest.mark.timeout(480)]

SLOW = 4 << 20  # 64 chunks of 64 KiB at CHUNK_DELAY: it is still running when it is paused
CHUNK_DELAY = 0.08
GLOW = "glow.safetensors"
DESCRIPTION = """# Glow

Soft neon light. See [the model page](https://civitai.com/models/800) for examples.

```
glow, neon
```
"""
#: Elements whose text colour and painted background must change with the palette.
THEMED = [".mm-sb", ".mm-sb-tab[aria-selected='true']", ".mm-sb-button", ".mm-sb-task", ".mm-sb-task-status",
          ".mm-sb-form", ".mm-sb-input", ".mm-sb-card", ".mm-sb-card-meta", ".mm-sb-details-title",
          ".mm-sb-facts dt", ".mm-sb-chip", ".mm-sb-description a"]


@dataclass
class Stack:
    mode: str
    comfy: ComfyUIServer
    civitai: FakeCivitai
    tab: ComfyPage
    shots: Path
    tasks: dict[str, str] = field(default_factory=dict)  # file name -> task id


def _fill_civitai(civitai: FakeCivitai) -> None:
    civitai.add_model(800, "Glow LoRA", "LORA", description="<p>neon</p>")
    civitai.add_version(800, 801, "v0", base_model="SD 1.5")
    civitai.add_file(801, 901, "broken.safetensors", safetensors_bytes(payload=b"0" * 1024))
    civitai.add_version(800, 802, "v1", base_model="SD 1.5", trained_words=["glow"])
    civitai.add_file(802, 902, "done.safetensors", safetensors_bytes(payload=b"1" * 2048))
    civitai.add_version(800, 803, "v2", base_model="SDXL 1.0", trained_words=["glow", "neon"])
    civitai.add_file(803, 903, "slow.safetensors", safetensors_bytes(payload=os.urandom(SLOW)))
    civitai.add_image(803, nsfw_level=1, color=(250, 200, 60))


def _fill_models(models: Path) -> None:
    loras = models / "loras"
    write_safetensors(loras / GLOW, {"ss_base_model_version": "sdxl_base_v1-0"})
    (loras / "glow.png").write_bytes(image_bytes(size=(96, 128), color=(40, 160, 220)))
    (loras / "glow.md").write_text(DESCRIPTION)
    (loras / "glow.civitai.info").write_text(json.dumps({
        "id": 803, "modelId": 800, "name": "v2", "baseModel": "SDXL 1.0", "trainedWords": ["glow", "neon"],
        "model": {"name": "Glow LoRA", "type": "LORA"}}))
    for index in range(6):
        write_safetensors(loras / f"plain_{index}.safetensors")
    write_safetensors(models / "checkpoints" / "base_xl.safetensors")


def _wait_task(comfy: ComfyUIServer, task_id: str, condition: Any, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = comfy.get(f"/model-manager/tasks/{task_id}").json()
        if condition(task):
            return task
        time.sleep(0.1)
    raise TimeoutError(f"task {task_id} is {task}")


def _start_task(comfy: ComfyUIServer, civitai: FakeCivitai, version_id: int) -> str:
    answer = comfy.post("/model-manager/tasks", json={"url": f"{civitai.base_url}/api/download/models/{version_id}",
                                                     "model_type": "loras"})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["task_id"]


def _make_downloads(stack: Stack) -> None:
    """A failed, a finished and a paused download, so the list shows every kind of row."""
    comfy, civitai = stack.comfy, stack.civitai
    civitai.storage_serves_html = True
    try:
        stack.tasks["broken.safetensors"] = broken = _start_task(comfy, civitai, 801)
        _wait_task(comfy, broken, lambda t: t["status"] == "failed")
    finally:
        civitai.storage_serves_html = False
    stack.tasks["done.safetensors"] = done = _start_task(comfy, civitai, 802)
    _wait_task(comfy, done, lambda t: t["status"] == "completed")
    civitai.storage_delay = CHUNK_DELAY
    stack.tasks["slow.safetensors"] = slow = _start_task(comfy, civitai, 803)
    _wait_task(comfy, slow, lambda t: t["status"] == "downloading" and (t.get("downloaded_bytes") or 0) > 0)
    assert comfy.post(f"/model-manager/tasks/{slow}/pause").status_code == 200
    _wait_task(comfy, slow, lambda t: t["status"] == "paused")


@pytest.fixture(scope="module")
def stack(frontend_mode, tmp_path_factory):
    mode = frontend_mode.name
    executable = require_browser()
    base = tmp_path_factory.mktemp(f"theme-{mode}")
    state = base / "user" / "model_manager"
    state.mkdir(parents=True)
    (state / "settings.json").write_text(json.dumps({"connections_per_download": 1}))
    _fill_models(base / "models")
    civitai = FakeCivitai()
    _fill_civitai(civitai)
    shots = tmp_path_factory.mktemp(f"theme-shots-{mode}")
    comfy = None
    try:
        comfy = start_comfy_for_mode(frontend_mode, base, env={"CIVITAI_BASE_URL": civitai.base_url})
        assert comfy.get("/model-manager/models?type=loras&limit=1", timeout=120).status_code == 200
        with chromium(tmp_path_factory.mktemp(f"theme-profile-{mode}"), executable) as context:
            tab = ComfyPage(context, comfy.base_url)
            stack = Stack(mode, comfy, civitai, tab, shots)
            _make_downloads(stack)
            tab.open()
            yield stack
            tab.page.close()
    finally:
        if comfy is not None:
            for task in comfy.get("/model-manager/tasks").json()["tasks"]:
                if task["status"] in ("queued", "downloading", "paused"):
                    comfy.post(f"/model-manager/tasks/{task['task_id']}/cancel")
            comfy.stop()
        civitai.close()
        if mode == "pinned" and os.environ.get("MM_UPDATE_SCREENSHOTS") == "1":
            for png in shots.glob("sidebar-*-light.png"):
                shutil.copy(png, PACK_ROOT / "docs" / png.name)


@pytest.fixture()
def page(stack, request):
    stack.tab.reset()
    stack.tab.log.clear()
    yield stack.tab
    set_palette(stack.tab, "dark")
    # No console error and no uncaught exception during any test, whoever logs it; a test that
    # makes a request fail on purpose names the URL part its "Failed to load resource" has. The
    # frontend's own requests to other hosts (the newest asks huggingface.co about its templates'
    # models) end at the tests' dead proxy: those are left out.
    allowed = getattr(request.node.function, "console_errors_allowed", ())
    errors = [f"{text} ({url})" for kind, text, url in stack.tab.log.console
              if kind == "error" and not any(part in url for part in allowed)
              and not (text.startswith("Failed to load resource") and not url.startswith(stack.comfy.base_url))]
    stack.tab.log.clear()
    assert errors == [] and stack.tab.log.page_errors == [], (errors, stack.tab.log.page_errors)


# -- helpers ---------------------------------------------------------------------------------
def set_palette(page: ComfyPage, palette: str) -> None:
    """Comfy.ColorPalette through the public settings API, as the settings dialog sets it; waits
    until the frontend has applied it (its colour scheme follows the palette)."""
    page.evaluate("(id) => app.extensionManager.setting.set('Comfy.ColorPalette', id)", palette)
    scheme = "light" if palette == "light" else "dark"
    page.page.wait_for_function("(scheme) => getComputedStyle(document.documentElement).colorScheme === scheme",
                                arg=scheme, timeout=10000)
    page.page.wait_for_timeout(200)  # a frame for the palette's variables to reach every element


def reopen_sidebar(page: ComfyPage) -> Any:
    """Closes the tab if it is open and opens it with a click on its icon."""
    root = page.page.locator(".mm-sb")
    if root.is_visible():
        sidebar_icon(page).click()
        root.wait_for(state="hidden", timeout=5000)
    return open_sidebar(page)


def readable(page: ComfyPage, view: str, minimum_samples: int) -> list[Any]:
    """Every text in the sidebar tab reaches 4.5:1; answers the samples."""
    samples = text_contrast(page.page, ".mm-sb")
    assert len(samples) >= minimum_samples, (view, [str(s) for s in samples])
    assert unreadable(samples) == [], (view, unreadable(samples))
    return samples


def tour(page: ComfyPage, stack: Stack, palette: str, shots: bool = False) -> dict[str, dict]:
    """Opens each view by clicking and checks its text; answers the THEMED colours seen.
    ``shots``: light-palette screenshots of each view too."""
    colours: dict[str, dict] = {}

    def note() -> None:
        for selector, found in theme_colours(page.page, THEMED).items():
            if found and selector not in colours:
                colours[selector] = found

    reopen_sidebar(page)
    downloads = show_view(page, "Downloads")
    downloads.locator(".mm-sb-task[data-status='paused']").wait_for(timeout=10000)
    downloads.locator(".mm-sb-task[data-status='failed'] .mm-sb-task-error").wait_for(timeout=10000)
    texts = readable(page, "downloads", 20)
    assert any(s.element.startswith("div.mm-sb-task-error") for s in texts), texts  # the failure message
    note()
    if shots and palette == "light":
        sidebar_shot(page, stack.shots / "sidebar-downloads-light.png")

    form = new_download(page, f"{stack.civitai.base_url}/models/800")
    form.locator(".mm-sb-resolved .mm-sb-facts").wait_for(timeout=20000)
    assert "Glow LoRA" in form.inner_text()
    readable(page, "new download", 25)
    note()
    if shots and palette == "light":
        sidebar_shot(page, stack.shots / "sidebar-new-download-light.png")
    form.get_by_role("button", name="Close").click()
    form.wait_for(state="hidden", timeout=5000)

    panel = show_models(page, "loras")
    panel.locator(f".mm-sb-card[data-name='{GLOW}'] img").wait_for(timeout=10000)
    page.page.wait_for_function("() => [...document.querySelectorAll('.mm-sb-card img')].every((i) => i.complete)")
    readable(page, "models", 15)
    note()
    if shots and palette == "light":
        sidebar_shot(page, stack.shots / "sidebar-models-light.png")

    panel.locator(f".mm-sb-card[data-name='{GLOW}']").click()
    details = panel.locator(".mm-sb-details")
    details.locator(".mm-sb-facts").wait_for(timeout=10000)
    details.locator(".mm-sb-description a", has_text="the model page").wait_for(timeout=5000)
    page.page.wait_for_function("() => document.querySelector('.mm-sb-preview img')?.complete")
    readable(page, "details", 15)
    note()
    if shots and palette == "light":
        sidebar_shot(page, stack.shots / "sidebar-details-light.png")
    details.get_by_role("button", name="Back").click()
    return colours


# -- the tests -------------------------------------------------------------------------------
def test_every_view_is_readable_in_the_dark_and_the_light_palette(page, stack) -> None:
    set_palette(page, "dark")
    dark = tour(page, stack, "dark")
    set_palette(page, "light")
    light = tour(page, stack, "light", shots=True)
    assert set(dark) == set(THEMED) == set(light), (set(THEMED) - set(dark), set(THEMED) - set(light))
    same = [s for s in THEMED if (dark[s]["colour"], dark[s]["background"]) == (light[s]["colour"], light[s]["background"])]
    assert same == [], {s: (dark[s], light[s]) for s in same}  # every one follows the palette
    for selector in THEMED:  # light text on dark in the dark palette, and the other way round
        assert dark[selector]["text_luminance"] > dark[selector]["background_luminance"], (selector, dark[selector])
        assert light[selector]["text_luminance"] < light[selector]["background_luminance"], (selector, light[selector])
    assert page.log.ours() == []


def test_our_own_notes_are_readable_in_the_light_palette(page, stack) -> None:
    """The Undo note of a delete is ours too, outside the tab."""
    set_palette(page, "light")
    details = open_details(page, "loras", "plain_5.safetensors")
    details.get_by_role("button", name="Delete").click()
    note = page.page.locator(".mm-undo-toast", has_text="Deleted plain_5.safetensors")
    note.get_by_role("button", name="Undo").wait_for(timeout=10000)
    samples = text_contrast(page.page, ".mm-undo-toast")
    assert len(samples) >= 2 and unreadable(samples) == [], [str(s) for s in samples]
    note.get_by_role("button", name="Undo").click()
    page.wait_toast("Restored", "loras/plain_5.safetensors")
    assert (stack.comfy.models_dir / "loras" / "plain_5.safetensors").is_file()
    assert page.log.ours() == []


def test_the_new_download_form_works_from_the_keyboard(page, stack) -> None:
    stack.civitai.api_delay = 1.0  # the lookup takes a second: its indicator must show meanwhile
    try:
        reopen_sidebar(page)
        downloads = show_view(page, "Downloads")
        tab = page.page.locator("#mm-sb-tab-downloads")
        tab.focus()
        page.page.keyboard.press("Tab")
        assert focused(page) == "New download"
        page.page.keyboard.press("Enter")
        form = downloads.locator(".mm-sb-form")
        form.wait_for(state="visible", timeout=5000)
        assert focused(page) == "Link"
        page.page.keyboard.type(f"{stack.civitai.base_url}/models/800?modelVersionId=802")
        page.page.keyboard.press("Enter")
        form.locator(".mm-sb-form-status [role='status']").wait_for(state="visible", timeout=5000)
        form.locator(".mm-sb-resolved .mm-sb-facts").wait_for(timeout=20000)
        assert form.locator(".mm-sb-form-status [role='status']").count() == 0
    finally:
        stack.civitai.api_delay = 0.0
    # Tab walks the form's fields in order, and reaches Start and Close.
    order = []
    for _ in range(9):
        page.page.keyboard.press("Tab")
        order.append(focused(page))
        if order[-1] == "Close":
            break
    assert order == ["Version", "File", "Type", "Subfolder", "File name", "Start", "Close"], order
    # Enter in a field submits the form: the task starts.
    form.get_by_label("Subfolder").focus()
    page.page.keyboard.type("keyboard")
    page.page.keyboard.press("Enter")
    page.wait_toast("Download started", "loras/keyboard/done.safetensors")
    form.wait_for(state="hidden", timeout=5000)
    assert stack.comfy.get("/model-manager/tasks").json()["tasks"]
    page.page.wait_for_function(
        "() => [...document.querySelectorAll('.mm-sb-task')].some((r) => r.innerText.includes('loras/keyboard'))",
        timeout=20000)
    # Escape closes it from any of its fields.
    downloads.get_by_role("button", name="New download").focus()
    page.page.keyboard.press("Enter")
    form.wait_for(state="visible", timeout=5000)
    page.page.keyboard.press("Escape")
    form.wait_for(state="hidden", timeout=5000)
    assert page.log.ours() == []


def focused(page: ComfyPage) -> str:
    """The accessible name of the focused element (its aria-label, else its text)."""
    return page.evaluate("""() => {
        const e = document.activeElement;
        return (e?.getAttribute('aria-label') || e?.innerText || e?.localName || '').trim();
    }""")


def test_the_library_and_the_details_work_from_the_keyboard(page, stack) -> None:
    reopen_sidebar(page)
    panel = show_models(page, "loras")
    search(page, panel, "glow.safe")
    panel.get_by_label("Folder type").focus()
    order = []
    for _ in range(8):
        page.page.keyboard.press("Tab")
        order.append(focused(page))
        if order[-1] == GLOW:
            break
    assert order == ["Scan", "Also hash and fetch Civitai info", "Search", "Sort", "List view", GLOW], order
    page.page.keyboard.press("Enter")  # Enter on a card opens its details, the focus on Back
    details = panel.locator(".mm-sb-details")
    details.locator(".mm-sb-facts").wait_for(timeout=10000)
    assert focused(page) == "Back"
    reached = []
    for _ in range(12):
        page.page.keyboard.press("Tab")
        reached.append(focused(page))
        if reached[-1] == "Delete":
            break
    for control in ("Set preview", "Copy trigger words", "Edit description", "the model page", "Delete"):
        assert control in reached, reached
    # Edit the description with the keyboard: Enter on Edit, Escape leaves the editor only.
    details.get_by_role("button", name="Edit description").focus()
    page.page.keyboard.press("Enter")
    assert focused(page) == "Description"
    page.page.keyboard.press("Escape")
    assert details.is_visible() and focused(page) == "Edit description"
    page.page.keyboard.press("Escape")  # and Escape again closes the details, back on the card
    details.wait_for(state="hidden", timeout=5000)
    assert focused(page) == GLOW
    assert page.log.ours() == []


class HeldRequests:
    """Holds the page's requests to one route until release(): what a slow server looks like to
    the page, while the real server still answers each one."""

    def __init__(self, page: ComfyPage, pattern: str, method: str = "GET") -> None:
        self.page, self.pattern, self.method = page, pattern, method
        self.held: list[Any] = []
        page.page.route(pattern, self._hold)

    def _hold(self, route: Any) -> None:
        if route.request.method == self.method:
            self.held.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        for route in self.held:
            route.continue_()
        self.held.clear()
        self.page.page.unroute(self.pattern, self._hold)


def test_slow_calls_show_a_loading_indicator(page, stack) -> None:
    reopen_sidebar(page)
    panel = show_models(page, "loras")
    # The list: the count says it is loading until the page of models comes.
    held = HeldRequests(page, "**/model-manager/models?*")
    try:
        panel.get_by_label("Sort").select_option("-size")
        page.page.locator(".mm-sb-count [role='status']").wait_for(state="visible", timeout=5000)
        assert page.evaluate("() => document.querySelector('.mm-sb-models').dataset.loading") == "true"
    finally:
        held.release()
    page.page.wait_for_function("() => !document.querySelector('.mm-sb-models').dataset.loading", timeout=10000)
    assert page.page.locator(".mm-sb-count [role='status']").count() == 0
    panel.get_by_label("Sort").select_option("name")
    # The details of a model.
    search(page, panel, "glow")
    held = HeldRequests(page, f"**/model-manager/models/loras/{GLOW}")
    try:
        panel.locator(f".mm-sb-card[data-name='{GLOW}']").click()
        panel.locator(".mm-sb-details-body [role='status']").wait_for(state="visible", timeout=5000)
    finally:
        held.release()
    details = panel.locator(".mm-sb-details")
    details.locator(".mm-sb-facts").wait_for(timeout=10000)
    # Saving a description.
    details.get_by_role("button", name="Edit description").click()
    details.get_by_role("textbox", name="Description").fill(DESCRIPTION + "\nMore.")
    held = HeldRequests(page, f"**/model-manager/models/loras/{GLOW}", method="PATCH")
    try:
        details.get_by_role("button", name="Save").click()
        details.locator(".mm-sb-button [role='status']").wait_for(state="visible", timeout=5000)
        assert details.get_by_role("button", name="Save").is_disabled()
    finally:
        held.release()
    page.wait_toast("Description saved")
    (stack.comfy.models_dir / "loras" / "glow.md").write_text(DESCRIPTION)
    details.get_by_role("button", name="Back").click()
    assert page.log.ours() == []


def test_failures_are_told_in_a_toast(page, stack) -> None:
    reopen_sidebar(page)
    panel = show_models(page, "loras")
    search(page, panel, "plain_4")
    card = panel.locator(".mm-sb-card[data-name='plain_4.safetensors']")
    card.wait_for(timeout=10000)
    gone = stack.comfy.models_dir / "loras" / "plain_4.safetensors"
    kept = gone.read_bytes()
    gone.unlink()  # removed behind the page's back
    try:
        card.click()
        page.wait_toast("loading the model failed")
        panel.locator(".mm-sb-details .mm-sb-problem").wait_for(timeout=5000)
        panel.locator(".mm-sb-details").get_by_role("button", name="Back").click()
    finally:
        gone.write_bytes(kept)
    # A download that fails while the page is open.
    stack.civitai.storage_serves_html = True
    try:
        task_id = _start_task(stack.comfy, stack.civitai, 801)
        _wait_task(stack.comfy, task_id, lambda t: t["status"] == "failed")
        # a login page instead of the file reads as a missing key: that toast says where to set one
        page.page.wait_for_function(
            "(s) => [...document.querySelectorAll(s)].some((t) => /Download failed|API key needed/.test(t.innerText))",
            arg=TOAST_SELECTOR, timeout=30000)
    finally:
        stack.civitai.storage_serves_html = False
    # What the page logged: the failures above, told as warnings, and no errors of ours.
    assert not [e for e in page.log.ours() if "/model-manager/models/loras/plain_4" not in e], page.log.ours()


test_failures_are_told_in_a_toast.console_errors_allowed = ("/model-manager/models/loras/plain_4",)

def test_no_console_errors_while_the_tab_is_used(page, stack) -> None:
    """The whole tour in the light palette, watched for any console error or uncaught exception of
    the page, whoever logs it (ComfyUI's own start-up noise happened before this test; the
    frontend's requests to other hosts end at the tests' dead proxy and are left out)."""
    page.log.clear()
    set_palette(page, "light")
    tour(page, stack, "light")
    set_palette(page, "dark")
    errors = [f"{kind}: {text} ({url})" for kind, text, url in page.log.console
              if kind == "error" and url.startswith(stack.comfy.base_url)]
    assert errors == [] and page.log.page_errors == [], (errors, page.log.page_errors)


def test_the_node_progress_panel_is_readable_in_both_palettes(page, stack) -> None:
    """The panel on a DownloadModel node is ours too: on the canvas (classic nodes) it sits on the
    node's colour, painted in the canvas; on Vue nodes on the node's own element."""
    node_id = page.add_node("DownloadModel", (80, 80), {
        "url": f"{stack.civitai.base_url}/api/download/models/802", "model_type": "loras",
        "filename": "panel_done.safetensors"})
    page.queue()
    page.wait_panel(node_id, "p.status === 'completed'", timeout=60)
    seen = {}
    for palette in ("dark", "light"):
        set_palette(page, palette)
        beneath = page.evaluate("(id) => app.graph.getNodeById(id).bgcolor ?? LiteGraph.NODE_DEFAULT_BGCOLOR", node_id)
        selector = f"[data-mm-node-panel='{node_id}']"
        page.evaluate("""([id, name]) => app.graph.getNodeById(id).widgets.find((w) => w.name === name)
            .element.setAttribute('data-mm-node-panel', String(id))""", [node_id, "model_manager_progress"])
        samples = text_contrast(page.page, selector, beneath)
        assert len(samples) >= 2 and unreadable(samples) == [], (palette, [str(s) for s in samples])
        seen[palette] = {s.text: s.colour for s in samples}
    assert seen["dark"] != seen["light"], seen
    assert page.log.ours() == []


# Queueing a prompt: the newest frontend asks this ComfyUI for /api/jobs, which it does not have.
test_the_node_progress_panel_is_readable_in_both_palettes.console_errors_allowed = ("/api/jobs", "/assets/")

def test_details_copy_the_trigger_words_take_a_pasted_preview_and_link_out(page, stack) -> None:
    page.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.comfy.base_url)
    details = open_details(page, "loras", GLOW)
    details.get_by_role("button", name="Copy trigger words").click()
    page.wait_toast("Trigger words copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == "glow, neon"
    link = details.get_by_role("link", name="Glow LoRA · v2")
    assert link.get_attribute("href") == "https://civitai.com/models/800?modelVersionId=803"
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    assert details.locator(".mm-sb-sidecars li").all_inner_texts() == ["glow.png", "glow.md", "glow.civitai.info"]
    details.get_by_role("button", name="Back").click()
    # A picture on the clipboard, pasted with Ctrl+V into the details, becomes the preview.
    details = open_details(page, "loras", "plain_3.safetensors")
    assert details.locator(".mm-sb-preview img").count() == 0
    page.evaluate("""async () => {
        const canvas = Object.assign(document.createElement('canvas'), { width: 64, height: 48 });
        const ctx = canvas.getContext('2d');
        ctx.fillStyle = 'rgb(200, 40, 120)';
        ctx.fillRect(0, 0, 64, 48);
        const blob = await new Promise((done) => canvas.toBlob(done, 'image/png'));
        await navigator.clipboard.write([new ClipboardItem({ 'image/png': blob })]);
    }""")
    details.get_by_role("button", name="Set preview").focus()
    page.page.keyboard.press("Control+V")
    page.wait_toast("Preview saved")
    page.page.wait_for_function("() => document.querySelector('.mm-sb-preview img')?.naturalWidth === 64", timeout=10000)
    assert (stack.comfy.models_dir / "loras" / "plain_3.webp").is_file()
    details.get_by_role("button", name="Back").click()
    assert page.log.ours() == []


def test_thumbnails_load_lazily_and_come_back_from_the_browser_cache(page, stack) -> None:
    """The preview route's ETag and Cache-Control let the browser keep a thumbnail: after a reload
    it asks again with the If-None-Match of the copy it kept, which the route answers with 304 (no
    body).  (How a 304 shows to Playwright varies: some frontends' timing makes Chromium report it
    as the cached 200.)  In a page of its own: a page that has ever routed requests (the
    loading-indicator test) has its HTTP cache off."""
    asked: list[str | None] = []

    def seen(response: Any) -> None:
        if f"/model-manager/models/loras/{GLOW}/preview" in response.url:
            asked.append(response.request.all_headers().get("if-none-match"))

    def thumbnail_shown(other: ComfyPage) -> None:
        panel = show_models(other, "loras")
        image = panel.locator(f".mm-sb-card[data-name='{GLOW}'] img")
        image.wait_for(timeout=10000)
        assert image.get_attribute("loading") == "lazy"
        other.page.wait_for_function(
            f"() => document.querySelector(\".mm-sb-card[data-name='{GLOW}'] img\")?.naturalWidth === 96", timeout=10000)

    other = ComfyPage(page.page.context, stack.comfy.base_url).open()
    try:
        thumbnail_shown(other)
        other.page.on("response", seen)
        other.reload()
        thumbnail_shown(other)
        deadline = time.monotonic() + 5
        while not asked and time.monotonic() < deadline:
            other.page.wait_for_timeout(100)
        route = f"/model-manager/models/loras/{GLOW}/preview"
        etag = stack.comfy.get(route).headers["ETag"]
        assert asked == [etag], (asked, etag)  # revalidated, not fetched anew
        again = stack.comfy.get(route, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert other.log.ours() == []
    finally:
        other.page.close()

def test_a_version_picked_in_the_form_and_a_download_cancelled_and_removed_by_clicks(page, stack) -> None:
    """Last in the module: it ends the paused download the tours above show."""
    reopen_sidebar(page)
    downloads = show_view(page, "Downloads")
    form = new_download(page, f"{stack.civitai.base_url}/models/800")
    form.locator(".mm-sb-resolved .mm-sb-facts").wait_for(timeout=20000)
    assert form.get_by_label("File name").input_value() == "slow.safetensors"
    assert [o.split(" ·")[0] for o in form.get_by_label("Version").locator("option").all_inner_texts()] == ["v2", "v1", "v0"]
    form.get_by_label("Version").select_option(label="v1 · SD 1.5")
    page.page.wait_for_function(
        "() => document.querySelector('.mm-sb-form input[aria-label=\"File name\"]')?.value === 'done.safetensors'",
        timeout=20000)
    assert "SD 1.5" in form.locator(".mm-sb-facts").inner_text()
    form.get_by_role("button", name="Close").click()
    # The paused download: Cancel, then Remove, by clicking the row's buttons.
    task_id = stack.tasks["slow.safetensors"]
    row = downloads.locator(f".mm-sb-task[data-task-id='{task_id}']")
    row.get_by_role("button", name="Cancel").click()
    page.page.wait_for_function(f"() => document.querySelector(\".mm-sb-task[data-task-id='{task_id}']\")?.dataset.status === 'cancelled'",
                                timeout=15000)
    assert stack.comfy.get(f"/model-manager/tasks/{task_id}").json()["status"] == "cancelled"
    row.get_by_role("button", name="Remove").click()
    row.wait_for(state="detached", timeout=10000)
    assert stack.comfy.get(f"/model-manager/tasks/{task_id}").status_code == 404
    assert page.log.ours() == []
