"""sha256 of a partial file computed while it is being written.

A thread hashes the file in order, as far as it is written (``ByteRanges.contiguous_end``).
Two ways in, so that hashing costs no extra copy when it can:

* **hand-off**: a connection that has just written the bytes right at the hash frontier hands
  its buffer over (``offer``) and gets a spare one back, so those bytes are hashed straight
  from memory;
* **read-back**: everything else (other segments, a resumed prefix, times when the hasher is
  behind and no spare buffer is free) is read back with ``os.preadv`` from the page cache.

hashlib releases the GIL on large updates, so hashing runs in parallel with the network
threads and the digest is ready moments after the last byte lands.  After a restart the
prefix already on disk is simply hashed again (hashlib state cannot be saved).
"""
from __future__ import annotations

import collections
import hashlib
import os
import threading

from .segments import ByteRanges

READ_SIZE = 1024 * 1024  # sha256 in Python is fastest with ~1 MiB updates (cache-friendly)


class PrefixHasher:
    def __init__(self, fd: int, ranges: ByteRanges, buffer_size: int = READ_SIZE, spares: int = 8) -> None:
        self._fd = fd
        self._ranges = ranges
        self._sha = hashlib.sha256()
        self.hashed = 0
        self._frontier = 0  # hashed + queued + being read back
        self._queue: collections.deque[tuple[int, bytearray, int]] = collections.deque()
        self._buffer_size = buffer_size
        self._spares = [bytearray(buffer_size) for _ in range(spares)]
        self._stop = False
        self._error: BaseException | None = None
        self._read_buffer = bytearray(READ_SIZE)
        self._thread = threading.Thread(target=self._run, name="mm-sha256", daemon=True)

    def start(self) -> "PrefixHasher":
        self._thread.start()
        return self

    def offer(self, offset: int, buffer: bytearray, count: int) -> bytearray | None:
        """``buffer[:count]`` was just written at ``offset``.  If that is exactly where hashing
        continues and a spare buffer is free, keep ``buffer`` and return the spare to read into
        next; otherwise return None (the bytes will be read back from the file)."""
        cond = self._ranges.changed
        with cond:
            if offset != self._frontier or not self._spares or len(buffer) != self._buffer_size or self._stop:
                return None
            spare = self._spares.pop()
            self._queue.append((offset, buffer, count))
            self._frontier += count
            cond.notify_all()
            return spare

    def stop(self) -> None:
        with self._ranges.changed:
            self._stop = True
            self._ranges.changed.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def finish(self, size: int) -> str:
        """Wait until ``size`` bytes are hashed (the transfer is complete) and give the hex digest."""
        with self._ranges.changed:
            while self._error is None and self.hashed < size and self._thread.is_alive():
                self._ranges.changed.wait(0.5)
        self.stop()
        if self._error is not None:
            raise self._error
        self._drain_queue()
        self._read_back(self.hashed, size)  # anything left (the thread stopped early)
        return self._sha.hexdigest()

    def _run(self) -> None:
        try:
            while True:
                cond = self._ranges.changed
                with cond:
                    while not self._stop and not self._queue and self._ranges.contiguous_end() <= self._frontier:
                        cond.wait(0.5)
                    if self._stop:
                        return
                    if self._queue:
                        item = self._queue.popleft()
                        span = None
                    else:
                        item = None
                        span = (self._frontier, self._ranges.contiguous_end())
                        self._frontier = span[1]
                if item is not None:
                    offset, buffer, count = item
                    self._sha.update(memoryview(buffer)[:count])
                    with cond:
                        self.hashed += count
                        self._spares.append(buffer)
                        cond.notify_all()
                else:
                    assert span is not None
                    self._read_back(*span)
        except BaseException as exc:  # reported by finish()
            self._error = exc
            with self._ranges.changed:
                self._ranges.changed.notify_all()

    def _drain_queue(self) -> None:
        while self._queue:
            offset, buffer, count = self._queue.popleft()
            if offset == self.hashed:
                self._sha.update(memoryview(buffer)[:count])
                self.hashed += count

    def _read_back(self, start: int, end: int) -> None:
        view = memoryview(self._read_buffer)
        position = start
        while position < end:
            want = min(len(view), end - position)
            count = os.preadv(self._fd, [view[:want]], position)
            if count <= 0:
                raise OSError(f"the partial file is shorter than expected ({position} < {end} bytes)")
            self._sha.update(view[:count])
            position += count
            with self._ranges.changed:
                self.hashed = position
                self._ranges.changed.notify_all()
