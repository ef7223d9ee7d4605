"""Running a failed download again with a corrected ``sha256`` (or none) checks the new one."""
from __future__ import annotations

from support.downloads import request


def test_a_rerun_takes_the_new_checksum(manager_factory, files, tmp_path):
    served = files.add("/r/upscaler.pth", 20_000)
    manager = manager_factory()
    url = files.url("/r/upscaler.pth")
    target = tmp_path / "models" / "upscale_models" / "upscaler.pth"

    task, _ = manager.submit(request(url, "upscale_models", sha256="0" * 64))
    failed = manager.wait(task.task_id, timeout=30)
    assert failed.status == "failed" and "0" * 64 in failed.error
    assert not target.exists()

    task, created = manager.submit(request(url, "upscale_models", sha256=served.sha256))
    assert not created
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed" and done.verified is True and done.sha256 == served.sha256
    assert target.read_bytes() == served.data


def test_a_rerun_without_a_checksum_completes_unverified(manager_factory, files, tmp_path):
    served = files.add("/r/other.pth", 20_000)
    manager = manager_factory()
    url = files.url("/r/other.pth")
    task, _ = manager.submit(request(url, "upscale_models", sha256="0" * 64))
    assert manager.wait(task.task_id, timeout=30).status == "failed"

    task, _ = manager.submit(request(url, "upscale_models"))
    done = manager.wait(task.task_id, timeout=30)
    assert done.status == "completed" and done.verified is False and done.sha256 == served.sha256
