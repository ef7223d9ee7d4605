"""Search, sort and paging over model records (the sidebar's model library).

Kept apart from the index: it only reads records.  One page of 200 out of 10,000 records costs a
few milliseconds: the search text of a record is a join of a few short strings, sorting uses plain
keys, and only the page itself is copied.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .record import ModelRecord

#: ``sort`` values the models route takes (each also with a leading ``-`` for descending).
SORT_KEYS: dict[str, Callable[[ModelRecord], Any]] = {
    "name": lambda r: (r.name.casefold(), r.model_type),
    "added": lambda r: (r.mtime, r.name.casefold()),
    "size": lambda r: (r.size, r.name.casefold()),
}
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def search_text(record: ModelRecord) -> str:
    """What ``q`` is matched against: name, trigger words, base model, tags and the Civitai
    model name, lower-cased."""
    civitai = record.civitai
    parts = [record.name, record.base_model or "", (civitai.model_name or "") if civitai else "",
             *record.trigger_words, *record.tags]
    return "\n".join(parts).casefold()


def parse_sort(value: str | None) -> tuple[str, bool]:
    """``"-size"`` -> ``("size", True)``; ValueError for anything else than the known keys."""
    text = (value or "name").strip()
    descending = text.startswith("-")
    key = text[1:] if descending else text
    if key not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)} (with - for descending), not {value!r}")
    return key, descending


def query(records: Iterable[ModelRecord], q: str = "", sort: str = "name", offset: int = 0,
          limit: int = DEFAULT_LIMIT) -> tuple[list[ModelRecord], int]:
    """``(page of records, total matching)``.  Every word of ``q`` must match (in any of the
    searched fields)."""
    key, descending = parse_sort(sort)
    words = [w for w in (q or "").casefold().split() if w]
    if words:
        matching = [r for r in records if _matches(search_text(r), words)]
    else:
        matching = list(records)
    matching.sort(key=SORT_KEYS[key], reverse=descending)
    offset = max(0, int(offset))
    page = matching[offset:offset + max(0, int(limit))]
    return page, len(matching)


def _matches(text: str, words: list[str]) -> bool:
    return all(word in text for word in words)
