"""Scanner benchmark (not run by pytest).

Builds a library of 10,000 model files (sparse files; some with real safetensors headers) with
mixed sidecars, then prints:
- cold index time: empty state, every type walked, every header and sidecar read (target <= 3 s);
- warm rescan time: the same library scanned again, nothing changed (target <= 1 s), and a warm
  start (a new ModelIndex listing from the persisted index, then a rescan);
- hashing throughput of ``FileHasher`` as a ratio of Python's ``hashlib.sha256`` over the same
  bytes in the same run (target >= 0.85), on a real (non-sparse) file.

Usage: python bench/scan.py [--count 10000] [--hash-mib 512] [--dir /tmp/somewhere]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

try:
    from comfyui_model_manager.core.model_types import ModelFolders
    from comfyui_model_manager.core.scanner import ModelIndex
    from comfyui_model_manager.core.scanner.hashing import FileHasher
    from comfyui_model_manager.core.settings import Settings
except ImportError:  # pragma: no cover - run from a checkout without `pip install -e .`
    raise SystemExit("install the pack first: pip install -e .")

TYPES = ("checkpoints", "loras", "vae", "embeddings", "controlnet", "upscale_models", "clip_vision",
         "hypernetworks", "diffusion_models", "text_encoders")


def header_bytes(i: int) -> bytes:
    meta = {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_dim": "16",
            "ss_tag_frequency": json.dumps({"ds": {f"tag{i % 7}": 10, "common": 5}})}
    raw = json.dumps({"__metadata__": meta, "w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0\0"


def build_library(models: Path, count: int) -> dict[str, int]:
    stats = {"models": 0, "safetensors_headers": 0, "previews": 0, "descriptions": 0, "civitai_info": 0,
             "other_json": 0}
    per_type = count // len(TYPES)
    for t_index, type_name in enumerate(TYPES):
        folder_name = {"diffusion_models": "unet", "text_encoders": "clip"}.get(type_name, type_name)
        for i in range(per_type):
            folder = models / folder_name / f"group{i % 20:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            n = t_index * per_type + i
            if n % 10 == 0:  # a real header, then sparse weights
                path = folder / f"model_{n:05d}.safetensors"
                path.write_bytes(header_bytes(n))
                stats["safetensors_headers"] += 1
            else:
                path = folder / f"model_{n:05d}.{('ckpt', 'pt', 'bin', 'pth')[n % 4]}"
                path.touch()
            os.truncate(path, (n % 50 + 1) << 20)  # sparse: 1..50 MiB apparent size
            stem = path.with_suffix("")
            if n % 3 == 0:
                Path(f"{stem}.{('webp', 'png', 'preview.jpg')[n % 9 // 3]}").write_bytes(b"img")
                stats["previews"] += 1
            if n % 4 == 0:
                Path(f"{stem}.md").write_text(f"model {n}\n")
                stats["descriptions"] += 1
            if n % 5 == 0:
                Path(f"{stem}.civitai.info").write_text(json.dumps(
                    {"id": n, "modelId": n + 1, "name": "v1", "baseModel": "SDXL 1.0", "trainedWords": ["w"],
                     "model": {"name": f"m{n}"}}))
                stats["civitai_info"] += 1
            if n % 10 == 5:
                Path(f"{stem}.json").write_text(json.dumps({"activation text": "a, b", "sd version": "SDXL"}))
                stats["other_json"] += 1
            stats["models"] += 1
    return stats


def new_index(models: Path, state: Path) -> ModelIndex:
    return ModelIndex(ModelFolders.from_models_dir(models), state, Settings(state / "settings.json"),
                      refresh_on_first_list=False)


def drop_caches_hint() -> None:
    """Cold means "our state is empty"; the OS page cache is not dropped (needs root and hurts others)."""


def bench_index(base: Path, count: int) -> dict[str, float]:
    models, state = base / "models", base / "state"
    started = time.perf_counter()
    stats = build_library(models, count)
    built = time.perf_counter() - started
    print(f"library: {stats} built in {built:.1f} s")

    times: dict[str, float] = {}

    def timed(name: str, action):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        times[name] = time.perf_counter() - wall
        times[name + "_cpu"] = time.process_time() - cpu
        return result

    index = new_index(models, state)
    report = timed("cold", lambda: index.scan("all"))
    assert report.count == stats["models"], (report.count, stats)
    timed("warm", lambda: index.scan("all"))
    restarted = new_index(models, state)
    listed = timed("warm_list", lambda: restarted.list_models(None))
    assert len(listed) == stats["models"]
    timed("warm_restart_scan", lambda: restarted.scan("all"))
    return {**times, "index_bytes": (state / "model_index.json").stat().st_size}


def bench_hash(base: Path, mib: int) -> dict[str, float]:
    path = base / "hash.bin"
    chunk = os.urandom(16 << 20)
    with open(path, "wb") as fh:
        for _ in range(mib // 16):
            fh.write(chunk)
    size = path.stat().st_size
    hasher = FileHasher()
    hasher.sha256(path)  # warm the page cache so both sides read from memory

    def ours() -> tuple[float, str]:
        t0 = time.perf_counter()
        digest = hasher.sha256(path)
        return time.perf_counter() - t0, digest

    def plain_file() -> tuple[float, str]:
        t0 = time.perf_counter()
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        return time.perf_counter() - t0, digest

    data = path.read_bytes()

    def plain_memory() -> tuple[float, str]:
        t0 = time.perf_counter()
        digest = hashlib.sha256(data).hexdigest()
        return time.perf_counter() - t0, digest

    results = {"ours": [], "file": [], "memory": []}
    for _ in range(3):  # interleave and keep the best of three for each
        for name, fn in (("ours", ours), ("file", plain_file), ("memory", plain_memory)):
            seconds, digest = fn()
            results[name].append((seconds, digest))
    digests = {d for runs in results.values() for _, d in runs}
    assert len(digests) == 1, "digests differ"
    best = {name: min(s for s, _ in runs) for name, runs in results.items()}
    del data
    return {"size": size, **{f"{k}_mb_s": size / v / 1e6 for k, v in best.items()},
            "ratio_vs_memory": best["memory"] / best["ours"], "ratio_vs_file_digest": best["file"] / best["ours"]}


def bench_scan_hashing(base: Path, files: int = 8, mib: int = 32) -> dict[str, float]:
    """A whole ``scan --hashes`` (worker threads, cache writes) against plain sequential hashlib."""
    models = base / "hash-models"
    folder = models / "checkpoints"
    folder.mkdir(parents=True)
    for i in range(files):
        with open(folder / f"model{i}.safetensors", "wb") as fh:
            fh.write(os.urandom(mib << 20))
    paths = sorted(folder.iterdir())
    plain_runs, our_runs = [], []
    for attempt in range(3):  # interleaved, best of three (the machine may be shared)
        t0 = time.perf_counter()
        for path in paths:
            with open(path, "rb") as fh:
                hashlib.file_digest(fh, "sha256")
        plain_runs.append(time.perf_counter() - t0)
        index = new_index(models, base / f"hash-state-{attempt}")  # empty cache: every file is hashed
        t0 = time.perf_counter()
        report = index.scan("checkpoints", compute_hashes=True)
        our_runs.append(time.perf_counter() - t0)
        assert report.task.hashes_computed == files
    t0 = time.perf_counter()
    index.scan("checkpoints", compute_hashes=True)
    cached = time.perf_counter() - t0
    plain, ours = min(plain_runs), min(our_runs)
    return {"total_mib": files * mib, "plain": plain, "ours": ours, "cached": cached,
            "workers": index.hash_workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--hash-mib", type=int, default=512)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mm-bench-", dir=args.dir))
    try:
        index = bench_index(base, args.count)
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (wall times suffer from other load)")
        print(f"cold index  ({args.count} models): {index['cold']:.2f} s wall, {index['cold_cpu']:.2f} s CPU"
              f"   (target <= 3 s)")
        print(f"warm rescan ({args.count} models): {index['warm']:.2f} s wall, {index['warm_cpu']:.2f} s CPU"
              f"   (target <= 1 s)")
        print(f"warm start: list from disk {index['warm_list']:.2f} s, then rescan {index['warm_restart_scan']:.2f} s"
              f"   (index file {index['index_bytes'] / 1e6:.1f} MB)")
        hashing = bench_hash(base, args.hash_mib)
        print(f"hashing {hashing['size'] >> 20} MiB: FileHasher {hashing['ours_mb_s']:.0f} MB/s, "
              f"hashlib.sha256 on the bytes in memory {hashing['memory_mb_s']:.0f} MB/s, "
              f"hashlib.file_digest {hashing['file_mb_s']:.0f} MB/s")
        print(f"hashing ratio vs hashlib.sha256 over the same bytes: {hashing['ratio_vs_memory']:.2f} "
              f"(target >= 0.85); vs hashlib.file_digest: {hashing['ratio_vs_file_digest']:.2f}")
        scan_hash = bench_scan_hashing(base)
        print(f"scan --hashes of {scan_hash['total_mib']} MiB in 8 files ({scan_hash['workers']} workers): "
              f"{scan_hash['ours']:.2f} s vs sequential hashlib.file_digest {scan_hash['plain']:.2f} s "
              f"(ratio {scan_hash['plain'] / scan_hash['ours']:.2f}, best of 3); rescan from the cache {scan_hash['cached']:.3f} s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
