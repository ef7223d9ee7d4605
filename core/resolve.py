"""What a pasted link is, before anything is downloaded: the "New download" form's preview.

``describe_link(sources, url, nsfw_level)`` resolves the link with the same sources the downloader
uses (Civitai: API JSON plus one look at the download route without following it; the Hub: one
HEAD; any other URL: a probe GET of byte 0) and answers a JSON-safe dict::

    {source, url, filename, model_type, model_type_hint, size, sha256, name, base_model,
     preview_url, page_url, versions?}

No model bytes are fetched.  ``versions`` (Civitai only) lists the model's published versions and
their files, each file with the download link that picks exactly it, so the form can offer a
choice.  Errors are the sources' own (``InvalidInput`` 400, ``AuthRequired`` 401,
``AccessDenied`` 403, ``NotFound`` 404) with messages that say what to do.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from .errors import ModelManagerError
from .sources.base import ResolvedDownload, SourceRegistry

log = logging.getLogger(__name__)

#: Hints for Hub files, which do not say what kind of model they are: (path pattern, folder type).
_PATH_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), folder) for pattern, folder in (
        (r"(^|[/_.-])(lora|loras|locon|lycoris)([/_.-]|$)", "loras"),
        (r"(^|[/_.-])(vae|ae)([/_.-]|$)", "vae"),
        (r"(^|[/_.-])(controlnet|control[_-]?net|cn)([/_.-]|$)", "controlnet"),
        (r"(^|[/_.-])(text[_-]?encoders?|clip[_-]?[lg]|t5xxl|umt5)([/_.-]|$)", "text_encoders"),
        (r"(^|[/_.-])(unet|diffusion[_-]?models?|transformer)([/_.-]|$)", "diffusion_models"),
        (r"(^|[/_.-])(upscalers?|esrgan|[0-9]x[_-])", "upscale_models"),
        (r"(^|[/_.-])(embeddings?|textual[_-]?inversion)([/_.-]|$)", "embeddings"),
    ))


def guess_model_type(path: str, known_types: set[str] | None = None) -> str | None:
    """A folder type from words in a file's path (``…/vae/x.safetensors`` -> ``vae``), or None."""
    for pattern, folder in _PATH_HINTS:
        if pattern.search(path or "") and (known_types is None or folder in known_types):
            return folder
    return None


def describe_link(sources: SourceRegistry, url: str, nsfw_level: int = 1,
                  known_types: set[str] | None = None) -> dict[str, Any]:
    """See the module docstring.  Blocking (network): call it off the event loop."""
    resolved = sources.resolve(url)
    answer: dict[str, Any] = {
        "source": resolved.source,
        "url": resolved.display_url,
        "filename": resolved.filename,
        "model_type": resolved.model_type,
        "model_type_hint": resolved.metadata.get("model_type_hint") if not resolved.model_type else None,
        "size": resolved.size,
        "sha256": resolved.sha256,
        "name": None,
        "base_model": None,
        "preview_url": None,
        "page_url": None,
    }
    if resolved.source == "civitai":
        _describe_civitai(sources, resolved, answer, nsfw_level)
    elif resolved.source == "huggingface":
        hub = resolved.metadata.get("huggingface") or {}
        answer["name"] = hub.get("repo_id")
        answer["page_url"] = hub.get("page")
        if not answer["model_type"]:
            answer["model_type"] = guess_model_type(str(hub.get("path") or ""), known_types)
    return answer


def _describe_civitai(sources: SourceRegistry, resolved: ResolvedDownload, answer: dict[str, Any],
                      nsfw_level: int) -> None:
    from .sources.civitai_sidecars import choose_image

    version = resolved.metadata.get("civitai_version") or {}
    base_url = str(resolved.metadata.get("civitai_base_url") or "").rstrip("/")
    file_id = resolved.metadata.get("civitai_file_id")
    model = resolved.metadata.get("civitai_model") or {}
    chosen = next((f for f in version.get("files") or [] if isinstance(f, dict) and f.get("id") == file_id), {})
    answer["size"] = answer["size"] or _size_of(chosen)
    answer["name"] = (version.get("model") or {}).get("name") or model.get("name")
    answer["base_model"] = version.get("baseModel")
    answer["version_id"] = version.get("id")
    answer["file_id"] = file_id
    answer["trigger_words"] = [str(w) for w in version.get("trainedWords") or [] if isinstance(w, str)]
    image = choose_image(version, nsfw_level)
    answer["preview_url"] = _http_url(image.get("url")) if image else None
    model_id = version.get("modelId") or model.get("id")
    if model_id and base_url:
        answer["page_url"] = f"{base_url}/models/{model_id}?modelVersionId={version.get('id')}"
    versions = _civitai_versions(sources, resolved, model_id, base_url)
    if versions:
        answer["versions"] = versions


def _civitai_versions(sources: SourceRegistry, resolved: ResolvedDownload, model_id: Any,
                      base_url: str) -> list[dict[str, Any]]:
    """Every published version of the model with its files; best effort (a failure here only
    means the form offers no choice)."""
    model = resolved.metadata.get("civitai_model")
    if not (model and model.get("modelVersions")) and model_id:
        from .sources.civitai_client import CivitaiClient

        try:
            model = CivitaiClient(sources.settings, sources.http, base_url or None, retries=1).get_model(model_id)
        except ModelManagerError as exc:
            log.info("no version list for Civitai model %s: %s", model_id, exc.message)
            model = None
    if not model:
        version = resolved.metadata.get("civitai_version") or {}
        model = {"modelVersions": [version]} if version else {}
    versions = []
    for item in model.get("modelVersions") or []:
        if not isinstance(item, dict) or not str(item.get("id") or "").isdigit():
            continue
        files = []
        for entry in item.get("files") or []:
            if not isinstance(entry, dict) or not str(entry.get("id") or "").isdigit():
                continue
            meta = entry.get("metadata") or {}
            files.append({
                "id": int(entry["id"]), "name": entry.get("name"), "type": entry.get("type"),
                "size": _size_of(entry), "format": meta.get("format"), "fp": meta.get("fp"),
                "precision": meta.get("size"), "primary": bool(entry.get("primary")),
                "url": f"{base_url}/api/download/models/{int(item['id'])}?fileId={int(entry['id'])}",
            })
        versions.append({"id": int(item["id"]), "name": item.get("name"), "base_model": item.get("baseModel"),
                         "files": files})
    return versions


def _size_of(entry: dict) -> int | None:
    """Civitai's ``sizeKB`` in bytes (rounded: the storage's Content-Length is exact)."""
    value = entry.get("sizeKB") if isinstance(entry, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(round(value * 1024))
    return None


def _http_url(value: Any) -> str | None:
    text = str(value or "")
    return text if text.lower().startswith(("http://", "https://")) else None
