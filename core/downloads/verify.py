"""The end of a transfer: the partial holds exactly the file's size and its sha256 is the one
expected, before anyone may place it."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ChecksumMismatch
from .fileio import PositionalFile
from .hasher import PrefixHasher
from .range_checks import RestartFromZero


@dataclass
class TransferResult:
    size: int
    sha256: str


def verified(file: PositionalFile, size: int, hasher: PrefixHasher, expected_sha256: str | None,
             display: str) -> TransferResult:
    """Size and digest of the finished partial; a longer file is cut to ``size``, a shorter one
    starts over, a wrong digest fails (the caller discards the data)."""
    actual = file.size()
    if actual != size:
        if actual > size:
            file.truncate(size)
        else:
            raise RestartFromZero(f"the partial file holds {actual} bytes, expected {size}")
    digest = hasher.finish(size)
    if expected_sha256 and digest != expected_sha256:
        raise ChecksumMismatch(
            f"checksum mismatch for {display}: expected sha256 {expected_sha256}, "
            f"got {digest} ({size} bytes); the downloaded data was discarded"
        )
    return TransferResult(size=size, sha256=digest)
