"""Convert between ComfyUI IMAGE tensors ([batch, height, width, channels], floats 0..1) and files."""
from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Any

from . import comfy_api


def first_image_png(images: Any) -> bytes:
    """PNG bytes of the first image of a batch."""
    import numpy as np
    from PIL import Image

    array = images[0].cpu().numpy() if hasattr(images[0], "cpu") else np.asarray(images[0])
    pixels = np.clip(array * 255.0, 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue()


def image_tensor_from_file(path: Path | None, fallback_size: int = 64) -> Any:
    """A [1, H, W, 3] float tensor of the image at ``path``, or a black square if there is none."""
    import numpy as np
    import torch
    from PIL import ImageOps

    from ..core.images import open_bounded

    if path is not None:
        try:  # bounded: a decompression bomb is refused (ImageTooLarge is a ValueError)
            with open_bounded(path) as image:
                image = ImageOps.exif_transpose(image).convert("RGB")
                array = np.asarray(image, dtype=np.float32) / 255.0
            return torch.from_numpy(array)[None, ...]
        except (OSError, ValueError, SyntaxError):
            pass
    return torch.zeros((1, fallback_size, fallback_size, 3), dtype=torch.float32)


def temp_preview(png: bytes, stem: str = "model_manager_preview") -> list[dict[str, str]]:
    """Save ``png`` in ComfyUI's temp folder and return the ``ui.images`` entry that shows it."""
    fp = comfy_api.folder_paths()
    if fp is None:
        return []
    folder = Path(fp.get_temp_directory())
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{stem}_{uuid.uuid4().hex[:12]}.png"
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(png)
    os.replace(tmp, folder / name)
    return [{"filename": name, "subfolder": "", "type": "temp"}]
