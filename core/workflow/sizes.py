"""Sizes of missing models from metadata requests only, and only to hosts the policy allows.

Hub links: the ``HEAD`` the Hub answers with ``X-Linked-Size`` (the CDN redirect is not followed);
Civitai links: the version's file list (``sizeKB``, rounded by Civitai); other links: ``HEAD``
without following redirects.  Failures only leave the size unknown.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from .listing import MISSING, Reference

if TYPE_CHECKING:
    from ..http import HttpClient
    from ..settings import Settings

log = logging.getLogger(__name__)

SIZE_WORKERS = 8
HEAD_TIMEOUT = (5.0, 10.0)


def fill_sizes(references: list[Reference], settings: "Settings", http: "HttpClient") -> None:
    """Set ``size`` on the missing references whose link allows a metadata request."""
    todo = [r for r in references if r.status == MISSING and r.size is None and r.raw_url]
    if not todo:
        return
    by_url: dict[str, list[Reference]] = {}
    for ref in todo:
        by_url.setdefault(ref.raw_url, []).append(ref)
    with ThreadPoolExecutor(max_workers=min(SIZE_WORKERS, len(by_url)), thread_name_prefix="workflow-size") as pool:
        sizes = list(pool.map(lambda url: _size_of(url, settings, http), list(by_url)))
    for (url, refs), size in zip(by_url.items(), sizes):
        for ref in refs:
            ref.size = size


def _size_of(url: str, settings: "Settings", http: "HttpClient") -> int | None:
    from ..sources.civitai import CivitaiSource, pick_file
    from ..sources.civitai_links import parse_civitai_link
    from ..sources.huggingface import HuggingFaceSource

    try:
        hub = HuggingFaceSource(settings, http, retries=0)
        if hub.matches(url):
            return hub.resolve(url).size
        civitai = CivitaiSource(settings, http)
        if civitai.matches(url):
            link = parse_civitai_link(url, civitai._extra_netlocs())
            if link is None or link.version_id is None:
                return None
            client = civitai.client_for(link)
            client.retries = 0
            item = pick_file(client.get_version(link.version_id), link.file_filters)
            size_kb = item.get("sizeKB")
            return int(round(float(size_kb) * 1024)) if isinstance(size_kb, (int, float)) else None
        with http.request("HEAD", url, timeout=HEAD_TIMEOUT, follow_redirects=False) as response:
            length = response.headers.get("Content-Length") if response.status == 200 else None
        return int(length) if length and length.isdigit() else None
    except Exception as exc:  # a size is a bonus: never fail a listing for it
        log.debug("no size for a workflow model (%s)", type(exc).__name__)
        return None
