"""Every form of Hugging Face link users paste, reduced to repo, revision and file path.

Accepted: ``https://huggingface.co/{repo}/{resolve|blob|raw|blame}/{rev}/{path}`` on huggingface.co,
hf.co (``www.`` too) or the ``HF_ENDPOINT`` host, with ``datasets/`` or ``spaces/`` before the repo,
any revision (a branch, a tag, a commit, ``refs/pr/N`` written plain or as ``refs%2Fpr%2FN``),
subfolders and any query (``?download=true``); ``hf://[datasets/]owner/repo/path[@rev]``; and the
shorthand ``owner/repo/path/to/file.ext[@rev]``; and AIRs naming the Hub
(``urn:air:sdxl:vae:huggingface:owner/repo/path/file.safetensors[@rev]``, whose type gives the folder).  ``blob`` (the viewer page) and ``raw`` (pointer
text for LFS files) are downloaded through ``resolve``; a Hub link pasted without ``https://`` works too.  Repository and folder pages
(``/{repo}``, ``/tree/…``) are recognised so that the user is told to link a file instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .air import Air, invalid, parse_air

HUB_HOSTS = ("huggingface.co", "hf.co")
FILE_ACTIONS = ("resolve", "blob", "raw", "blame")
FOLDER_ACTIONS = ("tree", "commits", "discussions", "settings")
TYPE_PREFIXES = {"datasets": "dataset", "spaces": "space"}
#: File extensions the shorthand must end with (so that "a/b/c" is not taken for a file).
SHORTHAND_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl", ".gguf",
                        ".onnx", ".json", ".yaml", ".yml", ".txt", ".model", ".zip", ".tar", ".npz")

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_SHORTHAND = re.compile(
    rf"^(?:(?P<prefix>datasets|spaces)/)?(?P<owner>{_NAME})/(?P<name>{_NAME})(?:@(?P<rev1>[^/@\s]+))?"
    rf"/(?P<path>[^@\s]+?)(?:@(?P<rev2>[^@\s]+))?$"
)


@dataclass(frozen=True)
class HfLink:
    repo_id: str
    repo_type: str = "model"  # model | dataset | space
    revision: str = "main"
    path: str | None = None  # None: the link names a repository or a folder, not a file
    action: str = "resolve"
    model_type: str | None = None  # the folder an AIR's type names (Hub files say nothing of it)

    @property
    def url_prefix(self) -> str:
        return {"dataset": "datasets/", "space": "spaces/"}.get(self.repo_type, "")


def normalize_host(host: str) -> str:
    host = (host or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def parse_hf_link(text: str, extra_netlocs: tuple[str, ...] = ()) -> HfLink | None:
    """Parse ``text`` or return None when it is not a Hugging Face link or shorthand."""
    text = (text or "").strip()
    if not text:
        return None
    if text.lower().startswith("hf://"):
        return _parse_shorthand(text[5:])
    air = parse_air(text)
    if air is not None:
        return link_from_air(air) if air.source == "huggingface" else None
    if re.match(r"^(www\.)?(huggingface\.co|hf\.co)/", text, re.IGNORECASE):
        text = "https://" + text  # a link pasted without its scheme
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme:
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        netloc = parts.netloc.lower().rsplit("@", 1)[-1]
        if normalize_host(parts.hostname) not in HUB_HOSTS and netloc not in extra_netlocs:
            return None
        return _parse_path(parts.path)
    return _parse_shorthand(text)


def _parse_path(path: str) -> HfLink | None:
    segments = [s for s in path.split("/") if s]
    repo_type = "model"
    if segments and segments[0] in TYPE_PREFIXES:
        repo_type = TYPE_PREFIXES[segments[0]]
        segments = segments[1:]
    if not segments or segments[0] in ("api", "docs", "blog", "models", "papers", "settings", "login", "join"):
        return None if repo_type == "model" else HfLink("", repo_type)
    # a repo id is owner/name, except old namespace-less models ("gpt2/resolve/main/x")
    if len(segments) >= 2 and segments[1] not in FILE_ACTIONS + FOLDER_ACTIONS:
        repo_id, rest = "/".join(segments[:2]), segments[2:]
    else:
        repo_id, rest = segments[0], segments[1:]
    if not rest or rest[0] not in FILE_ACTIONS:
        revision = unquote(rest[1]) if len(rest) > 1 and rest[0] == "tree" else "main"
        return HfLink(repo_id, repo_type, revision, None, rest[0] if rest else "")
    action, rest = rest[0], rest[1:]
    if not rest:
        return HfLink(repo_id, repo_type, "main", None, action)
    revision = unquote(rest[0])
    if revision == "refs" and len(rest) >= 3 and rest[1] in ("pr", "convert"):
        revision, rest = "/".join(rest[:3]), rest[3:]
    else:
        rest = rest[1:]
    file_path = unquote("/".join(rest))
    return HfLink(repo_id, repo_type, revision, file_path or None, action)


def link_from_air(air: Air) -> HfLink:
    """A Hub AIR: the id is ``[datasets/|spaces/]owner/repo/path/to/file``, the version a revision."""
    link = _parse_shorthand(f"{air.id}@{air.version}" if air.version else air.id)
    if link is None:
        repo = "/".join(air.id.split("/")[:2])
        raise invalid(air.text, f"a Hugging Face AIR names a file, as huggingface:owner/repo/path/file.safetensors"
                                f"{f'; this one names {repo!r} without a model file in it' if repo else ''}")
    return HfLink(link.repo_id, link.repo_type, link.revision, link.path, link.action, air.folder)


def _parse_shorthand(text: str) -> HfLink | None:
    match = _SHORTHAND.match(text.strip())
    if not match:
        return None
    path = match.group("path")
    if not path.lower().endswith(SHORTHAND_EXTENSIONS):
        return None
    if any(part in ("", ".", "..") for part in path.split("/")):
        return None
    revision = match.group("rev2") or match.group("rev1") or "main"
    repo_type = TYPE_PREFIXES.get(match.group("prefix") or "", "model")
    return HfLink(f"{match.group('owner')}/{match.group('name')}", repo_type, revision, path, "resolve")
