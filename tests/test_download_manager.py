"""The download manager's task lifecycle: join, queue limits, pause/resume/cancel/delete,
restart persistence, events, if_exists, names and secrets."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

from comfyui_model_manager.core.errors import Conflict, InvalidInput, NotFound, UnsafePath
from comfyui_model_manager.core.observers import (COMPLETE_DOWNLOAD_TASK, CREATE_DOWNLOAD_TASK,
                                                  DELETE_DOWNLOAD_TASK, UPDATE_DOWNLOAD_TASK)
from comfyui_model_manager.core.downloads.task import CONTRACT_KEYS
from support.downloads import FAST, download_once, file_sha, listing, make_manager, payload, request, sha256
from support.range_server import RangeServer
from support.waiting import wait_for

CKPT = "models/checkpoints"


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


def test_task_json_has_exactly_the_contract_keys_and_events_flow(tmp_path, server):
    data = payload(200_000)
    server.add("/e.safetensors", data, rate=250_000)
    manager = make_manager(tmp_path, settings={"connections_per_download": 1})
    events = []
    manager.events.subscribe(lambda name, body: events.append((time.monotonic(), name, body)))
    try:
        task, created = manager.submit(request(server.url("/e.safetensors"), node_id="7", prompt_id="p1"))
        task = manager.wait(task.task_id, timeout=20)
    finally:
        manager.shutdown()
    assert created and task.status == "completed"
    assert tuple(task.to_json()) == CONTRACT_KEYS
    names = [name for _t, name, _b in events]
    assert names[0] == CREATE_DOWNLOAD_TASK and names[-1] == COMPLETE_DOWNLOAD_TASK
    statuses = [b["status"] for _t, n, b in events if n == UPDATE_DOWNLOAD_TASK]
    assert "downloading" in statuses and "verifying" in statuses and statuses[-1] == "completed"
    assert all(b["node_id"] == "7" and b["prompt_id"] == "p1" for _t, _n, b in events)
    progress = [(t, b) for t, n, b in events if n == UPDATE_DOWNLOAD_TASK and b["status"] == "downloading"
                and 0 < b["downloaded_bytes"] < len(data)]
    assert progress, "progress events while bytes flow"
    assert any(b["speed_bps"] > 0 and b["eta_seconds"] is not None and b["progress"] > 0 for _t, b in progress)
    times = [t for t, _b in progress]
    for first, second in zip(times, times[4:]):
        assert second - first >= 0.9  # at most 4 a second


def test_two_identical_requests_at_once_make_one_task(tmp_path, server):
    data = payload(200_000)
    server.add("/same.safetensors", data, rate=2_000_000)
    manager = make_manager(tmp_path)
    results = []
    barrier = threading.Barrier(2)

    def ask():
        barrier.wait()
        results.append(manager.submit(request(server.url("/same.safetensors"))))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = {task.task_id for task, _created in results}
        assert len(ids) == 1
        assert sorted(created for _task, created in results) == [False, True]
        final = manager.wait(ids.pop(), timeout=20)
    finally:
        manager.shutdown()
    assert final.status == "completed"
    assert len(manager.list()) == 1
    transfers = [r for r in server.requests_for("/same.safetensors") if r.header("Range") != "bytes=0-0"]
    assert len(transfers) == 1


def test_pause_resume_twenty_times_gives_correct_bytes(tmp_path, server):
    data = payload(1_200_000)
    server.add("/p.safetensors", data, etag='"p"', rate=600_000)
    # 16 KiB reads: twenty pauses fit well inside the file
    manager = make_manager(tmp_path, config=replace(FAST, chunk_size=16 * 1024),
                           settings={"connections_per_download": 1})
    try:
        task, _ = manager.submit(request(server.url("/p.safetensors")))
        seen = 0
        for _ in range(20):
            wait_for(lambda: manager.get(task.task_id).downloaded_bytes > seen
                      or manager.get(task.task_id).status == "completed")
            paused = manager.pause(task.task_id)
            assert paused.status == "paused"
            assert (tmp_path / CKPT / ".p.safetensors.mmpart").exists()
            seen = paused.downloaded_bytes
            assert manager.resume(task.task_id).status in ("queued", "downloading")
        final = manager.wait(task.task_id, timeout=30)
    finally:
        manager.shutdown()
    assert final.status == "completed", final.error
    assert file_sha(tmp_path / CKPT / "p.safetensors") == sha256(data) == final.sha256
    gets = [r for r in server.requests_for("/p.safetensors") if r.header("Range") != "bytes=0-0"]
    assert len(gets) >= 15
    starts = [int(r.header("Range")[6:].split("-")[0]) for r in gets]
    assert starts == sorted(starts) and starts[-1] > 0  # every resume continued, none restarted
    # bytes already in socket buffers when a pause hangs up are lost; never a whole restart
    assert server.bytes_served("/p.safetensors") < 2 * len(data)


def test_pause_resume_segmented(tmp_path, server):
    data = payload(1_000_000)
    server.add("/sp.safetensors", data, etag='"s"', rate=100_000)  # per connection
    manager = make_manager(tmp_path)
    try:
        task, _ = manager.submit(request(server.url("/sp.safetensors")))
        for _ in range(5):
            before = manager.get(task.task_id).downloaded_bytes
            wait_for(lambda: manager.get(task.task_id).downloaded_bytes > before + 30_000)
            paused = manager.pause(task.task_id)
            record = json.loads((tmp_path / "state/tasks" / f"{task.task_id}.json").read_text())
            assert record["segmented"] is True and record["missing"]
            manager.resume(task.task_id)
        final = manager.wait(task.task_id, timeout=30)
    finally:
        manager.shutdown()
    assert final.status == "completed", final.error
    assert file_sha(tmp_path / CKPT / "sp.safetensors") == sha256(data)
    assert server.bytes_served("/sp.safetensors") < 1.5 * len(data)
    assert paused.status == "paused"


def test_cancel_removes_partial(tmp_path, server):
    server.add("/c.safetensors", payload(1_000_000), rate=300_000)
    manager = make_manager(tmp_path)
    try:
        task, _ = manager.submit(request(server.url("/c.safetensors")))
        wait_for(lambda: manager.get(task.task_id).downloaded_bytes > 0)
        cancelled = manager.cancel(task.task_id)
        assert cancelled.status == "cancelled"
        assert listing(tmp_path / CKPT) == []
        assert manager.wait(task.task_id, timeout=1).status == "cancelled"
    finally:
        manager.shutdown()


def test_cancelled_is_announced_once_the_partial_is_gone(tmp_path, server):
    server.add("/g.safetensors", payload(1_000_000), rate=300_000)
    manager = make_manager(tmp_path)
    seen = []

    def on_event(event, payload):
        if event == UPDATE_DOWNLOAD_TASK and payload.get("status") == "cancelled":
            seen.append(listing(tmp_path / CKPT))

    manager.events.subscribe(on_event)
    try:
        task, _ = manager.submit(request(server.url("/g.safetensors")))
        wait_for(lambda: manager.get(task.task_id).downloaded_bytes > 0)
        manager.cancel(task.task_id)
        wait_for(lambda: seen)
    finally:
        manager.shutdown()
    assert seen == [[]]  # one announcement, and the folder was already empty when it came


def test_delete_removes_record_and_partial_and_emits(tmp_path, server):
    server.add("/d.safetensors", payload(500_000), rate=200_000)
    manager = make_manager(tmp_path)
    events = []
    manager.events.subscribe(lambda name, body: events.append((name, body)))
    try:
        task, _ = manager.submit(request(server.url("/d.safetensors")))
        wait_for(lambda: manager.get(task.task_id).downloaded_bytes > 0)
        manager.delete(task.task_id)
        with pytest.raises(NotFound):
            manager.get(task.task_id)
    finally:
        manager.shutdown()
    assert listing(tmp_path / CKPT) == []
    assert not (tmp_path / "state/tasks" / f"{task.task_id}.json").exists()
    assert (DELETE_DOWNLOAD_TASK, {"task_id": task.task_id}) in events


def test_restart_continues_queued_and_downloading_but_not_paused(tmp_path, server):
    a, b = payload(600_000, 1), payload(600_000, 2)
    server.add("/a.safetensors", a, rate=600_000)
    server.add("/b.safetensors", b, rate=600_000)
    first = make_manager(tmp_path, settings={"connections_per_download": 1})
    task_a, _ = first.submit(request(server.url("/a.safetensors")))
    task_b, _ = first.submit(request(server.url("/b.safetensors")))
    wait_for(lambda: first.get(task_a.task_id).downloaded_bytes > 100_000)
    first.pause(task_b.task_id)
    first.shutdown()
    held = (tmp_path / CKPT / ".a.safetensors.mmpart").stat().st_size
    assert held > 0

    second = make_manager(tmp_path, settings={"connections_per_download": 1})
    try:
        assert second.get(task_b.task_id).status == "paused"
        done = second.wait(task_a.task_id, timeout=20)
        assert done.status == "completed", done.error
        time.sleep(0.2)
        assert second.get(task_b.task_id).status == "paused"
    finally:
        second.shutdown()
    assert (tmp_path / CKPT / "a.safetensors").read_bytes() == a
    resumed = [r for r in server.requests_for("/a.safetensors") if not r.header("Range").startswith("bytes=0-")]
    assert resumed and int(resumed[0].header("Range")[6:].split("-")[0]) >= held - 100_000  # continued, not restarted
    assert server.bytes_served("/a.safetensors") < 1.3 * len(a)


def test_max_concurrent_downloads_and_settings_change(tmp_path, server):
    for name in "xyz":
        server.add(f"/{name}.safetensors", payload(400_000), rate=100_000)
    manager = make_manager(tmp_path, settings={"max_concurrent_downloads": 1})
    try:
        ids = [manager.submit(request(server.url(f"/{n}.safetensors")))[0].task_id for n in "xyz"]
        time.sleep(0.3)
        running = [manager.get(i).status for i in ids]
        assert running.count("queued") == 2 and running.count("downloading") + running.count("verifying") == 1
        manager.settings.update({"max_concurrent_downloads": 3})
        wait_for(lambda: all(manager.get(i).status in ("downloading", "verifying", "completed") for i in ids))
        for task_id in ids:
            assert manager.wait(task_id, timeout=20).status == "completed"
    finally:
        manager.shutdown()


def test_if_exists_skip_overwrite_rename(tmp_path, server):
    data = payload(50_000)
    server.add("/x.safetensors", data)
    dest = tmp_path / CKPT / "x.safetensors"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"old")
    manager = make_manager(tmp_path)
    try:
        skipped, created = manager.submit(request(server.url("/x.safetensors")))
        assert created and skipped.status == "completed" and dest.read_bytes() == b"old"
        transfers = [r for r in server.requests_for("/x.safetensors") if r.header("Range") != "bytes=0-0"]
        assert transfers == []
        renamed, _ = manager.submit(request(server.url("/x.safetensors"), if_exists="rename"))
        assert renamed.filename == "x (1).safetensors"
        assert manager.wait(renamed.task_id, timeout=10).status == "completed"
        assert (tmp_path / CKPT / "x (1).safetensors").read_bytes() == data
        over, _ = manager.submit(request(server.url("/x.safetensors"), if_exists="overwrite"))
        assert manager.wait(over.task_id, timeout=10).status == "completed"
        assert dest.read_bytes() == data
    finally:
        manager.shutdown()


def test_filename_traversal_from_input_and_content_disposition_stays_inside(tmp_path, server):
    data = payload(10_000)
    server.add("/cd", data, content_disposition='attachment; filename="../../../etc/evil.safetensors"')
    server.add("/star", data, content_disposition="attachment; filename=\"plain.ckpt\"; "
                                                  "filename*=UTF-8''%C3%BCber%2F..%2Fmodel.safetensors")
    server.add("/exe", data, content_disposition='attachment; filename="tool.exe"')
    server.add("/in.safetensors", data)
    manager = make_manager(tmp_path)
    try:
        a, _ = manager.submit(request(server.url("/cd")))
        b, _ = manager.submit(request(server.url("/star")))
        c, _ = manager.submit(request(server.url("/in.safetensors"), filename="../../outside.safetensors"))
        for task in (a, b, c):
            assert manager.wait(task.task_id, timeout=10).status == "completed"
        assert (a.filename, b.filename, c.filename) == ("evil.safetensors", "model.safetensors",
                                                          "outside.safetensors")
        with pytest.raises(InvalidInput, match="model file extension"):
            manager.submit(request(server.url("/exe")))
        with pytest.raises(UnsafePath):
            manager.submit(request(server.url("/in.safetensors"), subfolder="../../x"))
    finally:
        manager.shutdown()
    assert listing(tmp_path / CKPT) == ["evil.safetensors", "model.safetensors", "outside.safetensors"]
    assert listing(tmp_path) == ["models", "state"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x.safetensors",
                                 "javascript:alert(1)", "gopher://127.0.0.1/x.pt", "/etc/passwd"])
def test_other_schemes_are_refused(tmp_path, url):
    manager = make_manager(tmp_path)
    try:
        with pytest.raises(InvalidInput):
            manager.submit(request(url))
    finally:
        manager.shutdown()
    assert manager.list() == []


def test_auto_type_without_metadata_asks_for_a_type(tmp_path, server):
    server.add("/a.safetensors", payload(100))
    manager = make_manager(tmp_path)
    try:
        with pytest.raises(InvalidInput, match="choose a model_type; this link does not say"):
            manager.submit(request(server.url("/a.safetensors"), model_type="auto"))
    finally:
        manager.shutdown()


def test_query_secrets_never_reach_task_json_records_or_events(tmp_path, server):
    secret = "sekrit-token-123456"
    server.add("/q.safetensors", payload(20_000))
    manager = make_manager(tmp_path)
    seen = []
    manager.events.subscribe(lambda name, body: seen.append(json.dumps(body)))
    task = download_once(manager, request(server.url(f"/q.safetensors?token={secret}&X-Amz-Signature=abc123456")), timeout=10)
    assert task.status == "completed"
    assert secret not in json.dumps(task.to_json()) and "abc123456" not in task.url
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text()
    assert not any(secret in text for text in seen)
    assert f"token={secret}" in server.requests_for("/q.safetensors")[-1].target  # still used to fetch


def test_conflict_when_another_url_writes_the_same_file(tmp_path, server):
    server.add("/one/m.safetensors", payload(400_000), rate=200_000)
    server.add("/two/m.safetensors", payload(400_000, 3))
    manager = make_manager(tmp_path)
    try:
        first, _ = manager.submit(request(server.url("/one/m.safetensors")))
        with pytest.raises(Conflict):
            manager.submit(request(server.url("/two/m.safetensors"), if_exists="overwrite"))
        manager.cancel(first.task_id)
    finally:
        manager.shutdown()


def test_wait_returns_on_should_stop_and_timeout(tmp_path, server):
    server.add("/w.safetensors", payload(500_000), rate=100_000)
    manager = make_manager(tmp_path)
    try:
        task, _ = manager.submit(request(server.url("/w.safetensors")))
        started = time.monotonic()
        assert manager.wait(task.task_id, should_stop=lambda: time.monotonic() - started > 0.3).status \
            == "downloading"
        assert time.monotonic() - started < 1.0
        assert manager.wait(task.task_id, timeout=0.2).status == "downloading"
        with pytest.raises(NotFound):
            manager.wait("nope", timeout=0.1)
    finally:
        manager.shutdown()
    assert (tmp_path / CKPT / ".w.safetensors.mmpart").exists()  # shutdown keeps the partial


def test_task_files_are_json_and_a_tampered_path_is_never_trusted(tmp_path, server):
    server.add("/t.safetensors", payload(5_000))
    manager = make_manager(tmp_path)
    try:
        task, _ = manager.submit(request(server.url("/t.safetensors")))
        manager.wait(task.task_id, timeout=10)
    finally:
        manager.shutdown()
    tasks_dir = tmp_path / "state/tasks"
    record = json.loads((tasks_dir / f"{task.task_id}.json").read_text())
    assert record["destination_path"] == str((tmp_path / CKPT / "t.safetensors").resolve())
    evil = dict(record, task_id="e" * 32, status="queued", filename="../../../evil.safetensors")
    (tasks_dir / f"{'e' * 32}.json").write_text(json.dumps(evil))
    moved = dict(record, task_id="f" * 32, status="queued", destination_path="/tmp/elsewhere.safetensors")
    (tasks_dir / f"{'f' * 32}.json").write_text(json.dumps(moved))
    (tasks_dir / "garbage.json").write_text("{not json")
    again = make_manager(tmp_path, start=False)
    ids = {t.task_id for t in again.list()}
    assert "e" * 32 not in ids and task.task_id in ids
    assert again.get("f" * 32).destination == (tmp_path / CKPT / "t.safetensors").resolve()
