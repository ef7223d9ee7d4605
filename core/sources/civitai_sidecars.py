"""Files written beside a model that came from (or was found on) Civitai.

``write_civitai_sidecars(model_path, version, *, settings, http) -> list[Path]`` writes, for
``NAME.safetensors``:
- ``NAME.civitai.info``: the version JSON exactly as the API gave it;
- ``NAME.webp``: the first example *image* of the version whose ``nsfwLevel`` is at most
  ``settings.civitai_nsfw_level`` (default 1, safe only), converted with Pillow (longest side at
  most 1024 px), fetched with no credentials;
- ``NAME.md``: model name, version, base model, trigger words, link and the description
  converted from Civitai's HTML to Markdown.

It never overwrites anything: a file is created only when it does not exist (and no preview in
any format, no ``NAME.txt`` description, is there already), with an atomic no-clobber link.
Returns the paths it created.  The scanner calls it after a by-hash lookup; the Civitai source
calls it after a download completes.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..html_markdown import html_to_markdown
from ..http import HttpClient
from ..images import webp_from
from ..jsonio import new_file_mode
from ..sidecars import find_sidecars, list_siblings, model_stem

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 32 << 20
MAX_PREVIEW_SIDE = 1024
IMAGE_TIMEOUT = (15.0, 30.0)


def sidecar_stem(model_path: Path) -> Path:
    """``/x/name.safetensors`` -> ``/x/name`` (sidecars are ``stem`` + their own suffix)."""
    return model_path.with_name(model_stem(model_path.name))


def existing_preview(model_path: Path) -> Path | None:
    """The preview beside the model, found by the scanner's naming rule (any case, any
    of the names popular tools use), or None."""
    name = find_sidecars(model_path.name, list_siblings(model_path)).preview
    return model_path.with_name(name) if name else None


def write_civitai_sidecars(model_path: Path, version: dict, *, settings: "Settings", http: HttpClient,
                           model: dict | None = None, base_url: str | None = None) -> list[Path]:
    """Write the missing sidecars of ``model_path`` from a Civitai version JSON (see module doc).

    ``model`` is the ``/models/{id}`` JSON (or a part with ``name``/``description``) when the
    caller already has it; otherwise the model description is fetched once, best effort.
    """
    model_path = Path(model_path)
    stem = sidecar_stem(model_path)
    written: list[Path] = []
    info_path = Path(f"{stem}.civitai.info")
    if not info_path.exists():
        data = json.dumps(version, indent=2, ensure_ascii=False).encode("utf-8")
        if create_exclusive(info_path, data):
            written.append(info_path)
    if existing_preview(model_path) is None:
        try:
            preview = fetch_preview(version, settings=settings, http=http)
        except Exception as exc:
            log.warning("no Civitai preview for %s: %s", model_path.name, settings.redactor(str(exc)))
            preview = None
        if preview is not None and create_exclusive(Path(f"{stem}.webp"), preview):
            written.append(Path(f"{stem}.webp"))
    description_path = Path(f"{stem}.md")
    if not description_path.exists() and not Path(f"{stem}.txt").exists():
        if model is None or "description" not in model:
            model = {**(model or {}), **_fetch_model(version, settings=settings, http=http, base_url=base_url)}
        text = civitai_markdown(version, model, base_url=base_url)
        if create_exclusive(description_path, text.encode("utf-8")):
            written.append(description_path)
    return written


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` unless it exists (atomic: no half file, no clobbering)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, new_file_mode())  # as readable as the folder's other files, not 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links here (exFAT, some network shares)
            return create_exclusive_without_links(path, data)
        return True
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def create_exclusive_without_links(path: Path, data: bytes) -> bool:
    """``O_EXCL`` fallback: never clobbers and never follows a link; a failed write is removed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return True


#: Older Civitai answers (and older ``.civitai.info`` files) rate images with ``nsfw``: a boolean,
#: or the names below; today's ``nsfwLevel`` is 1 PG, 2 PG-13, 4 R, 8 X, 16 XXX.
_NSFW_NAMES = {"none": 1, "soft": 2, "mature": 4, "x": 8}
#: ``nsfw: true`` says nothing of how explicit: treated as the highest rated level.
_NSFW_TRUE_LEVEL = 16


def image_nsfw_level(image: dict) -> int | None:
    """An image's rating as an ``nsfwLevel`` (numeric ``nsfwLevel`` first, else the older
    ``nsfw`` boolean or name); None when it is not rated."""
    level = image.get("nsfwLevel")
    if isinstance(level, str) and level.isdigit():
        level = int(level)
    if isinstance(level, int) and not isinstance(level, bool) and level >= 1:
        return level
    legacy = image.get("nsfw")
    if isinstance(legacy, bool):
        return _NSFW_TRUE_LEVEL if legacy else 1
    if isinstance(legacy, str):
        return _NSFW_NAMES.get(legacy.strip().lower())
    return None


def choose_image(version: dict, max_level: int) -> dict | None:
    """First still image that is rated and within ``max_level`` (32 = any)."""
    for image in version.get("images") or []:
        if not isinstance(image, dict) or not image.get("url"):
            continue
        if (image.get("type") or "image") != "image":
            continue  # videos cannot be a preview image
        level = image_nsfw_level(image)
        if level is None:
            continue
        if max_level >= 32 or 1 <= level <= max_level:
            return image
    return None


def fetch_preview(version: dict, *, settings: "Settings", http: HttpClient) -> bytes | None:
    """The chosen example image as WebP bytes, or None when no image fits the NSFW setting."""
    image = choose_image(version, settings.civitai_nsfw_level)
    if image is None:
        return None
    with http.request("GET", str(image["url"]), headers={"Accept": "image/*"}, timeout=IMAGE_TIMEOUT) as response:
        if response.status != 200:
            raise ValueError(f"the image host answered HTTP {response.status}")
        data = bytearray()
        for chunk in response.iter_chunks(1 << 16):
            data += chunk
            if len(data) > MAX_IMAGE_BYTES:
                raise ValueError("the example image is too large")
    return to_webp(bytes(data))


def to_webp(data: bytes) -> bytes:
    """The example image as a WebP of at most ``MAX_PREVIEW_SIDE`` px; ``ImageTooLarge`` (a
    ValueError) for a decompression bomb, before any pixel is decoded."""
    return webp_from(data, MAX_PREVIEW_SIDE)


def _fetch_model(version: dict, *, settings: "Settings", http: HttpClient, base_url: str | None) -> dict[str, Any]:
    model_id = version.get("modelId")
    if not model_id:
        return {}
    from .civitai_client import CivitaiClient

    try:
        return CivitaiClient(settings, http, base_url, retries=1).get_model(model_id)
    except Exception as exc:
        log.info("no Civitai model description for %s: %s", model_id, settings.redactor(str(exc)))
        return {}


def civitai_markdown(version: dict, model: dict | None, base_url: str | None = None) -> str:
    """The ``NAME.md`` text: a title, facts, trigger words and the description."""
    model = model or {}
    inner = version.get("model") or {}
    name = model.get("name") or inner.get("name") or version.get("name") or "Civitai model"
    lines = [f"# {name}", ""]
    facts = [
        ("Version", version.get("name")),
        ("Type", model.get("type") or inner.get("type")),
        ("Base model", version.get("baseModel")),
    ]
    for label, value in facts:
        if value:
            lines.append(f"- {label}: {value}")
    words = [str(w).strip() for w in version.get("trainedWords") or [] if str(w).strip()]
    if words:
        lines.append("- Trigger words: " + ", ".join(f"`{w}`" for w in words))
    if version.get("modelId") and version.get("id"):
        site = (base_url or "https://civitai.com").rstrip("/")
        lines.append(f"- Civitai: {site}/models/{version['modelId']}?modelVersionId={version['id']}")
    description = html_to_markdown(model.get("description"))
    if description:
        lines += ["", description]
    version_notes = html_to_markdown(version.get("description"))
    if version_notes:
        lines += ["", "## About this version", "", version_notes]
    return "\n".join(lines).rstrip() + "\n"
