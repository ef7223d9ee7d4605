"""Listing a 200-reference workflow against a 10,000-file index (target: median <= 200 ms).

No network: links point at the configured (unreachable, never contacted) HF_ENDPOINT and sizes
are off. Runs are interleaved with a plain-stat reference (200 x is_file) measured in the same run.
Usage: python bench/workflow.py [--runs 15]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.scanner.hash_cache import HashCache
from comfyui_model_manager.core.settings import Settings
from comfyui_model_manager.core.workflow.reader import from_document
from comfyui_model_manager.core.workflow.service import WorkflowModels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        folders = ModelFolders.from_models_dir(base / "models")
        loras = base / "models" / "loras"
        loras.mkdir(parents=True)
        cache = HashCache(base / "hashes.sqlite")
        for i in range(10_000):
            path = loras / f"model_{i:05d}.safetensors"
            path.write_bytes(b"x")
            st = path.stat()
            cache.put(str(path), st.st_size, st.st_mtime_ns, f"{i:064x}")
        nodes = []
        for i in range(200):
            name = f"model_{i * 50:05d}.safetensors" if i % 2 else f"absent_{i}.safetensors"
            nodes.append({"id": i, "type": "LoraLoader", "widgets_values": [name, 1, 1],
                          "properties": {"models": [{"name": name, "directory": "loras", "hash": f"{i * 7:064x}",
                                                     "hash_type": "SHA256",
                                                     "url": f"https://huggingface.co/o/r/resolve/main/{name}"}]}})
        workflow = from_document({"workflow": {"nodes": nodes}})
        service = WorkflowModels(folders, Settings(base / "s.json", environ={}), digests=cache,
                                 environ={"HF_ENDPOINT": "http://127.0.0.1:9"})
        ours, reference = [], []
        for _ in range(runs):
            start = time.perf_counter()
            refs = service.list(workflow, sizes=False)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            for node in nodes:
                (loras / node["widgets_values"][0]).is_file()
            reference.append(time.perf_counter() - start)
        assert len(refs) == 200
        cache.close()
    for label, values in (("listing", ours), ("200 x is_file", reference)):
        print(f"{label}: median {statistics.median(values) * 1000:.1f} ms "
              f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}) over {runs} runs")
    print(f"target: median <= 200 ms -> {'ok' if statistics.median(ours) <= 0.2 else 'MISSED'}")


if __name__ == "__main__":
    main()
