"""Copying one answer's body into the partial file at its block's place.

After the first read (which also sniffs an HTML page at byte 0), a plain-HTTP body on Linux is
moved by the kernel (``kernel_copy``) when ``zero_copy`` is on; otherwise reads are topped up for a few milliseconds so fast links move big pieces (fewer syscalls, bigger
hash updates) while slow ones still report often; the bytes go to the hasher from memory when it
is waiting for them.  A failed read keeps the bytes before it and is then raised for a retry.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..diskspace import is_no_space, no_space_error
from ..errors import RemoteError
from ..http import HttpResponse
from ..http_answers import HTML_MESSAGE, content_length, host_of, looks_like_html, transport_reason
from .fileio import PositionalFile
from .hasher import PrefixHasher
from .kernel_copy import AVAILABLE as KERNEL_COPY, FileWriteFailed, KernelCopy, KernelCopyRefused
from .range_checks import TRANSPORT_ERRORS, Retryable
from .segments import Block, ByteRanges
from .stop_signal import StopRequested, StopSignal
from .transfer_config import ReadPace


@dataclass(frozen=True)
class BodyCopier:
    """One pass's copier, shared by its connections (it keeps no per-connection state)."""

    file: PositionalFile
    folder: Path  # the partial's folder, named when the disk is full
    halt: StopSignal
    hasher: PrefixHasher | None
    chunk_size: int
    display: str
    stall_timeout: float
    report: Callable[[], None]
    pace: ReadPace  # whether reads wait for the network (decides extra connections)
    zero_copy: bool = True  # let the kernel move plain-HTTP bodies (Linux)

    def pump(self, response: HttpResponse, block: Block, ranges: ByteRanges) -> bool:
        """Copy the body into the file at the block's position until the block or body ends.

        Returns True when the body ended cleanly (False: the block is full)."""
        buffer = bytearray(self.chunk_size)
        view = memoryview(buffer)
        expected = content_length(response)
        received = 0
        kernel: KernelCopy | None = None
        may_splice = self.zero_copy and KERNEL_COPY
        source: tuple[socket.socket, int] | None = None  # (socket, body bytes left) for the kernel
        try:
            while True:
                if self.halt.is_set():
                    raise StopRequested()
                want = len(view) if block.remaining is None else min(len(view), block.remaining)
                if want <= 0:
                    return False
                offset = block.position
                if source is None and may_splice and received:
                    source = response.splice_source()
                if source is not None:
                    if kernel is None:
                        kernel = KernelCopy(self.chunk_size)
                    count, error = self._move(kernel, source, want, offset, ranges)
                    if count < 0:  # the socket refused: the ordinary path from here on
                        may_splice, source = False, None
                        continue
                    response.spliced(count)
                    source = (source[0], source[1] - count)
                else:
                    count, error = self._fill(response, view, want)
                if error is not None and count == 0:
                    raise error
                if count == 0:
                    if self.halt.is_set():
                        raise StopRequested()
                    if expected is not None and received < expected:
                        raise Retryable(f"{host_of(self.display)} closed the connection early "
                                        f"({received} of {expected} bytes)")
                    return True
                if source is None:
                    if offset == 0 and looks_like_html(view[:count]):
                        raise RemoteError(f"{self.display}: {HTML_MESSAGE}")
                    self._write(view[:count], offset, ranges)
                    hasher = self.hasher
                    # Hand-off before ``advance``: a hasher that is waiting for these bytes takes
                    # them from memory instead of reading them back.  (With one in-order stream
                    # ``offer`` may wait for a free buffer; everything before ``offset`` is then
                    # pending or on disk.)
                    spare = hasher.offer(offset, buffer, count) if hasher is not None else None
                    if spare is not None:  # the hasher keeps these bytes; read on into a spare buffer
                        buffer, view = spare, memoryview(spare)
                received += count
                ranges.advance(block, count)
                self.report()
                if error is not None:  # the bytes before the failure are kept; now retry
                    raise error
        finally:
            if kernel is not None:
                kernel.close()

    def _move(self, kernel: KernelCopy, source: tuple[socket.socket, int], want: int, offset: int,
              ranges: ByteRanges) -> tuple[int, BaseException | None]:
        """Let the kernel move up to ``want`` bytes into the file; (-1, None) when it cannot."""
        sock, left = source
        count = min(want, left)
        if count <= 0:
            return 0, None  # the body is over
        try:
            moved = kernel.move(sock, self.file.fd, offset, count)
        except KernelCopyRefused:
            return -1, None
        except FileWriteFailed as failed:
            if is_no_space(failed.error):
                error: BaseException = no_space_error(self.folder, ranges.missing_bytes())
            else:
                error = failed.error
            return failed.written, error
        except (socket.timeout, TimeoutError):
            return 0, Retryable(f"no data from {host_of(self.display)} for "
                                f"{self.stall_timeout:g} s (stalled)")
        except TRANSPORT_ERRORS as exc:
            if self.halt.is_set():
                return 0, StopRequested()
            return 0, Retryable(f"the connection to {host_of(self.display)} was lost "
                                f"({transport_reason(exc)})")
        self.pace.note(full=moved >= min(count, kernel.capacity))
        return moved, None

    def _fill(self, response: HttpResponse, view: memoryview, want: int) -> tuple[int, BaseException | None]:
        """Read up to ``want`` bytes: what has arrived, topped up for a few ms."""
        got = self._read(response, view[:want])
        if got == 0:
            return got, None
        self.pace.note(full=got >= want)
        if got >= want:
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
            raise Retryable(f"no data from {host_of(self.display)} for "
                            f"{self.stall_timeout:g} s (stalled)") from None
        except TRANSPORT_ERRORS as exc:
            if self.halt.is_set():
                raise StopRequested() from None
            raise Retryable(f"the connection to {host_of(self.display)} was lost "
                            f"({transport_reason(exc)})") from None

    def _write(self, data: memoryview, offset: int, ranges: ByteRanges) -> None:
        try:
            self.file.write_at(data, offset)
        except OSError as exc:
            if is_no_space(exc):
                raise no_space_error(self.folder, ranges.missing_bytes()) from None
            raise
