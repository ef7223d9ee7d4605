"""Every form of Civitai link users paste, reduced to ids and file filters.

Accepted: model pages ``/models/ID[/slug][?modelVersionId=VID]`` and
``/model-versions/VID`` on civitai.com, civitai.red, civitai.green (``www.`` too) or the
configured ``CIVITAI_BASE_URL`` host; download links ``/api/download/models/VID`` with the
``type``/``format``/``size``/``fp``/``quantType``/``fileId`` filters (a ``token`` in the query is
taken out and used as the key, never kept in a URL); API links ``/api/v1/model-versions/VID``
``/api/v1/models/ID`` and ``/api/v1/model-versions/by-hash/HASH`` (the file with that hash); and
AIRs in every form ``core.sources.air`` reads (``urn:air:sdxl:lora:civitai:ID@VID``, ``civitai:ID@VID``,
``…@VID+FILEID``).  A link pasted without ``https://`` (``civitai.com/models/ID``) works too.
The configured host matches by host and port (``https://x`` and ``https://x:443`` are one origin).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from .air import Air, invalid, parse_air

PUBLIC_HOSTS = ("civitai.com", "civitai.red", "civitai.green")
#: Hosts whose API answers for themselves; other Civitai hosts are served by civitai.com.
API_HOSTS = ("civitai.com", "civitai.red")
#: Query parameters of /api/download that select a file (kept); everything else is dropped.
FILE_FILTERS = ("type", "format", "size", "fp", "quantType", "fileId")

#: AIR ``.format`` words -> Civitai's file format names.
AIR_FORMATS = {"safetensor": "SafeTensor", "safetensors": "SafeTensor", "ckpt": "PickleTensor",
               "pickletensor": "PickleTensor", "pt": "PickleTensor", "gguf": "GGUF", "onnx": "ONNX",
               "diffuser": "Diffusers", "diffusers": "Diffusers"}
_MODEL_PAGE = re.compile(r"^/models/(\d+)(?:/[^/]*)?/?$")
_VERSION_PAGE = re.compile(r"^/model-versions/(\d+)/?$")
_DOWNLOAD = re.compile(r"^/api/download/models/(\d+)/?$")
_API_VERSION = re.compile(r"^/api/v1/model-versions/(\d+)/?$")
_API_MODEL = re.compile(r"^/api/v1/models/(\d+)/?$")
_BY_HASH = re.compile(r"^/api/v1/model-versions/by-hash/([0-9A-Fa-f]{8,64})/?$")


@dataclass
class CivitaiLink:
    """What a link names. ``model_id`` alone means "the model's newest published version"."""

    model_id: int | None = None
    version_id: int | None = None
    file_filters: dict[str, str] = field(default_factory=dict)
    url_token: str | None = field(default=None, repr=False)  # a key pasted in ``?token=``
    host: str | None = None  # public host the link was on (civitai.red matters for NSFW models)
    file_hash: str | None = None  # a by-hash link: the version is looked up by this file hash


def normalize_host(host: str) -> str:
    host = (host or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def is_civitai_host(host: str, extra_hosts: tuple[str, ...] = ()) -> bool:
    return normalize_host(host) in PUBLIC_HOSTS or (host or "").lower() in extra_hosts


def netloc_key(url: str) -> str:
    """``host:port`` of an http(s) URL with the default port filled in ("" when it has none)."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return ""
    return f"{(parts.hostname or '').lower().rstrip('.')}:{port}" if parts.hostname else ""


def link_from_air(air: Air) -> CivitaiLink:
    """A Civitai AIR: the id is the model id, the version the version id, ``+N`` the file id."""
    numbers = (air.id, air.version or "1", air.file_id or "1")
    if not all(part.isdigit() and int(part) > 0 for part in numbers):
        raise invalid(air.text, "a Civitai AIR names the model, version and file by their numeric ids")
    filters: dict[str, str] = {}
    if air.file_id:
        filters["fileId"] = air.file_id
    if air.format and air.format.lower() in AIR_FORMATS:
        filters["format"] = AIR_FORMATS[air.format.lower()]
    return CivitaiLink(model_id=int(air.id), version_id=int(air.version) if air.version else None,
                       file_filters=filters)


def parse_civitai_link(text: str, extra_netlocs: tuple[str, ...] = ()) -> CivitaiLink | None:
    """Parse ``text`` or return None when it is not a Civitai link at all.

    ``extra_netlocs`` are ``host:port`` strings that also count as Civitai (the configured
    ``CIVITAI_BASE_URL``).  A Civitai link with no usable id gives None too, so that the
    caller can report it (see ``CivitaiSource.resolve``).  An AIR that names Civitai but is
    malformed raises ``InvalidInput``.
    """
    text = (text or "").strip()
    if re.match(r"^(www\.)?civitai\.(com|red|green)/", text, re.IGNORECASE):
        text = "https://" + text  # a link pasted without its scheme
    air = parse_air(text)
    if air is not None:
        return link_from_air(air) if air.source == "civitai" else None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = normalize_host(parts.hostname)
    extra = {netloc_key(n) for n in extra_netlocs}
    if host not in PUBLIC_HOSTS and netloc_key(text) not in extra:
        return None
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    link = CivitaiLink(host=host if host in PUBLIC_HOSTS else None)
    token = query.get("token")
    link.url_token = token or None
    path = re.sub(r"/{2,}", "/", parts.path)
    if match := _MODEL_PAGE.match(path):
        link.model_id = int(match.group(1))
        if query.get("modelVersionId", "").isdigit():
            link.version_id = int(query["modelVersionId"])
    elif match := (_VERSION_PAGE.match(path) or _API_VERSION.match(path)):
        link.version_id = int(match.group(1))
    elif match := _DOWNLOAD.match(path):
        link.version_id = int(match.group(1))
        link.file_filters = {k: v for k, v in query.items() if k in FILE_FILTERS and v}
    elif match := _API_MODEL.match(path):
        link.model_id = int(match.group(1))
        if query.get("modelVersionId", "").isdigit():
            link.version_id = int(query["modelVersionId"])
    elif match := _BY_HASH.match(path):
        link.file_hash = match.group(1).upper()
    else:
        return CivitaiLink(host=link.host)  # a Civitai page that names no model
    return link
