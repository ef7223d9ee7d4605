"""First paint of the Models sidebar with 10,000 models, in headless Chromium against a real ComfyUI
(target: the first page shows within 1 s).

Needs COMFYUI_PATH (and CHROMIUM_PATH, or Debian's /usr/bin/chromium; COMFYUI_FRONTEND_NEW_ROOT for
--mode newest / newest-vue).  Starts ComfyUI on a temp base directory holding 10,000 embeddings and
24 LoRAs, opens the page, opens the Models tab by clicking its icon, then times, by the page's
clock, from choosing a folder type in "Folder type" to the frame after the first page of cards is
in the DOM.  The reference, measured in the same run, is the same step for the 24-model folder;
the two are interleaved (alternating which goes first) and the output is the median, min and max
of each and the ratio of the medians.

    python bench/sidebar_first_paint.py [--mode pinned|newest|newest-vue] [--runs 9]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.browser import (
    ComfyPage,
    chromium,
    find_chromium,
    find_frontend_mode,
    start_comfy_for_mode,
)
from support.comfyui_harness import find_comfyui
from support.scanner_files import safetensors_bytes

MANY, FEW = 10_000, 24
TARGET_MS = 1000

#: Chooses a folder type and resolves with the milliseconds until the frame after its first cards.
TIME_FIRST_PAINT = """(type) => new Promise((resolve, reject) => {
    const select = document.querySelector('.mm-sb-models select[aria-label="Folder type"]');
    const scroller = document.querySelector('.mm-sb-scroller');
    const painted = () => [...scroller.querySelectorAll('.mm-sb-card[data-name]')]
        .some((card) => card.dataset.type === type);
    const started = performance.now();
    const observer = new MutationObserver(() => {
        if (!painted()) return;
        observer.disconnect();
        requestAnimationFrame(() => resolve(performance.now() - started));
    });
    observer.observe(scroller, { childList: true, subtree: true });
    setTimeout(() => { observer.disconnect(); reject(new Error('no cards within 30 s')); }, 30000);
    select.value = type;
    select.dispatchEvent(new Event('change'));
})"""


def fill(models: Path) -> None:
    data = safetensors_bytes()
    for folder, prefix, count in (("embeddings", "emb", MANY), ("loras", "lora", FEW)):
        (models / folder).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            (models / folder / f"{prefix}_{index:05d}.safetensors").write_bytes(data)


def line(label: str, values: list[float]) -> str:
    return (f"{label:28s} median {statistics.median(values):7.1f} ms  min {min(values):7.1f}  "
            f"max {max(values):7.1f}  ({len(values)} runs)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="pinned", choices=("pinned", "newest", "newest-vue"))
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    _installation, reason = find_comfyui()
    executable, chromium_reason = find_chromium()
    mode, mode_reason = find_frontend_mode(args.mode)
    for problem in (reason, chromium_reason, mode_reason):
        if problem:
            print(f"cannot run: {problem}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "comfy"
        fill(base / "models")
        comfy = start_comfy_for_mode(mode, base)
        try:
            for model_type in ("embeddings", "loras"):  # index once: this times the page, not the walk
                comfy.get(f"/model-manager/models?type={model_type}&limit=1", timeout=300).raise_for_status()
            with chromium(Path(tmp) / "profile", executable) as context:
                tab = ComfyPage(context, comfy.base_url).open()
                tab.page.locator(".model-manager-tab-button, [data-testid='model-manager-tab-button']").first.click()
                tab.page.locator(".mm-sb").wait_for(state="visible", timeout=10000)
                tab.page.locator(".mm-sb").get_by_role("tab", name="Models").click()
                tab.page.wait_for_function("() => document.querySelector('.mm-sb-models select')?.options.length > 1")
                times: dict[str, list[float]] = {"embeddings": [], "loras": []}
                tab.evaluate(TIME_FIRST_PAINT, "loras")  # warm-up: modules, styles, first layout
                for run in range(args.runs):
                    order = ("embeddings", "loras") if run % 2 == 0 else ("loras", "embeddings")
                    for model_type in order:
                        times[model_type].append(tab.evaluate(TIME_FIRST_PAINT, model_type))
                rendered = tab.evaluate("() => document.querySelectorAll('.mm-sb-card').length")
        finally:
            comfy.stop()
    many, few = times["embeddings"], times["loras"]
    print(f"Models sidebar first paint, frontend {args.mode}, Chromium headless, 2 shared cores")
    print(line(f"{MANY:,} models (embeddings)", many))
    print(line(f"{FEW} models (reference)", few))
    ratio = statistics.median(many) / statistics.median(few)
    verdict = "ok" if statistics.median(many) <= TARGET_MS else "OVER TARGET"
    print(f"ratio 10k / reference: {ratio:.2f}x; target {TARGET_MS} ms: {verdict}; "
          f"cards in the DOM after the last run: {rendered}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
