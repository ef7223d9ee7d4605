"""Model index, hash cache, sidecars and metadata operations."""
from .index import ModelIndex
from .scan_task import ScanReport, ScanTask

__all__ = ["ModelIndex", "ScanReport", "ScanTask"]
