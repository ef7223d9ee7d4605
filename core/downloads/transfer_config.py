"""How a transfer behaves: connections, block sizes, timeouts, retries, and when to add connections."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..diskspace import DEFAULT_RESERVE
from ..retry import RetryPolicy

MiB = 1024 * 1024


@dataclass(frozen=True)
class TransferConfig:
    connections: int = 4
    #: Files at least this big are fetched over ``connections`` ranged connections.
    segment_threshold: int = 64 * MiB
    #: Connections take the file in blocks of this size, lowest offset first.
    block_size: int = 16 * MiB
    #: Bytes per read; reads return early when less has arrived.
    chunk_size: int = 1 * MiB
    #: A segmented download starts with one connection and opens the others as soon as a window
    #: of this many seconds shows it slower than ``fast_connection_bps`` (0 = all at once).
    ramp_up_seconds: float = 0.25
    fast_connection_bps: float = 96 * MiB
    #: No byte for this long counts as a stall (then retried).
    stall_timeout: float = 60.0
    connect_timeout: float = 15.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Flush the file to disk before it is renamed into place.  Off by default, like curl, wget
    #: and huggingface_hub: it costs seconds per GiB and only matters after a power cut (the
    #: task records themselves are always written durably).
    fsync: bool = False
    #: Let the kernel move plain-HTTP bodies from the socket into the file (Linux ``splice``:
    #: one copy instead of two; see ``kernel_copy``).  TLS bodies always take the ordinary path.
    zero_copy: bool = True
    free_space_reserve: int = DEFAULT_RESERVE


class ReadPace:
    """Whether the reads of a transfer wait for the network or find it ahead of us.

    A read that at once gets all it asked for found the bytes already waiting in the socket: the
    server and the network are faster than we take the bytes (the CPU, the disk or the sha256 is
    the limit).  One that comes back short waited for the network.  Counted over all connections
    (unlocked: a lost increment only blurs a heuristic)."""

    def __init__(self) -> None:
        self.full = 0
        self.short = 0

    def note(self, full: bool) -> None:
        if full:
            self.full += 1
        else:
            self.short += 1

    def take_full_share(self) -> float | None:
        """The share of reads since the last call that found their bytes waiting (None: no reads)."""
        full, short = self.full, self.short
        self.full = self.short = 0
        return None if full + short == 0 else full / (full + short)


def more_connections_help(speed: float, fast_bps: float, full_share: float | None) -> bool:
    """More connections help a connection that is slow *and* waits for the network (a
    per-connection limit, a far server).  When the bytes are already waiting for us most of the
    time, we are the limit: more connections would only compete for the same CPU and disk.  A
    window without a single read says nothing either way (a stalled start, or a write held up
    by the disk flushing a large file): the next window decides."""
    return speed < fast_bps and full_share is not None and full_share < 0.5


class RampUp:
    """Decides when a segmented download opens its extra connections.

    One connection that already runs faster than ``fast_connection_bps`` gains nothing from
    more (the disk and the sha256 are the limit then, and extra connections only compete for
    the CPU); a throttled one (per-connection limits, far CDNs) does.  So the first connection
    runs alone while its speed and its reads are watched (``ReadPace``); as soon as a
    ``ramp_up_seconds`` windows in a row show it slower than that while waiting for the network,
    the others join.  A slow window whose reads found their bytes waiting (a busy machine starving
    us) brings in nobody, and neither does one slow moment (the disk flushing a large file).
    """

    #: Slow windows in a row that bring the other connections in.
    WINDOWS = 2

    def __init__(self, config: "TransferConfig", downloaded: int, pace: ReadPace) -> None:
        self._window = config.ramp_up_seconds
        self._fast = config.fast_connection_bps
        self._pace = pace
        self._since = time.monotonic()
        self._bytes = downloaded
        self._slow_windows = 0
        self.last_speed = 0.0
        pace.take_full_share()  # count from now on

    @property
    def active(self) -> bool:
        """False when the extra connections start at once."""
        return self._window > 0 and bool(self._fast)

    def more_connections_help(self, downloaded: int) -> bool:
        if not self.active:
            return True
        now = time.monotonic()
        elapsed = now - self._since
        if elapsed < self._window:
            return False
        speed = (downloaded - self._bytes) / elapsed
        self._since, self._bytes, self.last_speed = now, downloaded, speed
        slow = more_connections_help(speed, self._fast, self._pace.take_full_share())
        self._slow_windows = self._slow_windows + 1 if slow else 0
        return self._slow_windows >= self.WINDOWS
