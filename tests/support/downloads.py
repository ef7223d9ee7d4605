"""Helpers for download tests: a manager with test-sized limits, random payloads, waiting."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from comfyui_model_manager.core.downloads.manager import DownloadManager, DownloadRequest
from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.retry import RetryPolicy
from comfyui_model_manager.core.settings import Settings
from comfyui_model_manager.core.downloads.transfer import TransferConfig

#: Small sizes so tests are fast: segments from 256 KiB, blocks and reads of 64 KiB (big enough
#: that plain-HTTP bodies take the kernel's path after each answer's first read, as in use).
FAST = TransferConfig(
    segment_threshold=256 * 1024, block_size=64 * 1024, chunk_size=64 * 1024, ramp_up_seconds=0,
    stall_timeout=1.0, connect_timeout=2.0,
    retry=RetryPolicy(max_tries=4, base_delay=0.01, max_delay=0.05, max_retry_after=0.5),
    fsync=False, free_space_reserve=0,
)


def payload(size: int, seed: int = 1) -> bytes:
    """Deterministic pseudo-random bytes (every offset differs, so misplaced bytes show)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_manager(tmp_path: Path, *, config: TransferConfig = FAST, settings: dict | None = None,
                 start: bool = True, state_dir: Path | None = None, **kwargs) -> DownloadManager:
    settings_obj = Settings(tmp_path / "config" / "settings.json", environ={})
    if settings:
        settings_obj.update(settings)
    manager = DownloadManager(
        ModelFolders.from_models_dir(tmp_path / "models"), state_dir or tmp_path / "state", settings_obj,
        transfer_config=config, save_interval=0.05, **kwargs,
    )
    if start:
        manager.start()
    return manager


def request(url: str, model_type: str = "checkpoints", **fields) -> DownloadRequest:
    return DownloadRequest(url=url, model_type=model_type, **fields)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


__all__ = ["FAST", "payload", "sha256", "make_manager", "request", "listing", "file_sha", "os"]


def download_once(manager: DownloadManager, download: DownloadRequest, timeout: float = 20):
    """Submit ``download``, wait for it to end, and always shut the manager down; the final task."""
    try:
        task, _ = manager.submit(download)
        return manager.wait(task.task_id, timeout=timeout)
    finally:
        manager.shutdown()
