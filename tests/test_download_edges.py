"""Redirects to another host (auth never forwarded, expired signed URLs re-resolved), 416,
full disks (a real small tmpfs), proxies, and the small parsers the downloader relies on."""
from __future__ import annotations

import os
import threading
import subprocess
import time
from pathlib import Path

import pytest

from comfyui_model_manager.core.content_disposition import filename_from_content_disposition
from comfyui_model_manager.core.http import HttpClient
from comfyui_model_manager.core.retry import RetryPolicy, parse_retry_after
from comfyui_model_manager.core.downloads.segments import ByteRanges
from comfyui_model_manager.core.sources.base import ResolvedDownload, SourceRegistry
from comfyui_model_manager.core.sources.direct import create_source
from comfyui_model_manager.core.downloads.transfer import ResumeState, StopSignal, Transfer
from support.downloads import FAST, download_once, make_manager, payload, request, sha256
from support.range_server import RangeServer

TOKEN = "test-api-key-0123456789"


class _TokenSource:
    """A source like Civitai's: the API host wants a bearer key and redirects to storage."""

    name = "fakeapi"

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.resolves = 0

    def matches(self, url: str) -> bool:
        return url.startswith("fakeapi:")

    def resolve(self, url: str) -> ResolvedDownload:
        self.resolves += 1
        return ResolvedDownload(source=self.name, url=self.api_url, display_url=url,
                                auth_headers={"Authorization": f"Bearer {TOKEN}"},
                                filename="model.safetensors", model_type="loras")


class _Registry(SourceRegistry):
    def __init__(self, settings, http, source) -> None:
        super().__init__(settings, http)
        self._sources = [source]


@pytest.fixture
def hosts():
    with RangeServer("127.0.0.1") as api, RangeServer("127.0.0.2") as storage:
        yield api, storage


def _manager_with(tmp_path, source, **kwargs):
    manager = make_manager(tmp_path, start=False, **kwargs)
    manager.sources = _Registry(manager.settings, manager.http, source)
    manager.start()
    return manager


def test_redirect_to_another_host_never_forwards_the_key(tmp_path, hosts):
    api, storage = hosts
    data = payload(150_000)
    storage.add("/blob", data, drop_after=[60_000])
    api.redirect("/download", storage.url("/blob?X-Amz-Signature=sig123456"), status=307)
    source = _TokenSource(api.url("/download"))
    manager = _manager_with(tmp_path, source)
    task = download_once(manager, request("fakeapi:model", model_type="auto"), timeout=20)
    assert task.status == "completed", task.error
    assert (tmp_path / "models/loras/model.safetensors").read_bytes() == data
    assert all(r.header("Authorization") == f"Bearer {TOKEN}" for r in api.requests)
    assert storage.requests and all(r.header("Authorization") is None for r in storage.requests)
    # the resume went straight to the signed URL it had been redirected to
    assert len(api.requests) == 1 and storage.requests[-1].header("Range") == "bytes=60000-149999"


def test_expired_signed_url_is_resolved_again_and_continues(tmp_path, hosts):
    api, storage = hosts
    data = payload(150_000)
    spec = storage.add("/blob", data, drop_after=[70_000])

    def expire_after_drop(entry):
        if entry.header("Range") == "bytes=70000-149999" and not getattr(spec, "_expired", False):
            spec._expired = True
            spec.fail = [(403, None), (403, None)]  # the cached URL, then the API's same old URL

    spec.on_request = expire_after_drop
    api.redirect("/download", storage.url("/blob"), status=307)
    source = _TokenSource(api.url("/download"))
    manager = _manager_with(tmp_path, source)
    task = download_once(manager, request("fakeapi:model", model_type="auto"), timeout=20)
    assert task.status == "completed", task.error
    assert (tmp_path / "models/loras/model.safetensors").read_bytes() == data
    assert source.resolves == 2  # submit + one refresh
    assert [r.status for r in storage.requests] == [206, 403, 403, 206]
    assert storage.requests[-1].header("Range") == "bytes=70000-149999"  # continued from the partial
    assert all(r.header("Authorization") is None for r in storage.requests)


def test_refused_even_after_refresh_fails_saying_a_key_may_be_needed(tmp_path, hosts):
    api, storage = hosts
    storage.add("/blob", payload(1000), fail=[(403, None)] * 10)
    api.redirect("/download", storage.url("/blob"), status=307)
    manager = _manager_with(tmp_path, _TokenSource(api.url("/download")))
    task = download_once(manager, request("fakeapi:model", model_type="auto"), timeout=20)
    assert task.status == "failed"
    assert "403 Forbidden" in task.error and "API key may be needed" in task.error
    assert TOKEN not in task.error


def test_html_mid_way_fails_and_places_nothing(tmp_path, hosts):
    api, storage = hosts
    storage.add("/blob", b"<html>login</html>", content_type="text/html")
    api.redirect("/download", storage.url("/blob"), status=307)
    manager = _manager_with(tmp_path, _TokenSource(api.url("/download")))
    task = download_once(manager, request("fakeapi:model", model_type="auto"), timeout=20)
    assert task.status == "failed" and "web page instead of the model file" in task.error
    assert not (tmp_path / "models/loras/model.safetensors").exists()


# ---------------------------------------------------------------- 416 and Transfer directly
def _transfer(server_url: str, partial: Path, state: ResumeState, expected: str | None = None) -> Transfer:
    resolved = ResolvedDownload(source="direct", url=server_url, display_url=server_url)
    return Transfer(http=HttpClient(), resolved=resolved, partial=partial, state=state, config=FAST,
                    stop=StopSignal(), expected_sha256=expected)


def test_416_with_our_size_means_complete_then_verified(tmp_path):
    data = payload(40_000)
    partial = tmp_path / ".m.safetensors.mmpart"
    partial.write_bytes(data)
    with RangeServer() as server:
        server.add("/m", data)
        result = _transfer(server.url("/m"), partial, ResumeState(total=None, missing=[[0, None]]),
                           sha256(data)).run()
        assert server.requests[-1].status == 416 and server.requests[-1].header("Range") == "bytes=40000-262143"
    assert result.sha256 == sha256(data) and result.size == len(data)
    assert server.bytes_served() == 0


def test_416_with_another_size_restarts_from_zero(tmp_path):
    data = payload(40_000)
    partial = tmp_path / ".m.safetensors.mmpart"
    partial.write_bytes(payload(50_000, seed=9))  # longer than the file on the server now
    with RangeServer() as server:
        server.add("/m", data)
        result = _transfer(server.url("/m"), partial, ResumeState(total=None, missing=[[0, None]])).run()
        statuses = [r.status for r in server.requests]
    assert statuses[0] == 416 and statuses[-1] in (200, 206)
    assert partial.read_bytes() == data and result.sha256 == sha256(data)


def test_complete_partial_from_a_previous_run_is_only_verified(tmp_path):
    data = payload(30_000)
    partial = tmp_path / ".m.mmpart"
    partial.write_bytes(data)
    with RangeServer() as server:
        server.add("/m", data)
        result = _transfer(server.url("/m"), partial, ResumeState(total=len(data), missing=[])).run()
        assert server.requests == []
    assert result.sha256 == sha256(data)


# ---------------------------------------------------------------- full disks (real tmpfs)
@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                       check=True, capture_output=True, timeout=10)
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a 2 MiB tmpfs here (needs root and mount rights): {exc}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=10)


def _small_disk_manager(tmp_path, small_disk):
    return make_manager(small_disk, state_dir=tmp_path / "state")


def test_not_enough_space_before_start_names_folder_and_bytes(tmp_path, small_disk):
    with RangeServer() as server:
        server.add("/huge.safetensors", payload(3_000_000))
        manager = _small_disk_manager(tmp_path, small_disk)
        task = download_once(manager, request(server.url("/huge.safetensors")), timeout=20)
    assert task.status == "failed"
    folder = small_disk / "models" / "checkpoints"
    assert f"not enough free space in {folder}" in task.error
    assert "needs 3000000 bytes" in task.error and "are free" in task.error
    assert not (folder / "huge.safetensors").exists()


def test_disk_full_mid_way_fails_clearly_keeps_partial_and_resumes(tmp_path, small_disk):
    data = payload(1_000_000)
    filler = small_disk / "filler.bin"
    with RangeServer() as server:
        spec = server.add("/m.safetensors", data, drop_after=[200_000])

        def fill_disk(entry):
            if entry.header("Range") == "bytes=200000-999999" and not filler.exists():
                free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
                filler.write_bytes(b"\0" * max(0, free - 100_000))

        spec.on_request = fill_disk
        manager = make_manager(small_disk, state_dir=tmp_path / "state",
                               settings={"connections_per_download": 1})
        try:
            task, _ = manager.submit(request(server.url("/m.safetensors")))
            task = manager.wait(task.task_id, timeout=20)
            assert task.status == "failed"
            assert "is full" in task.error and str(small_disk / "models" / "checkpoints") in task.error
            partial = small_disk / "models/checkpoints/.m.safetensors.mmpart"
            assert partial.stat().st_size >= 200_000
            filler.unlink()
            manager.resume(task.task_id)
            task = manager.wait(task.task_id, timeout=20)
        finally:
            manager.shutdown()
    assert task.status == "completed", task.error
    assert (small_disk / "models/checkpoints/m.safetensors").read_bytes() == data


# ---------------------------------------------------------------- proxies
def test_proxy_from_environment_and_setting_wins(tmp_path, monkeypatch):
    data = payload(20_000)
    with RangeServer("127.0.0.1") as origin, RangeServer("127.0.0.2") as env_proxy, \
            RangeServer("127.0.0.2") as setting_proxy:
        for server in (origin, env_proxy, setting_proxy):
            server.add("/m.safetensors", data)  # a forward proxy sees the absolute URL's path
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.setenv("HTTP_PROXY", env_proxy.url(""))
        manager = make_manager(tmp_path)
        try:
            task, _ = manager.submit(request(origin.url("/m.safetensors")))
            assert manager.wait(task.task_id, timeout=10).status == "completed"
            assert env_proxy.requests and env_proxy.requests[0].target.startswith(origin.url("/"))
            assert origin.requests == []
            manager.settings.update({"proxy": setting_proxy.url("")})
            task, _ = manager.submit(request(origin.url("/m.safetensors"), if_exists="overwrite"))
            assert manager.wait(task.task_id, timeout=10).status == "completed"
            assert setting_proxy.requests and origin.requests == []
        finally:
            manager.shutdown()


# ---------------------------------------------------------------- small parsers
@pytest.mark.parametrize("header, name", [
    ('attachment; filename="model.safetensors"', "model.safetensors"),
    ("attachment; filename=model.ckpt", "model.ckpt"),
    ('attachment; filename="a;b.pt"', "a;b.pt"),
    ('attachment; filename="quoted \\"x\\".pt"', 'quoted "x".pt'),
    ("attachment; filename=\"fallback.pt\"; filename*=UTF-8''%E2%82%AC%20rates.safetensors", "€ rates.safetensors"),
    ("attachment; filename*=iso-8859-1'en'%A3%20rates.pt", "£ rates.pt"),
    ("attachment; filename*=bogus'x'abc; filename=plain.pt", "plain.pt"),
    ("inline", None),
    ("", None),
])
def test_content_disposition(header, name):
    assert filename_from_content_disposition(header) == name


def test_retry_after_and_backoff():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    policy = RetryPolicy(base_delay=1, max_delay=8, max_retry_after=60)
    assert policy.delay(3, retry_after=7) == 7 and policy.delay(1, retry_after=999) == 60
    for attempt, ceiling in ((1, 1), (2, 2), (3, 4), (6, 8)):
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_byte_ranges_claim_release_and_prefix():
    ranges = ByteRanges(100, [[0, 100]])
    a, b = ranges.claim(30), ranges.claim(30)
    assert (a.start, a.end, b.start, b.end) == (0, 30, 30, 60)
    ranges.advance(b, 30)
    ranges.release(b)
    assert ranges.contiguous_end() == 0 and ranges.missing() == [[0, 30], [60, 100]]
    ranges.advance(a, 10)
    ranges.release(a)
    assert ranges.missing() == [[10, 30], [60, 100]] and ranges.downloaded() == 40
    c = ranges.claim(None)
    assert (c.start, c.end) == (10, 30)
    assert ByteRanges(50, [[0, 10], [5, 20], [40, None]]).missing() == [[0, 20], [40, 50]]


def test_direct_source_probe_learns_name_size_etag_and_ranges():
    with RangeServer() as server:
        server.add("/dl", payload(12_345), etag='"abc"',
                   content_disposition="attachment; filename*=UTF-8''caf%C3%A9.safetensors")
        server.add("/plain/x%20y.ckpt", payload(10), ignore_range=True, etag='W/"weak"')
        source = create_source(None, HttpClient())
        first = source.resolve(server.url("/dl?token=hide-me-please"))
        second = source.resolve(server.url("/plain/x%20y.ckpt"))
        assert server.requests[0].header("Range") == "bytes=0-0"
    assert (first.filename, first.size, first.etag, first.accepts_ranges) == ("café.safetensors", 12_345, '"abc"', True)
    assert "hide-me-please" not in first.display_url and first.source == "direct"
    assert (second.filename, second.size, second.etag, second.accepts_ranges) == ("x y.ckpt", 10, None, False)
    assert source.matches("https://x/y") and not source.matches("file:///etc/passwd")


# ---------------------------------------------------------------- more resume paths
def test_body_without_length_is_downloaded_to_its_end(tmp_path):
    data = payload(90_000)
    with RangeServer() as server:
        server.add("/s.safetensors", data, no_length=True, ignore_range=True)
        manager = make_manager(tmp_path)
        task = download_once(manager, request(server.url("/s.safetensors")), timeout=10)
    assert task.status == "completed", task.error
    assert task.total_bytes == len(data) and task.sha256 == sha256(data)
    assert (tmp_path / "models/checkpoints/s.safetensors").read_bytes() == data


def test_sha256_from_the_source_is_checked(tmp_path, hosts):
    api, storage = hosts
    data = payload(5_000)
    storage.add("/blob", data)
    api.redirect("/download", storage.url("/blob"))

    class _HashSource(_TokenSource):
        def resolve(self, url):
            resolved = super().resolve(url)
            resolved.sha256 = "f" * 64
            return resolved

    manager = _manager_with(tmp_path, _HashSource(api.url("/download")))
    try:
        task, _ = manager.submit(request("fakeapi:model", model_type="auto"))
        assert task.sha256 == "f" * 64
        task = manager.wait(task.task_id, timeout=10)
    finally:
        manager.shutdown()
    assert task.status == "failed" and f"expected sha256 {'f' * 64}" in task.error
    assert not (tmp_path / "models/loras/model.safetensors").exists()


def test_segmented_download_survives_a_restart_and_continues_every_segment(tmp_path):
    data = payload(1_500_000)
    with RangeServer() as server:
        server.add("/seg.safetensors", data, etag='"g"', rate=120_000)  # per connection
        first = make_manager(tmp_path)
        task, _ = first.submit(request(server.url("/seg.safetensors")))
        deadline = time.monotonic() + 10
        while first.get(task.task_id).downloaded_bytes < 400_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.shutdown()
        held = first.get(task.task_id)
        assert held.status == "queued" and 0 < held.downloaded_bytes < len(data)
        second = make_manager(tmp_path)  # start() resumes it by itself
        try:
            done = second.wait(task.task_id, timeout=30)
        finally:
            second.shutdown()
        resumed = [r for r in server.requests_for("/seg.safetensors")
                   if r.header("Range") not in ("bytes=0-0",) and r.header("If-Range")]
        served = server.bytes_served("/seg.safetensors")
    assert done.status == "completed", done.error
    assert (tmp_path / "models/checkpoints/seg.safetensors").read_bytes() == data
    assert len({r.connection for r in resumed}) >= 2
    assert served < 1.3 * len(data)


# ---------------------------------------------------------------- ramp-up of connections
def _ramp_config(fast_bps):
    from dataclasses import replace

    from support.downloads import FAST
    return replace(FAST, ramp_up_seconds=0.1, fast_connection_bps=fast_bps)


def test_fast_single_connection_runs_alone_asking_several_blocks_at_a_time(tmp_path):
    data = payload(1_000_000)  # 16 blocks of 64 KiB (test sizes)
    with RangeServer() as server:
        server.add("/f.safetensors", data, etag='"f"', drop_after=[100_000])
        manager = make_manager(tmp_path, config=_ramp_config(1))  # 1 B/s counts as "fast enough"
        task = download_once(manager, request(server.url("/f.safetensors")), timeout=10)
        gets = [r for r in server.requests_for("/f.safetensors") if r.header("Range") != "bytes=0-0"]
    assert task.status == "completed", task.error
    assert (tmp_path / "models/checkpoints/f.safetensors").read_bytes() == data
    # four blocks a request, resumed once inside the first; one connection all along
    assert [r.header("Range") for r in gets] == ["bytes=0-262143", "bytes=100000-262143", "bytes=262144-524287",
                                                  "bytes=524288-786431", "bytes=786432-999999"]
    assert server.bytes_served("/f.safetensors") == len(data) + 1  # + the probe's one byte


def test_slow_connection_brings_in_the_others(tmp_path):
    data = payload(1_000_000)
    with RangeServer() as server:
        server.add("/s.safetensors", data, etag='"s"', rate=250_000)
        manager = make_manager(tmp_path, config=_ramp_config(10_000_000))
        task = download_once(manager, request(server.url("/s.safetensors")), timeout=20)
        gets = [r for r in server.requests_for("/s.safetensors") if r.header("Range") != "bytes=0-0"]
        served = server.bytes_served("/s.safetensors")
    assert task.status == "completed", task.error
    assert (tmp_path / "models/checkpoints/s.safetensors").read_bytes() == data
    assert gets[0].header("Range") == "bytes=0-262143" and len({r.connection for r in gets}) >= 3
    assert served < 1.3 * len(data)


def test_a_slow_connection_that_finds_its_bytes_waiting_brings_in_nobody():
    """Slow because this machine is busy (the socket always holds a full read): more
    connections would only compete for the CPU; slow while waiting for the network: they help."""
    from comfyui_model_manager.core.downloads.transfer_config import ReadPace, more_connections_help

    starved, throttled = ReadPace(), ReadPace()
    for _ in range(9):
        starved.note(full=True)
        throttled.note(full=False)
    starved.note(full=False)
    throttled.note(full=True)
    assert not more_connections_help(20e6, 96e6, starved.take_full_share())
    assert more_connections_help(20e6, 96e6, throttled.take_full_share())
    assert not more_connections_help(200e6, 96e6, 0.0)  # fast: never
    assert not more_connections_help(20e6, 96e6, None)  # no read in the window: wait for one that has
    assert starved.take_full_share() is None  # each window counts afresh


def test_symlink_planted_as_partial_file_is_not_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    folder = tmp_path / "models/checkpoints"
    folder.mkdir(parents=True)
    (folder / ".m.safetensors.mmpart").symlink_to(outside)
    with RangeServer() as server:
        server.add("/m.safetensors", payload(10_000))
        manager = make_manager(tmp_path)
        task = download_once(manager, request(server.url("/m.safetensors")), timeout=10)
    assert task.status == "failed"
    assert outside.read_bytes() == b"precious"
    assert not (folder / "m.safetensors").exists()


@pytest.mark.parametrize("positional", [True, False], ids=["pwrite", "seek-under-lock (Windows)"])
def test_positional_file_from_many_threads(tmp_path, monkeypatch, positional):
    from comfyui_model_manager.core.downloads import fileio

    if not positional:  # the code path Windows takes: no os.pwrite / os.preadv
        monkeypatch.setattr(fileio, "_HAS_PWRITE", False)
        monkeypatch.setattr(fileio, "_HAS_PREADV", False)
    data = payload(400_000)
    target = fileio.PositionalFile(tmp_path / "f.bin")
    pieces = [(offset, data[offset:offset + 10_000]) for offset in range(0, len(data), 10_000)]

    def writer(part):
        for offset, piece in part:
            target.write_at(memoryview(piece), offset)

    threads = [threading.Thread(target=writer, args=(pieces[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    view = memoryview(bytearray(len(data)))
    assert target.read_into(view, 0) == len(data) and bytes(view) == data
    assert target.size() == len(data)
    target.close()
    assert (tmp_path / "f.bin").read_bytes() == data


def test_restart_while_the_service_is_briefly_unreachable_retries_the_resolve(tmp_path, hosts):
    import requests

    api, storage = hosts
    data = payload(400_000)
    storage.add("/blob", data, rate=400_000)
    api.redirect("/download", storage.url("/blob"), status=307)

    class _Flaky(_TokenSource):
        failures = 0

        def resolve(self, url):
            if self.resolves >= 1 and self.failures < 2:  # after the restart: two network errors
                self.failures += 1
                raise requests.ConnectionError("connection refused")
            return super().resolve(url)

    source = _Flaky(api.url("/download"))
    first = _manager_with(tmp_path, source, settings={"connections_per_download": 1})
    task, _ = first.submit(request("fakeapi:model", model_type="auto"))
    deadline = time.monotonic() + 10
    while first.get(task.task_id).downloaded_bytes < 50_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.shutdown()
    second = _manager_with(tmp_path, source, settings={"connections_per_download": 1})
    try:
        done = second.wait(task.task_id, timeout=20)
    finally:
        second.shutdown()
    assert done.status == "completed", done.error
    assert source.failures == 2 and source.resolves == 2
    assert (tmp_path / "models/loras/model.safetensors").read_bytes() == data


@pytest.mark.parametrize("backpressure", [True, False])
def test_prefix_hasher_with_a_tiny_window_in_and_out_of_order(tmp_path, backpressure):
    import random

    from comfyui_model_manager.core.downloads.fileio import PositionalFile
    from comfyui_model_manager.core.downloads.hasher import PrefixHasher

    data = payload(300_000)
    chunk = 4096
    target = PositionalFile(tmp_path / "p.bin")
    ranges = ByteRanges(len(data), [[0, len(data)]])
    hasher = PrefixHasher(target, ranges, buffer_size=chunk, window=4 * chunk)
    hasher.backpressure = backpressure
    hasher.start()
    blocks = [ranges.claim(chunk * 8) for _ in range(len(data) // (chunk * 8) + 1)]
    blocks = [b for b in blocks if b is not None]
    if not backpressure:
        random.Random(7).shuffle(blocks)  # several connections finish out of order

    buffer = bytearray(chunk)
    for block in blocks:
        while not block.complete:
            count = min(chunk, block.end - block.position)
            buffer[:count] = data[block.position:block.position + count]
            target.write_at(memoryview(buffer)[:count], block.position)
            spare = hasher.offer(block.position, buffer, count)
            if spare is not None:
                buffer = spare
            ranges.advance(block, count)
        ranges.release(block)
    assert hasher.finish(len(data)) == sha256(data)
    target.close()


@pytest.mark.parametrize("hook_fails", [False, True])
def test_after_complete_runs_once_the_file_is_in_place(tmp_path, hosts, hook_fails):
    api, storage = hosts
    data = payload(8_000)
    storage.add("/blob", data)
    api.redirect("/download", storage.url("/blob"))
    seen = []

    class _SidecarSource(_TokenSource):
        def after_complete(self, destination, resolved):
            seen.append(destination.read_bytes() == data)  # the model is already in place
            if hook_fails:
                raise OSError("the preview server is down")
            destination.with_suffix(".civitai.info").write_text("{}")

    manager = _manager_with(tmp_path, _SidecarSource(api.url("/download")))
    task = download_once(manager, request("fakeapi:model", model_type="auto"), timeout=10)
    assert task.status == "completed" and seen == [True]
    assert (tmp_path / "models/loras/model.civitai.info").exists() is (not hook_fails)


def test_a_resolved_download_is_plain_data():
    """What a source hands the downloader holds values only (no callables), so it can be
    copied, compared and shown; the after-download step belongs to the source."""
    import dataclasses

    resolved = ResolvedDownload(source="x", url="https://h/f", display_url="https://h/f")
    assert all(not callable(getattr(resolved, f.name)) for f in dataclasses.fields(resolved))
    assert dataclasses.replace(resolved) == resolved


def test_retry_after_from_headers_in_every_spelling():
    import email.utils

    from comfyui_model_manager.core.retry import retry_after_seconds

    now = 1_700_000_000.0
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"retry-after": "1.5"}) == 1.5  # decimals are tolerated
    assert retry_after_seconds({"Retry-After": "-3"}) == 0.0
    assert retry_after_seconds({"Retry-After": email.utils.formatdate(now + 42, usegmt=True)}, now=now) == 42.0
    assert retry_after_seconds({"Retry-After": email.utils.formatdate(now - 42, usegmt=True)}, now=now) == 0.0
    assert retry_after_seconds({"RateLimit": '"api";r=0;t=12'}) == 12.0
    assert retry_after_seconds({"Retry-After": "nan"}) is None and retry_after_seconds({}) is None
    assert retry_after_seconds({"Retry-After": "later"}) is None and retry_after_seconds(None) is None


def test_policy_tries_and_exact_backoff_without_jitter():
    policy = RetryPolicy(max_tries=3, base_delay=1, max_delay=4, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 4]
    assert not policy.gives_up_after(2) and policy.gives_up_after(3)
    assert policy.with_retries(0).max_tries == 1 and policy.with_retries(None) is policy
