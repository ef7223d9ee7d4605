"""The downloader against a real HTTP server that misbehaves: drops, stalls, 5xx/429, ignored or
wrong ranges, 416, changed files, checksum mismatches, HTML pages, refused access."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from comfyui_model_manager.core.retry import RetryPolicy
from support.downloads import FAST, file_sha, listing, make_manager, payload, request, sha256
from support.range_server import RangeServer


@pytest.fixture(autouse=True, params=["kernel copy", "copy through Python"])
def byte_path(request, monkeypatch):
    """Every fault on both byte paths: the kernel moves plain-HTTP bodies on Linux; TLS bodies and
    other systems copy through Python (chosen here the way a system without ``splice`` would)."""
    from comfyui_model_manager.core.downloads import body_copy, kernel_copy

    if request.param == "kernel copy" and not kernel_copy.AVAILABLE:
        pytest.skip("os.splice is Linux only")
    if request.param == "copy through Python":
        monkeypatch.setattr(body_copy, "KERNEL_COPY", False)
    return request.param


@pytest.fixture
def server():
    with RangeServer("127.0.0.1") as srv:
        yield srv


def _download(tmp_path, srv, path, data=None, config=FAST, settings=None, **fields):
    manager = make_manager(tmp_path, config=config, settings=settings)
    try:
        task, _ = manager.submit(request(srv.url(path), **fields))
        return manager.wait(task.task_id, timeout=30), manager
    finally:
        manager.shutdown()


def _gets(srv, path):
    """GETs that moved the file (not the one-byte probe)."""
    return [r for r in srv.requests_for(path) if r.header("Range") != "bytes=0-0"]


def test_plain_download_lands_verified(tmp_path, server):
    data = payload(100_000)
    server.add("/m.safetensors", data)
    task, _ = _download(tmp_path, server, "/m.safetensors")
    dest = tmp_path / "models" / "checkpoints" / "m.safetensors"
    assert task.status == "completed", task.error
    assert dest.read_bytes() == data
    assert task.sha256 == sha256(data)
    assert task.downloaded_bytes == task.total_bytes == len(data)
    assert listing(dest.parent) == ["m.safetensors"]  # no partial left behind


def test_drops_mid_body_several_times_resume_with_range(tmp_path, server):
    data = payload(200_000)  # below the (test) segment threshold: one stream
    server.add("/m.safetensors", data, etag='"v1"', drop_after=[30_000, 20_000, 40_000])
    task, _ = _download(tmp_path, server, "/m.safetensors")
    assert task.status == "completed", task.error
    assert file_sha(tmp_path / "models/checkpoints/m.safetensors") == sha256(data)
    ranges = [r.header("Range") for r in _gets(server, "/m.safetensors")]
    assert ranges == ["bytes=0-199999", "bytes=30000-199999", "bytes=50000-199999", "bytes=90000-199999"]
    assert [r.header("If-Range") for r in _gets(server, "/m.safetensors")][1:] == ['"v1"'] * 3
    assert server.bytes_served("/m.safetensors") == len(data) + 1  # + the probe's one byte


def test_drops_in_segmented_download(tmp_path, server):
    data = payload(1_000_000)
    server.add("/big.safetensors", data, etag='"e"', drop_after=[10_000, 20_000, 30_000, 5_000, 60_000])
    task, _ = _download(tmp_path, server, "/big.safetensors")
    assert task.status == "completed", task.error
    assert file_sha(tmp_path / "models/checkpoints/big.safetensors") == sha256(data)
    gets = _gets(server, "/big.safetensors")
    assert len({r.connection for r in gets}) >= 2  # really several connections
    assert server.bytes_served("/big.safetensors") <= len(data) + 1


def test_stall_is_detected_and_retried(tmp_path, server):
    data = payload(150_000)
    server.add("/s.safetensors", data, stall_after=40_000, stall_seconds=3)
    started = time.monotonic()
    task, _ = _download(tmp_path, server, "/s.safetensors")
    assert task.status == "completed", task.error
    assert (tmp_path / "models/checkpoints/s.safetensors").read_bytes() == data
    assert [r.header("Range") for r in _gets(server, "/s.safetensors")][-1] == "bytes=40000-149999"
    assert time.monotonic() - started < 3  # the 1 s stall timeout fired, not the server's 3 s


def test_503_and_429_then_success_honours_retry_after(tmp_path, server):
    data = payload(50_000)
    server.add("/r.safetensors", data, fail=[(503, None), (429, "1")])
    config = replace(FAST, retry=RetryPolicy(max_tries=4, base_delay=0.01, max_delay=0.05, max_retry_after=5))
    manager = make_manager(tmp_path, config=config)
    try:
        # the probe used the 503; the transfer sees the 429 with Retry-After: 1
        task, _ = manager.submit(request(server.url("/r.safetensors")))
        task = manager.wait(task.task_id, timeout=20)
    finally:
        manager.shutdown()
    assert task.status == "completed", task.error
    log = server.requests_for("/r.safetensors")
    assert [r.status for r in log] == [503, 429, 206]
    assert log[2].header("Range") == "bytes=0-262143"  # size unknown: bounded all the same
    assert (tmp_path / "models/checkpoints/r.safetensors").read_bytes() == data


def test_bounded_retries_then_failed_keeps_partial_and_resume_continues(tmp_path, server):
    data = payload(120_000)
    spec = server.add("/f.safetensors", data, drop_after=[50_000])

    def fail_after_first(entry):
        if entry.header("Range") == "bytes=50000-119999" and spec.fail == [] and not getattr(spec, "_armed", False):
            spec._armed = True
            spec.fail = [(503, None)] * 10

    spec.on_request = fail_after_first
    manager = make_manager(tmp_path)
    try:
        task, _ = manager.submit(request(server.url("/f.safetensors")))
        task = manager.wait(task.task_id, timeout=20)
        assert task.status == "failed"
        assert "HTTP 503 Service Unavailable" in task.error and "gave up after 4 tries" in task.error
        partial = tmp_path / "models/checkpoints/.f.safetensors.mmpart"
        assert partial.stat().st_size == 50_000
        assert not (tmp_path / "models/checkpoints/f.safetensors").exists()
        spec.fail = []
        manager.resume(task.task_id)
        task = manager.wait(task.task_id, timeout=20)
    finally:
        manager.shutdown()
    assert task.status == "completed", task.error
    assert (tmp_path / "models/checkpoints/f.safetensors").read_bytes() == data
    assert _gets(server, "/f.safetensors")[-1].header("Range") == "bytes=50000-119999"


def test_server_ignoring_range_restarts_from_zero_never_appends(tmp_path, server):
    data = payload(100_000)
    # the probe uses up the first fault (it gets the whole body too and hangs up)
    server.add("/i.safetensors", data, ignore_range=True, drop_after=[30_000, 30_000])
    task, _ = _download(tmp_path, server, "/i.safetensors")
    assert task.status == "completed", task.error
    on_disk = (tmp_path / "models/checkpoints/i.safetensors").read_bytes()
    assert len(on_disk) == len(data) and on_disk == data
    gets = _gets(server, "/i.safetensors")
    assert [r.status for r in gets] == [200, 200, 200]
    assert [r.header("Range") for r in gets] == ["bytes=0-262143", "bytes=30000-99999", "bytes=0-262143"]


def test_wrong_content_range_is_refused_then_retried(tmp_path, server):
    data = payload(100_000)
    server.add("/w.safetensors", data, wrong_range=1)
    task, _ = _download(tmp_path, server, "/w.safetensors")
    assert task.status == "completed", task.error
    assert (tmp_path / "models/checkpoints/w.safetensors").read_bytes() == data


def test_always_wrong_content_range_fails_clearly(tmp_path, server):
    server.add("/w.safetensors", payload(100_000), wrong_range=100)
    task, _ = _download(tmp_path, server, "/w.safetensors")
    assert task.status == "failed"
    assert "wrong byte range" in task.error
    assert not (tmp_path / "models/checkpoints/w.safetensors").exists()


def test_checksum_mismatch_fails_and_places_nothing(tmp_path, server):
    data = payload(80_000)
    server.add("/c.safetensors", data)
    wrong = "ab" * 32
    task, _ = _download(tmp_path, server, "/c.safetensors", sha256=wrong.upper())
    assert task.status == "failed"
    assert f"expected sha256 {wrong}" in task.error and f"got {sha256(data)}" in task.error
    assert listing(tmp_path / "models/checkpoints") == []  # no file, no partial


def test_matching_checksum_from_request_passes(tmp_path, server):
    data = payload(80_000)
    server.add("/c.safetensors", data)
    task, _ = _download(tmp_path, server, "/c.safetensors", sha256=sha256(data).upper())
    assert task.status == "completed" and task.sha256 == sha256(data)


def test_file_changed_on_server_if_range_gives_new_file(tmp_path, server):
    old, new = payload(100_000, seed=1), payload(100_000, seed=2)
    spec = server.add("/v.safetensors", old, etag='"v1"', drop_after=[40_000])

    def swap(entry):
        if entry.header("If-Range"):
            spec.data, spec.etag = new, '"v2"'

    spec.on_request = swap
    task, _ = _download(tmp_path, server, "/v.safetensors")
    assert task.status == "completed", task.error
    assert (tmp_path / "models/checkpoints/v.safetensors").read_bytes() == new
    gets = _gets(server, "/v.safetensors")
    assert gets[1].header("If-Range") == '"v1"' and gets[1].status == 200


def test_weak_etag_is_never_sent_as_if_range(tmp_path, server):
    data = payload(100_000)
    server.add("/k.safetensors", data, etag='W/"weak"', drop_after=[40_000])
    task, _ = _download(tmp_path, server, "/k.safetensors")
    assert task.status == "completed", task.error
    assert all(r.header("If-Range") is None for r in server.requests_for("/k.safetensors"))


def test_html_page_instead_of_model_is_refused(tmp_path, server):
    server.add("/login.safetensors", b"<html>please log in</html>", content_type="text/html; charset=utf-8")
    manager = make_manager(tmp_path)
    try:
        with pytest.raises(Exception) as raised:
            manager.submit(request(server.url("/login.safetensors")))
    finally:
        manager.shutdown()
    assert "web page instead of the model file" in str(raised.value)
    assert listing(tmp_path / "models/checkpoints") == []


def test_unauthorized_says_a_key_may_be_needed(tmp_path, server):
    server.add("/p.safetensors", payload(1000), require_header={"Authorization": "Bearer x"})
    manager = make_manager(tmp_path)
    try:
        with pytest.raises(Exception) as raised:
            manager.submit(request(server.url("/p.safetensors")))
    finally:
        manager.shutdown()
    assert "401" in str(raised.value) and "API key" in str(raised.value)


def test_not_found_is_a_clear_error(tmp_path, server):
    manager = make_manager(tmp_path)
    try:
        with pytest.raises(Exception) as raised:
            manager.submit(request(server.url("/missing.safetensors")))
    finally:
        manager.shutdown()
    assert "not found" in str(raised.value) and "404" in str(raised.value)


def test_server_stops_honouring_ranges_mid_segmented_download(tmp_path, server):
    data = payload(1_000_000)
    spec = server.add("/g.safetensors", data, etag='"g"')
    seen = []

    def turn_off_ranges(entry):
        seen.append(entry)
        if len(seen) == 5:  # probe + a few blocks, then a "new server" that ignores Range
            spec.ignore_range = True

    spec.on_request = turn_off_ranges
    task, _ = _download(tmp_path, server, "/g.safetensors")
    assert task.status == "completed", task.error
    assert (tmp_path / "models/checkpoints/g.safetensors").read_bytes() == data
    assert task.sha256 == sha256(data)
    assert any(r.status == 200 and r.header("Range") == "bytes=0-262143" for r in server.requests_for("/g.safetensors"))


def test_web_page_sent_as_octet_stream_is_recognised(tmp_path, server):
    page = b"\n  <!DOCTYPE html><html><body>Please sign in</body></html>" + b" " * 5000
    server.add("/disguised.safetensors", page)  # Content-Type: application/octet-stream
    task, _ = _download(tmp_path, server, "/disguised.safetensors")
    assert task.status == "failed"
    assert "web page instead of the model file" in task.error
    assert listing(tmp_path / "models/checkpoints") == []


def test_empty_file_is_not_placed(tmp_path, server):
    server.add("/empty.safetensors", b"")
    task, _ = _download(tmp_path, server, "/empty.safetensors")
    assert task.status == "failed" and "empty file" in task.error
    assert listing(tmp_path / "models/checkpoints") == []
