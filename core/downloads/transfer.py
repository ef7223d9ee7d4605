"""One download: HTTP Range resume, parallel segments, retries, streaming sha256.

The bytes go to the partial file only; ``Transfer.run`` returns once every byte is on disk and
the size and sha256 are checked.  Placing the file is the manager's job.

Why the first request decides everything: it asks ``Range: bytes=N-M`` (N = first missing
byte, 0 for a fresh file).  A 206 proves ranges work and gives the exact size (then big files
are fetched over several connections); a 200 means the server ignored the range, so the file
is truncated and the body taken from byte 0 (never appended); a 416 whose ``*/size`` equals
what we hold means the partial is already complete.

Every ranged request is bounded: a connection asks for exactly the block it holds, so nothing
arrives that another connection also fetches, and a stopped or killed run wastes at most what
was in flight.  (Only a server that never says how big the file is gets an open-ended one.)
A resumed segmented task re-plans from the partial file itself (``partial_scan``).
"""
from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..diskspace import check_free_space, is_no_space, no_space_error
from ..errors import AccessDenied, AuthRequired, ChecksumMismatch, ModelManagerError, RemoteError
from .fileio import PositionalFile
from .hasher import PrefixHasher
from ..http import ConnectTimeout, HttpClient, HttpResponse, ReadTimeout, origin_of
from ..http_answers import (CONTENT_RANGE, HTML_MESSAGE, UNSATISFIED_RANGE, content_length, host_of,
                           looks_like_html, reason_phrase, transport_reason)
from .partial_scan import still_missing
from ..progress import retry_notice
from ..redact import redact_url
from ..retry import RETRYABLE_STATUSES, parse_retry_after
from .segments import Block, ByteRanges
from ..sources.base import ResolvedDownload
from .stop_signal import StopRequested, StopSignal
from .transfer_config import RampUp, TransferConfig

log = logging.getLogger(__name__)

#: While one connection runs alone it asks for this many blocks at a time.
SOLO_BLOCKS = 4

__all__ = ["HTML_MESSAGE", "Progress", "ResumeState", "Retryable", "StopRequested", "StopSignal",
           "Transfer", "TransferConfig", "TransferResult"]


@dataclass
class ResumeState:
    """What a transfer knows before it starts (from the task record) and updates as it runs."""

    total: int | None = None
    etag: str | None = None
    missing: list | None = None  # [[start, end|None]], None = nothing known: start from zero
    segmented: bool = False
    #: Block grid of the run that wrote the partial (None: unknown, do not re-plan from disk).
    grid: int | None = None


@dataclass
class TransferResult:
    size: int
    sha256: str


@dataclass
class Progress:
    downloaded: int
    total: int | None
    missing: list
    etag: str | None
    segmented: bool
    verifying: bool = False
    grid: int | None = None
    connections: int = 0


class Retryable(Exception):
    """A failure worth another try; ``reason`` is user-facing (already redacted)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _RestartFromZero(Exception):
    """The server ignored a range or the file changed: discard the partial and begin again."""


class _UrlRefused(Exception):
    """401/403/410 from the URL in use: maybe a signed URL expired."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Transfer:
    """Downloads ``resolved`` into ``partial``.  One instance per run; not reusable."""

    def __init__(
        self,
        *,
        http: HttpClient,
        resolved: ResolvedDownload,
        partial: Path,
        state: ResumeState,
        config: TransferConfig,
        stop: StopSignal,
        expected_sha256: str | None = None,
        refresh: Callable[[], ResolvedDownload] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.http = http
        self.resolved = resolved
        self.partial = Path(partial)
        self.state = state
        self.config = config
        self.stop = stop
        self.expected_sha256 = (expected_sha256 or "").lower() or None
        self._refresh = refresh
        self._on_progress = on_progress or (lambda progress: None)
        self._on_retry = on_retry or (lambda notice: None)
        self._display = resolved.display_url or redact_url(resolved.url)
        self._lock = threading.Lock()
        self._signed_url: str | None = None  # final URL after a cross-origin redirect, reused by segments
        self._fatal: BaseException | None = None
        self._ranges: ByteRanges | None = None
        self._hasher: PrefixHasher | None = None
        self._solo = False  # one connection runs alone for now (it asks for bigger blocks)
        self._halt = StopSignal()  # this pass's own stop (set by ``stop`` too)
        self._file: PositionalFile = None  # type: ignore[assignment]  # opened by run()
        self._last_report = 0.0
        self._workers: list[threading.Thread] = []  # the connections of this pass

    # ---------------------------------------------------------------- public entry point
    def run(self) -> TransferResult:
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        # Not following a symlink: one planted as the partial file must not redirect our writes.
        self._file = PositionalFile(self.partial)
        try:
            restarts = 0
            while True:
                # Each pass gets its own halt signal: a fatal error stops this pass's connections
                # without looking like a pause or cancel to the next pass.
                self._halt = StopSignal()
                self._fatal = None
                self.stop.link(self._halt)
                try:
                    return self._run_once()
                except _RestartFromZero as why:
                    restarts += 1
                    if restarts > 3:
                        raise RemoteError(f"{self._display}: {why}; gave up after {restarts} restarts") from None
                    log.info("restarting %s from zero: %s", self._display, why)
                    self._reset_to_zero(None)
                finally:
                    self.stop.unlink(self._halt)
        finally:
            empty = self._file.size() == 0
            self._file.close()
            if empty:  # ended before its first byte: leave nothing behind
                _remove_empty(self.partial)

    # ---------------------------------------------------------------- one pass
    def _run_once(self) -> TransferResult:
        ranges = self._initial_ranges()
        self._ranges = ranges
        hasher = PrefixHasher(self._file, ranges, buffer_size=self.config.chunk_size,
                              abort=self._halt.is_set).start()
        self._hasher = hasher
        try:
            if not (ranges.total is not None and ranges.done()):
                self._download(ranges)
            self._check_stop()
            size = ranges.total if ranges.total is not None else ranges.downloaded()
            if size == 0:
                raise RemoteError(f"{self._display}: the server sent an empty file; nothing was saved")
            self._report(force=True, verifying=True)
            actual = self._file.size()
            if actual != size:
                if actual > size:
                    self._file.truncate(size)
                else:
                    raise _RestartFromZero(f"the partial file holds {actual} bytes, expected {size}")
            digest = hasher.finish(size)
        finally:
            hasher.stop()
        if self.expected_sha256 and digest != self.expected_sha256:
            raise ChecksumMismatch(
                f"checksum mismatch for {self._display}: expected sha256 {self.expected_sha256}, "
                f"got {digest} ({size} bytes); the downloaded data was discarded"
            )
        if self.config.fsync:
            self._file.fsync()
        return TransferResult(size=size, sha256=digest)

    def _initial_ranges(self) -> ByteRanges:
        """The missing ranges to fetch, from the record checked against the partial file."""
        state = self.state
        size_on_disk = self._file.size()
        claims_data = state.missing is not None and state.missing != [[0, state.total]]
        if state.missing is None or (claims_data and size_on_disk == 0):
            known = self.resolved.size if self.resolved.accepts_ranges else None
            self._reset_to_zero(state.total if state.missing is not None else known)
            return ByteRanges(state.total, state.missing)
        missing = [list(iv) for iv in state.missing]
        if not state.segmented and len(missing) == 1 and missing[0][1] in (None, state.total):
            # One sequential stream: every byte up to the file's size is real data, even if the
            # record lags behind (a kill -9 between two saves).
            start = size_on_disk if state.total is None else min(size_on_disk, state.total)
            if size_on_disk > start:
                self._file.truncate(start)
            missing = [[start, state.total]]
        elif state.segmented and state.grid and state.total is not None:
            # Several connections: the record may lag behind each of them; the file knows better.
            missing = still_missing(self._file, missing, state.grid, state.total)
        elif state.segmented:
            # Written before blocks kept to a grid: trust only the record, for good.
            return ByteRanges(state.total, missing, self.config.block_size)
        state.grid = self.config.block_size
        return ByteRanges(state.total, missing, self.config.block_size)

    def _reset_to_zero(self, total: int | None) -> None:
        # Only truncate a file that has data: ext4 treats truncate-to-zero-then-rewrite as a
        # "replace" and flushes the whole file on close, which costs seconds per GiB.
        if self._file.size():
            self._file.truncate(0)
        self.state.total = total
        self.state.missing = [[0, total]]
        self.state.etag = None
        self.state.segmented = False
        self.state.grid = self.config.block_size

    # ---------------------------------------------------------------- the download itself
    def _download(self, ranges: ByteRanges) -> None:
        first_offset, first_end = ranges.missing()[0]
        total = ranges.total
        # Known big and rangeable (a resumed segmented task, or the source's probe said so):
        # ask for the first block only, so no byte is fetched twice.
        planned = (
            total is not None and self.config.connections > 1 and total >= self.config.segment_threshold
            and (self.state.segmented or (self.resolved.accepts_ranges and self.resolved.size == total))
        )
        self._solo = planned and self.config.ramp_up_seconds > 0 and bool(self.config.fast_connection_bps)
        # Ask for the whole rest when it will be one stream, else for the first block only, so
        # other connections can take what follows.  With the size unknown: as much as a file
        # that is not split has at most (then the answer tells the size).
        request_end = first_end
        if first_end is None:
            request_end = ranges.block_end(first_offset, max(self.config.segment_threshold,
                                                             self.config.block_size))
        elif self.config.connections > 1 and total is not None and total >= self.config.segment_threshold:
            request_end = min(first_end, ranges.block_end(first_offset, self._block_size(segmented=True)))
        try:
            response = self._first_response(ranges, first_offset, request_end)
        except _AlreadyComplete as complete:
            ranges.set_total(complete.size)
            self.state.total = complete.size
            return
        segmented = (
            response.status == 206 and ranges.total is not None
            and ranges.total >= self.config.segment_threshold and self.config.connections > 1
        ) or (self.state.segmented and response.status == 206)
        self.state.segmented = segmented
        if ranges.total is not None:
            try:
                self._check_space(ranges)
            except BaseException:
                self._close(response, reuse=False)
                raise
        block_size = self.config.block_size if segmented else None
        if response.status == 206:
            until = request_end if ranges.total is None else min(request_end, ranges.total)
            first_block = ranges.claim(at=first_offset, until=until)
        else:  # the whole body from byte 0
            first_block = ranges.claim(None, at=first_offset)
        assert first_block is not None
        workers = [self._spawn(0, ranges, block_size, first_block, response)]
        self._workers = workers  # (grows in place as connections are added)
        extra = self.config.connections - 1 if segmented else 0
        ramp = RampUp(self.config, ranges.downloaded()) if extra else None
        self._solo = ramp is not None and ramp.active
        if self._hasher is not None:
            self._hasher.backpressure = extra == 0 or self._solo
        try:
            while any(worker.is_alive() for worker in workers):
                workers[-1].join(0.05 if ramp else 0.25)
                self._report()
                if ramp is not None and self._worth_more_connections(ranges) \
                        and ramp.more_connections_help(ranges.downloaded()):
                    self._solo = False
                    if self._hasher is not None:
                        self._hasher.backpressure = False  # blocks now finish out of order
                    log.info("%s: one connection ran at %.1f MB/s; opening %d more", self._display,
                             ramp.last_speed / 1e6, extra)
                    workers += [self._spawn(i, ranges, block_size, None, None) for i in range(1, extra + 1)]
                    ramp = None
                elif ramp is not None and not ranges.has_free():
                    ramp = None
        except BaseException:
            self._halt.set("error")
            for worker in workers:
                worker.join()
            raise
        self._report(force=True)
        if self._fatal is not None:
            raise self._fatal
        self._check_stop()
        if not ranges.done():
            raise RemoteError(f"{self._display}: the download ended with bytes still missing")

    def _block_size(self, segmented: bool) -> int | None:
        """Bytes a connection asks for at a time (None: all that is left of the interval)."""
        if not segmented:
            return None
        return self.config.block_size * (SOLO_BLOCKS if self._solo else 1)

    def _worth_more_connections(self, ranges: ByteRanges) -> bool:
        """Near the end more connections cannot pay for their start (and a slow moment there,
        e.g. the disk flushing, must not bring them in)."""
        free = ranges.free_bytes()
        return free is None or free >= 2 * self.config.block_size

    def _spawn(self, index: int, ranges: ByteRanges, block_size: int | None, block: Block | None,
               response: HttpResponse | None) -> threading.Thread:
        thread = threading.Thread(target=self._worker, args=(ranges, block_size, block, response),
                                  name=f"mm-dl-{index}", daemon=True)
        thread.start()
        return thread

    def _check_space(self, ranges: ByteRanges) -> None:
        needed = ranges.missing_bytes() or 0
        check_free_space(self.partial.parent, needed, self.config.free_space_reserve)

    def _first_response(self, ranges: ByteRanges, offset: int, end: int | None) -> HttpResponse:
        """Open the stream at ``offset`` (with retries) and learn size and range support."""
        failures = 0
        refreshed = False
        while True:
            self._check_stop()
            response = None
            try:
                response = self._open(offset, end)
                return self._adopt_first_response(response, ranges, offset)
            except _UrlRefused as refused:
                refreshed = self._recover_refused(refused, refreshed)
            except Retryable as error:
                self._close(response, reuse=False)
                failures += 1
                self._backoff(failures, error)
            except BaseException:
                self._close(response, reuse=False)
                raise

    def _adopt_first_response(self, response: HttpResponse, ranges: ByteRanges, offset: int) -> HttpResponse:
        if response.status == 206:
            start, _end, total = self._content_range(response)
            if start != offset:
                raise Retryable(f"{self._display} answered with the wrong byte range (asked {offset}, got {start})")
            if total is not None and ranges.total is not None and total != ranges.total:
                raise _RestartFromZero(f"the file changed on the server (size {ranges.total} -> {total})")
            if total is not None and ranges.total is None:
                ranges.set_total(total)
                self.state.total = total
            self._remember_etag(response)
            return response
        # 200: the whole body from byte 0.
        if offset > 0:
            raise _RestartFromZero("the server ignored the range request")
        if self._file.size():  # a segmented partial whose first block was missing: start clean
            self._file.truncate(0)
        total = content_length(response)
        ranges.reset(total)
        self.state.total, self.state.missing, self.state.segmented = total, ranges.missing(), False
        self.state.etag = None
        self._remember_etag(response)
        return response

    def _worker(self, ranges: ByteRanges, block_size: int | None, block: Block | None,
                response: HttpResponse | None) -> None:
        """One connection: claim a block, fetch it, repeat; retries its own failures."""
        failures = 0
        refreshed = False
        try:
            while not self._halt.is_set():
                if block is None:
                    block = ranges.claim(self._block_size(segmented=block_size is not None))
                    if block is None:
                        return
                before = block.written
                try:
                    if response is None:  # exactly this block (or the rest of it)
                        response = self._open(block.position, block.end)
                        self._check_ranged_response(response, block)
                    ended = self._pump(response, block, ranges)
                    if block.written > before:
                        failures, refreshed = 0, False  # a later expiry may refresh again
                    if block.end is None and ended:
                        ranges.finish_open_ended(block)
                        self.state.total = ranges.total
                        block = None
                    elif block.complete:
                        ranges.release(block)
                        block = None
                    # else the answer was shorter than the block: ask again for the rest
                except _UrlRefused as refused:
                    refreshed = self._recover_refused(refused, refreshed)
                except _AlreadyComplete as complete:
                    if block.end is not None or complete.size != block.position:
                        raise _RestartFromZero("the server refused the byte range (HTTP 416)") from None
                    ranges.finish_open_ended(block)  # a size never told: the body ended right here
                    self.state.total = ranges.total
                    block = None
                except Retryable as error:
                    failures = 1 if block.written > before else failures + 1
                    self._close(response, reuse=False)
                    response = None
                    self._backoff(failures, error)
                finally:
                    self._close(response, reuse=block is None)
                    response = None
        except StopRequested:
            pass
        except BaseException as exc:  # the first fatal error stops every connection
            with self._lock:
                if self._fatal is None:
                    self._fatal = exc
            self._halt.set("error")
        finally:
            if block is not None:
                ranges.release(block)

    def _close(self, response: HttpResponse | None, reuse: bool) -> None:
        if response is None:
            return
        self._halt.untrack(response)
        if reuse:
            response.release()
        else:
            response.close()

    # ---------------------------------------------------------------- HTTP
    def _target(self) -> tuple[str, dict[str, str]]:
        if self._signed_url:
            same = origin_of(self._signed_url) == origin_of(self.resolved.url)
            return self._signed_url, (self.resolved.auth_headers if same else {})
        return self.resolved.url, self.resolved.auth_headers

    def _open(self, offset: int, end: int | None) -> HttpResponse:
        url, auth = self._target()
        headers = {"Range": f"bytes={offset}-{'' if end is None else end - 1}"}
        if self.state.etag and offset > 0:
            headers["If-Range"] = self.state.etag
        try:
            response = self.http.request(
                "GET", url, headers=headers, auth_headers=auth,
                timeout=(self.config.connect_timeout, self.config.stall_timeout),
            )
        except ModelManagerError:
            raise
        except ConnectTimeout:
            raise Retryable(f"could not connect to {host_of(self._display)} (timed out)") from None
        except ReadTimeout:
            raise Retryable(f"{host_of(self._display)} did not answer for {self.config.stall_timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise Retryable(f"could not reach {host_of(self._display)} ({transport_reason(exc)})") from None
        self._halt.track(response)
        try:
            self._classify(response, offset)
        except BaseException:
            self._halt.untrack(response)
            response.close()
            raise
        if response.redirected_cross_origin:
            with self._lock:  # later ranges go straight to the signed storage URL
                self._signed_url = self._signed_url or response.url
        return response

    def _classify(self, response: HttpResponse, offset: int) -> None:
        status = response.status
        if status in (200, 206):
            content_type = (response.headers.get("Content-Type") or "").lower()
            if content_type.startswith(("text/html", "application/xhtml")):
                raise RemoteError(f"{self._display}: {HTML_MESSAGE}")
            return
        if status == 416:
            raise self._unsatisfiable(response, offset)
        if status in (401, 403, 410):
            raise _UrlRefused(status)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status in RETRYABLE_STATUSES:
            raise Retryable(f"{host_of(self._display)} answered HTTP {status} {reason_phrase(status)}", retry_after)
        if status == 404:
            raise RemoteError(f"{self._display} was not found on the server (HTTP 404); check the link")
        raise RemoteError(f"{self._display} answered HTTP {status} {reason_phrase(status)}; the download cannot continue")

    def _unsatisfiable(self, response: HttpResponse, offset: int) -> BaseException:
        match = UNSATISFIED_RANGE.match(response.headers.get("Content-Range") or "")
        ranges = self._ranges
        if match and ranges is not None:
            size = int(match.group(1))
            have_all_before = ranges.contiguous_end() >= offset
            if size == offset and have_all_before and (ranges.total in (None, size)):
                return _AlreadyComplete(size)
        return _RestartFromZero("the server refused the byte range (HTTP 416)")

    def _check_ranged_response(self, response: HttpResponse, block: Block) -> None:
        """A later range request: only a 206 for exactly that range will do."""
        if response.status != 206:
            raise _RestartFromZero("the server stopped honouring byte ranges")
        start, _end, total = self._content_range(response)
        if start != block.position:
            raise Retryable(f"{self._display} answered with the wrong byte range "
                            f"(asked {block.position}, got {start})")
        if total is not None and self.state.total is not None and total != self.state.total:
            raise _RestartFromZero(f"the file changed on the server (size {self.state.total} -> {total})")

    def _content_range(self, response: HttpResponse) -> tuple[int, int, int | None]:
        match = CONTENT_RANGE.match(response.headers.get("Content-Range") or "")
        if not match:
            raise Retryable(f"{self._display} sent a partial answer without a valid Content-Range")
        start, end = int(match.group(1)), int(match.group(2))
        total = None if match.group(3) == "*" else int(match.group(3))
        if end < start or (total is not None and end >= total):
            raise Retryable(f"{self._display} answered with the wrong byte range (an impossible Content-Range)")
        length = content_length(response)
        if length is not None and length != end - start + 1:
            raise Retryable(f"{self._display} answered with the wrong byte range "
                            "(its Content-Range does not match its length)")
        return start, end, total

    def _remember_etag(self, response: HttpResponse) -> None:
        etag = (response.headers.get("ETag") or "").strip()
        if etag and not etag.startswith("W/") and etag.startswith('"'):
            self.state.etag = etag

    def _recover_refused(self, refused: _UrlRefused, refreshed: bool) -> bool:
        """401/403/410: drop a cached signed URL, then re-resolve the link once, then give up.

        Returns the new ``refreshed`` flag; raises the user-facing error when out of options."""
        with self._lock:
            if self._signed_url:
                self._signed_url = None
                return refreshed
        if refreshed or self._refresh is None:
            raise self._refused_error(refused.status)
        log.info("%s refused access (HTTP %s); resolving the link again", self._display, refused.status)
        fresh = self._refresh()
        with self._lock:
            self.resolved = fresh
            self._signed_url = None
        return True

    def _refused_error(self, status: int) -> ModelManagerError:
        if status == 401:
            return AuthRequired(f"{self._display} answered 401 Unauthorized: an API key or login may be "
                                "needed; add one in the Model Manager settings and resume")
        if status == 403:
            return AccessDenied(f"{self._display} answered 403 Forbidden: an API key may be needed, or "
                                "this account has no access to the file")
        return RemoteError(f"{self._display} is no longer available (HTTP {status})")

    # ---------------------------------------------------------------- moving bytes
    def _pump(self, response: HttpResponse, block: Block, ranges: ByteRanges) -> bool:
        """Copy the body into the file at the block's position until the block or body ends.

        Returns True when the body ended cleanly (False: the block is full)."""
        buffer = bytearray(self.config.chunk_size)
        view = memoryview(buffer)
        expected = content_length(response)
        received = 0
        while True:
            if self._halt.is_set():
                raise StopRequested()
            want = len(view) if block.remaining is None else min(len(view), block.remaining)
            if want <= 0:
                return False
            count, error = self._fill(response, view, want)
            if error is not None and count == 0:
                raise error
            if count == 0:
                if self._halt.is_set():
                    raise StopRequested()
                if expected is not None and received < expected:
                    raise Retryable(f"{host_of(self._display)} closed the connection early "
                                    f"({received} of {expected} bytes)")
                return True
            offset = block.position
            if offset == 0 and looks_like_html(view[:count]):
                raise RemoteError(f"{self._display}: {HTML_MESSAGE}")
            self._write(view[:count], offset)
            received += count
            hasher = self._hasher
            # Hand-off before ``advance``: a hasher that is waiting for these bytes takes them
            # from memory instead of reading them back.  (With one in-order stream ``offer`` may
            # wait for a free buffer; everything before ``offset`` is then pending or on disk.)
            spare = hasher.offer(offset, buffer, count) if hasher is not None else None
            if spare is not None:  # the hasher keeps these bytes; read on into a spare buffer
                buffer, view = spare, memoryview(spare)
            ranges.advance(block, count)
            self._report()
            if error is not None:  # the bytes before the failure are kept; now retry
                raise error

    def _fill(self, response: HttpResponse, view: memoryview, want: int) -> tuple[int, BaseException | None]:
        """Read up to ``want`` bytes: what has arrived, topped up for a few ms so that fast links
        move big pieces (fewer syscalls, bigger hash updates) while slow ones still report often."""
        got = self._read(response, view[:want])
        if got == 0 or got >= want:
            return got, None
        deadline = time.monotonic() + 0.02
        while got < want and time.monotonic() < deadline:
            try:
                more = self._read(response, view[got:want])
            except (Retryable, StopRequested) as error:
                return got, error
            if more == 0:
                break
            got += more
        return got, None

    def _read(self, response: HttpResponse, view: memoryview) -> int:
        try:
            return response.readinto(view)
        except (socket.timeout, TimeoutError):
            raise Retryable(f"no data from {host_of(self._display)} for "
                            f"{self.config.stall_timeout:g} s (stalled)") from None
        except (OSError, http.client.HTTPException) as exc:
            if self._halt.is_set():
                raise StopRequested() from None
            raise Retryable(f"the connection to {host_of(self._display)} was lost "
                            f"({transport_reason(exc)})") from None

    def _write(self, data: memoryview, offset: int) -> None:
        try:
            self._file.write_at(data, offset)
        except OSError as exc:
            if is_no_space(exc):
                ranges = self._ranges
                raise no_space_error(self.partial.parent, ranges.missing_bytes() if ranges else None) from None
            raise

    # ---------------------------------------------------------------- helpers
    def _backoff(self, attempt: int, error: Retryable) -> None:
        if attempt >= self.config.retry.max_tries:
            raise RemoteError(f"{error.reason}; gave up after {attempt} tries (resume to try again)")
        delay = self.config.retry.delay(attempt, error.retry_after)
        ranges = self._ranges
        notice = retry_notice(error.reason, attempt, self.config.retry.max_tries, delay,
                              ranges.downloaded() if ranges is not None else None)
        log.info("%s: %s", self._display, notice)
        self._on_retry(notice)
        if self._halt.wait(delay):
            raise StopRequested()

    def _check_stop(self) -> None:
        if self.stop.is_set() or self._halt.is_set():
            raise StopRequested()

    def _report(self, force: bool = False, verifying: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < 0.1:
            return
        self._last_report = now
        ranges = self._ranges
        if ranges is None:
            return
        missing = ranges.missing()
        self.state.missing = missing
        self._on_progress(Progress(
            downloaded=ranges.downloaded(), total=ranges.total, missing=missing,
            etag=self.state.etag, segmented=self.state.segmented, verifying=verifying,
            grid=self.state.grid, connections=sum(1 for worker in self._workers if worker.is_alive()),
        ))


def _remove_empty(path: Path) -> None:
    try:
        if path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass


class _AlreadyComplete(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size



