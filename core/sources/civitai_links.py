"""Every form of Civitai link users paste, reduced to ids and file filters.

Accepted (PROTOCOLS.md §1.1): model pages ``/models/ID[/slug][?modelVersionId=VID]`` and
``/model-versions/VID`` on civitai.com, civitai.red, civitai.green (``www.`` too) or the
configured ``CIVITAI_BASE_URL`` host; download links ``/api/download/models/VID`` with the
``type``/``format``/``size``/``fp``/``quantType``/``fileId`` filters (a ``token`` in the query is
taken out and used as the key, never kept in a URL); API links ``/api/v1/model-versions/VID``
and ``/api/v1/models/ID``; and AIR URNs ``urn:air:{ecosystem}:{type}:civitai:ID[@VID]``.
A link pasted without ``https://`` (``civitai.com/models/ID``) works too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

PUBLIC_HOSTS = ("civitai.com", "civitai.red", "civitai.green")
#: Hosts whose API answers for themselves; other Civitai hosts are served by civitai.com.
API_HOSTS = ("civitai.com", "civitai.red")
#: Query parameters of /api/download that select a file (kept); everything else is dropped.
FILE_FILTERS = ("type", "format", "size", "fp", "quantType", "fileId")

_AIR = re.compile(r"^urn:air:([^:\s]+):([^:\s]+):civitai:(\d+)(?:@(\d+))?(?:[:.][^\s]*)?$", re.IGNORECASE)
_MODEL_PAGE = re.compile(r"^/models/(\d+)(?:/[^/]*)?/?$")
_VERSION_PAGE = re.compile(r"^/model-versions/(\d+)/?$")
_DOWNLOAD = re.compile(r"^/api/download/models/(\d+)/?$")
_API_VERSION = re.compile(r"^/api/v1/model-versions/(\d+)/?$")
_API_MODEL = re.compile(r"^/api/v1/models/(\d+)/?$")


@dataclass
class CivitaiLink:
    """What a link names. ``model_id`` alone means "the model's newest published version"."""

    model_id: int | None = None
    version_id: int | None = None
    file_filters: dict[str, str] = field(default_factory=dict)
    url_token: str | None = field(default=None, repr=False)  # a key pasted in ``?token=``
    host: str | None = None  # public host the link was on (civitai.red matters for NSFW models)


def normalize_host(host: str) -> str:
    host = (host or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def is_civitai_host(host: str, extra_hosts: tuple[str, ...] = ()) -> bool:
    return normalize_host(host) in PUBLIC_HOSTS or (host or "").lower() in extra_hosts


def parse_civitai_link(text: str, extra_netlocs: tuple[str, ...] = ()) -> CivitaiLink | None:
    """Parse ``text`` or return None when it is not a Civitai link at all.

    ``extra_netlocs`` are ``host:port`` strings that also count as Civitai (the configured
    ``CIVITAI_BASE_URL``).  A Civitai link with no usable id gives None too, so that the
    caller can report it (see ``CivitaiSource.resolve``).
    """
    text = (text or "").strip()
    if re.match(r"^(www\.)?civitai\.(com|red|green)/", text, re.IGNORECASE):
        text = "https://" + text  # a link pasted without its scheme
    air = _AIR.match(text)
    if air:
        return CivitaiLink(model_id=int(air.group(3)),
                           version_id=int(air.group(4)) if air.group(4) else None)
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = normalize_host(parts.hostname)
    if host not in PUBLIC_HOSTS and parts.netloc.lower().rsplit("@", 1)[-1] not in extra_netlocs:
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
    else:
        return CivitaiLink(host=link.host)  # a Civitai page that names no model
    return link
