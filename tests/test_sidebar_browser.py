"""The Models sidebar tab in headless Chromium against a real ComfyUI, on every frontend mode.

One ComfyUI + Chromium per frontend mode (the pinned frontend, the newest, the newest with Vue
nodes); Civitai and the Hub are the loopback fakes (CIVITAI_BASE_URL / HF_ENDPOINT). Every view is
opened by clicking, downloads are started from pasted links and paused/resumed with the row's
buttons, models are edited, previewed, deleted and dragged onto the canvas as a person would.
Screenshots go to a temp folder, and into docs/ when MM_UPDATE_SCREENSHOTS=1 (pinned mode).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.browser import ComfyPage, chromium, require_browser, start_comfy_for_mode
from support.comfyui_harness import PACK_ROOT, ComfyUIServer
from support.fake_civitai import FakeCivitai
from support.fake_hub import FakeHub
from support.throttled_files import ThrottledFiles
from support.scanner_files import image_bytes, safetensors_bytes, write_safetensors
from support.sidebar import (new_download, open_details, search, show_models, show_view, sidebar_icon, sidebar_shot,
                             task_row, wait_row)

# The first test of a mode also starts ComfyUI and indexes 10,000 models: slow on a busy machine.
pytestmark = [pytest.mark.comfyui, pytest.mark.browser, pytest.mark.timeout(480)]

BIG = 4 << 20  # 64 chunks of 64 KiB: ~5 s at the delays below, time to pause and resume
CHUNK_DELAY = 0.08
MANY = 10_000
XSS_DESCRIPTION = """# Totally normal model

<script>window.__mmXss = 'script'</script>
<img src="x" onerror="window.__mmXss = 'onerror'">
<a href="javascript:window.__mmXss='link'">click me</a>
<a href=" JaVa&#x09;ScRiPt:window.__mmXss='tab'">tabbed</a>
<svg onload="window.__mmXss = 'svg'"><circle r="5"/></svg>
<iframe src="javascript:window.__mmXss='iframe'"></iframe>
<p onclick="window.__mmXss='click'" style="color:red">styled <b>bold</b></p>
[md link](javascript:window.__mmXss='md')
<form action="javascript:alert(1)"><button>go</button></form>
Safe link: https://civitai.com/models/1
"""


@dataclass
class Stack:
    mode: str
    comfy: ComfyUIServer
    civitai: FakeCivitai
    hub: FakeHub
    tab: ComfyPage
    shots: Path


def _fill_fakes(civitai: FakeCivitai, hub: FakeHub) -> dict[str, Any]:
    civitai.add_model(500, "Sparkle LoRA", "LORA", description="<p>shiny</p>")
    civitai.add_version(500, 600, "v1", base_model="SD 1.5", trained_words=["old sparkle"])
    civitai.add_file(600, 700, "sparkle_v1.safetensors", safetensors_bytes(payload=b"1" * 2048))
    civitai.add_version(500, 601, "v2", base_model="SDXL 1.0", trained_words=["sparkle"])
    big = safetensors_bytes(payload=os.urandom(BIG))
    civitai.add_file(601, 701, "sparkle_v2.safetensors", big)
    civitai.add_image(601, nsfw_level=1, color=(240, 180, 40))
    civitai.add_model(510, "Locked Checkpoint", "Checkpoint")
    civitai.add_version(510, 610, "v1", require_auth=True)
    civitai.add_file(610, 710, "locked.safetensors", b"x" * 100)
    civitai.storage_delay = CHUNK_DELAY
    hub.add_repo("acme/models")
    hub_data = safetensors_bytes(payload=os.urandom(BIG))
    hub.add_file("acme/models", "vae/acme_vae.safetensors", hub_data)
    hub.add_repo("acme/gated", gated="manual")
    hub.add_file("acme/gated", "model.safetensors", b"g" * 100)
    hub.cdn_delay = CHUNK_DELAY
    return {"civitai_sha": hashlib.sha256(big).hexdigest(), "hub_sha": hashlib.sha256(hub_data).hexdigest()}


def _fill_models(models: Path) -> None:
    loras = models / "loras"
    for index in range(24):
        write_safetensors(loras / f"style_{index:02d}.safetensors", {"ss_base_model_version": "sdxl_base_v1-0"})
    (loras / "style_00.png").write_bytes(image_bytes(size=(96, 128), color=(30, 120, 220)))
    (loras / "style_01.png").write_bytes(image_bytes(size=(96, 128), color=(220, 60, 90)))
    (loras / "style_02.md").write_text(XSS_DESCRIPTION)
    write_safetensors(models / "checkpoints" / "dream_xl.safetensors")
    many = models / "embeddings"
    many.mkdir(parents=True, exist_ok=True)
    data = safetensors_bytes()
    for index in range(MANY):
        (many / f"emb_{index:05d}.safetensors").write_bytes(data)


@pytest.fixture(scope="module")
def stack(frontend_mode, tmp_path_factory):
    mode = frontend_mode.name
    executable = require_browser()
    base = tmp_path_factory.mktemp(f"sidebar-{mode}")
    state = base / "user" / "model_manager"
    state.mkdir(parents=True)
    (state / "settings.json").write_text(json.dumps({"connections_per_download": 1}))
    _fill_models(base / "models")
    civitai, hub = FakeCivitai(), FakeHub()
    facts = _fill_fakes(civitai, hub)
    shots = tmp_path_factory.mktemp(f"shots-{mode}")
    comfy = None
    try:
        comfy = start_comfy_for_mode(frontend_mode, base,
                                     env={"CIVITAI_BASE_URL": civitai.base_url, "HF_ENDPOINT": hub.endpoint})
        for model_type in ("embeddings", "loras"):  # index once, so the tests time the UI, not the walk
            assert comfy.get(f"/model-manager/models?type={model_type}&limit=1", timeout=120).status_code == 200
        with chromium(tmp_path_factory.mktemp(f"profile-{mode}"), executable) as context:
            tab = ComfyPage(context, comfy.base_url).open()
            stack = Stack(mode, comfy, civitai, hub, tab, shots)
            stack.facts = facts  # type: ignore[attr-defined]
            yield stack
            tab.page.close()
    finally:
        if comfy is not None:
            comfy.stop()
        civitai.close()
        hub.close()
        if mode == "pinned" and os.environ.get("MM_UPDATE_SCREENSHOTS") == "1":
            for png in shots.glob("sidebar-*.png"):
                shutil.copy(png, PACK_ROOT / "docs" / png.name)


@pytest.fixture()
def page(stack):
    stack.tab.reset()
    yield stack.tab
    stack.tab.log.clear()


# -- helpers ---------------------------------------------------------------------------------
def cleanup_tasks(comfy: ComfyUIServer) -> None:
    for task in comfy.get("/model-manager/tasks").json()["tasks"]:
        if task["status"] in ("queued", "downloading", "paused"):
            comfy.post(f"/model-manager/tasks/{task['task_id']}/cancel")


# -- the tests -------------------------------------------------------------------------------
def test_each_view_opens_by_clicking_the_sidebar_icon(page, stack) -> None:
    sidebar = page.page.locator(".mm-sb")
    if sidebar.is_visible():  # close it first, so this test opens it with a click
        sidebar_icon(page).click()
        sidebar.wait_for(state="hidden", timeout=5000)
    sidebar_icon(page).click()
    sidebar.wait_for(state="visible", timeout=10000)
    downloads = show_view(page, "Downloads")
    for label in ("New download", "Clear finished"):
        assert downloads.get_by_role("button", name=label).is_visible()
    models = show_view(page, "Models")
    assert models.get_by_role("button", name="Scan", exact=True).is_visible()
    assert models.get_by_label("Search").is_visible()
    models = show_models(page, "loras")
    cards = models.locator(".mm-sb-card[data-name]")
    cards.first.wait_for(timeout=10000)
    page.page.wait_for_function("() => document.querySelector('.mm-sb-count')?.innerText.startsWith('24 models')",
                                timeout=10000)
    assert cards.first.get_attribute("data-name") == "style_00.safetensors"
    assert cards.first.locator("img").count() == 1  # a preview thumbnail
    # Search, sort and the list mode.
    models.get_by_label("Search").fill("style_1")
    page.page.wait_for_function("() => document.querySelector('.mm-sb-count').innerText.startsWith('10 models')",
                                timeout=10000)
    models.get_by_label("Sort").select_option("-name")
    page.page.wait_for_function("() => document.querySelector('.mm-sb-card[data-name]')?.dataset.name === 'style_19.safetensors'",
                                timeout=10000)
    models.get_by_role("button", name="List view").click()
    assert models.locator(".mm-sb-scroller").get_attribute("data-mode") == "list"
    models.get_by_role("button", name="Grid view").click()
    models.get_by_label("Search").fill("")
    models.get_by_label("Sort").select_option("name")
    page.page.wait_for_function("() => document.querySelector('.mm-sb-count').innerText.startsWith('24 models')",
                                timeout=10000)
    # Scan with live progress from the scan events.
    scan = models.get_by_role("button", name="Scan", exact=True)
    page.page.wait_for_function("() => !document.querySelector('.mm-sb-scan')?.dataset.status?.startsWith('running')",
                                timeout=30000)
    scan.click()
    page.page.wait_for_function("() => document.querySelector('.mm-sb-scan')?.innerText.includes('Scan finished')",
                                timeout=30000)
    assert page.log.ours() == []


def test_a_civitai_download_from_a_pasted_link_paused_and_resumed(page, stack) -> None:
    form = new_download(page, f"{stack.civitai.base_url}/models/500/sparkle-lora")
    details = form.locator(".mm-sb-resolved")
    details.locator(".mm-sb-facts").wait_for(timeout=20000)
    text = details.inner_text()
    for part in ("Civitai", "Sparkle LoRA", "SDXL 1.0", "sparkle_v2.safetensors", "4.0 MB"):
        assert part in text, (part, text)
    assert details.locator("img.mm-sb-resolved-preview").get_attribute("src").startswith(stack.civitai.storage.url)
    assert form.get_by_label("Type").input_value() == "loras"
    versions = form.get_by_label("Version").locator("option").all_inner_texts()
    assert [v.split(" ·")[0] for v in versions] == ["v2", "v1"]
    form.get_by_label("Subfolder").fill("civitai")
    assert "loras/civitai/sparkle_v2.safetensors" in form.locator(".mm-sb-target").inner_text()
    if stack.mode == "pinned":
        sidebar_shot(page, stack.shots / "sidebar-new-download.png")
    form.get_by_role("button", name="Start").click()
    try:
        wait_row(page, "sparkle_v2.safetensors", "d.status === 'downloading' && Number(d.percent) > 3")
        row = task_row(page, "sparkle_v2.safetensors")
        assert "Civitai" in row.inner_text() and "loras/civitai" in row.inner_text()
        running = wait_row(page, "sparkle_v2.safetensors", "Number(d.percent) > 8")
        assert "/s" in running["text"] and "ETA" in running["text"] and "%" in running["text"]
        if stack.mode == "pinned":
            sidebar_shot(page, stack.shots / "sidebar-downloads.png")
        row.get_by_role("button", name="Pause").click()
        paused = wait_row(page, "sparkle_v2.safetensors", "d.status === 'paused'", 15)
        time.sleep(0.8)
        assert task_row(page, "sparkle_v2.safetensors").get_attribute("data-percent") == paused["percent"]
        row.get_by_role("button", name="Resume").click()
        wait_row(page, "sparkle_v2.safetensors", "d.status === 'completed'", 60)
    finally:
        cleanup_tasks(stack.comfy)
    path = stack.comfy.models_dir / "loras" / "civitai" / "sparkle_v2.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == stack.facts["civitai_sha"]
    ranges = [r.header("Range") for r in stack.civitai.storage_requests]
    assert any(r and not r.startswith("bytes=0-") for r in ranges), ranges  # resumed, not restarted
    # Its details come from the Civitai sidecars written with it.
    panel = show_models(page, "loras")
    search(page, panel, "sparkle_v2")
    panel.locator(".mm-sb-card[data-name='civitai/sparkle_v2.safetensors']").click()
    details = panel.locator(".mm-sb-details")
    details.locator(".mm-sb-facts").wait_for(timeout=10000)
    assert "SDXL 1.0" in details.inner_text() and "sparkle" in details.locator(".mm-sb-chips").inner_text()
    if stack.mode == "pinned":
        page.page.wait_for_function("() => document.querySelector('.mm-sb-preview img')?.complete")
        sidebar_shot(page, stack.shots / "sidebar-details.png")
    details.get_by_role("button", name="Back").click()
    assert page.log.ours() == []


def test_a_hub_download_from_a_pasted_link_paused_and_resumed(page, stack) -> None:
    form = new_download(page, f"{stack.hub.endpoint}/acme/models/blob/main/vae/acme_vae.safetensors")
    form.locator(".mm-sb-resolved .mm-sb-facts").wait_for(timeout=20000)
    text = form.inner_text()
    assert "Hugging Face" in text and "acme/models" in text and "acme_vae.safetensors" in text
    assert form.get_by_label("Type").input_value() == "vae"
    form.get_by_label("File name").fill("acme_renamed.safetensors")
    form.get_by_role("button", name="Start").click()
    try:
        wait_row(page, "acme_renamed.safetensors", "d.status === 'downloading' && Number(d.percent) > 3")
        row = task_row(page, "acme_renamed.safetensors")
        assert "Hub" in row.inner_text()
        row.get_by_role("button", name="Pause").click()
        wait_row(page, "acme_renamed.safetensors", "d.status === 'paused'", 15)
        row.get_by_role("button", name="Resume").click()
        wait_row(page, "acme_renamed.safetensors", "d.status === 'completed'", 60)
    finally:
        cleanup_tasks(stack.comfy)
    path = stack.comfy.models_dir / "vae" / "acme_renamed.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == stack.facts["hub_sha"]
    # Clear finished removes the finished rows (and their records, not the files).
    show_view(page, "Downloads").get_by_role("button", name="Clear finished").click()
    page.page.wait_for_function("() => !document.querySelector('.mm-sb-task[data-status=\"completed\"]')", timeout=10000)
    assert path.is_file()
    assert page.log.ours() == []


def test_the_form_says_what_to_do_about_keys_gates_and_bad_links(page, stack) -> None:
    form = new_download(page, f"{stack.civitai.base_url}/api/download/models/610")
    problem = form.locator(".mm-sb-problem")
    problem.wait_for(state="visible", timeout=20000)
    assert "Civitai API key" in problem.inner_text() and "Settings" in problem.inner_text()
    page.wait_toast("cannot be downloaded")
    assert form.get_by_role("button", name="Start").is_disabled()
    form.get_by_label("Link").fill(f"{stack.hub.endpoint}/acme/gated/resolve/main/model.safetensors")
    form.get_by_label("Link").press("Enter")
    page.page.wait_for_function("() => document.querySelector('.mm-sb-problem')?.innerText.includes('gated')", timeout=20000)
    assert "token" in problem.inner_text()
    form.get_by_label("Link").fill("ftp://example.invalid/x.safetensors")
    form.get_by_label("Link").press("Enter")
    page.page.wait_for_function("() => document.querySelector('.mm-sb-problem')?.innerText.includes('http')", timeout=20000)
    form.get_by_label("Link").press("Escape")  # Escape closes the form
    form.wait_for(state="hidden", timeout=5000)
    # The failures were told, as toasts and in the form, and nothing else went wrong.
    assert not [e for e in page.log.ours() if "/model-manager/resolve" not in e]


def test_a_failed_task_shows_its_message_and_retries(page, stack) -> None:
    stack.civitai.storage_serves_html = True
    try:
        form = new_download(page, f"{stack.civitai.base_url}/models/500?modelVersionId=600")
        form.locator(".mm-sb-resolved .mm-sb-facts").wait_for(timeout=20000)
        form.get_by_role("button", name="Start").click()
        failed = wait_row(page, "sparkle_v1.safetensors", "d.status === 'failed'", 60)
        assert "web page" in failed["text"] or "HTML" in failed["text"], failed["text"]
        told = [text for _kind, text, _url in page.log.console if "[Model Manager]" in text]
        assert any("Download failed" in t or "API key needed" in t for t in told), told
    finally:
        stack.civitai.storage_serves_html = False
    task_row(page, "sparkle_v1.safetensors").get_by_role("button", name="Retry").click()
    wait_row(page, "sparkle_v1.safetensors", "d.status === 'completed'", 60)
    assert (stack.comfy.models_dir / "loras" / "sparkle_v1.safetensors").is_file()


def test_a_task_another_process_downloads_says_so_as_a_note_not_an_error(page, stack) -> None:
    """Another process (the CLI, a second ComfyUI) writes the file: ComfyUI's task follows it and
    the row says so in a plain note, with that process's progress, and no error line."""
    import sys

    files = ThrottledFiles()
    served = files.add("shared_vae.safetensors", 2 << 20, delay=0.1)  # 32 chunks: ~3 s
    writer_state = stack.comfy.models_dir.parent / "other-process-state"
    writer = subprocess.Popen(
        [sys.executable, str(PACK_ROOT / "tests" / "support" / "writer_process.py"), str(stack.comfy.models_dir),
         str(writer_state), files.url(served.name), "vae"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        partial = stack.comfy.models_dir / "vae" / f".{served.name}.mmpart"
        deadline = time.monotonic() + 30
        while not partial.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert partial.exists(), "the other process did not start writing"
        show_view(page, "Downloads")
        answer = stack.comfy.post("/model-manager/tasks", json={"url": files.url(served.name), "model_type": "vae"})
        assert answer.status_code in (200, 201), answer.text
        following = page.page.wait_for_function("""(name) => {
            const row = [...document.querySelectorAll('.mm-sb-task')]
                .find((r) => r.querySelector('.mm-sb-task-name')?.textContent === name);
            const note = row?.querySelector('.mm-sb-task-note');
            return note && !note.hidden && note.textContent ? {
                note: note.textContent, error: row.querySelector('.mm-sb-task-error').textContent,
                role: note.getAttribute('role') } : null;
        }""", arg=served.name, timeout=20000, polling=100).json_value()
        assert following["note"].startswith("being downloaded by another process (pid "), following
        assert following["error"] == "" and following["role"] == "status"
        wait_row(page, served.name, "d.status === 'completed'", 60)
        note = task_row(page, served.name).locator(".mm-sb-task-note")
        assert note.is_hidden()
        assert writer.wait(timeout=60) == 0, writer.stderr.read()
    finally:
        if writer.poll() is None:
            writer.kill()
        files.close()
    landed = stack.comfy.models_dir / "vae" / served.name
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == served.sha256


def test_a_hostile_description_is_shown_as_harmless_text(page, stack) -> None:
    details = open_details(page, "loras", "style_02.safetensors")
    description = details.locator(".mm-sb-description")
    description.get_by_text("styled").wait_for(timeout=5000)
    time.sleep(0.5)  # a handler, if any had survived, would have run by now
    found = page.evaluate("""() => {
        const root = document.querySelector('.mm-sb-description');
        const all = [...root.querySelectorAll('*')];
        return {
            xss: window.__mmXss ?? null,
            tags: [...new Set(all.map((e) => e.localName))].sort(),
            handlers: all.flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith('on') || n === 'style'),
            hrefs: [...root.querySelectorAll('a')].map((a) => a.getAttribute('href')),
            text: root.innerText,
        };
    }""")
    assert found["xss"] is None
    assert not set(found["tags"]) & {"script", "iframe", "svg", "form", "button", "img", "style"}, found["tags"]
    assert found["handlers"] == []
    assert all(h is None or h.startswith("https://") for h in found["hrefs"]), found["hrefs"]
    assert "https://civitai.com/models/1" in found["hrefs"]
    assert "click me" in found["text"] and "bold" in found["text"] and "Totally normal model" in found["text"]
    if stack.mode == "pinned":
        sidebar_shot(page, stack.shots / "sidebar-xss.png")


def test_a_description_edited_and_saved(page, stack) -> None:
    details = open_details(page, "loras", "style_03.safetensors")
    details.get_by_role("button", name="Edit description").click()
    area = details.get_by_role("textbox", name="Description")
    area.fill("# Edited here\n\nUse **sparingly**.")
    details.get_by_role("button", name="Save").click()
    details.locator(".mm-sb-description strong", has_text="sparingly").wait_for(timeout=10000)
    sidecar = stack.comfy.models_dir / "loras" / "style_03.md"
    assert sidecar.read_text() == "# Edited here\n\nUse **sparingly**."
    assert stack.comfy.get("/model-manager/models/loras/style_03.safetensors").json()["description"].startswith("# Edited")
    page.wait_toast("Description saved")
    details.press("Escape")  # Escape leaves the details
    details.wait_for(state="hidden", timeout=5000)
    assert page.log.ours() == []


def test_a_preview_uploaded_and_shown(page, stack, tmp_path) -> None:
    picture = tmp_path / "new_preview.png"
    picture.write_bytes(image_bytes(size=(120, 160), color=(10, 200, 90)))
    details = open_details(page, "loras", "style_04.safetensors")
    assert details.locator(".mm-sb-preview img").count() == 0
    with page.page.expect_file_chooser() as chooser:
        details.get_by_role("button", name="Set preview").click()
    chooser.value.set_files(str(picture))
    image = details.locator(".mm-sb-preview img")
    image.wait_for(timeout=10000)
    page.page.wait_for_function("() => document.querySelector('.mm-sb-preview img')?.naturalWidth === 120", timeout=10000)
    assert (stack.comfy.models_dir / "loras" / "style_04.webp").is_file()
    details.get_by_role("button", name="Back").click()
    page.page.wait_for_function("""() => {
        const img = document.querySelector(".mm-sb-card[data-name='style_04.safetensors'] img");
        return img && img.complete && img.naturalWidth === 120;
    }""", timeout=10000)
    # The browser keeps the thumbnail: the route answers 304 to its If-None-Match.
    etag = stack.comfy.get("/model-manager/models/loras/style_04.safetensors/preview").headers["ETag"]
    again = stack.comfy.get("/model-manager/models/loras/style_04.safetensors/preview", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert page.log.ours() == []


LORA_LIST = "(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'lora_name').options.values"


def undo_notes(page: ComfyPage, name: str) -> list[str]:
    """Every note on the page (ours and the frontend's toasts) that tells of deleting ``name``."""
    return [text for text in page.toasts() if f"Deleted {name}" in text]


def wait_loader_lists(page: ComfyPage, loader_id: int, name: str, present: bool) -> None:
    """Waits until the LoraLoader's list has (or has not) ``name`` (the lists refresh on their own)."""
    page.page.wait_for_function(f"([id, name]) => ({LORA_LIST})(id).includes(name) === {json.dumps(present)}",
                                arg=[loader_id, name], timeout=15000)


LISTS_PROBE = """
import json, os, sys
sys.path.insert(0, os.getcwd())
sys.argv = ["main.py", "--base-directory", sys.argv[1]]
import comfy.options
comfy.options.enable_args_parsing()
import folder_paths
print(json.dumps({kind: folder_paths.get_filename_list(kind) for kind in folder_paths.folder_names_and_paths}))
"""


def comfyui_lists(comfy: ComfyUIServer) -> dict[str, list[str]]:
    """folder_paths.get_filename_list of every folder type, asked in a fresh ComfyUI interpreter
    with the same base directory (what every loader node offers)."""
    run = subprocess.run([str(comfy.installation.python), "-c", LISTS_PROBE, str(comfy.base_dir)],
                         cwd=comfy.installation.path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_model_deleted_from_the_sidebar_and_undone(page, stack) -> None:
    name = "style_05.safetensors"
    target = stack.comfy.models_dir / "loras" / name
    before = target.read_bytes()
    loader_id = page.add_node("LoraLoader", (600, 120))
    page.evaluate("(id) => { app.graph.getNodeById(id).mode = 2; }", loader_id)
    assert name in page.evaluate(LORA_LIST, loader_id)
    details = open_details(page, "loras", name)
    details.get_by_role("button", name="Delete").click()
    note = page.page.locator(".mm-undo-toast", has_text=f"Deleted {name}")
    note.get_by_role("button", name="Undo").wait_for(timeout=10000)
    assert page.evaluate("() => document.activeElement?.classList.contains('mm-undo-button')")  # keyboard: Undo has focus
    notes = undo_notes(page, name)
    assert len(notes) == 1 and notes[0].startswith(f"Deleted {name} — Undo"), page.toasts()  # one Undo, ours
    assert not target.exists()
    panel = show_view(page, "Models")
    page.page.wait_for_function("() => document.querySelector('.mm-sb-count')?.innerText.startsWith('0 models')",
                                timeout=10000)  # the search for it finds nothing now
    wait_loader_lists(page, loader_id, name, present=False)
    assert len(undo_notes(page, name)) == 1, page.toasts()
    note.get_by_role("button", name="Undo").click()
    page.wait_toast("Restored", f"loras/{name}")
    assert target.read_bytes() == before
    note.wait_for(state="detached", timeout=5000)
    panel.locator(f".mm-sb-card[data-name='{name}']").wait_for(timeout=10000)  # back in the library
    wait_loader_lists(page, loader_id, name, present=True)  # and on the loader's list
    assert undo_notes(page, name) == []
    assert page.log.ours() == []


def test_a_delete_model_run_offers_one_undo_for_15_seconds(page, stack) -> None:
    """A script's DeleteModel prompt (no browser involved): the page shows the one note, the trash
    is on no ComfyUI list while the model is in it, and Undo brings it back everywhere."""
    name = "style_07.safetensors"
    target = stack.comfy.models_dir / "loras" / name
    before = target.read_bytes()
    loader_id = page.add_node("LoraLoader", (600, 120))
    page.evaluate("(id) => { app.graph.getNodeById(id).mode = 2; }", loader_id)
    panel = show_models(page, "loras")
    search(page, panel, "style_07")
    panel.locator(f".mm-sb-card[data-name='{name}']").wait_for(timeout=10000)
    page.evaluate("""() => {  // when each note comes and goes, by the page's clock
        window.__mmNotes = {};
        const seen = (nodes, key) => [...nodes].filter((n) => n.classList?.contains('mm-undo-toast'))
            .forEach((n) => { (window.__mmNotes[n.dataset.name] ??= {})[key] = performance.now(); });
        new MutationObserver((changes) => changes.forEach((c) => { seen(c.addedNodes, 'added'); seen(c.removedNodes, 'removed'); }))
            .observe(document.body, { childList: true, subtree: true });
    }""")
    with stack.comfy.websocket() as ws:
        prompt_id = stack.comfy.queue_prompt({"1": {"class_type": "DeleteModel", "inputs": {
            "model_type": "loras", "model_name": name, "confirm": True}}}, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
    note = page.page.locator(".mm-undo-toast", has_text=f"Deleted {name}")
    note.get_by_role("button", name="Undo").wait_for(timeout=10000)
    assert not target.exists()
    panel.locator(f".mm-sb-card[data-name='{name}']").wait_for(state="detached", timeout=10000)
    wait_loader_lists(page, loader_id, name, present=False)
    assert len(undo_notes(page, name)) == 1, page.toasts()
    # The trash holds the file, and no folder type of ComfyUI lists it (nor anything in the trash).
    trash = stack.comfy.get("/model-manager/trash").json()["items"]
    entry = next(item for item in trash if item["name"] == name)
    lists = comfyui_lists(stack.comfy)
    listed = [f"{kind}/{file}" for kind, files in lists.items() if kind != "custom_nodes" for file in files]
    assert name not in lists["loras"] and "style_06.safetensors" in lists["loras"]
    assert not [f for f in listed if "trash" in f.lower() or f.endswith(f"/{name}")], listed
    assert name not in stack.comfy.object_info("LoraLoader")["LoraLoader"]["input"]["required"]["lora_name"][0]
    # Left alone, the note goes after 15 s; the trash entry stays (the CLI or the REST route can restore).
    note.wait_for(state="detached", timeout=25000)
    life = page.evaluate("(name) => window.__mmNotes[name].removed - window.__mmNotes[name].added", name)
    assert 14_900 <= life <= 16_000, life
    assert stack.comfy.post(f"/model-manager/trash/{entry['id']}/restore").status_code == 200
    assert target.read_bytes() == before
    # A second run, undone from the page: the lists have the model again.
    with stack.comfy.websocket() as ws:
        prompt_id = stack.comfy.queue_prompt({"1": {"class_type": "DeleteModel", "inputs": {
            "model_type": "loras", "model_name": name, "confirm": True}}}, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
        assert not target.exists(), [m["type"] for m in ws.messages]
    note.get_by_role("button", name="Undo").click()
    page.wait_toast("Restored", f"loras/{name}")
    assert target.read_bytes() == before
    panel.locator(f".mm-sb-card[data-name='{name}']").wait_for(timeout=10000)
    wait_loader_lists(page, loader_id, name, present=True)
    assert name in stack.comfy.object_info("LoraLoader")["LoraLoader"]["input"]["required"]["lora_name"][0]
    assert page.log.ours() == []


def test_a_scan_cancelled_from_the_sidebar(page, stack) -> None:
    stack.civitai.api_delay = 1.0  # each Civitai lookup takes a second: time to cancel
    try:
        panel = show_models(page, "loras")
        page.page.wait_for_function("() => !document.querySelector('.mm-sb-scan')?.dataset.status?.startsWith('running')",
                                    timeout=30000)
        panel.get_by_label("Also hash and fetch Civitai info").check()
        panel.get_by_role("button", name="Scan", exact=True).click()
        line = panel.locator(".mm-sb-scan")
        page.page.wait_for_function("() => document.querySelector('.mm-sb-scan')?.dataset.status === 'running'",
                                    timeout=20000)
        scan_id = line.get_attribute("data-scan-id")
        line.get_by_role("button", name="Cancel scan").click()
        page.page.wait_for_function("() => document.querySelector('.mm-sb-scan')?.innerText.includes('Scan cancelled')",
                                    timeout=20000)
        page.wait_toast("Scan cancelled")
        assert stack.comfy.get(f"/model-manager/scans/{scan_id}").json()["status"] == "cancelled"
        assert panel.get_by_role("button", name="Scan", exact=True).is_enabled()
    finally:
        stack.civitai.api_delay = 0.0
        panel.get_by_label("Also hash and fetch Civitai info").uncheck()
    assert page.log.ours() == []


def _drag_card_to_canvas(page: ComfyPage, card: Any, point: tuple[float, float]) -> None:
    """A real mouse drag (Chromium turns it into HTML drag-and-drop events)."""
    box = card.bounding_box()
    mouse = page.page.mouse
    mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    mouse.down()
    mouse.move(box["x"] + box["width"] / 2 + 20, box["y"] + box["height"] / 2 + 5, steps=3)
    mouse.move(point[0], point[1], steps=10)
    mouse.up()


def test_a_model_dragged_onto_the_canvas_becomes_its_loader(page, stack) -> None:
    panel = show_models(page, "loras")
    card = panel.locator(".mm-sb-card[data-name='style_06.safetensors']")
    search(page, panel, "style_06")
    card.wait_for(timeout=10000)
    before = page.evaluate("() => app.graph.nodes.length")
    _drag_card_to_canvas(page, card, (900, 300))

    page.page.wait_for_function(f"() => app.graph.nodes.length === {before + 1}", timeout=10000)
    added = page.evaluate("""() => {
        const node = app.graph.nodes[app.graph.nodes.length - 1];
        return { type: node.type, value: node.widgets.find((w) => w.name === 'lora_name')?.value, pos: [...node.pos] };
    }""")
    assert added["type"] == "LoraLoader" and added["value"] == "style_06.safetensors"
    checkpoints = show_models(page, "checkpoints")
    card = checkpoints.locator(".mm-sb-card[data-name='dream_xl.safetensors']")
    card.wait_for(timeout=10000)
    _drag_card_to_canvas(page, card, (900, 500))
    page.page.wait_for_function(f"() => app.graph.nodes.length === {before + 2}", timeout=10000)
    node = page.evaluate("""() => {
        const node = app.graph.nodes[app.graph.nodes.length - 1];
        return { type: node.type, value: node.widgets.find((w) => w.name === 'ckpt_name')?.value };
    }""")
    assert node == {"type": "CheckpointLoaderSimple", "value": "dream_xl.safetensors"}
    assert page.log.ours() == []


def test_ten_thousand_models_first_paint_renders_only_what_is_visible(page, stack) -> None:
    panel = show_view(page, "Models")
    started = time.monotonic()
    panel.get_by_label("Folder type").select_option("embeddings")
    page.page.wait_for_function("() => document.querySelector('.mm-sb-count')?.innerText.startsWith('10,000 models')",
                                timeout=30000)
    panel.locator(".mm-sb-card[data-name='emb_00000.safetensors']").wait_for(timeout=10000)
    elapsed = time.monotonic() - started
    rendered = page.evaluate("() => document.querySelectorAll('.mm-sb-card').length")
    assert 0 < rendered < 200, rendered  # virtualised: a screenful, not 10,000 cards
    # Scrolling to the end fetches the pages it needs and shows the last models.
    page.evaluate("() => { const s = document.querySelector('.mm-sb-scroller'); s.scrollTop = s.scrollHeight; }")
    panel.locator(".mm-sb-card[data-name='emb_09999.safetensors']").wait_for(timeout=15000)
    assert page.evaluate("() => document.querySelectorAll('.mm-sb-card').length") < 200
    print(f"[{stack.mode}] 10k models: first paint {elapsed:.2f} s (bench/sidebar.py measures it properly)")
    if stack.mode == "pinned":
        show_models(page, "loras")
        page.page.wait_for_function("() => [...document.querySelectorAll('.mm-sb-card img')].every((i) => i.complete)")
        sidebar_shot(page, stack.shots / "sidebar-models.png")
    assert page.log.ours() == []
