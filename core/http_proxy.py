"""Which proxy a request goes through: the ``proxy`` setting, else the environment.

The setting wins when set, and then goes for every host.  Otherwise ``{scheme}_proxy`` or
``all_proxy`` (lower case first, as curl and requests read them), unless ``no_proxy`` names the
host.  Credentials in a proxy URL become a ``Proxy-Authorization`` header (``basic_authorization``).
"""
from __future__ import annotations

import base64
import os
from urllib.parse import unquote, urlsplit


def proxy_for(setting: str | None, scheme: str, host: str, port: int) -> str | None:
    """The proxy URL for a request to ``scheme://host:port``, or None to connect directly."""
    if setting:
        return setting
    proxy = _env(f"{scheme}_proxy") or _env("all_proxy")
    if not proxy or bypasses_proxy(host, port, _env("no_proxy") or ""):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _env(name: str) -> str | None:
    return os.environ.get(name.lower()) or os.environ.get(name.upper()) or None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """``NO_PROXY``: ``*``, host names (``example.com`` also covers its subdomains, a leading
    dot is ignored), ``host:port``, IP addresses and IPv4 networks (``10.0.0.0/8``)."""
    host = host.lower()
    for entry in (e.strip().lower() for e in no_proxy.replace(" ", ",").split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            import ipaddress

            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.lstrip(".")
        if entry.strip("[]") == host or f"{host}:{port}" == entry or host.endswith("." + entry):
            return True
    return False


def basic_authorization(url: str) -> str | None:
    """``Basic ...`` for the ``user:password@`` in ``url`` (a proxy's or a server's), else None."""
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return "Basic " + base64.b64encode(pair).decode()
