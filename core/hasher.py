"""sha256 of a partial file computed while it is being written.

A thread follows the written prefix (``ByteRanges.contiguous_end``) and hashes it with
``os.pread`` from the page cache.  hashlib releases the GIL on large updates, so hashing
runs in parallel with the network threads and the digest is ready moments after the last
byte lands.  After a restart the prefix already on disk is simply hashed again (hashlib
state cannot be saved).
"""
from __future__ import annotations

import hashlib
import os
import threading

from .segments import ByteRanges

READ_SIZE = 4 * 1024 * 1024


class PrefixHasher:
    def __init__(self, fd: int, ranges: ByteRanges) -> None:
        self._fd = fd
        self._ranges = ranges
        self._sha = hashlib.sha256()
        self.hashed = 0
        self._stop = False
        self._error: BaseException | None = None
        self._buffer = bytearray(READ_SIZE)
        self._thread = threading.Thread(target=self._run, name="mm-sha256", daemon=True)

    def start(self) -> "PrefixHasher":
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._ranges.changed:
            self._stop = True
            self._ranges.changed.notify_all()
        self._thread.join()

    def finish(self, size: int) -> str:
        """Wait until ``size`` bytes are hashed (the transfer is complete) and give the hex digest."""
        self.stop()
        if self._error is not None:
            raise self._error
        self._hash_until(size)
        return self._sha.hexdigest()

    def _run(self) -> None:
        try:
            while True:
                with self._ranges.changed:
                    while not self._stop and self._ranges.contiguous_end() <= self.hashed:
                        self._ranges.changed.wait(0.5)
                    if self._stop:
                        return
                    target = self._ranges.contiguous_end()
                self._hash_until(target, interruptible=True)
        except BaseException as exc:  # reported by finish()
            self._error = exc

    def _hash_until(self, target: int, interruptible: bool = False) -> None:
        view = memoryview(self._buffer)
        while self.hashed < target:
            if interruptible and self._stop:
                return
            want = min(READ_SIZE, target - self.hashed)
            count = os.preadv(self._fd, [view[:want]], self.hashed)
            if count <= 0:
                raise OSError(f"the partial file is shorter than expected ({self.hashed} < {target} bytes)")
            self._sha.update(view[:count])
            self.hashed += count
