"""SQLite store of sha256 digests and of Civitai "not found" answers.

Digests are keyed by (path, size, mtime_ns): while those hold the file is never read again;
any change of size or mtime makes the entry miss, so the file is re-hashed.
"Not found" answers of Civitai's by-hash route are kept by digest for ``NOT_FOUND_TTL``, and so
are matches that had no preview allowed at the NSFW level of the time (so a rescan does not ask
again until the setting changes or a week passes).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

#: The cache's file name in a state folder.
HASH_FILE = "hashes.sqlite"
NOT_FOUND_TTL = 7 * 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    hashed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS civitai_misses (
    sha256 TEXT PRIMARY KEY,
    checked_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS civitai_no_preview (
    sha256 TEXT NOT NULL,
    nsfw_level INTEGER NOT NULL,
    checked_at REAL NOT NULL,
    PRIMARY KEY (sha256, nsfw_level)
);
"""


class HashCache:
    """Thread-safe (one connection behind a lock; WAL so readers do not block a writer).

    A cache, never a reason for a model operation to fail: a file or folder that may not be
    written (permissions, a read-only disk) gives a cache that reads what it can and forgets
    what it cannot store (``read_only``; the cost is re-hashing later), never a file set aside
    as if it were corrupt."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        import sqlite3

        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self.read_only = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open()
        except (OSError, sqlite3.OperationalError) as exc:  # may not write here: read what is there
            self._db = self._open_read_only(exc)
        except sqlite3.DatabaseError:
            # Not a database (a crash mid-write, a stray file): keep it aside and start afresh;
            # the cost is re-hashing, never a broken scanner.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                try:
                    os.unlink(f"{self.path}{suffix}")
                except FileNotFoundError:
                    pass
            self._db = self._open()

    def _open_read_only(self, why: Exception):
        import sqlite3

        self.read_only = True
        log.warning("the hash cache %s cannot be written (%s); digests computed now are not kept",
                    self.path, getattr(why, "strerror", None) or why)
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                 isolation_level=None)
            db.execute("SELECT 1 FROM hashes LIMIT 1")
            return db
        except (sqlite3.Error, OSError, ValueError):
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            db.executescript(_SCHEMA)
            return db

    def _write(self, sql: str, args: tuple) -> None:
        """One change; one that cannot be stored (a read-only cache) is dropped."""
        import sqlite3

        with self._lock:
            try:
                self._db.execute(sql, args)
            except sqlite3.OperationalError as exc:
                if not self.read_only:
                    self.read_only = True
                    log.warning("the hash cache %s cannot be written (%s); digests computed now are not kept",
                                self.path, exc)

    def _open(self):
        import sqlite3

        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                pass  # e.g. a file system without shared memory: the default journal works too
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- digests -------------------------------------------------------------------------
    def get(self, path: Path | str, size: int, mtime_ns: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT sha256 FROM hashes WHERE path=? AND size=? AND mtime_ns=?",
                                   (str(path), size, mtime_ns)).fetchone()
        return row[0] if row else None

    def get_many(self, keys: list[tuple[str, int, int]]) -> dict[str, str]:
        """path -> sha256 for every (path, size, mtime_ns) still valid."""
        found: dict[str, str] = {}
        with self._lock:
            rows = self._db.execute("SELECT path, size, mtime_ns, sha256 FROM hashes").fetchall()
        valid = {(p, s, m): h for p, s, m, h in rows}
        for key in keys:
            digest = valid.get(key)
            if digest:
                found[key[0]] = digest
        return found

    def paths_with(self, digests: list[str]) -> dict[str, list[tuple[str, int, int]]]:
        """sha256 -> [(path, size, mtime_ns)] recorded with that digest (callers check the stat)."""
        wanted = sorted({d.lower() for d in digests if d})
        found: dict[str, list[tuple[str, int, int]]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._db.execute(f"SELECT sha256, path, size, mtime_ns FROM hashes WHERE sha256 IN ({marks})",
                                        chunk).fetchall()
            for digest, path, size, mtime_ns in rows:
                found.setdefault(digest, []).append((path, size, mtime_ns))
        return found

    def put(self, path: Path | str, size: int, mtime_ns: int, sha256: str) -> None:
        self._write("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)",
                    (str(path), size, mtime_ns, sha256.lower(), self._clock()))

    def forget(self, path: Path | str) -> None:
        self._write("DELETE FROM hashes WHERE path=?", (str(path),))

    # -- Civitai misses ------------------------------------------------------------------
    def remember_not_found(self, sha256: str) -> None:
        self._write("INSERT OR REPLACE INTO civitai_misses VALUES (?, ?)", (sha256.lower(), self._clock()))

    def recently_not_found(self, sha256: str, ttl: float = NOT_FOUND_TTL) -> bool:
        with self._lock:
            row = self._db.execute("SELECT checked_at FROM civitai_misses WHERE sha256=?",
                                   (sha256.lower(),)).fetchone()
        return bool(row) and self._clock() - row[0] < ttl

    def remember_no_preview(self, sha256: str, nsfw_level: int) -> None:
        """Civitai knows the model but has no preview allowed at ``nsfw_level``."""
        self._write("INSERT OR REPLACE INTO civitai_no_preview VALUES (?, ?, ?)",
                    (sha256.lower(), nsfw_level, self._clock()))

    def recently_without_preview(self, sha256: str, nsfw_level: int, ttl: float = NOT_FOUND_TTL) -> bool:
        with self._lock:
            row = self._db.execute("SELECT checked_at FROM civitai_no_preview WHERE sha256=? AND nsfw_level=?",
                                   (sha256.lower(), nsfw_level)).fetchone()
        return bool(row) and self._clock() - row[0] < ttl

    def forget_not_found(self, sha256: str) -> None:
        self._write("DELETE FROM civitai_misses WHERE sha256=?", (sha256.lower(),))
