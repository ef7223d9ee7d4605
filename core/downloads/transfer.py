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
A resumed segmented task re-plans from the partial file itself (``resume_plan``, ``partial_scan``).
Each connection asks through the ``link`` (signed URLs, refreshing an expired one), the answers
are checked by ``range_checks``, ``body_copy`` writes the bytes and ``verify`` checks the result.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from ..diskspace import check_free_space
from ..errors import RemoteError
from ..http import HttpClient, HttpResponse
from ..http_answers import content_length
from ..progress import retry_notice
from ..sources.base import ResolvedDownload
from .body_copy import BodyCopier
from .fileio import PositionalFile, remove_if_empty
from .hasher import PrefixHasher
from .link import Link
from .range_checks import (AlreadyComplete, RestartFromZero, Retryable, UrlRefused, check_ranged_response,
                           content_range, strong_etag)
from .resume_plan import Progress, ResumeState, initial_ranges, reset_to_zero
from .segments import Block, ByteRanges
from .stop_signal import StopRequested, StopSignal
from .transfer_config import RampUp, ReadPace, TransferConfig
from .verify import TransferResult, verified

log = logging.getLogger(__name__)

#: While one connection runs alone it asks for this many blocks at a time.
SOLO_BLOCKS = 4

__all__ = ["Progress", "ResumeState", "Retryable", "StopRequested", "StopSignal", "Transfer", "TransferConfig",
           "TransferResult"]


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
        self._link = Link(http, resolved, config, refresh)
        self.partial = Path(partial)
        self.state = state
        self.config = config
        self.stop = stop
        self.expected_sha256 = (expected_sha256 or "").lower() or None
        self._on_progress = on_progress or (lambda progress: None)
        self._on_retry = on_retry or (lambda notice: None)
        self._display = self._link.display
        self._lock = threading.Lock()
        self._fatal: BaseException | None = None
        self._ranges: ByteRanges | None = None
        self._hasher: PrefixHasher | None = None
        self._copier: BodyCopier = None  # type: ignore[assignment]  # made by each pass
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
                except RestartFromZero as why:
                    restarts += 1
                    if restarts > 3:
                        raise RemoteError(f"{self._display}: {why}; gave up after {restarts} restarts") from None
                    log.info("restarting %s from zero: %s", self._display, why)
                    reset_to_zero(self._file, self.state, None, self.config.block_size)
                finally:
                    self.stop.unlink(self._halt)
        finally:
            empty = self._file.size() == 0
            self._file.close()
            if empty:  # ended before its first byte: leave nothing behind
                remove_if_empty(self.partial)

    # ---------------------------------------------------------------- one pass
    def _run_once(self) -> TransferResult:
        ranges = initial_ranges(self._file, self.state, self._link.resolved, self.config.block_size)
        self._ranges = ranges
        hasher = PrefixHasher(self._file, ranges, buffer_size=self.config.chunk_size,
                              abort=self._halt.is_set).start()
        self._hasher = hasher
        self._copier = BodyCopier(file=self._file, folder=self.partial.parent, halt=self._halt,
                                  hasher=hasher, chunk_size=self.config.chunk_size, display=self._display,
                                  stall_timeout=self.config.stall_timeout, report=self._report,
                                  pace=ReadPace(), zero_copy=self.config.zero_copy)
        try:
            if not (ranges.total is not None and ranges.done()):
                self._download(ranges)
            self._check_stop()
            size = ranges.total if ranges.total is not None else ranges.downloaded()
            if size == 0:
                raise RemoteError(f"{self._display}: the server sent an empty file; nothing was saved")
            self._report(force=True, verifying=True)
            result = verified(self._file, size, hasher, self.expected_sha256, self._display)
        finally:
            hasher.stop()
        if self.config.fsync:
            self._file.fsync()
        return result

    # ---------------------------------------------------------------- the download itself
    def _download(self, ranges: ByteRanges) -> None:
        first_offset, first_end = ranges.missing()[0]
        total = ranges.total
        # Known big and rangeable (a resumed segmented task, or the source's probe said so):
        # ask for the first block only, so no byte is fetched twice.
        planned = (
            total is not None and self.config.connections > 1 and total >= self.config.segment_threshold
            and (self.state.segmented or (self._link.resolved.accepts_ranges and self._link.resolved.size == total))
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
        except AlreadyComplete as complete:
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
        ramp = RampUp(self.config, ranges.downloaded(), self._copier.pace) if extra else None
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
                response = self._link.open(offset, end, self.state.etag, self._halt, self._ranges)
                return self._adopt_first_response(response, ranges, offset)
            except UrlRefused as refused:
                refreshed = self._link.recover_refused(refused, refreshed)
            except Retryable as error:
                self._close(response, reuse=False)
                failures += 1
                self._backoff(failures, error)
            except BaseException:
                self._close(response, reuse=False)
                raise

    def _adopt_first_response(self, response: HttpResponse, ranges: ByteRanges, offset: int) -> HttpResponse:
        if response.status == 206:
            start, _end, total = content_range(response, self._display)
            if start != offset:
                raise Retryable(f"{self._display} answered with the wrong byte range (asked {offset}, got {start})")
            if total is not None and ranges.total is not None and total != ranges.total:
                raise RestartFromZero(f"the file changed on the server (size {ranges.total} -> {total})")
            if total is not None and ranges.total is None:
                ranges.set_total(total)
                self.state.total = total
            self._remember_etag(response)
            return response
        # 200: the whole body from byte 0.
        if offset > 0:
            raise RestartFromZero("the server ignored the range request")
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
                        response = self._link.open(block.position, block.end, self.state.etag, self._halt, ranges)
                        check_ranged_response(response, block, self._display, self.state.total)
                    ended = self._copier.pump(response, block, ranges)
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
                except UrlRefused as refused:
                    refreshed = self._link.recover_refused(refused, refreshed)
                except AlreadyComplete as complete:
                    if block.end is not None or complete.size != block.position:
                        raise RestartFromZero("the server refused the byte range (HTTP 416)") from None
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

    def _remember_etag(self, response: HttpResponse) -> None:
        etag = strong_etag(response)
        if etag:
            self.state.etag = etag

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
