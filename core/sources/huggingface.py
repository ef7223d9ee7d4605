"""Hugging Face Hub as a download source.

``resolve(link)``: one ``HEAD {HF_ENDPOINT}/{repo}/resolve/{rev}/{path}`` (the metadata request
``hf_hub_download`` makes) without following the redirect to the CDN.  From its headers:
- ``X-Repo-Commit`` is pinned into the URL we download (``…/resolve/{commit}/{path}``), so a
  resume or a restart fetches the same bytes even if the branch moves;
- ``X-Linked-Size`` (LFS) or ``Content-Length`` (git file) is the exact size;
- ``X-Linked-Etag`` is the sha256 of an LFS file and becomes the expected checksum (a git file's
  ``ETag`` is a git blob sha1, not a sha256, and is not used as a checksum).
Errors (``X-Error-Code``/``X-Error-Message``) become messages that name the repository page and
how to set a token.  The token (settings ``huggingface_token``, ``HF_TOKEN`` or huggingface_hub's
saved login) is sent only to the Hub's origin; ``HttpClient`` drops it at the redirect to the CDN.

huggingface_hub is used for URL building (quoting revisions like ``refs/pr/1``) and the saved
login; it is imported only when a Hub link is resolved (it is slow to import).
"""
from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING, Callable
from urllib.parse import quote, urljoin, urlsplit

from ..errors import AccessDenied, AuthRequired, InvalidInput, ModelManagerError, NotFound, RateLimited, RemoteError
from ..http import Headers, HttpClient, origin_of
from ..retry import API_RETRY, RetryPolicy, retry_after_seconds
from .base import ResolvedDownload
from .huggingface_links import HfLink, parse_hf_link

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["HuggingFaceSource", "create_source", "parse_hf_link", "resolve_url"]

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
TOKEN_HINT = ("set a Hugging Face token in the settings (huggingface_token), in HF_TOKEN, "
              "or log in with `hf auth login`")
HEAD_TIMEOUT = (15.0, 30.0)
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: The metadata request is retried twice (a resolve should answer within a minute).
HUB_RETRY = API_RETRY.with_retries(2)
TYPE_HINT = ("Hugging Face files do not say which kind of model they are; choose a model_type "
             "(for example checkpoints, loras, vae or text_encoders)")


def endpoint_from_env(environ=os.environ) -> str:
    return (environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).strip().rstrip("/")


def resolve_url(endpoint: str, link: HfLink, revision: str | None = None) -> str:
    """``{endpoint}/[datasets/|spaces/]{repo}/resolve/{rev}/{path}``, quoted as huggingface_hub does."""
    try:
        from huggingface_hub import hf_hub_url
    except ImportError:  # pragma: no cover - a dependency, but the URL is simple enough
        return (f"{endpoint}/{link.url_prefix}{link.repo_id}/resolve/"
                f"{quote(revision or link.revision, safe='')}/{quote(link.path or '')}")
    return hf_hub_url(link.repo_id, link.path or "", repo_type=link.repo_type,
                      revision=revision or link.revision, endpoint=endpoint)


class HuggingFaceSource:
    name = "huggingface"

    def __init__(self, settings: "Settings", http: HttpClient, endpoint: str | None = None, *,
                 retry: RetryPolicy = HUB_RETRY, retries: int | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.http = http
        self.endpoint = (endpoint or endpoint_from_env()).rstrip("/")
        self.retry = retry.with_retries(retries)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"HuggingFaceSource(endpoint={self.endpoint!r})"

    def _extra_netlocs(self) -> tuple[str, ...]:
        return (urlsplit(self.endpoint).netloc.lower(),)

    def matches(self, url: str) -> bool:
        return parse_hf_link(url, self._extra_netlocs()) is not None

    def page_url(self, link: HfLink) -> str:
        return f"{self.endpoint}/{link.url_prefix}{link.repo_id}"

    def auth_headers(self) -> dict[str, str]:
        token = self.settings.huggingface_token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def resolve(self, url: str) -> ResolvedDownload:
        link = parse_hf_link(url, self._extra_netlocs())
        if link is None:
            raise InvalidInput("not a Hugging Face link")
        if not link.repo_id or link.path is None:
            where = f" ({self.page_url(link)})" if link.repo_id else ""
            raise InvalidInput(
                f"this Hugging Face link names a repository or folder{where}, not a file: open the file "
                "on the Hub and copy its download link (…/resolve/main/file.safetensors), "
                "or write owner/repo/path/file.safetensors")
        auth = self.auth_headers()
        head_url = resolve_url(self.endpoint, link)
        response_headers, status = self._head(head_url, auth, link)
        commit = (response_headers.get("X-Repo-Commit") or "").strip().lower()
        if not _COMMIT.match(commit):
            raise RemoteError(f"{self.endpoint} does not answer like a Hugging Face Hub (no commit id for "
                              f"{link.repo_id}/{link.path}); check HF_ENDPOINT")
        linked_etag = _normalize_etag(response_headers.get("X-Linked-Etag"))
        etag = _normalize_etag(response_headers.get("ETag"))
        size = _int(response_headers.get("X-Linked-Size"))
        if size is None and status == 200:
            size = _int(response_headers.get("Content-Length"))
        sha256 = linked_etag if linked_etag and _SHA256.match(linked_etag) else None
        pinned = resolve_url(self.endpoint, link, commit)
        return ResolvedDownload(
            source=self.name,
            url=pinned,
            display_url=pinned,
            auth_headers=auth,
            filename=link.path.rsplit("/", 1)[-1],
            model_type=link.model_type,
            sha256=sha256,
            size=size,
            etag=f'"{etag}"' if etag and status == 200 else None,  # the resolve URL's own validator
            metadata={
                "huggingface": {"repo_id": link.repo_id, "repo_type": link.repo_type, "revision": link.revision,
                                "commit": commit, "path": link.path, "page": self.page_url(link)},
                "model_type_hint": TYPE_HINT,
            },
        )

    # -- the metadata request ------------------------------------------------------------------
    def _head(self, url: str, auth: dict[str, str], link: HfLink) -> tuple[Headers, int]:
        """HEAD ``url``: same-origin redirects (renamed repos) are followed, the CDN's is not.
        429/5xx/connection failures are retried by ``self.retry``.  The headers come back
        case-insensitive: HTTP/2 servers and proxies send ``x-repo-commit``, ``location``…"""
        attempt = 1
        current = url
        hops = 0
        while True:
            try:
                with self.http.request("HEAD", current, auth_headers=auth if origin_of(current) == origin_of(url)
                                       else None, timeout=HEAD_TIMEOUT, follow_redirects=False) as response:
                    status, headers = response.status, Headers(response.headers)
            except OSError as exc:  # any transport failure
                if self.retry.gives_up_after(attempt):
                    raise RemoteError(f"could not reach the Hugging Face Hub at {self.endpoint} "
                                      f"({type(exc).__name__}); check the connection or try again later") from None
                status, headers = 0, Headers()
            if status in (301, 302, 303, 307, 308) and "X-Repo-Commit" not in headers:
                location = urljoin(current, headers.get("Location") or "")
                if origin_of(location) == origin_of(url) and hops < 5:
                    current, hops = location, hops + 1
                    continue
            if 200 <= status < 400:
                return headers, status
            if status and status != 429 and status < 500:
                raise self._error_for(status, headers, link, bool(auth))
            if self.retry.gives_up_after(attempt):
                raise self._error_for(status, headers, link, bool(auth)) if status else RemoteError(
                    f"could not reach the Hugging Face Hub at {self.endpoint}")
            self._sleep(self.retry.delay(attempt, retry_after_seconds(headers)))
            attempt += 1

    def _error_for(self, status: int, headers: Headers, link: HfLink, token_sent: bool) -> ModelManagerError:
        code = headers.get("X-Error-Code") or ""
        message = self.settings.redactor((headers.get("X-Error-Message") or "").strip())[:300]
        page = self.page_url(link)
        repo = f"{link.url_prefix}{link.repo_id}"
        if code == "GatedRepo":
            if status == 401 or not token_sent:
                return AuthRequired(f"{repo} is a gated repository: accept its conditions on {page} while logged "
                                    f"in, then {TOKEN_HINT}")
            return AccessDenied(f"your Hugging Face token has no access to the gated repository {repo} yet: "
                                f"request access on {page} (approval may take a while), then try again")
        if code == "RepoNotFound" or (status == 401 and not code and not token_sent):
            hint = f"; if it is private or gated, {TOKEN_HINT}" if not token_sent else ""
            return NotFound(f"the Hugging Face repository {repo} was not found ({page}){hint}")
        if code == "RevisionNotFound":
            return NotFound(f"the revision {link.revision!r} does not exist in {repo}; see the branches on {page}")
        if code == "EntryNotFound":
            return NotFound(f"{link.path!r} is not in {repo} at revision {link.revision!r}; "
                            f"check the file list on {page}/tree/{quote(link.revision, safe='')}")
        if status == 401:
            return AuthRequired(f"the Hugging Face Hub did not accept the token ({message or 'invalid credentials'});"
                                f" {TOKEN_HINT} with a valid one")
        if status == 403:
            return AccessDenied(f"the Hugging Face Hub refused access to {repo} ({message or 'forbidden'}); see {page}")
        if status == 429:
            return RateLimited("the Hugging Face Hub is rate limiting requests; wait a little and try again"
                               + ("" if token_sent else f" (logged-in users get higher limits: {TOKEN_HINT})"),
                               retry_after=retry_after_seconds(headers))
        return RemoteError(f"the Hugging Face Hub answered HTTP {status} for {repo}/{link.path}"
                           + (f": {message}" if message else "") + "; try again later")


def _normalize_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower() or None


def _int(value: str | None) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def create_source(settings: "Settings", http: HttpClient) -> HuggingFaceSource:
    return HuggingFaceSource(settings, http)
