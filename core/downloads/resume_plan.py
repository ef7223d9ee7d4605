"""Where a transfer starts: the byte ranges still to fetch, from the task record checked
against the partial file (which knows better when the record lags behind a kill -9)."""
from __future__ import annotations

from dataclasses import dataclass

from ..sources.base import ResolvedDownload
from .fileio import PositionalFile
from .partial_scan import still_missing
from .segments import ByteRanges


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
class Progress:
    """What a running transfer reports (about ten times a second): bytes so far, what is still
    missing, and whether it is verifying."""

    downloaded: int
    total: int | None
    missing: list
    etag: str | None
    segmented: bool
    verifying: bool = False
    grid: int | None = None
    connections: int = 0


def initial_ranges(file: PositionalFile, state: ResumeState, resolved: ResolvedDownload,
                   block_size: int) -> ByteRanges:
    """The missing ranges to fetch; ``state`` (and, when it starts from zero, ``file``) follow."""
    size_on_disk = file.size()
    claims_data = state.missing is not None and state.missing != [[0, state.total]]
    if state.missing is None or (claims_data and size_on_disk == 0):
        known = resolved.size if resolved.accepts_ranges else None
        reset_to_zero(file, state, state.total if state.missing is not None else known, block_size)
        return ByteRanges(state.total, state.missing)
    missing = [list(iv) for iv in state.missing]
    if not state.segmented and len(missing) == 1 and missing[0][1] in (None, state.total):
        # One sequential stream: every byte up to the file's size is real data, even if the
        # record lags behind (a kill -9 between two saves).
        start = size_on_disk if state.total is None else min(size_on_disk, state.total)
        if size_on_disk > start:
            file.truncate(start)
        missing = [[start, state.total]]
    elif state.segmented and state.grid and state.total is not None:
        # Several connections: the record may lag behind each of them; the file knows better.
        missing = still_missing(file, missing, state.grid, state.total)
    elif state.segmented:
        # Written before blocks kept to a grid: trust only the record, for good.
        return ByteRanges(state.total, missing, block_size)
    state.grid = block_size
    return ByteRanges(state.total, missing, block_size)


def reset_to_zero(file: PositionalFile, state: ResumeState, total: int | None, block_size: int) -> None:
    """Forget the partial: an empty file, everything missing, a fresh grid."""
    # Only truncate a file that has data: ext4 treats truncate-to-zero-then-rewrite as a
    # "replace" and flushes the whole file on close, which costs seconds per GiB.
    if file.size():
        file.truncate(0)
    state.total = total
    state.missing = [[0, total]]
    state.etag = None
    state.segmented = False
    state.grid = block_size
