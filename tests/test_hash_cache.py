"""sha256 digests: computed once, served from SQLite while (path, size, mtime) hold."""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from comfyui_model_manager.core.errors import Cancelled
from comfyui_model_manager.core.scanner.hash_cache import HashCache
from comfyui_model_manager.core.scanner.hashing import FileHasher
from support.scanner_files import make_index, write_safetensors


def test_scan_hashes_are_right_and_served_from_the_cache_without_reading(tmp_path: Path):
    loras = tmp_path / "models" / "loras"
    payloads = {f"m{i}.safetensors": os.urandom(50_000 + i) for i in range(5)}
    for name, payload in payloads.items():
        write_safetensors(loras / name, payload=payload)
    index = make_index(tmp_path, hash_workers=2)
    report = index.scan("loras", compute_hashes=True)
    for record in report.models:
        expected = hashlib.sha256((loras / record.name).read_bytes()).hexdigest()
        assert record.sha256 == expected
    assert (report.task.hashed, report.task.hashes_computed, index.hasher.files_read) == (5, 5, 5)
    assert (tmp_path / "state" / "hashes.sqlite").is_file()

    # Proof 1: a fresh index (new process) opens no model file to know the digests.
    again = make_index(tmp_path)
    report = again.scan("loras", compute_hashes=True)
    assert again.hasher.files_read == 0 and report.task.hashes_computed == 0 and report.task.hashed == 5

    # Proof 2: same size and mtime but other bytes -> the cached digest is still returned.
    target = loras / "m0.safetensors"
    old_digest = hashlib.sha256(target.read_bytes()).hexdigest()
    stat = target.stat()
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    records = {r.name: r for r in again.scan("loras", compute_hashes=True).models}
    assert records["m0.safetensors"].sha256 == old_digest
    assert again.get_model("loras", "m0.safetensors").sha256 == old_digest


def test_changed_files_are_rehashed(tmp_path: Path):
    loras = tmp_path / "models" / "loras"
    write_safetensors(loras / "a.safetensors", payload=b"one")
    write_safetensors(loras / "b.safetensors", payload=b"two")
    index = make_index(tmp_path)
    index.scan("loras", compute_hashes=True)
    write_safetensors(loras / "a.safetensors", payload=b"one but longer")  # size changes
    stat = (loras / "b.safetensors").stat()
    os.utime(loras / "b.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # mtime only
    before = index.hasher.files_read
    report = index.scan("loras", compute_hashes=True)
    assert index.hasher.files_read - before == 2 and report.task.hashes_computed == 2
    for record in report.models:
        assert record.sha256 == hashlib.sha256((loras / record.name).read_bytes()).hexdigest()
    # A removed model's digest leaves the cache with it.
    path_b = str(loras / "b.safetensors")
    stat_b = (loras / "b.safetensors").stat()
    assert index.hash_cache.get(path_b, stat_b.st_size, stat_b.st_mtime_ns)
    (loras / "b.safetensors").unlink()
    index.scan("loras")
    assert index.hash_cache.get(path_b, stat_b.st_size, stat_b.st_mtime_ns) is None


def test_a_scan_without_hashing_still_shows_known_digests_but_computes_none(tmp_path: Path):
    loras = tmp_path / "models" / "loras"
    write_safetensors(loras / "a.safetensors")
    index = make_index(tmp_path)
    assert index.scan("loras").models[0].sha256 is None
    index.scan("loras", compute_hashes=True)
    fresh = make_index(tmp_path)
    assert fresh.scan("loras").models[0].sha256 == hashlib.sha256((loras / "a.safetensors").read_bytes()).hexdigest()
    assert fresh.hasher.files_read == 0


def test_file_hasher_large_reads_and_cancel(tmp_path: Path):
    path = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    hasher = FileHasher(read_size=1 << 20)
    seen: list[int] = []
    assert hasher.sha256(path, on_bytes=seen.append) == hashlib.sha256(data).hexdigest()
    assert seen == [1 << 20, 1 << 20, 1 << 20, 17]
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        hasher.sha256(path, should_stop=lambda: next(calls) >= 2)
    assert hasher.files_read == 2 and hasher.bytes_read == len(data)


def test_hash_cache_keys_and_civitai_misses(tmp_path: Path):
    now = [1000.0]
    cache = HashCache(tmp_path / "h.sqlite", clock=lambda: now[0])
    cache.put("/m/a", 10, 123, "AB" * 32)
    assert cache.get("/m/a", 10, 123) == "ab" * 32
    assert cache.get("/m/a", 11, 123) is None and cache.get("/m/a", 10, 124) is None
    assert cache.get_many([("/m/a", 10, 123), ("/m/b", 1, 1)]) == {"/m/a": "ab" * 32}
    cache.remember_not_found("CD" * 32)
    now[0] += 6 * 24 * 3600
    assert cache.recently_not_found("cd" * 32)
    now[0] += 2 * 24 * 3600
    assert not cache.recently_not_found("cd" * 32)
    cache.forget("/m/a")
    assert cache.get("/m/a", 10, 123) is None
    cache.close()
    reopened = HashCache(tmp_path / "h.sqlite")
    reopened.put("/m/z", 1, 2, "ef" * 32)
    assert HashCache(tmp_path / "h.sqlite").get("/m/z", 1, 2) == "ef" * 32


def test_hash_cache_is_safe_across_threads(tmp_path: Path):
    cache = HashCache(tmp_path / "h.sqlite")

    def work(n: int) -> None:
        for i in range(50):
            cache.put(f"/m/{n}/{i}", i, i, f"{n:02x}" * 32)
            assert cache.get(f"/m/{n}/{i}", i, i) == f"{n:02x}" * 32

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache.get_many([(f"/m/{n}/{i}", i, i) for n in range(4) for i in range(50)])) == 200


def test_a_folder_shared_by_two_types_is_hashed_once(tmp_path: Path):
    from support.scanner_files import folders_with

    shared = tmp_path / "shared"
    folders = folders_with({"loras": [shared], "embeddings": [shared]})
    write_safetensors(shared / "both.safetensors", payload=b"shared bytes")
    index = make_index(tmp_path, folders)
    report = index.scan("all", compute_hashes=True)
    assert [(m.model_type, m.name) for m in report.models] == [("embeddings", "both.safetensors"),
                                                              ("loras", "both.safetensors")]
    assert report.models[0].sha256 == report.models[1].sha256 is not None
    assert index.hasher.files_read == 1 and report.task.hashed == 2


def test_a_corrupt_cache_file_is_set_aside_and_rebuilt(tmp_path: Path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "hashes.sqlite").write_bytes(b"this is not a database" * 100)
    write_safetensors(tmp_path / "models" / "loras" / "a.safetensors")
    index = make_index(tmp_path)
    report = index.scan("loras", compute_hashes=True)
    assert report.task.status == "completed" and report.models[0].sha256
    assert [p.name.startswith("hashes.sqlite.corrupt-") for p in state.iterdir()].count(True) == 1
    assert make_index(tmp_path).scan("loras").models[0].sha256 == report.models[0].sha256
