"""Which bytes of a download are still missing, and who is fetching which part.

The file is cut lazily into blocks handed out lowest-offset first, so that the written
prefix grows almost as fast as the whole download and the sha256 can follow it closely
(a hash must be computed in order).  What is persisted for a resume is just the list of
``[start, end)`` intervals not yet written (``end`` is None while the size is unknown).

Blocks end on multiples of ``grid`` (or where a free interval ends) and are written in order
from their start, so a resume can tell from the file itself how far each one got
(``partial_scan``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable

Interval = list  # [start: int, end: int | None]


@dataclass(eq=False)
class Block:
    """A range claimed by one connection; ``written`` bytes from ``start`` are on disk."""

    start: int
    end: int | None  # exclusive; None = up to the end of the body
    written: int = 0

    @property
    def position(self) -> int:
        return self.start + self.written

    @property
    def remaining(self) -> int | None:
        return None if self.end is None else self.end - self.position

    @property
    def complete(self) -> bool:
        return self.end is not None and self.position >= self.end


class ByteRanges:
    """Thread-safe scheduler over the missing intervals of one file."""

    def __init__(self, total: int | None, missing: Iterable[Interval] | None = None,
                 grid: int | None = None) -> None:
        self.total = total
        self.grid = grid
        self.changed = threading.Condition()
        self._free: list[list] = _normalise(missing if missing is not None else [[0, total]], total)
        self._claimed: set[Block] = set()

    # -- handing out work ---------------------------------------------------------------
    def claim(self, block_size: int | None = None, at: int | None = None,
              until: int | None = None) -> Block | None:
        """Take the lowest free bytes (or those starting at ``at``) as a block of about
        ``block_size`` bytes, ending on a grid line (None: the whole free interval), or exactly
        up to ``until``."""
        with self.changed:
            for index, (start, end) in enumerate(self._free):
                if at is not None and start != at:
                    continue
                stop = end
                limit = until if until is not None else self.block_end(start, block_size)
                if limit is not None and (end is None or end > limit):
                    stop = limit
                if stop == end:
                    del self._free[index]
                else:
                    self._free[index] = [stop, end]
                block = Block(start, stop)
                self._claimed.add(block)
                return block
            return None

    def block_end(self, start: int, block_size: int | None) -> int | None:
        """Where a block of about ``block_size`` bytes from ``start`` ends: on the last grid
        line within reach, at least the first one after ``start``."""
        if block_size is None:
            return None
        stop = start + block_size
        if self.grid:
            stop = max(stop - stop % self.grid, (start // self.grid + 1) * self.grid)
        return stop

    def advance(self, block: Block, count: int) -> None:
        with self.changed:
            block.written += count
            self.changed.notify_all()

    def release(self, block: Block) -> None:
        """Give back what a block did not write (after an error, a pause or its end)."""
        with self.changed:
            self._claimed.discard(block)
            if block.end is None or block.position < block.end:
                self._free.append([block.position, block.end])
                self._free = _normalise(self._free, self.total)
            self.changed.notify_all()

    def finish_open_ended(self, block: Block) -> None:
        """An open-ended block met the end of the body: now the size is known."""
        with self.changed:
            self.total = block.position
            block.end = block.position
            self._claimed.discard(block)
            self._free = [iv for iv in self._free if iv[0] < self.total]
            self.changed.notify_all()

    def reset(self, total: int | None) -> None:
        """Everything is missing again (the server sent the whole body from byte 0)."""
        with self.changed:
            self.total = total
            for block in self._claimed:
                block.start, block.end, block.written = 0, total, 0
            self._free = [] if self._claimed else _normalise([[0, total]], total)
            self.changed.notify_all()

    def set_total(self, total: int) -> None:
        with self.changed:
            self.total = total
            self._free = _normalise(self._free, total)
            for block in self._claimed:
                if block.end is None or block.end > total:
                    block.end = max(total, block.position)
            self.changed.notify_all()

    # -- reading the state --------------------------------------------------------------
    def missing(self) -> list[Interval]:
        """Intervals not yet on disk (free ones plus the unwritten rest of claimed blocks)."""
        with self.changed:
            rest = [[b.position, b.end] for b in self._claimed if b.end is None or b.position < b.end]
            return _normalise(self._free + rest, self.total)

    def missing_bytes(self) -> int | None:
        missing = self.missing()
        if any(end is None for _start, end in missing):
            return None
        return sum(end - start for start, end in missing)

    def downloaded(self) -> int:
        """Bytes on disk (for an unknown total: the end of the written prefix)."""
        missing = self.missing()
        if self.total is None:
            return missing[0][0] if missing else 0
        return self.total - sum(end - start for start, end in missing)

    def contiguous_end(self) -> int:
        """Every byte before this offset is on disk."""
        missing = self.missing()
        if missing:
            return missing[0][0]
        return self.total or 0

    def done(self) -> bool:
        with self.changed:
            return not self._free and not any(not b.complete for b in self._claimed)

    def free_bytes(self) -> int | None:
        """Bytes nobody is fetching yet (None when that is open-ended)."""
        with self.changed:
            if any(end is None for _start, end in self._free):
                return None
            return sum(end - start for start, end in self._free)

    def has_free(self) -> bool:
        with self.changed:
            return bool(self._free)


def _normalise(intervals: Iterable[Interval], total: int | None) -> list[list]:
    """Sorted, merged, clipped to ``total``; empty intervals dropped."""
    clean: list[list] = []
    for start, end in sorted(([int(s), None if e is None else int(e)] for s, e in intervals),
                             key=lambda iv: iv[0]):
        if total is not None:
            end = total if end is None else min(end, total)
        if end is not None and end <= start:
            continue
        if clean and (clean[-1][1] is None or clean[-1][1] >= start):
            last = clean[-1]
            last[1] = None if (last[1] is None or end is None) else max(last[1], end)
            continue
        clean.append([start, end])
    return clean
