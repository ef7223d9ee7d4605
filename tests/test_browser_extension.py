"""The browser extension, proven in headless Chromium against a real ComfyUI (issue 6).

One ComfyUI and one Chromium for the module; every test opens a fresh tab with an empty graph.
Downloads come from a loopback server whose speed the test changes while they stream.
Screenshots go to a temp folder, and into docs/ when MM_UPDATE_SCREENSHOTS=1.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from support.browser import DIALOG, FRONTEND_TOASTS, ComfyPage, chromium, require_browser, start_comfy_for_mode
from support.comfyui_harness import PACK_ROOT, ComfyUIServer, require_comfyui
from support.throttled_files import CHUNK, ThrottledFiles
from support.waiting import wait_for

pytestmark = [pytest.mark.comfyui, pytest.mark.browser]

SLOW = 0.12  # seconds per 64 KiB chunk: ~0.5 MB/s
SLOW_SIZE = 64 * CHUNK  # 4 MiB: ~8 s at SLOW, so there is time to look, pause and resume
SECRET = "mm-test-civitai-key-0123456789abcdef"
HF_SECRET = "hf_mmTestToken0123456789abcdefABCDEF"


@pytest.fixture(scope="module")
def files():
    served = ThrottledFiles()
    yield served
    served.close()


@pytest.fixture(scope="module")
def civitai():
    """Stands in for Civitai's API (another host, so download links stay plain URLs)."""
    served = ThrottledFiles("127.0.0.2")
    yield served
    served.close()


@pytest.fixture(scope="module")
def comfy(frontend_mode, tmp_path_factory, civitai):
    require_comfyui()
    require_browser()
    base = tmp_path_factory.mktemp(f"comfy-browser-{frontend_mode}")
    state = base / "user" / "model_manager"
    state.mkdir(parents=True)
    # One connection per download keeps the throttled transfer slow enough to watch.
    (state / "settings.json").write_text(json.dumps({"connections_per_download": 1}))
    # Civitai lookups of scans go to the loopback server (slow answers keep a scan running).
    server = start_comfy_for_mode(frontend_mode, base, env={"CIVITAI_BASE_URL": civitai.server.url})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(comfy, frontend_mode, tmp_path_factory):
    executable = require_browser()
    with chromium(tmp_path_factory.mktemp(f"chromium-profile-{frontend_mode}"), executable) as context:
        yield context


@pytest.fixture(scope="module")
def tab(browser, comfy):
    """One tab for the module (loading the frontend costs seconds); each test gets it reset."""
    opened = ComfyPage(browser, comfy.base_url).open()
    yield opened
    opened.page.close()


@pytest.fixture()
def page(tab):
    tab.reset()
    yield tab
    tab.log.clear()


@pytest.fixture(scope="module")
def shots(frontend_mode, tmp_path_factory):
    """Where screenshots go; the pinned frontend's are copied into docs/ on request."""
    folder = tmp_path_factory.mktemp(f"screenshots-{frontend_mode}")
    yield folder
    if os.environ.get("MM_UPDATE_SCREENSHOTS") == "1" and frontend_mode.name == "pinned":
        for png in folder.glob("*.png"):
            shutil.copy(png, PACK_ROOT / "docs" / png.name)


def _download_node(page: ComfyPage, url: str, filename: str, pos=(80, 80)) -> int:
    return page.add_node("DownloadModel", pos, {"url": url, "model_type": "loras", "filename": filename})


def _task(comfy: ComfyUIServer, task_id: str) -> dict:
    response = comfy.get(f"/model-manager/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _cancel_quietly(comfy: ComfyUIServer, task_id: str | None) -> None:
    if task_id:
        comfy.post(f"/model-manager/tasks/{task_id}/cancel")


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".mmpart")]


# -- loading ---------------------------------------------------------------------------------
def test_extension_loads_without_errors(page: ComfyPage) -> None:
    registered = page.evaluate("""() => {
        const ext = app.extensions.find((e) => e.name === 'ModelManager.Extension');
        return { hooks: Object.keys(ext), settings: ext.settings.map((s) => s.id) };
    }""")
    assert {"setup", "nodeCreated", "getNodeMenuItems", "beforeRegisterNodeDef"} <= set(registered["hooks"])
    assert len(registered["settings"]) == 6  # keys, limits, NSFW level, the missing-models offer
    loaded = {url.rsplit("/", 1)[-1] for url in page.log.ok_extension_files}
    assert {"model_manager.js", "progress_widget.js", "menu.js", "settings.js", "toasts.js",
            "api.js", "model_manager.css"} <= loaded
    node_id = page.add_node("DownloadModel")
    panel = page.wait_panel(node_id, "p.status === 'idle'")
    assert "no download yet" in panel["text"]
    assert panel["visible"]
    # The panel is never saved in the workflow or sent in the prompt.
    widgets_values = page.evaluate("(id) => app.graph.getNodeById(id).serialize().widgets_values", node_id)
    assert len(widgets_values) == 7  # url, model_type, subfolder, filename, sha256, if_exists, wait
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    assert set(prompt[str(node_id)]["inputs"]) == {"url", "model_type", "subfolder", "filename",
                                                   "sha256", "if_exists", "wait"}
    time.sleep(0.5)
    assert page.log.ours() == []


# -- progress, menu: pause, resume, cancel ----------------------------------------------------
def test_progress_pause_resume_and_cancel_from_the_node_menu(page, comfy, files, shots) -> None:
    served = files.add("progress_lora.safetensors", SLOW_SIZE, delay=SLOW)
    node_id = _download_node(page, files.url(served.name), served.name)
    page.queue()
    first = page.wait_panel(node_id, "p.status === 'downloading' && Number(p.percent) > 3", timeout=30)
    task_id = first["taskId"]
    try:
        second = page.wait_panel(node_id, f"Number(p.percent) > {max(float(first['percent']) + 3, 25)}", timeout=15)
        assert second["taskId"] == task_id
        assert "downloading" in second["text"] and " / 4.0 MB" in second["text"]
        assert "/s" in second["text"] and "ETA" in second["text"]
        page.screenshot(shots / "progress.png", clip=page.node_box(node_id))

        # The real context menu: Pause is enabled, Resume is not.
        entries = {e["text"]: e["disabled"] for e in page.open_node_menu(node_id)}
        assert entries["Pause download"] is False
        assert entries["Resume download"] is True
        assert entries["Cancel download…"] is False
        box = page.node_box(node_id)
        page.screenshot(shots / "menu.png", clip={"x": box["x"], "y": box["y"], "width": box["width"] + 240,
                                                  "height": max(box["height"], 440)})
        page.click_menu("Pause download")
        paused = page.wait_panel(node_id, "p.status === 'paused'", timeout=10)
        assert _task(comfy, task_id)["status"] == "paused"
        time.sleep(1.0)
        still = page.panel(node_id)
        assert still["status"] == "paused" and still["percent"] == paused["percent"]
        assert _task(comfy, task_id)["downloaded_bytes"] < served.size

        entries = {e["text"]: e["disabled"] for e in page.open_node_menu(node_id)}
        assert entries["Pause download"] is True and entries["Resume download"] is False
        page.click_menu("Resume download")
        page.wait_panel(node_id, f"p.status === 'downloading' && Number(p.percent) > {float(paused['percent']) + 2}",
                        timeout=20)
        files.set_delay(served.name, 0.5)  # crawl from here on: the cancel must find it running
        # A resume continues with a Range request, it does not start again from zero.
        ranges = [r.header("Range") for r in files.requests_for(served.name)]
        assert any(r and not r.startswith("bytes=0-") for r in ranges), ranges

        # Cancel asks first; saying no keeps the download running.
        page.open_node_menu(node_id)
        page.click_menu("Cancel download")
        dialog = page.page.locator(DIALOG, has_text="Cancel download?")
        dialog.wait_for(timeout=5000)
        dialog.get_by_role("button", name="Cancel").click()
        time.sleep(0.5)
        assert _task(comfy, task_id)["status"] == "downloading"
        page.open_node_menu(node_id)
        page.click_menu("Cancel download")
        dialog = page.page.locator(DIALOG, has_text="Cancel download?")
        dialog.get_by_role("button", name="Confirm").click()
        cancelled = page.wait_panel(node_id, "p.status === 'cancelled'", timeout=10)
        assert "cancelled" in cancelled["text"]
        assert _task(comfy, task_id)["status"] == "cancelled"
        # The stopped transfer is announced first; the cancel then removes its partial.
        wait_for(lambda: _partials(comfy.models_dir) == [], timeout=10, what="the partial removed")
        assert not (comfy.models_dir / "loras" / served.name).exists()
    finally:
        _cancel_quietly(comfy, task_id)
    assert page.log.ours() == []


def test_get_node_menu_items_hook_gives_the_same_entries(page, files, comfy) -> None:
    """Current frontends call the extension's getNodeMenuItems; it answers per status."""
    download_id = page.add_node("DownloadModel", (80, 80))
    scan_id = page.add_node("ScanModels", (500, 80))
    items = page.evaluate("""([d, s]) => {
        const ext = app.extensions.find((e) => e.name === 'ModelManager.Extension');
        const show = (id) => ext.getNodeMenuItems(app.graph.getNodeById(id))
            .map((i) => [i.content, !!i.disabled]);
        const other = LiteGraph.createNode('PrimitiveNode') ?? LiteGraph.createNode('Note');
        return { download: show(d), scan: show(s), other: ext.getNodeMenuItems(other).length };
    }""", [download_id, scan_id])
    assert items["download"] == [["Pause download", True], ["Resume download", True], ["Cancel download…", True]]
    assert items["scan"] == [["Cancel scan…", True]]
    assert items["other"] == 0
    # A paused task (event from the server) enables Resume and Cancel, not Pause.
    page.evaluate("""async ([id]) => {
        const { api } = await import('/scripts/api.js');
        api.dispatchCustomEvent('model_manager.update_download_task', {
            task_id: 'synthetic', url: 'http://127.0.0.1/x.safetensors', source: 'direct',
            model_type: 'loras', filename: 'x.safetensors', status: 'paused', downloaded_bytes: 10,
            total_bytes: 100, progress: 10, speed_bps: 0, eta_seconds: null, sha256: null, error: null,
            node_id: String(id), created_at: 1, updated_at: 2 });
    }""", [download_id])
    page.wait_panel(download_id, "p.status === 'paused'")
    entries = {e["text"]: e["disabled"] for e in page.open_node_menu(download_id)}
    assert (entries["Pause download"], entries["Resume download"], entries["Cancel download…"]) == (True, False, False)
    # The older hook (node getExtraMenuOptions) is what this frontend uses: entries appear once.
    assert [e["text"] for e in page.menu_entries()].count("Pause download") == 1
    page.close_menus()
    # The record deleted on the server (DELETE /model-manager/tasks/{id}): the panel lets go.
    page.evaluate("""async () => {
        const { api } = await import('/scripts/api.js');
        api.dispatchCustomEvent('model_manager.delete_download_task', { task_id: 'synthetic' });
    }""")
    panel = page.wait_panel(download_id, "p.status === 'idle'")
    assert "removed" in panel["text"] and "taskId" not in panel


# -- redraw rate -----------------------------------------------------------------------------
def test_panel_redraws_at_most_a_few_times_a_second(page) -> None:
    node_id = page.add_node("DownloadModel")
    page.wait_panel(node_id, "p.status === 'idle'")
    result = page.evaluate("""async ([id]) => {
        const { api } = await import('/scripts/api.js');
        const el = app.graph.getNodeById(id).widgets.find((w) => w.name === 'model_manager_progress').element;
        const before = Number(el.dataset.renders);
        const start = performance.now();
        for (let i = 1; i <= 200; i++) {
            api.dispatchCustomEvent('model_manager.update_download_task', {
                task_id: 'burst', url: 'http://127.0.0.1/b.safetensors', source: 'direct',
                model_type: 'loras', filename: 'b.safetensors', status: 'downloading',
                downloaded_bytes: i * 1000, total_bytes: 200000, progress: i / 2, speed_bps: 1000,
                eta_seconds: 200 - i, sha256: null, error: null, node_id: String(id),
                created_at: 1, updated_at: 1 + i });
            await new Promise((r) => setTimeout(r, 5));
        }
        await new Promise((r) => setTimeout(r, 600));
        return { renders: Number(el.dataset.renders) - before, seconds: (performance.now() - start) / 1000,
                 percent: el.dataset.percent };
    }""", [node_id])
    assert result["percent"] == "100.0"  # the newest state is always painted in the end
    assert result["renders"] <= 4 * result["seconds"] + 2, result


# -- completion: toast and loader lists ------------------------------------------------------
def test_completion_toast_and_loader_list_refresh(page, comfy, files) -> None:
    served = files.add("done_lora.safetensors", 8 * CHUNK, delay=0.01)
    loader_id = page.add_node("LoraLoader", (520, 80))
    before = page.evaluate("(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'lora_name').options.values",
                           loader_id)
    assert served.name not in before
    node_id = _download_node(page, files.url(served.name), served.name)
    # Only the download node runs (the loader has unconnected inputs): queue its prompt alone.
    page.evaluate("(id) => { app.graph.getNodeById(id).mode = 2; }", loader_id)
    page.queue()
    text = page.wait_toast("Download complete", f"loras/{served.name}")
    assert "ready to use" in text
    panel = page.wait_panel(node_id, "p.status === 'completed'")
    assert panel["percent"] == "100.0"
    destination = comfy.models_dir / "loras" / served.name
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == served.sha256
    page.page.wait_for_function(
        "([id, name]) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'lora_name').options.values.includes(name)",
        arg=[loader_id, served.name], timeout=15000)
    # The same task run again (overwrite) is announced again.
    page.dismiss_toasts()
    page.page.wait_for_function(f"() => !document.querySelector({json.dumps(FRONTEND_TOASTS)})", timeout=5000)
    page.evaluate("(id) => { app.graph.getNodeById(id).widgets.find((w) => w.name === 'if_exists').value = 'overwrite'; }",
                  node_id)
    page.queue()
    page.wait_toast("Download complete", f"loras/{served.name}")
    assert page.panel(node_id)["taskId"] == panel["taskId"]  # the same task, run again
    assert page.log.ours() == []


def test_failed_download_toast_gives_the_reason(page, files) -> None:
    files.add("missing_lora.safetensors", 1, status=404)
    node_id = _download_node(page, files.url("missing_lora.safetensors"), "missing_lora.safetensors")
    page.queue()
    text = page.wait_toast("Download failed")
    assert "404" in text
    panel = page.wait_panel(node_id, "p.status === 'failed'")
    assert "404" in panel["text"]
    assert len([t for t in page.toasts() if "Download failed" in t]) == 1


def test_key_missing_toast_says_where_to_set_it(page) -> None:
    """A task failing for want of a key (auth_required) points at Settings → Model Manager."""
    node_id = page.add_node("DownloadModel")
    page.evaluate("""async ([id]) => {
        const { api } = await import('/scripts/api.js');
        api.dispatchCustomEvent('model_manager.update_download_task', {
            task_id: 'needs-key', url: 'https://civitai.com/api/download/models/1', source: 'civitai',
            model_type: 'loras', filename: 'gated.safetensors', status: 'failed', downloaded_bytes: 0,
            total_bytes: null, progress: null, speed_bps: 0, eta_seconds: null, sha256: null,
            error: 'Civitai needs an API key for this model', error_code: 'auth_required',
            node_id: String(id), created_at: 1, updated_at: 2 });
    }""", [node_id])
    text = page.wait_toast("API key needed")
    assert "Settings → Model Manager" in text
    panel = page.wait_panel(node_id, "p.status === 'failed'")
    assert "needs an API key" in panel["text"]


def test_checksum_mismatch_is_told_once_with_its_reason(page, comfy, files) -> None:
    """The task fails (update event) and then the node raises: one toast, not two."""
    served = files.add("bad_sum_lora.safetensors", 4 * CHUNK)
    node_id = page.add_node("DownloadModel", (80, 80), {
        "url": files.url(served.name), "model_type": "loras", "filename": served.name, "sha256": "0" * 64})
    page.queue()
    panel = page.wait_panel(node_id, "p.status === 'failed'")
    assert "sha256" in panel["text"].lower() or "checksum" in panel["text"].lower()
    text = page.wait_toast("Download failed")
    assert f"loras/{served.name}" in text
    time.sleep(1.5)  # the node's execution_error arrives after the task event
    assert len([t for t in page.toasts() if "Download failed" in t]) == 1, page.toasts()
    assert not (comfy.models_dir / "loras" / served.name).exists()


def test_unauthorized_link_asks_for_a_key_in_the_settings(page, files) -> None:
    """A real 401 (AuthRequired raised by the node) gets the key toast, not a plain failure."""
    files.add("private_lora.safetensors", 1, status=401)
    node_id = _download_node(page, files.url("private_lora.safetensors"), "private_lora.safetensors")
    page.queue()
    text = page.wait_toast("API key needed")
    assert "401" in text and "Settings → Model Manager" in text
    assert not any("Download failed" in t for t in page.toasts())
    panel = page.wait_panel(node_id, "p.status === 'failed'")
    assert "401" in panel["text"]


def test_toasts_fall_back_to_a_page_note_without_the_toast_api(page) -> None:
    """Older frontends without app.extensionManager.toast still get a (non-blocking) note."""
    texts = page.evaluate("""async () => {
        const t = await import('/extensions/ComfyUI-Model-Manager/toasts.js');
        t.toastCompleted({}, { model_type: 'loras', filename: 'old_frontend.safetensors' });
        t.toastFailed({}, { model_type: 'loras', filename: 'x.safetensors', error: 'HTTP 401: an API key is required' });
        return [...document.querySelectorAll('.mm-toast')].map((e) => e.innerText.replace(/\\s+/g, ' '));
    }""")
    assert texts[0].startswith("Download complete") and "loras/old_frontend.safetensors" in texts[0]
    assert texts[1].startswith("API key needed") and "Settings → Model Manager" in texts[1]


def test_format_helpers(page) -> None:
    """Sizes, speeds and times as the panel prints them."""
    result = page.evaluate("""async () => {
        const f = await import('/extensions/ComfyUI-Model-Manager/format.js');
        return [f.formatBytes(0), f.formatBytes(1536), f.formatBytes(4 * 1024 * 1024), f.formatBytes(null),
                f.formatSpeed(0), f.formatSpeed(2048), f.formatDuration(75), f.formatDuration(3725),
                f.formatDuration(null), f.taskPercent({status: 'downloading', progress: null,
                downloaded_bytes: 50, total_bytes: 200}), f.taskPercent({status: 'completed'}),
                f.formatTransferred({downloaded_bytes: 1024, total_bytes: null})];
    }""")
    assert result == ["0 B", "1.5 KB", "4.0 MB", "?", "", "2.0 KB/s", "1:15", "1:02:05", "", 25, 100, "1.0 KB"]


# -- reload ----------------------------------------------------------------------------------
def test_reload_during_a_download_reattaches_each_panel_to_its_task(page, comfy, files) -> None:
    first_file = files.add("reload_a_lora.safetensors", SLOW_SIZE, delay=SLOW)
    second_file = files.add("reload_b_lora.safetensors", SLOW_SIZE, delay=SLOW)
    first = _download_node(page, files.url(first_file.name), first_file.name, pos=(60, 80))
    second = _download_node(page, files.url(second_file.name), second_file.name, pos=(460, 80))
    for node in (first, second):  # wait=false: the prompt ends at once, the downloads go on
        page.evaluate("(id) => { app.graph.getNodeById(id).widgets.find((w) => w.name === 'wait').value = false; }", node)
    page.queue()
    task_ids: list[str] = []
    try:
        # Both run at once (max_concurrent_downloads >= 2); each panel follows its own task.
        before = {node: page.wait_panel(node, "p.status === 'downloading' && Number(p.percent) > 2", timeout=30)
                  for node in (first, second)}
        task_ids = [before[first]["taskId"], before[second]["taskId"]]
        assert task_ids[0] != task_ids[1]
        assert _task(comfy, task_ids[0])["filename"] == first_file.name
        assert _task(comfy, task_ids[1])["filename"] == second_file.name
        for served in (first_file, second_file):  # slow enough to be still running after the reloads
            files.set_delay(served.name, 0.5)
        # The frontend saves the open workflow (where depends on its version) shortly after a
        # change; the newest one notes a change when a mouse action ends, as after a user added
        # the nodes. Reload only once both nodes are in that copy, or the reload would drop them.
        page.click_empty_canvas()
        page.page.wait_for_function("""(names) => [localStorage, sessionStorage].some((store) =>
            Object.keys(store).some((key) => names.every((n) => (store.getItem(key) ?? '').includes(n))))""",
                                    arg=[first_file.name, second_file.name], timeout=20000, polling=200)
        page.reload()
        for node, task_id in zip((first, second), task_ids):
            after = page.wait_panel(node, f"p.taskId === {json.dumps(task_id)} && p.status === 'downloading'",
                                    timeout=20)
            later = page.wait_panel(node, f"Number(p.percent) > {float(after['percent']) + 1}", timeout=20)
            assert later["taskId"] == task_id
            assert float(later["percent"]) >= float(before[node]["percent"])
        # Paused tasks send no events: after this reload only GET /model-manager/tasks can tell.
        for task_id in task_ids:
            assert comfy.post(f"/model-manager/tasks/{task_id}/pause").status_code == 200
        page.reload()
        for node, task_id in zip((first, second), task_ids):
            panel = page.wait_panel(node, f"p.taskId === {json.dumps(task_id)} && p.status === 'paused'", timeout=20)
            assert "paused" in panel["text"] and float(panel["percent"]) > 0
    finally:
        for task_id in task_ids:
            _cancel_quietly(comfy, task_id)


# -- settings --------------------------------------------------------------------------------
def _open_model_manager_settings(page: ComfyPage) -> None:
    page.evaluate("() => app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
    page.page.locator(f".settings-container, {DIALOG}").first.wait_for(timeout=10000)
    page.page.get_by_text("Model Manager", exact=True).first.click()
    page.page.locator(".mm-secret[data-setting='civitai_api_key']").wait_for(timeout=10000)


def test_settings_save_a_key_that_is_reported_set_and_never_shown(page, comfy, shots) -> None:
    assert comfy.get("/model-manager/settings").json()["civitai_api_key_set"] is False
    _open_model_manager_settings(page)
    field = page.page.locator(".mm-secret[data-setting='civitai_api_key']")
    page.page.wait_for_function(
        "() => document.querySelector(\".mm-secret[data-setting='civitai_api_key'] .mm-secret-state\").dataset.set === 'false'")
    assert field.locator(".mm-secret-input").get_attribute("type") == "password"
    field.locator(".mm-secret-input").fill(SECRET)
    field.locator(".mm-save").click()
    page.page.wait_for_function(
        "() => document.querySelector(\".mm-secret[data-setting='civitai_api_key'] .mm-secret-state\").dataset.set === 'true'")
    assert field.locator(".mm-secret-state").inner_text() == "set"
    assert field.locator(".mm-secret-input").input_value() == ""
    hf_field = page.page.locator(".mm-secret[data-setting='huggingface_token']")
    hf_field.locator(".mm-secret-input").fill(HF_SECRET)
    hf_field.locator(".mm-secret-input").press("Enter")  # Enter saves like the button
    page.page.wait_for_function(
        "() => document.querySelector(\".mm-secret[data-setting='huggingface_token'] .mm-secret-state\").dataset.set === 'true'")

    # Numbers and the NSFW level go to the pack's settings too.
    number = page.page.locator(".mm-number[data-setting='max_concurrent_downloads'] input")
    number.fill("3")
    number.dispatch_event("change")
    page.page.locator(".mm-nsfw select").select_option("4")
    deadline = time.monotonic() + 10
    view = {}
    while time.monotonic() < deadline:
        view = comfy.get("/model-manager/settings").json()
        if view["max_concurrent_downloads"] == 3 and view["civitai_nsfw_level"] == 4:
            break
        time.sleep(0.1)
    assert view["civitai_api_key_set"] is True
    assert view["max_concurrent_downloads"] == 3 and view["civitai_nsfw_level"] == 4
    assert view["huggingface_token_set"] is True
    assert SECRET not in json.dumps(view) and HF_SECRET not in json.dumps(view)
    page.screenshot(shots / "settings.png", clip=page.page.locator(DIALOG).first.bounding_box())

    # The key is nowhere in the page, nor in ComfyUI's own settings file.
    html = page.page.content()
    inputs = page.evaluate("() => [...document.querySelectorAll('input')].map((i) => i.value).join('\\n')")
    storage = page.evaluate("() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    for text in (html, inputs, storage):
        assert SECRET not in text and HF_SECRET not in text
    comfy_settings = comfy.base_dir / "user" / "default" / "comfy.settings.json"
    assert SECRET not in comfy_settings.read_text() and HF_SECRET not in comfy_settings.read_text()
    assert "ModelManager" not in comfy_settings.read_text()
    pack_settings = comfy.state_dir / "settings.json"
    saved = json.loads(pack_settings.read_text())
    assert saved["civitai_api_key"] == SECRET and saved["huggingface_token"] == HF_SECRET
    assert pack_settings.stat().st_mode & 0o077 == 0

    # Clear removes it again.
    field.locator(".mm-clear").click()
    page.page.wait_for_function(
        "() => document.querySelector(\".mm-secret[data-setting='civitai_api_key'] .mm-secret-state\").dataset.set === 'false'")
    hf_field.locator(".mm-clear").click()
    page.page.wait_for_function(
        "() => document.querySelector(\".mm-secret[data-setting='huggingface_token'] .mm-secret-state\").dataset.set === 'false'")
    view = comfy.get("/model-manager/settings").json()
    assert view["civitai_api_key_set"] is False and view["huggingface_token_set"] is False
    assert page.log.ours() == []


def test_settings_refuse_out_of_range_numbers(page, comfy) -> None:
    _open_model_manager_settings(page)
    before = comfy.get("/model-manager/settings").json()["connections_per_download"]
    number = page.page.locator(".mm-number[data-setting='connections_per_download'] input")
    number.fill("99")
    number.dispatch_event("change")
    message = page.page.locator(".mm-number[data-setting='connections_per_download'] .mm-setting-message")
    message.wait_for(timeout=5000)
    page.page.wait_for_function(
        "() => document.querySelector(\".mm-number[data-setting='connections_per_download'] .mm-setting-message\").textContent.includes('1 to 16')")
    assert comfy.get("/model-manager/settings").json()["connections_per_download"] == before


# -- scans -----------------------------------------------------------------------------------
def test_scan_progress_shows_on_the_scan_node(page, comfy) -> None:
    loras = comfy.models_dir / "loras"
    loras.mkdir(parents=True, exist_ok=True)
    for index in range(3):
        (loras / f"scan_me_{index}.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    node_id = page.add_node("ScanModels", (80, 80), {"model_type": "loras"})
    page.queue()
    panel = page.wait_panel(node_id, "p.status === 'completed'", timeout=30)
    assert "models" in panel["text"] and panel["percent"] == "100.0"
    entries = {e["text"]: e["disabled"] for e in page.open_node_menu(node_id)}
    assert entries["Cancel scan…"] is True  # nothing running any more


def test_scan_events_go_to_the_node_that_asked(page, comfy) -> None:
    """Two idle ScanModels nodes; a prompt queued by another client runs the second one. The
    events name it (node_id), so its panel follows the scan, not the first idle one."""
    loras = comfy.models_dir / "loras"
    loras.mkdir(parents=True, exist_ok=True)
    (loras / "asked_by_node.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    first = page.add_node("ScanModels", (80, 80), {"model_type": "loras"})
    second = page.add_node("ScanModels", (480, 80), {"model_type": "loras"})
    # Another client's prompt: this page gets no "executing" message for it, only our events.
    comfy.queue_prompt({str(second): {"class_type": "ScanModels", "inputs": {"model_type": "loras"}}},
                       client_id="someone-else")
    panel = page.wait_panel(second, "p.status === 'completed'", timeout=30)
    assert "models" in panel["text"]
    assert not page.panel(first).get("taskId")  # the first node was not taken over


def test_cancel_scan_from_the_menu_stops_a_running_scan(page, comfy, civitai) -> None:
    civitai.add_slow_json("/api/v1/model-versions/by-hash/", 404, {"error": "Model not found"}, delay=1.0)
    folder = comfy.models_dir / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(6):
        (folder / f"slow_scan_{index}.safetensors").write_bytes(os.urandom(1024))
    node_id = page.add_node("ScanModels", (80, 80), {"model_type": "embeddings", "fetch_civitai_info": True})
    page.queue()
    running = page.wait_panel(node_id, "p.status === 'fetching Civitai info' || p.status === 'fetching_info'", timeout=30)
    assert "files" in running["text"]
    entries = {e["text"]: e["disabled"] for e in page.open_node_menu(node_id)}
    assert entries["Cancel scan…"] is False
    page.click_menu("Cancel scan")
    dialog = page.page.locator(DIALOG, has_text="Cancel scan?")
    dialog.get_by_role("button", name="Confirm").click()
    panel = page.wait_panel(node_id, "p.status === 'cancelled'", timeout=15)
    assert "cancelled" in panel["text"]
    assert comfy.get(f"/model-manager/scans/{panel['taskId']}").json()["status"] == "cancelled"
    page.wait_toast("Scan cancelled")
    entries = {e["text"]: e["disabled"] for e in page.open_node_menu(node_id)}
    assert entries["Cancel scan…"] is True  # nothing left to cancel



def test_comfyui_restart_during_a_download_keeps_the_panel_following(page, comfy, files) -> None:
    """The page reconnects on its own; the panel reloads the task list and follows the resumed task."""
    served = files.add("restart_lora.safetensors", SLOW_SIZE, delay=SLOW)
    node_id = _download_node(page, files.url(served.name), served.name)
    page.evaluate("(id) => { app.graph.getNodeById(id).widgets.find((w) => w.name === 'wait').value = false; }", node_id)
    page.queue()
    before = page.wait_panel(node_id, "p.status === 'downloading' && Number(p.percent) > 2", timeout=30)
    task_id = before["taskId"]
    try:
        comfy.restart()
        files.set_delay(served.name, 0.02)
        done = page.wait_panel(node_id, f"p.taskId === {json.dumps(task_id)} && p.status === 'completed'", timeout=60)
        assert done["percent"] == "100.0"
        destination = comfy.models_dir / "loras" / served.name
        assert hashlib.sha256(destination.read_bytes()).hexdigest() == served.sha256
        page.wait_toast("Download complete", served.name)
    finally:
        _cancel_quietly(comfy, task_id)


def test_a_download_that_ends_while_the_page_is_cut_off_is_announced_on_reconnect(browser, comfy, files) -> None:
    """The page's socket is cut (as when the network or ComfyUI goes away) while a download runs;
    it finishes meanwhile. Once the page is connected again it says so, and the panel shows it."""
    cut = {"on": False}
    sockets: list = []

    def route(ws) -> None:
        if cut["on"]:
            ws.close()  # the page keeps trying to reconnect; refuse until the link is back
            return
        sockets.append((ws, ws.connect_to_server()))

    tab = ComfyPage(browser, comfy.base_url)
    tab.page.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    tab.open()
    served = files.add("cut_off_lora.safetensors", SLOW_SIZE, delay=SLOW)
    node_id = _download_node(tab, files.url(served.name), served.name)
    tab.evaluate("(id) => { app.graph.getNodeById(id).widgets.find((w) => w.name === 'wait').value = false; }", node_id)
    tab.queue()
    task_id = None
    try:
        task_id = tab.wait_panel(node_id, "p.status === 'downloading' && Number(p.percent) > 2", timeout=30)["taskId"]
        cut["on"] = True
        for page_side, server_side in sockets:
            page_side.close()
            server_side.close()
        files.set_delay(served.name, 0)
        wait_for(lambda: _task(comfy, task_id)["status"] == "completed", timeout=30, what="the download completed")
        assert tab.panel(node_id)["status"] == "downloading"  # the page has not heard
        assert not any("Download complete" in t for t in tab.toasts())
        cut["on"] = False
        text = tab.wait_toast("Download complete", f"loras/{served.name}", timeout=60)
        assert "ready to use" in text
        panel = tab.wait_panel(node_id, f"p.taskId === {json.dumps(task_id)} && p.status === 'completed'")
        assert panel["percent"] == "100.0"
        assert len([t for t in tab.toasts() if "Download complete" in t]) == 1
        assert tab.log.ours() == []
    finally:
        _cancel_quietly(comfy, task_id)
        tab.page.close()


def test_a_node_inside_a_subgraph_follows_its_task(page, comfy, files) -> None:
    """The server names nodes inside subgraphs by execution id ("outer:inner")."""
    served = files.add("subgraph_lora.safetensors", 16 * CHUNK, delay=0.05)
    node_id = _download_node(page, files.url(served.name), served.name)
    ids = page.evaluate("""(id) => {
        const inner = app.graph.getNodeById(id);
        const { node } = app.graph.convertToSubgraph(new Set([inner]));
        return { outer: node.id, inner: node.subgraph.nodes[0].id };
    }""", node_id)
    page.queue()
    expected = f"{ids['outer']}:{ids['inner']}"
    panel = page.page.wait_for_function("""([outer, inner]) => {
        const sub = app.graph.getNodeById(outer).subgraph;
        const el = sub.getNodeById(inner).widgets.find((w) => w.name === 'model_manager_progress').element;
        return el.dataset.status === 'completed' ? { ...el.dataset } : null;
    }""", arg=[ids["outer"], ids["inner"]], timeout=30000, polling=100).json_value()
    assert _task(comfy, panel["taskId"])["node_id"] == expected
    assert panel["percent"] == "100.0"
    page.wait_toast("Download complete", served.name)


def test_a_same_id_node_of_another_workflow_does_not_take_the_task(page) -> None:
    """Node ids restart in every workflow: a prompt started in another workflow stays there."""
    dispatch = """async ([kind, payload]) => {
        const { api } = await import('/scripts/api.js');
        api.dispatchCustomEvent(kind, payload);
    }"""
    task = {"url": "http://127.0.0.1/w.safetensors", "source": "direct", "model_type": "loras",
            "filename": "w.safetensors", "status": "downloading", "downloaded_bytes": 10, "total_bytes": 100,
            "progress": 10, "speed_bps": 1, "eta_seconds": 90, "sha256": None, "error": None,
            "created_at": 1, "updated_at": 2}
    page.evaluate(dispatch, ["execution_start", {"prompt_id": "prompt-in-first-workflow"}])
    page.evaluate("() => app.extensionManager.command.execute('Comfy.NewBlankWorkflow')")
    page.page.wait_for_function("() => app.graph.nodes.length === 0")
    node_id = page.add_node("DownloadModel")
    page.evaluate(dispatch, ["model_manager.update_download_task",
                             {**task, "task_id": "elsewhere", "node_id": str(node_id),
                              "prompt_id": "prompt-in-first-workflow"}])
    time.sleep(0.6)
    assert page.panel(node_id)["status"] == "idle"
    page.evaluate(dispatch, ["execution_start", {"prompt_id": "prompt-here"}])
    page.evaluate(dispatch, ["model_manager.update_download_task",
                             {**task, "task_id": "here", "node_id": str(node_id), "prompt_id": "prompt-here"}])
    panel = page.wait_panel(node_id, "p.taskId === 'here'")
    assert panel["status"] == "downloading"
    page.evaluate(dispatch, ["model_manager.update_download_task",
                             {**task, "task_id": "elsewhere", "node_id": str(node_id), "updated_at": 3,
                              "prompt_id": "prompt-in-first-workflow", "progress": 50}])
    time.sleep(0.6)
    assert page.panel(node_id)["taskId"] == "here"
