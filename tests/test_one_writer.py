"""One writer per partial file between tasks of one process: two download managers on one models
folder (as two apps in one process would be) never fetch the same file twice; the second follows
the first, takes over when it stops, and never deletes a partial another task writes."""
from __future__ import annotations

import os

import pytest

from comfyui_model_manager.core.errors import Conflict
from comfyui_model_manager.core.downloads.writer_lock import (WriterInfo, WriterLock, discard_partial, lock_path_for,
                                                    state_path_for)
from support.downloads import listing, make_manager, payload, request, sha256
from support.range_server import RangeServer
from support.waiting import fetched_bytes, wait_for

CKPT = "models/checkpoints"


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


def _two_managers(tmp_path):
    first = make_manager(tmp_path, state_dir=tmp_path / "state-a")
    second = make_manager(tmp_path, state_dir=tmp_path / "state-b")
    return first, second


def test_second_manager_follows_the_first_and_reports_the_verified_file(tmp_path, server):
    data = payload(1_500_000)
    server.add("/f.safetensors", data, etag='"f"', rate=1_000_000)
    first, second = _two_managers(tmp_path)
    messages = []
    second.events.subscribe(lambda event, task: task.get("message") and messages.append(task["message"]))
    try:
        a, _ = first.submit(request(server.url("/f.safetensors")))
        wait_for(lambda: first.get(a.task_id).downloaded_bytes > 100_000)
        b, _ = second.submit(request(server.url("/f.safetensors")))
        following = wait_for(lambda: second.get(b.task_id).message and second.get(b.task_id))
        assert following.status == "downloading"
        assert following.message == f"being downloaded by another task of this process (pid {os.getpid()})"
        assert following.to_json()["message"] == following.message
        wait_for(lambda: second.get(b.task_id).downloaded_bytes > following.downloaded_bytes)  # follows
        done_a, done_b = first.wait(a.task_id, timeout=30), second.wait(b.task_id, timeout=30)
    finally:
        first.shutdown()
        second.shutdown()
    for done in (done_a, done_b):
        assert done.status == "completed" and done.sha256 == sha256(data) and done.error is None
        assert done.message is None and done.downloaded_bytes == done.total_bytes == len(data)
    assert messages and set(messages) == {following.message}
    assert (tmp_path / CKPT / "f.safetensors").read_bytes() == data
    assert listing(tmp_path / CKPT) == ["f.safetensors"]  # no lock or state file left behind
    assert fetched_bytes(server, "/f.safetensors") == len(data)


def test_a_follower_cancelled_leaves_the_writers_partial_alone(tmp_path, server):
    data = payload(1_200_000)
    server.add("/c.safetensors", data, rate=1_000_000)
    first, second = _two_managers(tmp_path)
    try:
        a, _ = first.submit(request(server.url("/c.safetensors")))
        wait_for(lambda: first.get(a.task_id).downloaded_bytes > 100_000)
        b, _ = second.submit(request(server.url("/c.safetensors")))
        wait_for(lambda: second.get(b.task_id).message)
        assert second.cancel(b.task_id).status == "cancelled"
        second.delete(b.task_id)
        assert first.get(a.task_id).status == "downloading"
        done = first.wait(a.task_id, timeout=30)
    finally:
        first.shutdown()
        second.shutdown()
    assert done.status == "completed" and done.sha256 == sha256(data)
    assert listing(tmp_path / CKPT) == ["c.safetensors"]
    assert fetched_bytes(server, "/c.safetensors") == len(data)


def test_when_the_writer_pauses_the_follower_continues_its_partial(tmp_path, server):
    data = payload(2_000_000)
    server.add("/p.safetensors", data, etag='"p"', rate=1_500_000)
    first, second = _two_managers(tmp_path)
    try:
        a, _ = first.submit(request(server.url("/p.safetensors")))
        wait_for(lambda: first.get(a.task_id).downloaded_bytes > 300_000)
        b, _ = second.submit(request(server.url("/p.safetensors")))
        wait_for(lambda: second.get(b.task_id).message)
        paused = first.pause(a.task_id)
        assert paused.status == "paused"
        taken = wait_for(lambda: second.get(b.task_id).message is None and second.get(b.task_id))
        assert taken.status in ("downloading", "verifying", "completed")
        done_b = second.wait(b.task_id, timeout=30)
        first.resume(a.task_id)  # nothing left to fetch: the file is there and checked
        done_a = first.wait(a.task_id, timeout=30)
    finally:
        first.shutdown()
        second.shutdown()
    for done in (done_a, done_b):
        assert done.status == "completed" and done.sha256 == sha256(data), done
    assert (tmp_path / CKPT / "p.safetensors").read_bytes() == data
    assert listing(tmp_path / CKPT) == ["p.safetensors"]
    served = fetched_bytes(server, "/p.safetensors")
    # What was in flight on the 4 connections at the pause (one 64 KiB block each) may come twice.
    assert served <= len(data) + 4 * 64 * 1024, f"{served} bytes for a {len(data)}-byte file"


def test_another_link_for_a_destination_being_written_is_a_conflict(tmp_path, server):
    server.add("/one/x.safetensors", payload(1_000_000), rate=500_000)
    server.add("/two/x.safetensors", payload(1_000_000, seed=2))
    first, second = _two_managers(tmp_path)
    try:
        a, _ = first.submit(request(server.url("/one/x.safetensors")))
        wait_for(lambda: first.get(a.task_id).downloaded_bytes > 50_000)
        with pytest.raises(Conflict) as refused:
            second.submit(request(server.url("/two/x.safetensors")))
        assert "being downloaded by another task of this process" in refused.value.message
        assert "from another link" in refused.value.message
        renamed, _ = second.submit(request(server.url("/two/x.safetensors"), if_exists="rename"))
        assert renamed.filename == "x (1).safetensors"
        assert second.wait(renamed.task_id, timeout=30).status == "completed"
        assert first.wait(a.task_id, timeout=30).status == "completed"
    finally:
        first.shutdown()
        second.shutdown()


def test_a_garbled_state_file_is_ignored(tmp_path, server):
    data = payload(300_000)
    server.add("/g.safetensors", data)
    dest = tmp_path / CKPT / "g.safetensors"
    dest.parent.mkdir(parents=True)
    partial = dest.with_name(".g.safetensors.mmpart")
    partial.write_bytes(b"\0" * 1000)
    for garbage in (b"not json", b'{"pid": "1", "host": "h", "url": "u"}', b"[1, 2]",
                    b'{"pid": 1, "host": "h", "url": "u", "missing": [[5, 2]]}'):
        state_path_for(dest).write_bytes(garbage)
        assert WriterLock(dest).previous() is None or WriterLock(dest).previous().missing is None
    manager = make_manager(tmp_path)
    try:
        task, _ = manager.submit(request(server.url("/g.safetensors")))
        done = manager.wait(task.task_id, timeout=30)
    finally:
        manager.shutdown()
    assert done.status == "completed" and dest.read_bytes() == data
    assert listing(dest.parent) == ["g.safetensors"]


def test_writer_info_reads_only_well_formed_ranges():
    good = {"pid": 7, "host": "h", "url": "u", "downloaded": 10, "total": 100,
            "missing": [[10, 50], [60, 100]], "etag": '"e"', "segmented": True, "updated_at": 1.0}
    info = WriterInfo.from_json(good)
    assert info.missing == [[10, 50], [60, 100]] and info.segmented and info.describe().endswith("(pid 7 on h)")
    for missing in ([[50, 10]], [[60, 100], [10, 50]], [[0, 200]], [[0, None], [5, 6]], "x", [[True, 5]]):
        assert WriterInfo.from_json({**good, "missing": missing}).missing is None, missing
    assert WriterInfo.from_json({**good, "missing": [[5, None]], "total": None}).missing == [[5, None]]
    for bad in ({**good, "pid": True}, {**good, "total": -1}, {**good, "url": None}, None, []):
        assert WriterInfo.from_json(bad) is None


def test_discard_partial_removes_lock_and_state_only_when_nobody_writes(tmp_path):
    dest = tmp_path / "m.safetensors"
    holder = WriterLock(dest, "http://x/m")
    assert holder.try_acquire()
    holder.partial.write_bytes(b"abc")
    holder.publish(downloaded=3, total=10, missing=[[3, 10]], etag=None, segmented=False, force=True)
    assert not discard_partial(dest) and holder.partial.exists()
    assert not WriterLock(dest).try_acquire()
    holder.release()  # partial kept: lock and state stay for whoever continues
    assert sorted(os.listdir(tmp_path)) == [".m.safetensors.mmlock", ".m.safetensors.mmpart",
                                            ".m.safetensors.mmstate"]
    assert WriterLock(dest).previous().missing == [[3, 10]]
    assert discard_partial(dest)
    assert os.listdir(tmp_path) == []
    assert not lock_path_for(dest).exists()
