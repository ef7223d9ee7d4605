"""sha256 of a partial file computed while it is being written.

A thread hashes the file in order, as far as it is written (``ByteRanges.contiguous_end``).
Two ways in, so that hashing costs no extra copy when it can:

* **hand-off**: a connection that has just written bytes a little ahead of the hash position
  hands its buffer over (``offer``) and gets a spare one back; the hasher keeps such buffers
  by offset and hashes them from memory when their turn comes (so with several connections
  the blocks just behind the frontier are not read twice);
* **read-back**: everything else (a resumed prefix, bytes too far ahead, times when no spare
  buffer is free) is read back from the file (the page cache).

hashlib releases the GIL on large updates, so hashing runs in parallel with the network
threads and the digest is ready moments after the last byte lands.  After a restart the
prefix already on disk is simply hashed again (hashlib state cannot be saved).
"""
from __future__ import annotations

import hashlib
import threading
import time
from typing import Callable

from .fileio import PositionalFile
from .segments import ByteRanges

READ_SIZE = 1024 * 1024  # sha256 in Python is fastest with ~1 MiB updates (cache-friendly)


class PrefixHasher:
    def __init__(self, file: PositionalFile, ranges: ByteRanges, buffer_size: int = READ_SIZE,
                 window: int = 32 * 1024 * 1024, abort: Callable[[], bool] = lambda: False) -> None:
        self._file = file
        self._abort = abort  # a paused or failed transfer: stop waiting in ``offer``
        self._ranges = ranges
        self._cond = ranges.changed
        self._sha = hashlib.sha256()
        self.hashed = 0
        self._reading_until = 0  # a read-back in progress covers [hashed, reading_until)
        self._pending: dict[int, tuple[bytearray, int]] = {}
        self._buffer_size = buffer_size
        self._window = window
        self._max_buffers = max(2, window // max(1, buffer_size))
        self._spares: list[bytearray] = []
        self._allocated = 0
        #: True while one connection writes in order: ``offer`` then waits for a free buffer.
        self.backpressure = True
        self.backpressure_limit = 1.0
        self._stop = False
        self._error: BaseException | None = None
        self._read_buffer = bytearray(READ_SIZE)
        self._thread = threading.Thread(target=self._run, name="mm-sha256", daemon=True)

    def start(self) -> "PrefixHasher":
        self._thread.start()
        return self

    def offer(self, offset: int, buffer: bytearray, count: int) -> bytearray | None:
        """``buffer[:count]`` was just written at ``offset``.  If the hasher will want it soon and
        a spare buffer is free, keep ``buffer`` and return the spare to read into next;
        otherwise return None (the bytes will be read back from the file)."""
        deadline = None
        with self._cond:
            while True:
                if (self._stop or self._error is not None or len(buffer) != self._buffer_size
                        or offset < max(self.hashed, self._reading_until)):
                    return None
                within = offset + count <= self.hashed + self._window
                if within and self._spares:
                    spare = self._spares.pop()
                    break
                if within and self._allocated < self._max_buffers:
                    self._allocated += 1
                    spare = bytearray(self._buffer_size)
                    break
                if not self.backpressure:
                    return None
                # One in-order stream: wait for the hasher rather than make it read these bytes
                # back later (an extra copy that would only slow it down further).
                deadline = deadline or time.monotonic() + self.backpressure_limit
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._abort():
                    return None
                self._cond.wait(min(remaining, 0.05))
            self._pending[offset] = (buffer, count)
            self._cond.notify_all()
            return spare

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def finish(self, size: int) -> str:
        """Wait until ``size`` bytes are hashed (the transfer is complete) and give the hex digest."""
        with self._cond:
            while self._error is None and self.hashed < size and self._thread.is_alive():
                self._cond.wait(0.5)
        self.stop()
        if self._error is not None:
            raise self._error
        while self.hashed < size:  # the thread stopped early: finish here
            if not self._step(size):
                raise OSError(f"the partial file is shorter than expected ({self.hashed} < {size} bytes)")
        return self._sha.hexdigest()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stop and not self._ready():
                        self._cond.wait(0.5)
                    if self._stop:
                        return
                self._step(None)
        except BaseException as exc:  # reported by finish()
            self._error = exc
            with self._cond:
                self._cond.notify_all()

    def _ready(self) -> bool:
        """A handed-off buffer is next, or a read-back is worth a wake-up: a whole read's worth
        is written (bytes the kernel moved arrive in many small steps), or the rest of the file."""
        if self.hashed in self._pending:
            return True
        end = self._ranges.contiguous_end()
        total = self._ranges.total
        return end > self.hashed and (end - self.hashed >= READ_SIZE or (total is not None and end >= total))

    def _step(self, limit: int | None) -> bool:
        """Hash the next piece: a handed-off buffer if it is next, else read back up to the next
        handed-off buffer (or the written prefix).  False when nothing could be hashed."""
        with self._cond:
            for offset in [o for o in self._pending if o < self.hashed]:  # stale (already read back)
                self._spares.append(self._pending.pop(offset)[0])
            item = self._pending.pop(self.hashed, None)
            if item is None:
                end = self._ranges.contiguous_end() if limit is None else limit
                ahead = [o for o in self._pending if o > self.hashed]
                if ahead:
                    end = min(end, min(ahead))
                if end <= self.hashed:
                    return False
                start = self.hashed
                self._reading_until = end
        if item is not None:
            buffer, count = item
            self._sha.update(memoryview(buffer)[:count])
            with self._cond:
                self.hashed += count
                self._spares.append(buffer)
                self._cond.notify_all()
            return True
        self._read_back(start, end)
        return True

    def _read_back(self, start: int, end: int) -> None:
        view = memoryview(self._read_buffer)
        position = start
        while position < end:
            want = min(len(view), end - position)
            count = self._file.read_into(view[:want], position)
            if count <= 0:
                raise OSError(f"the partial file is shorter than expected ({position} < {end} bytes)")
            self._sha.update(view[:count])
            position += count
            with self._cond:
                self.hashed = position
                self._cond.notify_all()
