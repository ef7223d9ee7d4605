"""The one image-to-WebP rule used by Civitai previews, set-preview and browser thumbnails."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from comfyui_model_manager.core.images import ImageTooLarge, webp_bytes, webp_from
from support.scanner_files import png_header_only


def jpeg_turned_on_its_side(width: int = 80, height: int = 40) -> bytes:
    """A JPEG stored landscape whose EXIF says "rotate 90°" (cameras write such files)."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to view
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    return image


def test_exif_orientation_is_applied_and_the_side_bounded() -> None:
    webp = decoded(webp_from(jpeg_turned_on_its_side(800, 400), max_side=100))
    assert webp.size == (50, 100)  # upright, longest side 100


def test_transparency_survives_and_other_modes_become_rgb() -> None:
    palette = Image.new("P", (10, 10), 0)
    palette.info["transparency"] = 0
    assert decoded(webp_bytes(palette, 64)).mode == "RGBA"
    assert decoded(webp_bytes(Image.new("L", (10, 10), 128), 64)).mode == "RGB"
    assert decoded(webp_bytes(Image.new("LA", (10, 10)), 64)).mode == "RGBA"


def test_the_callers_image_is_left_as_it_was() -> None:
    image = Image.new("RGB", (300, 200), (1, 2, 3))
    webp_bytes(image, 50)
    assert image.size == (300, 200) and image.mode == "RGB"


def test_an_animation_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), color) for color in ((250, 0, 0), (0, 0, 250))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    with Image.open(io.BytesIO(out.getvalue())) as gif:
        gif.seek(1)
        first = decoded(webp_bytes(gif, 64)).convert("RGB").getpixel((5, 5))
    assert first[0] > 200 and first[2] < 50


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge):
        webp_from(png_header_only(60_000, 60_000), max_side=64)
