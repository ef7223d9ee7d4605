"""Preview images for the browser: a thumbnail made once per preview version, kept on disk.

The ETag is derived from the preview's real path, size and mtime, so a new preview gets a new
tag and a browser revalidates cheaply (304) otherwise.  Small previews are served as they are;
big ones are shrunk once to ``max_side`` and the thumbnail file is reused until the preview
changes (also across restarts).
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ModelManagerError, error_for_os_error
from ..core.images import ImageTooLarge, open_bounded, webp_bytes
from ..core.jsonio import atomic_write_bytes

#: Previews at most this big (bytes) and this wide/high (pixels) are served unchanged.
SMALL_PREVIEW_BYTES = 512 * 1024
THUMBNAIL_SIDE = 512
THUMBNAIL_QUALITY = 85
_SERVABLE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


class PreviewUnreadable(ModelManagerError, code="preview_unreadable", http_status=422):
    """The preview file is there but cannot be shown (not an image, damaged, far too big)."""


@dataclass(frozen=True)
class ServedPreview:
    path: Path
    content_type: str
    etag: str


class PreviewCache:
    """Thread-safe; call ``get`` off the event loop (it may decode an image once)."""

    def __init__(self, folder: Path, max_side: int = THUMBNAIL_SIDE, memory_entries: int = 1024) -> None:
        self.folder = Path(folder)
        self.max_side = max_side
        self._memory: OrderedDict[str, ServedPreview] = OrderedDict()
        self._memory_entries = memory_entries
        self._lock = threading.Lock()
        self.thumbnails_made = 0  # for tests and diagnostics

    def get(self, preview: Path, original: bool = False) -> ServedPreview:
        stat = preview.stat()
        real = os.path.realpath(preview)
        key = f"{real}|{stat.st_size}|{stat.st_mtime_ns}|{self.max_side}|{int(original)}"
        etag = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        with self._lock:
            served = self._memory.get(etag)
            if served is not None and served.path.exists():
                self._memory.move_to_end(etag)
                return served
        served = self._build(Path(real), stat.st_size, etag, original)
        with self._lock:
            self._memory[etag] = served
            while len(self._memory) > self._memory_entries:
                self._memory.popitem(last=False)
        return served

    def _build(self, preview: Path, size: int, etag: str, original: bool) -> ServedPreview:
        content_type = mimetypes.guess_type(preview.name)[0] or "application/octet-stream"
        if original and content_type in _SERVABLE_TYPES:
            return ServedPreview(preview, content_type, etag)
        thumbnail = self.folder / f"{etag}.webp"
        if thumbnail.is_file():
            return ServedPreview(thumbnail, "image/webp", etag)
        try:
            webp = self._thumbnail(preview, size, content_type)
        except ImageTooLarge as exc:
            raise PreviewUnreadable(f"the preview {preview.name} cannot be shown: {exc}") from None
        except (OSError, ValueError, SyntaxError) as exc:  # not an image, or a damaged one
            if isinstance(exc, OSError) and exc.errno is not None:  # the file system, not the image
                raise error_for_os_error(exc, f"read the preview {preview.name}") from None
            raise PreviewUnreadable(f"the preview {preview.name} is not an image that can be shown "
                                    f"({type(exc).__name__})") from None
        if webp is None:
            return ServedPreview(preview, content_type, etag)
        try:
            atomic_write_bytes(thumbnail, webp)
        except OSError:  # the state folder may not be written: the original still shows
            if content_type in _SERVABLE_TYPES:
                return ServedPreview(preview, content_type, etag)
            raise
        with self._lock:
            self.thumbnails_made += 1
        return ServedPreview(thumbnail, "image/webp", etag)

    def _thumbnail(self, preview: Path, size: int, content_type: str) -> bytes | None:
        """WebP bytes of the shrunk preview, or None when the file can be served as it is.
        The pixel count is checked before anything is decoded (decompression bombs)."""
        with open_bounded(preview) as image:
            small_enough = max(image.size) <= self.max_side and size <= SMALL_PREVIEW_BYTES
            if small_enough and content_type in _SERVABLE_TYPES:
                return None
            return webp_bytes(image, self.max_side, THUMBNAIL_QUALITY)
