"""What the model index knows, in memory and in ``state_dir/model_index.json``.

One ``IndexEntry`` per ``(type, name)``: the model's record (``record.ModelRecord``: what the
routes, the nodes and ``scan --json`` show), the signature it was built from (size, mtime and sidecars; an unchanged
signature means the record is still right) and the file's path.  Entries are replaced, never
changed in place, so a reader may keep one outside the lock.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..jsonio import atomic_write_bytes, read_json
from .model_record import Signature
from .record import ModelRecord

INDEX_FILE = "model_index.json"
INDEX_VERSION = 1

Key = tuple[str, str]  # (model type, name)


#: The signature of a saved entry whose own could not be read: it matches no model, so the
#: model's record is built again.
UNKNOWN_SIGNATURE = Signature(-1, -1)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    record: ModelRecord
    sig: Signature
    path: str

    @property
    def key(self) -> Key:
        return self.record.key

    def with_sha256(self, digest: str | None) -> "IndexEntry":
        """This entry with its record's digest set (a new record, a new entry)."""
        return self if digest == self.record.sha256 else replace(self, record=self.record.with_sha256(digest))

    def built_from(self, sig: Signature, root: str) -> bool:
        """Was this record built from a model with this signature in this root?"""
        return self.sig == sig and self.record.root == root

    def to_json(self) -> dict[str, Any]:
        return {"record": self.record.to_json(), "sig": self.sig.to_json(), "path": self.path}

    @classmethod
    def from_json(cls, item: Any) -> "IndexEntry | None":
        """An entry from the saved index, or None for a damaged one."""
        if not isinstance(item, dict):
            return None
        record = ModelRecord.from_json(item.get("record"))
        if record is None:
            return None
        sig = Signature.from_json(item.get("sig")) or UNKNOWN_SIGNATURE
        return cls(record, sig, str(item.get("path") or ""))


@dataclass
class IndexState:
    """The entries, which types have been indexed, and saving them.  ``lock`` guards every
    field; ``save`` may be called from any thread."""

    path: Path
    entries: dict[Key, IndexEntry] = field(default_factory=dict)
    indexed_types: set[str] = field(default_factory=set)
    loaded: bool = False
    dirty: bool = False  # entries changed since the last save
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _save_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def load_once(self, known_types: Iterable[str]) -> bool:
        """Read the saved index the first time only; True when this call loaded it.  Entries
        of types the host no longer has are left out."""
        with self.lock:
            if self.loaded:
                return False
            self.loaded = True
            document = read_json(self.path, None)
            if not isinstance(document, dict) or document.get("version") != INDEX_VERSION:
                return False
            known = set(known_types)
            for item in document.get("entries") or []:
                entry = IndexEntry.from_json(item)
                if entry is not None and entry.key[0] in known:
                    self.entries[entry.key] = entry
            self.indexed_types = {t for t in document.get("indexed_types") or [] if t in known}
            return True

    def save(self) -> None:
        """Save if anything changed.  Saves are serialised and each one snapshots the entries
        after the previous save finished, so an older snapshot never overwrites a newer one."""
        with self._save_lock:
            with self.lock:
                if not self.dirty and self.path.exists():
                    return
                self.dirty = False
                document = {"version": INDEX_VERSION, "indexed_types": sorted(self.indexed_types),
                            "entries": [self.entries[k].to_json() for k in sorted(self.entries)]}
                data = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            try:
                atomic_write_bytes(self.path, data)
            except BaseException:
                with self.lock:
                    self.dirty = True
                raise

    # -- reading ---------------------------------------------------------------------------
    def record(self, key: Key) -> ModelRecord | None:
        with self.lock:
            entry = self.entries.get(key)
        return None if entry is None else entry.record

    def records(self, types: Iterable[str], *, sort: bool = True) -> list[ModelRecord]:
        """The records of ``types`` (by key when ``sort``)."""
        wanted = set(types)
        with self.lock:
            keys = sorted(self.entries) if sort else list(self.entries)
            return [self.entries[k].record for k in keys if k[0] in wanted]

    def missing_types(self, types: Iterable[str]) -> list[str]:
        with self.lock:
            return [t for t in types if t not in self.indexed_types]

    # -- changing --------------------------------------------------------------------------
    def put(self, entry: IndexEntry) -> None:
        with self.lock:
            if self.entries.get(entry.key) != entry:
                self.dirty = True
            self.entries[entry.key] = entry

    def remove(self, key: Key) -> None:
        with self.lock:
            self.entries.pop(key, None)
            self.dirty = True

    def set_sha256(self, keys: Iterable[Key], digest: str) -> None:
        with self.lock:
            for key in keys:
                entry = self.entries.get(key)
                if entry is not None and entry.record.sha256 != digest:
                    self.entries[key] = entry.with_sha256(digest)
                    self.dirty = True

    def merge_scan(self, types: Iterable[str], fresh: Mapping[Key, IndexEntry],
                   before: Mapping[Key, IndexEntry], changed: bool) -> set[str]:
        """Take a finished walk of ``types``: ``fresh`` replaces what the walk started from
        (``before``), except entries changed meanwhile (a set-preview, a get-model: newer);
        entries the walk did not see go.  Returns the paths of the entries that went."""
        wanted = set(types)
        with self.lock:
            gone = [k for k in self.entries if k[0] in wanted and k not in fresh]
            gone_paths = {self.entries[k].path for k in gone} - {e.path for e in fresh.values()}
            for key in gone:
                del self.entries[key]
            for key, entry in fresh.items():
                current = self.entries.get(key)
                if current is not None and current is not before.get(key):
                    continue
                self.entries[key] = entry
            if changed or gone or not wanted <= self.indexed_types:
                self.dirty = True
            self.indexed_types |= wanted
        return gone_paths
