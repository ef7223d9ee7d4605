"""Model index, hash cache, sidecars and metadata operations.

The names below are imported on first use, so that importing one light module of the package
(the hash cache, for a download that records its digest) does not import the whole index.
"""
from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing itself costs start-up time
if TYPE_CHECKING:
    from typing import Any

    from .index import ModelIndex
    from .scan_task import ScanReport, ScanTask

__all__ = ["ModelIndex", "ScanReport", "ScanTask"]

_HOMES = {"ModelIndex": ".index", "ScanReport": ".scan_task", "ScanTask": ".scan_task"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
