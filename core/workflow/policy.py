"""What an untrusted workflow may make us fetch, and where it may put it.

Names: relative, inside the folder (no absolute paths, drive letters, ``..``, hidden parts;
``\\`` counts as a separator), usable as a file name as is, with an extension the folder takes,
in a folder that exists.  Links: http(s) only; the host must be on the allow list (Hugging Face,
Civitai, the ``HF_ENDPOINT`` / ``CIVITAI_BASE_URL`` hosts, the ``workflow_allowed_hosts``
setting) unless the request says ``allow_any_host``; and the host we would connect to must not
be a loopback, private or link-local address (names are resolved to check) unless that exact host
is configured (``HF_ENDPOINT``, ``CIVITAI_BASE_URL`` or the setting).  A Hub or Civitai link is
fetched through ``HF_ENDPOINT`` / ``CIVITAI_BASE_URL`` when those are set, so that is the host checked.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from ..errors import ModelManagerError
from ..model_types import ModelFolders
from ..paths import sanitize_filename, validate_relative_name
from ..sources.civitai_links import PUBLIC_HOSTS as CIVITAI_HOSTS, parse_civitai_link
from ..sources.huggingface_links import HUB_HOSTS, parse_hf_link

BUILTIN_HOSTS = frozenset({*HUB_HOSTS, *CIVITAI_HOSTS, *(f"www.{h}" for h in (*HUB_HOSTS, *CIVITAI_HOSTS))})

Resolver = Callable[[str], list[str]]


def system_resolver(host: str) -> list[str]:
    """Addresses of ``host`` (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos})


def is_internal(address: str) -> bool:
    """Loopback, private, link-local, CGNAT, multicast, reserved or unspecified."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return not ip.is_global


def check_name(folders: ModelFolders, directory: str, name: str) -> str | None:
    """Why ``directory``/``name`` may not be used, or None."""
    try:
        folders.get(directory)
    except ModelManagerError:
        return f"unknown model folder {directory[:60]!r}"
    try:
        validate_relative_name(name)
        base = name.rsplit("/", 1)[-1]
        if sanitize_filename(base) != base:
            return f"{name[:120]!r} has characters that cannot be used in a file name"
        folders.check_extension(directory, name)
    except ModelManagerError as exc:
        return exc.message
    return None


def _netlocs(url: str | None) -> tuple[str, str]:
    """(hostname, host:port) of a configured base URL, lower-case; empty strings when unset."""
    if not url:
        return "", ""
    parts = urlsplit(url.strip())
    return (parts.hostname or "").lower(), parts.netloc.lower().rsplit("@", 1)[-1]


@dataclass
class HostPolicy:
    """The allow list for one request (build with ``from_settings``)."""

    configured: frozenset[str]  # exact hosts the user configured (host or host:port)
    hf_endpoint: str | None = None
    civitai_base: str | None = None
    resolver: Resolver = system_resolver
    _cache: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, extra_hosts: Iterable[str] = (), environ: Mapping[str, str] = os.environ,
                      resolver: Resolver = system_resolver) -> "HostPolicy":
        hf = (environ.get("HF_ENDPOINT") or "").strip().rstrip("/") or None
        civitai = (environ.get("CIVITAI_BASE_URL") or "").strip().rstrip("/") or None
        configured = {h.strip().lower().rstrip(".") for h in extra_hosts if h and h.strip()}
        for base in (hf, civitai):
            configured.update(n for n in _netlocs(base) if n)
        return cls(frozenset(configured), hf, civitai, resolver)

    def connect_netloc(self, url: str) -> tuple[str, str]:
        """(hostname, host:port) we would connect to for ``url``."""
        parts = urlsplit(url)
        own = ((parts.hostname or "").lower(), parts.netloc.lower().rsplit("@", 1)[-1])
        hf_extra = tuple(n for n in _netlocs(self.hf_endpoint)[1:] if n)
        if self.hf_endpoint and parse_hf_link(url, hf_extra) is not None:
            return _netlocs(self.hf_endpoint)
        cv_extra = tuple(n for n in _netlocs(self.civitai_base)[1:] if n)
        if self.civitai_base and parse_civitai_link(url, cv_extra) is not None:
            return _netlocs(self.civitai_base)
        return own

    def is_configured(self, host: str, netloc: str) -> bool:
        return host in self.configured or netloc in self.configured

    def check_url(self, url: str, allow_any_host: bool = False) -> str | None:
        """Why ``url`` may not be fetched, or None."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            return "the link is not a valid URL"
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            return f"only http(s) links are fetched (this one is {scheme or 'without a scheme'})"
        if not parts.hostname:
            return "the link has no host"
        host = parts.hostname.lower().rstrip(".")
        netloc = parts.netloc.lower().rsplit("@", 1)[-1]
        if not allow_any_host and host not in BUILTIN_HOSTS and not self.is_configured(host, netloc):
            return (f"{host} is not on the list of allowed hosts (Hugging Face, Civitai, the "
                    "workflow_allowed_hosts setting); allow it there or ask with allow_any_host")
        target_host, target_netloc = self.connect_netloc(url)
        if self.is_configured(target_host, target_netloc):
            return None
        internal = [a for a in self.addresses(target_host) if is_internal(a)]
        if internal:
            return (f"{target_host} is a loopback, private or link-local address ({internal[0]}); "
                    "such hosts are fetched only when listed in workflow_allowed_hosts")
        return None

    def addresses(self, host: str) -> list[str]:
        try:
            ipaddress.ip_address(host.strip("[]"))
            return [host.strip("[]")]
        except ValueError:
            pass
        with self._lock:
            if host in self._cache:
                return self._cache[host]
        found = self.resolver(host)
        with self._lock:
            self._cache[host] = found
        return found
