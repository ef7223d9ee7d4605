"""Which of the bytes a task record calls missing are in fact already in the partial file.

A record is saved about once a second, so after a ``kill -9`` the file holds more than the
record says: every connection went on writing after the last save.  Re-fetching all of that
would cost up to a second's worth of bytes per connection, so a resumed segmented download
re-plans from the file itself.  This is safe because of how a transfer writes:

* blocks are cut at multiples of ``grid`` (the block size) and at the ends of missing
  intervals, and each connection writes its block in order from the block's start;
* so inside one *unit* (a missing interval cut at the grid lines) the bytes on disk are a
  prefix of the unit, and everything after that prefix has never been written: a hole that
  reads as zeros.

Hence the unit's last non-zero byte ends a run of real data: ``[unit_start, last + 1)`` is on
disk.  Written zeros at the very end of the prefix are fetched again (harmless), and no byte
that was never written is ever taken as data.  The same rule keeps the invariant for the next
resume: what stays missing holds only zeros.

Holes are found with ``SEEK_DATA`` where the file system has it, so an untouched unit costs
one system call; without it (some network file systems) units are read, and the scan stops
after a run of untouched units, since blocks are handed out lowest offset first.
"""
from __future__ import annotations

import errno
import os

from .fileio import PositionalFile
from .segments import Interval

#: Read size while looking for a unit's last non-zero byte.
SCAN_CHUNK = 1024 * 1024
#: After this many untouched units in a row nothing above was written (blocks are handed out
#: lowest offset first, and at most one per connection (16 at most) may be claimed but empty).
UNTOUCHED_RUN = 32


def still_missing(file: PositionalFile, missing: list[Interval], grid: int, total: int) -> list[Interval]:
    """``missing`` (the record's intervals, all bounded) minus the bytes found on disk."""
    size = file.size()
    result: list[Interval] = []
    untouched = 0
    for start, end in missing:
        end = total if end is None else end
        for unit_start, unit_end in _units(start, end, grid):
            if untouched >= UNTOUCHED_RUN or unit_start >= size:
                result.append([unit_start, unit_end])
                continue
            written_end = _prefix_end(file, unit_start, min(unit_end, size))
            if written_end == unit_start:
                untouched += 1
            else:
                untouched = 0
            if written_end < unit_end:
                result.append([written_end, unit_end])
    return _merge(result)


def _units(start: int, end: int, grid: int):
    position = start
    while position < end:
        stop = min(end, (position // grid + 1) * grid)
        yield position, stop
        position = stop


def _prefix_end(file: PositionalFile, start: int, end: int) -> int:
    """One past the last non-zero byte in ``[start, end)`` (``start`` when there is none)."""
    limit = _data_end(file.fd, start, end)
    if limit is None:
        return start
    buffer = bytearray(SCAN_CHUNK)
    view = memoryview(buffer)
    position = limit
    while position > start:
        piece = min(SCAN_CHUNK, position - start)
        chunk_start = position - piece
        count = file.read_into(view[:piece], chunk_start)
        data = bytes(view[:count]).rstrip(b"\0")
        if data:
            return chunk_start + len(data)
        position = chunk_start
    return start


def _data_end(fd: int, start: int, end: int) -> int | None:
    """Where the last stretch of data in ``[start, end)`` ends, by ``SEEK_DATA``/``SEEK_HOLE``;
    None when the range is all hole; ``end`` when the file system cannot tell."""
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        return end
    last = None
    position = start
    try:
        while position < end:
            try:
                data = os.lseek(fd, position, seek_data)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data after ``position``
                    break
                raise
            if data >= end:
                break
            hole = os.lseek(fd, data, seek_hole)
            last = min(hole, end)
            position = hole
    except OSError:
        return end
    return last


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in intervals:
        if merged and merged[-1][1] == start:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged
