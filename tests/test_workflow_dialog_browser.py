""""Download missing models…" in headless Chromium against a real ComfyUI, on every frontend mode.

ComfyUI's own templates (``comfyui_workflow_templates``, served by ComfyUI at /templates/) are
loaded as a person loads them; their real Civitai and Hub links reach the loopback fakes through
CIVITAI_BASE_URL / HF_ENDPOINT. The dialog is opened from the canvas menu, the command and the note
offered after a load; downloads are started, paused, resumed and cancelled with the rows' buttons;
the files must land verified, the loader nodes must list them without a reload and ComfyUI must
accept the workflow's prompt. Screenshots go into docs/ when MM_UPDATE_SCREENSHOTS=1 (pinned mode).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.browser import ComfyPage, chromium, require_browser, start_comfy_for_mode
from support.comfyui_harness import PACK_ROOT, ComfyUIServer
from support.contrast import text_contrast, theme_colours, unreadable
from support.downloads import payload
from support.fake_civitai import FakeCivitai
from support.fake_hub import FakeHub
from support.model_files import safetensors_file
from support.workflow_templates import TEMPLATES_MISSING, model_path, serve

pytest.importorskip("comfyui_workflow_templates", reason=TEMPLATES_MISSING)
# The first test of a mode also starts ComfyUI and Chromium (a minute or two on a busy machine).
pytestmark = [pytest.mark.comfyui, pytest.mark.browser, pytest.mark.timeout(600)]

COMMAND_ID = "ModelManager.DownloadMissingModels"
MENU_LABEL = "Download missing models…"
OFFER_SETTING = "ModelManager.Workflow.OfferMissingModels"
CHUNK_DELAY = 0.15  # per 64 KiB chunk: an 8 MiB file takes ~20 s, time to pause and cancel
BIG = 8 << 20
TEMPLATES = ["lora", "2_pass_pose_worship", "image_qwen_image_edit_2509", "depth_t2i_adapter"]
#: The slow files of 2_pass_pose_worship: one from Civitai, one from the Hub.
SLOW = {("checkpoints", "majicmixRealistic_v7.safetensors"),
        ("controlnet", "control_v11p_sd15_openpose_fp16.safetensors")}
HUB_REPO = "acme/workflow-dialog"


@dataclass
class Stack:
    comfy: ComfyUIServer
    hub: FakeHub
    civitai: FakeCivitai
    tab: ComfyPage
    served: dict[tuple[str, str], bytes]
    shots: Path


@pytest.fixture(scope="module")
def stack(frontend_mode, tmp_path_factory):
    executable = require_browser()
    base = tmp_path_factory.mktemp(f"wf-dialog-{frontend_mode}")
    state = base / "user" / "model_manager"
    state.mkdir(parents=True)
    (state / "settings.json").write_text(json.dumps({"connections_per_download": 1}))
    models = base / "models"
    (models / "loras").mkdir(parents=True)
    (models / "loras" / "have.safetensors").write_bytes(safetensors_file(b"have" * 64))
    (models / "loras" / "renamed.safetensors").write_bytes(safetensors_file(b"renamed" * 64))
    hub, civitai = FakeHub(), FakeCivitai()
    big = {key: safetensors_file(payload(BIG, index)) for index, key in enumerate(sorted(SLOW))}
    served = serve(hub, civitai, TEMPLATES, data_for=big)
    hub.add_repo(HUB_REPO)
    for name in ("escape.safetensors", "badhash.safetensors"):
        hub.add_file(HUB_REPO, name, safetensors_file(name.encode() * 32))
    hub.cdn_delay = civitai.storage_delay = CHUNK_DELAY
    shots = tmp_path_factory.mktemp(f"wf-shots-{frontend_mode}")
    comfy = start_comfy_for_mode(frontend_mode, base,
                                 env={"CIVITAI_BASE_URL": civitai.base_url, "HF_ENDPOINT": hub.endpoint},
                                 timeout=300)
    try:
        with chromium(tmp_path_factory.mktemp(f"wf-profile-{frontend_mode}"), executable) as context:
            tab = ComfyPage(context, comfy.base_url).open()
            yield Stack(comfy, hub, civitai, tab, served, shots)
            tab.page.close()
    finally:
        comfy.stop()
        hub.close()
        civitai.close()
        if frontend_mode.name == "pinned" and os.environ.get("MM_UPDATE_SCREENSHOTS") == "1":
            for png in shots.glob("*.png"):
                shutil.copy(png, PACK_ROOT / "docs" / png.name)


@pytest.fixture()
def page(stack):
    stack.tab.reset()
    close_dialog(stack.tab)
    yield stack.tab
    close_dialog(stack.tab)
    stack.tab.log.clear()


# -- helpers ---------------------------------------------------------------------------------
def load_workflow(page: ComfyPage, template: str | None = None, workflow: dict | None = None,
                  name: str = "test") -> None:
    """Loads a template as ComfyUI serves it (/templates/NAME.json), or a workflow, with loadGraphData."""
    page.evaluate("""async ([template, workflow, name]) => {
        if (template) {
            const response = await fetch(`templates/${template}.json`);
            if (!response.ok) throw new Error(`template ${template}: HTTP ${response.status}`);
            workflow = await response.json();
        }
        await app.loadGraphData(workflow, true, true, template ?? name);
    }""", [template, workflow, name])


def open_from_canvas_menu(page: ComfyPage) -> Any:
    """Right-clicks an empty spot of the canvas and picks the entry; answers the dialog."""
    page.close_menus()
    # Move the graph far away and let two frames pass, so the frontend has drawn it there (with
    # Vue nodes their elements move on the next frame): the click then lands on empty canvas.
    page.page.evaluate("""() => new Promise((done) => {
        app.canvas.ds.offset = [-60000, -60000];
        app.canvas.setDirty(true, true);
        requestAnimationFrame(() => requestAnimationFrame(done));
    })""")
    box = page.page.locator("canvas#graph-canvas, canvas.graph-canvas, #graph-canvas").first.bounding_box()
    page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, button="right")
    page.page.wait_for_selector(".litecontextmenu .litemenu-entry", timeout=10000)
    entries = page.menu_entries()
    assert [e for e in entries if e["text"] == MENU_LABEL and not e["disabled"]], entries
    page.click_menu(MENU_LABEL)
    return wait_dialog_loaded(page)


def wait_dialog_loaded(page: ComfyPage) -> Any:
    dialog = page.page.locator("dialog.mm-wf[open]")
    dialog.wait_for(timeout=10000)
    page.page.wait_for_function("() => document.querySelector('dialog.mm-wf .mm-wf-loading')?.hidden"
                                " && document.querySelectorAll('dialog.mm-wf .mm-wf-row').length > 0",
                                timeout=30000)
    return dialog


def close_dialog(page: ComfyPage) -> None:
    page.evaluate("() => document.querySelectorAll('dialog.mm-wf').forEach((d) => d.close())")


def rows(page: ComfyPage) -> dict[str, dict[str, Any]]:
    """'folder/name' -> the row's data attributes, visible text and whether its box is ticked."""
    return {row["key"]: row for row in page.evaluate("""() => [...document.querySelectorAll('dialog.mm-wf .mm-wf-row')]
        .map((r) => ({ ...r.dataset, text: r.innerText.replace(/\\s+/g, ' ').trim(),
                       checked: r.querySelector('input[type=checkbox]').checked,
                       pickable: !r.querySelector('input[type=checkbox]').disabled,
                       opacity: getComputedStyle(r).opacity }))""")}


def wait_row(page: ComfyPage, key: str, condition: str, timeout: float = 60) -> dict[str, Any]:
    """Waits until ``condition`` (JS over ``d``, the row's dataset) holds."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.page.wait_for_function(f"""(key) => {{
            const row = [...document.querySelectorAll('dialog.mm-wf .mm-wf-row')].find((r) => r.dataset.key === key);
            const d = row?.dataset;
            return !!d && ({condition});
        }}""", arg=key, timeout=timeout * 1000, polling=100)
    except PlaywrightTimeout:
        raise AssertionError(f"row {key} never had {condition}; rows: {rows(page)}") from None
    return rows(page)[key]


def summary(page: ComfyPage) -> str:
    return page.page.locator("dialog.mm-wf .mm-wf-summary").inner_text()


def wait_finished(page: ComfyPage, timeout: float = 90) -> str:
    page.page.wait_for_function("() => document.querySelector('dialog.mm-wf')?.dataset.finished === 'true'"
                                " && document.querySelector('dialog.mm-wf .mm-wf-loading')?.hidden",
                                timeout=timeout * 1000, polling=100)
    return summary(page)


def row_button(page: ComfyPage, key: str, label: str) -> Any:
    row = page.page.locator(f"dialog.mm-wf .mm-wf-row[data-key='{key}']")
    return row.get_by_role("button", name=label)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def loader_choices(page: ComfyPage, widget: str) -> list[str]:
    """The choices of every widget called ``widget`` on the graph's nodes (as the loaders list them)."""
    return page.evaluate("""(name) => app.graph.nodes.flatMap((n) => n.widgets ?? [])
        .filter((w) => w.name === name)
        .flatMap((w) => { const v = w.options?.values; return typeof v === 'function' ? v() : (v ?? []); })""",
                         widget)


def validate_prompt(page: ComfyPage, comfy: ComfyUIServer) -> dict:
    """POST /prompt with what the page would queue; answers ComfyUI's reply (then stops the run)."""
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    answer = comfy.post("/prompt", json={"prompt": prompt})
    comfy.post("/queue", json={"clear": True})
    comfy.post("/interrupt")
    return {"status": answer.status_code, **answer.json()}


def ui_node(node_id: int, class_type: str, widgets: list, models: list[dict] | None = None) -> dict:
    node: dict[str, Any] = {"id": node_id, "type": class_type, "pos": [100 + 40 * node_id, 100], "size": [300, 100],
                            "flags": {}, "order": node_id, "mode": 0, "inputs": [], "outputs": [],
                            "properties": {"Node name for S&R": class_type}, "widgets_values": widgets}
    if models is not None:
        node["properties"]["models"] = models
    return node


def hub_link(name: str) -> str:
    return f"https://huggingface.co/{HUB_REPO}/resolve/main/{name}"


# -- tests -----------------------------------------------------------------------------------
def test_canvas_menu_and_command_open_the_dialog_listing_the_template(page, stack) -> None:
    load_workflow(page, "lora")
    dialog = open_from_canvas_menu(page)
    listed = rows(page)
    assert set(listed) == {"loras/MoXinV1.safetensors", "loras/blindbox_v1_mix.safetensors",
                           "checkpoints/dreamshaper_8.safetensors"}
    for key, row in listed.items():
        data = stack.served[tuple(key.split("/", 1))]
        assert row["state"] == "missing" and row["checked"] and row["pickable"], row
        assert "Missing" in row["text"] and "civitai.com" in row["text"], row
        assert f"{len(data) / 1024:.1f} KB" in row["text"], row  # the size from Civitai's metadata
    assert "3 missing" in summary(page)
    assert dialog.get_by_role("button", name="Download all missing").is_enabled()
    assert not stack.civitai.storage_requests  # listing never fetches a byte
    close_dialog(page)
    command = page.evaluate("""(id) => {
        const found = app.extensionManager.command.commands.find((c) => c.id === id);
        return found ? { label: typeof found.label === 'function' ? found.label() : found.label } : null;
    }""", COMMAND_ID)
    assert command == {"label": MENU_LABEL}
    page.evaluate("(id) => app.extensionManager.command.execute(id)", COMMAND_ID)
    wait_dialog_loaded(page)
    assert set(rows(page)) == set(listed)
    time.sleep(0.3)
    assert page.log.ours() == []


def test_download_all_missing_lands_verified_files_the_loaders_list(page, stack) -> None:
    load_workflow(page, "lora")
    assert "MoXinV1.safetensors" not in loader_choices(page, "lora_name")
    before = validate_prompt(page, stack.comfy)
    assert before["status"] == 400 and "value_not_in_list" in json.dumps(before), before
    dialog = open_from_canvas_menu(page)
    dialog.get_by_role("button", name="Download all missing").click()
    text = wait_finished(page)
    assert text.startswith("Done: 3 downloaded and verified") and "Every model is in place" in text, text
    for key, row in rows(page).items():
        folder, name = key.split("/", 1)
        assert row["state"] == "completed" and "Downloaded and verified" in row["text"], row
        path = model_path(stack.comfy.models_dir, folder, name)
        assert sha256(path) == hashlib.sha256(stack.served[(folder, name)]).hexdigest(), path
    # The loader nodes list the new files without a page reload, and ComfyUI accepts the prompt.
    page.page.wait_for_function("""() => app.graph.nodes.some((n) => n.widgets?.some((w) => w.name === 'lora_name'
        && (w.options?.values ?? []).includes('MoXinV1.safetensors')))""", timeout=15000)
    assert {"dreamshaper_8.safetensors"} <= set(loader_choices(page, "ckpt_name"))
    after = validate_prompt(page, stack.comfy)
    assert after["status"] == 200 and not after.get("node_errors"), after
    page.screenshot(stack.shots / "workflow-models-dialog.png", clip=dialog.bounding_box())
    assert page.log.ours() == []


def test_rows_show_live_progress_with_pause_resume_and_cancel(page, stack) -> None:
    load_workflow(page, "2_pass_pose_worship")
    dialog = open_from_canvas_menu(page)
    civitai_key, hub_key = "checkpoints/majicmixRealistic_v7.safetensors", "controlnet/control_v11p_sd15_openpose_fp16.safetensors"
    assert {civitai_key, hub_key} <= set(rows(page))
    dialog.get_by_role("button", name="Download all missing").click()
    moving = wait_row(page, civitai_key, "d.state === 'downloading' && Number(d.percent) > 0 && Number(d.percent) < 60")
    assert "Downloading" in moving["text"] and "%" in moving["text"], moving
    assert "Downloading" in summary(page)
    row_button(page, civitai_key, "Pause").click()
    wait_row(page, hub_key, "d.state === 'downloading' && Number(d.percent) > 0")
    row_button(page, hub_key, "Cancel").click()
    paused = wait_row(page, civitai_key, "d.state === 'paused'")
    wait_row(page, hub_key, "d.state === 'cancelled'")
    page.screenshot(stack.shots / "workflow-models-progress.png", clip=dialog.bounding_box())
    time.sleep(0.5)
    still = rows(page)[civitai_key]
    assert still["state"] == "paused" and still["percent"] == paused["percent"], (paused, still)
    row_button(page, civitai_key, "Resume").click()
    wait_row(page, civitai_key, "d.state === 'completed'", timeout=120)
    text = wait_finished(page)
    assert "1 cancelled" in text and "downloaded and verified" in text, text
    checkpoint = model_path(stack.comfy.models_dir, "checkpoints", "majicmixRealistic_v7.safetensors")
    assert sha256(checkpoint) == hashlib.sha256(stack.served[("checkpoints", "majicmixRealistic_v7.safetensors")]).hexdigest()
    assert not model_path(stack.comfy.models_dir, "controlnet", "control_v11p_sd15_openpose_fp16.safetensors").exists()
    cancelled = rows(page)[hub_key]
    assert cancelled["pickable"], cancelled  # a cancelled download can be asked for again
    assert page.log.ours() == []


def test_present_elsewhere_refused_no_link_and_a_wrong_hash(page, stack) -> None:
    comfy = stack.comfy
    scan = comfy.post("/model-manager/scans", json={"model_type": "loras", "compute_hashes": True}).json()
    deadline = time.monotonic() + 60
    while comfy.get(f"/model-manager/scans/{scan['scan_id']}").json()["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, "the scan did not end"
        time.sleep(0.2)
    renamed = sha256(comfy.models_dir / "loras" / "renamed.safetensors")
    workflow = {"last_node_id": 9, "last_link_id": 0, "links": [], "groups": [], "config": {}, "extra": {},
                "version": 0.4, "nodes": [
        ui_node(1, "LoraLoaderModelOnly", ["have.safetensors", 1.0]),
        ui_node(2, "LoraLoaderModelOnly", ["wanted.safetensors", 1.0],
                [{"name": "wanted.safetensors", "url": hub_link("wanted.safetensors"), "directory": "loras",
                  "hash": renamed.upper(), "hash_type": "SHA256"}]),
        ui_node(3, "LoraLoaderModelOnly", ["nolink.safetensors", 1.0]),
        ui_node(4, "LoraLoaderModelOnly", ["../escape.safetensors", 1.0],
                [{"name": "../escape.safetensors", "url": hub_link("escape.safetensors"), "directory": "loras"}]),
        ui_node(5, "LoraLoaderModelOnly", ["badhash.safetensors", 1.0],
                [{"name": "badhash.safetensors", "url": hub_link("badhash.safetensors"), "directory": "loras",
                  "hash": "00" * 32, "hash_type": "SHA256"}]),
    ]}
    load_workflow(page, workflow=workflow, name="hostile")
    dialog = open_from_canvas_menu(page)
    listed = rows(page)
    assert listed["loras/have.safetensors"]["state"] == "present"
    elsewhere = listed["loras/wanted.safetensors"]
    assert elsewhere["state"] == "present_elsewhere" and "loras/renamed.safetensors" in elsewhere["text"], elsewhere
    nolink = listed["loras/nolink.safetensors"]
    assert nolink["state"] == "missing_no_url" and "no download link" in nolink["text"], nolink
    refused = next(row for key, row in listed.items() if "escape" in key)
    assert refused["state"] == "refused" and "inside its model folder" in refused["text"], refused
    assert float(refused["opacity"]) < 1 and float(nolink["opacity"]) < 1  # greyed
    assert [key for key, row in listed.items() if row["pickable"]] == ["loras/badhash.safetensors"]
    assert "cannot be downloaded" in summary(page)
    dialog.get_by_role("button", name="Download all missing").click()
    failed = wait_row(page, "loras/badhash.safetensors", "d.state === 'failed'")
    assert "sha256" in failed["text"].lower(), failed
    text = wait_finished(page)
    assert "1 failed" in text and "2 already present" in text and "2 models cannot be downloaded" in text, text
    assert not (comfy.models_dir / "loras" / "badhash.safetensors").exists()
    assert not list(comfy.base_dir.rglob("escape.safetensors"))
    assert not [e for e in page.log.ours() if "/model-manager/workflow-models" not in e]


def test_a_loaded_workflow_offers_the_dialog_unless_turned_off(page, stack) -> None:
    page.evaluate("(id) => app.extensionManager.setting.set(id, true)", OFFER_SETTING)
    load_workflow(page, "image_qwen_image_edit_2509")  # subgraphs
    note = page.page.locator(".mm-wf-offer")
    try:
        note.wait_for(timeout=30000)
    except Exception:
        raise AssertionError(f"no offer; console: {page.log.console[-15:]}") from None
    assert "This workflow uses 4 models that are not on the server" in note.inner_text()
    note.get_by_role("button", name=MENU_LABEL).click()
    wait_dialog_loaded(page)
    listed = rows(page)
    assert len(listed) == 4 and all(row["state"] == "missing" for row in listed.values()), listed
    assert "node 39" in listed["vae/qwen_image_vae.safetensors"]["text"], listed  # used inside a subgraph too
    assert not page.page.locator(".mm-wf-offer").count()
    close_dialog(page)
    page.evaluate("(id) => app.extensionManager.setting.set(id, false)", OFFER_SETTING)
    try:
        load_workflow(page, "depth_t2i_adapter")
        time.sleep(2)
        assert not page.page.locator(".mm-wf-offer").count()
    finally:
        page.evaluate("(id) => app.extensionManager.setting.set(id, true)", OFFER_SETTING)
    assert page.log.ours() == []


def test_the_dialog_is_readable_in_the_dark_and_the_light_palette(page, stack) -> None:
    """Comfy.ColorPalette set through the settings API, as the settings dialog does; every text of
    the dialog reaches 4.5:1 on its background in both, and the colours follow the palette."""
    seen = {}
    try:
        for palette in ("dark", "light"):
            page.evaluate("(id) => app.extensionManager.setting.set('Comfy.ColorPalette', id)", palette)
            page.page.wait_for_function("(s) => getComputedStyle(document.documentElement).colorScheme === s",
                                        arg=palette, timeout=10000)
            load_workflow(page, "lora")
            open_from_canvas_menu(page)
            samples = text_contrast(page.page, "dialog.mm-wf[open]")
            assert len(samples) >= 15 and unreadable(samples) == [], (palette, unreadable(samples) or samples)
            seen[palette] = theme_colours(page.page, ["dialog.mm-wf[open]", "dialog.mm-wf .mm-wf-table th",
                                                      "dialog.mm-wf .mm-wf-state", "dialog.mm-wf .mm-sb-button"])
            close_dialog(page)
    finally:
        page.evaluate("() => app.extensionManager.setting.set('Comfy.ColorPalette', 'dark')")
    for selector, dark in seen["dark"].items():
        light = seen["light"][selector]
        assert (dark["colour"], dark["background"]) != (light["colour"], light["background"]), selector
        assert light["text_luminance"] < light["background_luminance"] and dark["text_luminance"] > dark["background_luminance"], (selector, dark, light)
    assert page.log.ours() == []
