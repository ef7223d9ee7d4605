"""Scanner benchmark (not run by pytest).

Builds a library of 10,000 model files (sparse files; some with real safetensors headers) with
mixed sidecars, then prints:
- cold index time: empty state, every type walked, every header and sidecar read (target <= 3 s);
- warm rescan time: the same library scanned again, nothing changed (target <= 1 s), and a warm
  start (a new ModelIndex listing from the persisted index, then a rescan);
- hashing throughput of ``FileHasher`` as a ratio of Python's ``hashlib.sha256`` over the same
  bytes in the same run (target >= 0.85), on a real (non-sparse) file.

Every figure is the median [min - max] of ``--rounds`` interleaved rounds (each cold round starts
from an empty state folder; the OS page cache is not dropped); ratios are taken pair by pair.

Usage: python bench/scan.py [--count 10000] [--hash-mib 512] [--rounds 3] [--dir /tmp/somewhere]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
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


def bench_index(base: Path, count: int, rounds: int) -> dict[str, list[float]]:
    """``rounds`` interleaved rounds, each from an empty state folder: cold scan, warm rescan,
    warm start (a new index listing the persisted one, then its rescan)."""
    models = base / "models"
    started = time.perf_counter()
    stats = build_library(models, count)
    built = time.perf_counter() - started
    print(f"library: {stats} built in {built:.1f} s")

    times: dict[str, list[float]] = {}

    def timed(name: str, action, *args):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action(*args)
        times.setdefault(name, []).append(time.perf_counter() - wall)
        times.setdefault(name + "_cpu", []).append(time.process_time() - cpu)
        return result

    for round_index in range(rounds):
        state = base / f"state-{round_index}"
        index = new_index(models, state)
        report = timed("cold", index.scan, "all")
        assert report.count == stats["models"], (report.count, stats)
        timed("warm", index.scan, "all")
        restarted = new_index(models, state)
        listed = timed("warm_list", restarted.list_models, None)
        assert len(listed) == stats["models"]
        timed("warm_restart_scan", restarted.scan, "all")
        times.setdefault("index_bytes", []).append((state / "model_index.json").stat().st_size)
    return times


def spread(values: list[float], digits: int = 2) -> str:
    """median [min - max]"""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f} - {max(values):.{digits}f}]"


def bench_hash(base: Path, mib: int, rounds: int) -> dict:
    path = base / "hash.bin"
    chunk = os.urandom(16 << 20)
    with open(path, "wb") as fh:
        fh.writelines(chunk for _ in range(mib // 16))
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
    for _ in range(rounds):  # interleaved; medians, min and max below
        for name, fn in (("ours", ours), ("file", plain_file), ("memory", plain_memory)):
            seconds, digest = fn()
            results[name].append((seconds, digest))
    digests = {d for runs in results.values() for _, d in runs}
    assert len(digests) == 1, "digests differ"
    seconds = {name: [s for s, _ in runs] for name, runs in results.items()}
    return {"size": size, "seconds": seconds,
            "ratio_vs_memory": [m / o for m, o in zip(seconds["memory"], seconds["ours"])],
            "ratio_vs_file_digest": [f / o for f, o in zip(seconds["file"], seconds["ours"])]}


def bench_scan_hashing(base: Path, rounds: int, files: int = 8, mib: int = 32) -> dict:
    """A whole ``scan --hashes`` (worker threads, cache writes) against plain sequential hashlib."""
    models = base / "hash-models"
    folder = models / "checkpoints"
    folder.mkdir(parents=True)
    for i in range(files):
        with open(folder / f"model{i}.safetensors", "wb") as fh:
            fh.write(os.urandom(mib << 20))
    paths = sorted(folder.iterdir())
    plain_runs, our_runs = [], []
    for attempt in range(rounds):  # interleaved; medians, min and max below
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
    return {"total_mib": files * mib, "plain": plain_runs, "ours": our_runs, "cached": cached,
            "workers": index.hash_workers, "ratio": [p / o for p, o in zip(plain_runs, our_runs)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--hash-mib", type=int, default=512)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians, min and max)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mm-bench-", dir=args.dir))
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
              f"(wall times suffer from other load); median [min - max] of {args.rounds} interleaved rounds")
        index = bench_index(base, args.count, args.rounds)
        print(f"cold index  ({args.count} models): {spread(index['cold'])} s wall, "
              f"{spread(index['cold_cpu'])} s CPU   (target <= 3 s)")
        print(f"warm rescan ({args.count} models): {spread(index['warm'])} s wall, "
              f"{spread(index['warm_cpu'])} s CPU   (target <= 1 s)")
        print(f"warm start: list from disk {spread(index['warm_list'])} s, then rescan "
              f"{spread(index['warm_restart_scan'])} s   (index file {index['index_bytes'][0] / 1e6:.1f} MB)")
        hashing = bench_hash(base, args.hash_mib, args.rounds)
        speeds = {name: [hashing["size"] / s / 1e6 for s in runs] for name, runs in hashing["seconds"].items()}
        print(f"hashing {hashing['size'] >> 20} MiB (MB/s): FileHasher {spread(speeds['ours'], 0)}, "
              f"hashlib.sha256 on the bytes in memory {spread(speeds['memory'], 0)}, "
              f"hashlib.file_digest {spread(speeds['file'], 0)}")
        print(f"hashing ratio vs hashlib.sha256 over the same bytes, pair by pair: "
              f"{spread(hashing['ratio_vs_memory'])} (target >= 0.85); "
              f"vs hashlib.file_digest: {spread(hashing['ratio_vs_file_digest'])}")
        scan_hash = bench_scan_hashing(base, args.rounds)
        print(f"scan --hashes of {scan_hash['total_mib']} MiB in 8 files ({scan_hash['workers']} workers): "
              f"{spread(scan_hash['ours'])} s vs sequential hashlib.file_digest {spread(scan_hash['plain'])} s "
              f"(ratio pair by pair {spread(scan_hash['ratio'])}); rescan from the cache {scan_hash['cached']:.3f} s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
