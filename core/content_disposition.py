"""File names from ``Content-Disposition`` (RFC 6266, with RFC 8187 ``filename*``).

Returns the raw name the server suggested; callers must still sanitise it
(``core.paths.sanitize_filename``) because it is remote input.

Many servers (Civitai's storage among them) put the name in ``filename="…"`` as raw UTF-8
bytes.  HTTP clients (``http.client`` under requests, aiohttp) hand header values over decoded
as ISO-8859-1, so such a name arrives as mojibake (``ä`` as ``Ã¤``).  The value's characters are
then exactly the bytes that were sent: they are read as UTF-8 when they are valid UTF-8, and
kept as ISO-8859-1 (the old HTTP default) otherwise.
"""
from __future__ import annotations

import re
from urllib.parse import unquote, unquote_to_bytes, urlsplit

_PARAM = re.compile(
    r""";\s*([A-Za-z0-9!#$&+.^_`|~-]+\*?)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)""",
)


def filename_from_content_disposition(value: str | None) -> str | None:
    """``filename*`` (UTF-8 or ISO-8859-1, percent-encoded) wins over ``filename``."""
    if not value:
        return None
    value = utf8_header_value(value)
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(";" + value.split(";", 1)[1] if ";" in value else ""):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(name.lower(), raw)
    extended = params.get("filename*")
    if extended:
        decoded = _decode_ext_value(extended)
        if decoded:
            return decoded
    plain = params.get("filename")
    return plain or None


def utf8_header_value(value: str) -> str:
    """A header value as the server meant it: raw UTF-8 bytes decoded as UTF-8 (see the module
    docstring); anything else unchanged."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # already real text (not decoded from bytes by an HTTP client)
    if raw.isascii():
        return value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _decode_ext_value(value: str) -> str | None:
    """RFC 8187 ``charset'lang'pct-encoded``."""
    match = re.match(r"^([A-Za-z0-9!#$%&+^_`{}~-]*)'[A-Za-z0-9-]*'(.*)$", value.strip().strip('"'))
    if not match:
        return None
    charset = (match.group(1) or "utf-8").lower()
    if charset not in ("utf-8", "iso-8859-1", "us-ascii"):
        return None
    try:
        return unquote_to_bytes(match.group(2)).decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None


def filename_from_url(url: str) -> str | None:
    """The last non-empty path segment of ``url``, percent-decoded."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    name = unquote(segment)
    return name or None
