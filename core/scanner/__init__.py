"""Model index, hash cache, sidecars and metadata operations (contract §2, §4, §6)."""
from .index import ModelIndex
from .scan_task import ScanReport, ScanTask

__all__ = ["ModelIndex", "ScanReport", "ScanTask"]
