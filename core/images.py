"""Opening untrusted images with Pillow, bounded against decompression bombs.

A few kilobytes of PNG or WebP can declare a 100 000 x 100 000 image.  Pillow's own guard
(``Image.MAX_IMAGE_PIXELS``) is process-wide and other custom nodes often switch it off, so every
image the pack decodes (previews beside models, Civitai example images, uploads) goes through
``open_bounded``: the size in the header is checked before a single pixel is decoded.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import IO, TYPE_CHECKING, Union

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


def webp_bytes(image: "PILImage.Image", max_side: int, quality: int = 90,
               max_pixels: int = MAX_IMAGE_PIXELS) -> bytes:
    """The one way an image becomes a WebP here (Civitai previews, set-preview, thumbnails):
    its first frame, upright (EXIF orientation applied, since WebP drops it), at most
    ``max_side`` px on the longest side, RGB or RGBA.  The caller's image is left as it was.
    ``ImageTooLarge`` before decoding; Pillow's own errors (``OSError``…) pass through."""
    from PIL import ImageOps

    check_pixels(*image.size, max_pixels=max_pixels)
    try:
        image.seek(0)
    except (EOFError, AttributeError):
        pass
    image.draft(image.mode, (max_side, max_side))  # a big JPEG decodes already shrunk
    frame = ImageOps.exif_transpose(image)  # a copy, loaded
    frame.thumbnail((max_side, max_side))
    if frame.mode not in ("RGB", "RGBA"):
        has_alpha = "A" in frame.getbands() or "transparency" in frame.info
        frame = frame.convert("RGBA" if has_alpha else "RGB")
    out = io.BytesIO()
    frame.save(out, format="WEBP", quality=quality)
    return out.getvalue()


def webp_from(source: Union[str, Path, IO[bytes], bytes], max_side: int, quality: int = 90) -> bytes:
    """``webp_bytes`` of an image file or of encoded image bytes (opened with ``open_bounded``)."""
    with open_bounded(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
        return webp_bytes(image, max_side, quality)
