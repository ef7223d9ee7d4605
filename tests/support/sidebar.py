"""Drive the Models sidebar tab as a person would: the icon, the two views, the form, the cards.

Shared by the sidebar's browser tests (tests/test_sidebar_browser.py and the theme tests).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .browser import ComfyPage


#: The tab's icon in the left bar: the frontend names it after the tab id (a class up to 1.27,
#: a data-testid in newer ones).
SIDEBAR_ICON = ".model-manager-tab-button, [data-testid='model-manager-tab-button']"


def sidebar_icon(page: ComfyPage) -> Any:
    return page.page.locator(SIDEBAR_ICON).first


def open_sidebar(page: ComfyPage) -> Any:
    """Clicks the sidebar icon unless the tab is already open; answers the tab's root."""
    root = page.page.locator(".mm-sb")
    if not root.is_visible():
        sidebar_icon(page).click()
        root.wait_for(state="visible", timeout=10000)
    return root


def show_view(page: ComfyPage, name: str) -> Any:
    root = open_sidebar(page)
    root.get_by_role("tab", name=name).click()
    panel = root.locator(f"#mm-sb-panel-{name.lower()}")
    panel.wait_for(state="visible", timeout=5000)
    return panel


def show_models(page: ComfyPage, model_type: str) -> Any:
    panel = show_view(page, "Models")
    back = panel.get_by_role("button", name="Back")
    if back.is_visible():
        back.click()
    if panel.get_by_label("Search").input_value():
        panel.get_by_label("Search").fill("")
    panel.get_by_label("Folder type").select_option(model_type)
    page.page.wait_for_function("""(type) => {
        const view = document.querySelector('.mm-sb-models');
        return view && !view.dataset.loading && view.dataset.shown === type
            && !document.querySelector('.mm-sb-count').innerText.includes('match');
    }""", arg=model_type, timeout=30000)
    return panel


def sidebar_shot(page: ComfyPage, path: Path) -> Path:
    """A screenshot of the sidebar (icon bar and our tab, not the whole page: small PNGs for docs/)."""
    box = page.page.locator(".mm-sb").bounding_box()
    return page.screenshot(path, clip={"x": 0, "y": 0, "width": box["x"] + box["width"] + 8,
                                              "height": min(box["y"] + box["height"] + 8, 800)})


def task_row(page: ComfyPage, filename: str) -> Any:
    row = page.page.locator(".mm-sb-task", has=page.page.locator(".mm-sb-task-name", has_text=filename)).first
    row.wait_for(timeout=30000)
    return row


def wait_row(page: ComfyPage, filename: str, condition: str, timeout: float = 60) -> dict:
    """Waits until ``condition`` (JS over ``d``, the row's dataset) holds for the task row."""
    return page.page.wait_for_function(f"""(name) => {{
        const row = [...document.querySelectorAll('.mm-sb-task')]
            .find((r) => r.querySelector('.mm-sb-task-name')?.textContent === name);
        const d = row?.dataset;
        return d && ({condition}) ? {{ ...d, text: row.innerText }} : null;
    }}""", arg=filename, timeout=timeout * 1000, polling=100).json_value()


def new_download(page: ComfyPage, link: str) -> Any:
    panel = show_view(page, "Downloads")
    form = panel.locator(".mm-sb-form")
    if not form.is_visible():
        panel.get_by_role("button", name="New download").click()
    form.get_by_label("Link").fill(link)
    form.get_by_label("Link").press("Enter")
    return form


def search(page: ComfyPage, panel: Any, text: str) -> None:
    """Types into Search and waits for the answer (the grid is rebuilt when it comes)."""
    panel.get_by_label("Search").fill(text)
    page.page.wait_for_function("(q) => document.querySelector('.mm-sb-count')?.innerText.includes(q)", arg=text,
                                timeout=10000)


def open_details(page: ComfyPage, model_type: str, name: str) -> Any:
    panel = show_models(page, model_type)
    search(page, panel, name.rsplit(".", 1)[0])
    card = panel.locator(f".mm-sb-card[data-name='{name}']")
    card.wait_for(timeout=10000)
    card.click()
    details = panel.locator(".mm-sb-details")
    details.locator(".mm-sb-facts").wait_for(timeout=10000)
    return details
