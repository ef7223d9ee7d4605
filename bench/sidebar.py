"""Sidebar numbers: one page of 200 models out of a 10,000-model index at the server (target <= 100 ms).

Runs ModelIndex.query_models and the JSON of the page (what GET /model-manager/models?offset&limit&q&sort does) on a
10,000-file folder, interleaving the query kinds; prints median, min and max per kind.
The headless-Chromium first paint of the tab is measured by bench/sidebar_first_paint.py.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.scanner import ModelIndex
from comfyui_model_manager.core.settings import Settings
from support.scanner_files import safetensors_bytes

COUNT, RUNS = 10_000, 15
QUERIES = {"first page": {"offset": 0, "limit": 200}, "deep page": {"offset": 9_000, "limit": 200},
           "search": {"q": "emb_09", "limit": 200}, "sort -size": {"sort": "-size", "limit": 200}}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "models" / "embeddings"
        folder.mkdir(parents=True)
        data = safetensors_bytes()
        for i in range(COUNT):
            (folder / f"emb_{i:05d}.safetensors").write_bytes(data)
        index = ModelIndex(ModelFolders.from_models_dir(root / "models"), root / "state",
                           Settings(root / "state" / "settings.json"), refresh_on_first_list=False)
        index.query_models("embeddings", limit=1)  # index once
        times: dict[str, list[float]] = {k: [] for k in QUERIES}
        for _ in range(RUNS):
            for name, params in QUERIES.items():
                started = time.perf_counter()
                models, total = index.query_models("embeddings", **params)
                page = [model.to_json(light=True) for model in models]  # what the route sends
                times[name].append((time.perf_counter() - started) * 1000)
                assert page and total
        for name, values in times.items():
            print(f"{name:12s} median {statistics.median(values):6.1f} ms  min {min(values):6.1f}  "
                  f"max {max(values):6.1f}  (target 100 ms, {COUNT} models, {RUNS} runs)")
        index.shutdown()


if __name__ == "__main__":
    main()
