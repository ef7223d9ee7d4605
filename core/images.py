"""Opening untrusted images with Pillow, bounded against decompression bombs.

A few kilobytes of PNG or WebP can declare a 100 000 x 100 000 image.  Pillow's own guard
(``Image.MAX_IMAGE_PIXELS``) is process-wide and other custom nodes often switch it off, so every
image the pack decodes (previews beside models, Civitai example images, uploads) goes through
``open_bounded``: the size in the header is checked before a single pixel is decoded.
"""
from __future__ import annotations

from typing import IO, TYPE_CHECKING, Union
from pathlib import Path

if TYPE_CHECKING:
    from PIL import Image as PILImage

#: 64 megapixels (8000 x 8000): far above any preview, far below what would exhaust memory.
MAX_IMAGE_PIXELS = 64_000_000


class ImageTooLarge(ValueError):
    """The image declares more pixels than we are willing to decode."""


def check_pixels(width: int, height: int, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(f"the image is {width}x{height} = {width * height:,} pixels; at most "
                            f"{max_pixels:,} are accepted")


def open_bounded(source: Union[str, Path, IO[bytes]], max_pixels: int = MAX_IMAGE_PIXELS) -> "PILImage.Image":
    """``PIL.Image.open`` that raises ``ImageTooLarge`` for more than ``max_pixels`` pixels
    (before decoding anything).  Other errors are Pillow's (``UnidentifiedImageError``/``OSError``)."""
    from PIL import Image

    try:
        image = Image.open(source)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from None
    try:
        check_pixels(*image.size, max_pixels=max_pixels)
    except ImageTooLarge:
        image.close()
        raise
    return image
