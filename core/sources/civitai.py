"""Civitai as a download source: link → version JSON → chosen file → ResolvedDownload.

Public API (other parts code against these):
- ``CivitaiClient`` (re-exported from ``civitai_client``): v1 API client, see that module.
- ``parse_civitai_link`` (from ``civitai_links``): every link form users paste.
- ``pick_file(version, filters) -> dict``: the version's file a link names.
- ``folder_for(civitai_type, file_type) -> str | None``: ``model_type=auto``.
- ``create_source(settings, http) -> CivitaiSource`` (called by ``SourceRegistry``).

What the downloader gets: ``url`` is ``{base}/api/download/models/{vid}?fileId={fid}`` with the
key in ``auth_headers`` (``HttpClient`` drops it at the 307 to signed storage); the fileId pins
the exact file whose SHA256 we expect (without it Civitai picks by the account's preferences).
``display_url`` is the same URL: re-resolving it after a restart or an expired signature gives
a fresh signed URL for the same file.  ``after_complete`` writes the sidecars
(``civitai_sidecars``).
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AccessDenied, InvalidInput, NotFound, RemoteError
from ..http import HttpClient
from ..model_types import CIVITAI_TYPE_TO_FOLDER
from .base import ResolvedDownload
from .civitai_client import DEFAULT_BASE_URL, CivitaiClient, base_url_from_env
from .civitai_links import API_HOSTS, CivitaiLink, netloc_key, parse_civitai_link

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["CivitaiClient", "CivitaiSource", "create_source", "folder_for", "pick_file", "parse_civitai_link"]

log = logging.getLogger(__name__)

#: File types (``files[].type``) whose folder does not follow the model's type.
FILE_TYPE_TO_FOLDER = {
    "VAE": "vae",
    "Text Encoder": "text_encoders",
    "Vision Encoder": "clip_vision",
    "CLIPVision": "clip_vision",
    "ControlNet": "controlnet",
    "Upscaler": "upscale_models",
    "UNet": "diffusion_models",
    "Diffusion Model": "diffusion_models",
    "Negative": "embeddings",
    "Enhancement LoRA": "loras",
}
#: File types that are not model weights at all.
NON_MODEL_FILE_TYPES = {"Config", "Archive", "Training Data", "Workflow", "Other"}
_MAIN_WEIGHT_TYPES = {"Model", "Pruned Model", "Negative", "Diffusion Model"}
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def folder_for(civitai_type: str | None, file_type: str | None = None) -> str | None:
    """The ComfyUI folder type for a Civitai model type and file type, or None if there is none."""
    if file_type in FILE_TYPE_TO_FOLDER:
        return FILE_TYPE_TO_FOLDER[file_type]
    if file_type in NON_MODEL_FILE_TYPES:
        return None
    return CIVITAI_TYPE_TO_FOLDER.get(civitai_type or "")


def type_hint(civitai_type: str | None, file_type: str | None) -> str:
    """The message for ``model_type=auto`` when ``folder_for`` found nothing."""
    if file_type in NON_MODEL_FILE_TYPES:
        return (f"this Civitai file is a {file_type} file, not model weights; "
                "choose a model_type to save it anyway")
    return (f"Civitai lists this model as type {civitai_type or 'unknown'!r}, which has no ComfyUI model "
            "folder; choose a model_type (for example checkpoints, loras or embeddings)")


#: What Civitai prefers when a link does not say (its defaults for an account without preferences).
DEFAULT_PREFERENCES = {"format": "SafeTensor", "size": "pruned", "fp": "fp16", "quantType": "Q4_K_M"}
#: How much each preference weighs in Civitai's file score (pick the file a user would pick on the site).
_WEIGHTS = {"format": 100.0, "size": 10.0, "fp": 1.0, "quantType": 0.5}
METADATA_FILTERS = tuple(_WEIGHTS)


def _score(item: dict, preferences: dict[str, str]) -> float:
    """Civitai's file score: main weights first, then each preference met or missed."""
    meta = item.get("metadata") or {}
    value = 1000.0 if item.get("type") in _MAIN_WEIGHT_TYPES else 0.0
    for key, weight in _WEIGHTS.items():
        value += weight if meta.get(key) == preferences.get(key) else -weight
    return value


def _exact_matches(item: dict, filters: dict[str, str]) -> int:
    meta = item.get("metadata") or {}
    return sum(1 for key in METADATA_FILTERS if filters.get(key) and meta.get(key) == filters[key])


def pick_file(version: dict, filters: dict[str, str] | None = None) -> dict:
    """The file a link names, as Civitai's download route picks it.

    ``fileId`` names one file.  Otherwise the files of the link's ``type`` whose metadata does
    not contradict its ``format``/``size``/``fp``/``quantType``; among them the one that matches
    most of those exactly, then the best by Civitai's score with the link's values as the
    preferences, then the primary file.  Files of one version often share a name (a
    checkpoint's pruned fp16 and full fp32 are both ``Model_v1.safetensors``), so the name never
    decides: the file's id and sha256 travel with the choice."""
    filters = filters or {}
    files = [f for f in version.get("files") or [] if isinstance(f, dict)]
    label = f"version {version.get('id')} ({version.get('name') or 'unnamed'})"
    if not files:
        raise NotFound(f"Civitai lists no files for {label}: the model may be archived or taken down")
    if filters.get("fileId"):
        for item in files:
            if str(item.get("id")) == filters["fileId"]:
                return item
        raise NotFound(f"Civitai {label} has no file with id {filters['fileId']}")
    candidates = files
    if filters.get("type"):
        candidates = [f for f in candidates if f.get("type") == filters["type"]]
    for key in METADATA_FILTERS:
        if filters.get(key):
            candidates = [f for f in candidates
                          if (f.get("metadata") or {}).get(key) in (None, filters[key])]
    if not candidates:
        wanted = ", ".join(f"{k}={v}" for k, v in filters.items())
        available = "; ".join(_describe(f) for f in files)
        raise NotFound(f"Civitai {label} has no file matching {wanted} (files: {available})")
    preferences = {**DEFAULT_PREFERENCES, **{k: v for k, v in filters.items() if k in METADATA_FILTERS and v}}
    return max(candidates, key=lambda f: (_exact_matches(f, filters), _score(f, preferences),
                                          bool(f.get("primary"))))


def _describe(item: dict) -> str:
    meta = item.get("metadata") or {}
    details = ", ".join(str(v) for v in (item.get("type"), meta.get("format"), meta.get("size"), meta.get("fp")) if v)
    return f"{item.get('name')} ({details})"


def expected_sha256(item: dict) -> str | None:
    value = str((item.get("hashes") or {}).get("SHA256") or "")
    return value.lower() if _SHA256.match(value) else None


class CivitaiSource:
    name = "civitai"

    def __init__(self, settings: "Settings", http: HttpClient, base_url: str | None = None) -> None:
        self.settings = settings
        self.http = http
        self._configured_base = (base_url or os.environ.get("CIVITAI_BASE_URL") or "").strip().rstrip("/") or None

    def _extra_netlocs(self) -> tuple[str, ...]:
        if not self._configured_base:
            return ()
        return (netloc_key(self._configured_base),)

    def matches(self, url: str) -> bool:
        return parse_civitai_link(url, self._extra_netlocs()) is not None

    def client_for(self, link: CivitaiLink) -> CivitaiClient:
        """The API the link's host answers on: ``CIVITAI_BASE_URL`` if set, else civitai.red for
        .red links (some NSFW models only resolve there), else civitai.com."""
        if self._configured_base:
            base = self._configured_base
        elif link.host in API_HOSTS:
            base = f"https://{link.host}"
        else:
            base = base_url_from_env() or DEFAULT_BASE_URL
        return CivitaiClient(self.settings, self.http, base, api_key=link.url_token)

    def resolve(self, url: str) -> ResolvedDownload:
        link = parse_civitai_link(url, self._extra_netlocs())
        if link is None or (link.model_id is None and link.version_id is None and not link.file_hash):
            raise InvalidInput("this Civitai link names no model; paste a model page "
                               "(civitai.com/models/…), a download link or an AIR (urn:air:…:civitai:ID@VID)")
        client = self.client_for(link)
        model: dict[str, Any] | None = None
        version_id = link.version_id
        filters = dict(link.file_filters)
        if link.file_hash:
            found = client.version_by_hash(link.file_hash)
            if found is None:
                raise NotFound(f"Civitai knows no published model file with the hash {link.file_hash}")
            version_id = int(found["id"])
            filters["fileId"] = next((str(f.get("id")) for f in found.get("files") or [] if isinstance(f, dict)
                                      and link.file_hash in {str(h).upper() for h in (f.get("hashes") or {}).values()}),
                                     "")
        if version_id is None:
            model = client.get_model(link.model_id)
            versions = [v for v in model.get("modelVersions") or [] if isinstance(v, dict) and v.get("id")]
            if not versions:
                raise NotFound(f"Civitai model {link.model_id} has no published version to download")
            version_id = int(versions[0]["id"])
        version = client.get_version(version_id)
        model_id = version.get("modelId") or link.model_id
        item = pick_file(version, filters)
        civitai_type = (version.get("model") or {}).get("type") or (model or {}).get("type")
        folder = folder_for(civitai_type, item.get("type"))
        if not str(item.get("id") or "").isdigit():
            raise RemoteError(f"Civitai listed a file without an id for version {version_id}")
        download_url = f"{client.base_url}/api/download/models/{int(version_id)}?fileId={int(item['id'])}"
        try:
            client.check_download(download_url, version_id=int(version_id), model_id=model_id)
        except AccessDenied as exc:
            if model is not None and len(model.get("modelVersions") or []) > 1:
                raise AccessDenied(f"{exc.message}. This link names no version, so the newest was taken; "
                                   "an older version may be free to download: pick it on the model page") from None
            raise
        metadata: dict[str, Any] = {
            "civitai_version": version,
            "civitai_model_type": civitai_type,
            "civitai_file_id": item.get("id"),
            "civitai_base_url": client.base_url,
        }
        if model is not None:
            metadata["civitai_model"] = {k: model.get(k) for k in ("id", "name", "type", "description", "tags")}
        if folder is None:
            metadata["model_type_hint"] = type_hint(civitai_type, item.get("type"))
        return ResolvedDownload(
            source=self.name,
            url=download_url,
            display_url=download_url,
            auth_headers=client.auth_headers(),
            filename=str(item.get("name") or "") or None,
            model_type=folder,
            sha256=expected_sha256(item),
            size=None,  # sizeKB is rounded; the storage's Content-Length is the truth
            metadata=metadata,
        )

    def after_complete(self, model_path: Path, resolved: ResolvedDownload) -> None:
        """The verified file is in place: write its Civitai info, preview and description."""
        from .civitai_sidecars import write_civitai_sidecars

        try:
            write_civitai_sidecars(model_path, resolved.metadata["civitai_version"], settings=self.settings,
                                   http=self.http, model=resolved.metadata.get("civitai_model"),
                                   base_url=resolved.metadata.get("civitai_base_url"))
        except Exception as exc:  # sidecars are a bonus: never fail a verified download for them
            log.warning("could not write Civitai files beside %s: %s", model_path.name,
                        self.settings.redactor(str(exc)))

    def __repr__(self) -> str:
        return f"CivitaiSource(base_url={self._configured_base or DEFAULT_BASE_URL!r})"


def create_source(settings: "Settings", http: HttpClient) -> CivitaiSource:
    return CivitaiSource(settings, http)
