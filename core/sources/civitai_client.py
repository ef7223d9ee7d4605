"""The Civitai v1 API client (also used by the scanner for by-hash lookups).

``CivitaiClient(settings, http, base_url=None)``:
- ``get_version(version_id) -> dict``: ``GET /api/v1/model-versions/{id}``
- ``get_model(model_id) -> dict``: ``GET /api/v1/models/{id}``
- ``version_by_hash(sha256_hex) -> dict | None``: ``GET /api/v1/model-versions/by-hash/{hash}``;
  None when Civitai does not know the hash (404 "Model not found")
- ``check_download(download_url, version_id, model_id)``: GET the download route without
  following its redirect, so that login/early-access/archived answers become clear errors
  before any byte is written (HEAD is reported to answer 401 even with a valid key).

Errors are ``core.errors`` types with messages that say what to do.  429 and 5xx answers and
dropped connections are retried by ``core.retry`` (``API_RETRY``: backoff with jitter from 1 s to
30 s, ``Retry-After`` honoured); the last failure is raised (``RateLimited`` carries ``retry_after``).

The key (settings ``civitai_api_key`` or ``CIVITAI_API_TOKEN``) travels only as
``Authorization: Bearer`` to the API's own origin: ``HttpClient`` drops it on any redirect that
leaves it, which is what Civitai's signed storage needs (it answers 400 to a request with both
a signature and an Authorization header).  The User-Agent is never browser-like: Civitai serves
browsers HTML login pages instead of JSON errors.
"""
from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from ..errors import AccessDenied, AuthRequired, InvalidInput, ModelManagerError, NotFound, RateLimited, RemoteError
from ..http import HttpClient, origin_of
from ..retry import API_RETRY, RetryPolicy, retry_after_seconds

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://civitai.com"
KEY_HINT = "set it in the settings or CIVITAI_API_TOKEN"
KEY_PAGE = "https://civitai.com/user/account"
API_TIMEOUT = (15.0, 60.0)


def base_url_from_env(environ=os.environ) -> str:
    return (environ.get("CIVITAI_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")


class CivitaiClient:
    """Talks to the Civitai v1 API at ``base_url`` (default ``$CIVITAI_BASE_URL`` or civitai.com)."""

    def __init__(self, settings: "Settings", http: HttpClient, base_url: str | None = None, *,
                 api_key: str | None = None, retry: RetryPolicy = API_RETRY, retries: int | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """``retries`` (tries after the first) overrides ``retry.max_tries`` for callers that
        only want one quick answer."""
        self.settings = settings
        self.http = http
        self.base_url = (base_url or base_url_from_env()).rstrip("/")
        self._api_key = api_key  # a key given for this client only (e.g. ``?token=`` in a link)
        if api_key:
            settings.redactor.add(api_key)
        self.retry = retry.with_retries(retries)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"CivitaiClient(base_url={self.base_url!r}, key_set={bool(self.api_key())})"

    # -- keys --------------------------------------------------------------------------------
    def api_key(self) -> str | None:
        return self._api_key or self.settings.civitai_api_key()

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    # -- API -----------------------------------------------------------------------------------
    def get_version(self, version_id: int | str) -> dict:
        page = self.version_page(version_id=version_id)
        return self._get_json(f"/api/v1/model-versions/{_id(version_id)}", what=f"model version {version_id}",
                              page=page)

    def get_model(self, model_id: int | str) -> dict:
        return self._get_json(f"/api/v1/models/{_id(model_id)}", what=f"model {model_id}",
                              page=f"{self.base_url}/models/{model_id}")

    def version_by_hash(self, sha256_hex: str) -> dict | None:
        digest = (sha256_hex or "").strip()
        if not digest or not all(c in "0123456789abcdefABCDEF" for c in digest):
            raise InvalidInput("a hex file hash is required to look a model up on Civitai")
        try:
            return self._get_json(f"/api/v1/model-versions/by-hash/{digest.upper()}",
                                  what=f"a model with hash {digest[:12]}…", page=self.base_url)
        except NotFound:
            return None

    def version_page(self, *, version_id: int | str, model_id: int | str | None = None) -> str:
        if model_id is not None:
            return f"{self.base_url}/models/{model_id}?modelVersionId={version_id}"
        return f"{self.base_url}/model-versions/{version_id}"

    def check_download(self, download_url: str, *, version_id: int, model_id: int | None = None) -> None:
        """Ask the download route once without following its redirect; raise a clear error
        for every answer that is not a redirect to the file."""
        page = self.version_page(version_id=version_id, model_id=model_id)
        # No retries here: the download limiter's 429 means "come back later", not "in a second".
        response = self._send(download_url, follow_redirects=False, retries=0)
        with response:
            status = response.status
            content_type = (response.headers.get("Content-Type") or "").lower()
            if status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location") or ""
                target = urlsplit(location)
                same_site = not target.netloc or origin_of(location) == origin_of(download_url)
                if same_site and target.path.startswith("/login"):
                    raise self._login_error(page)
                if same_site and target.path.startswith(("/model-versions/", "/models/")):
                    raise AccessDenied(f"Civitai does not let this account download the file yet; "
                                       f"see {page}")
                return
            if status == 200:
                if "text/html" in content_type:
                    raise RemoteError(f"Civitai answered with a web page instead of the model file; "
                                      f"check the link and your API key ({KEY_HINT})")
                return
            body = _json_or_text(response.text(64 * 1024))
        raise self._error_for(status, body, response.headers, what=f"a file of model version {version_id}",
                              page=page, download=True)

    # -- plumbing ------------------------------------------------------------------------------
    def _send(self, url: str, *, follow_redirects: bool = True, retries: int | None = None):
        """One request with retries for dropped connections, 429 and 5xx."""
        policy = self.retry.with_retries(retries)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http.request("GET", url, headers={"Accept": "application/json"},
                                             auth_headers=self.auth_headers(), timeout=API_TIMEOUT,
                                             follow_redirects=follow_redirects)
            except OSError as exc:  # any transport failure
                if policy.gives_up_after(attempt):
                    raise RemoteError(f"could not reach Civitai at {self.base_url} "
                                      f"({type(exc).__name__}); check the connection or try again later") from None
                wait = policy.delay(attempt)
            else:
                if response.status != 429 and response.status < 500 or policy.gives_up_after(attempt):
                    return response
                wait = policy.delay(attempt, retry_after_seconds(response.headers))
                response.close()
            log.info("Civitai is busy or unreachable; retrying in %.1f s", wait)
            self._sleep(wait)

    def _get_json(self, path: str, *, what: str, page: str) -> dict:
        response = self._send(self.base_url + path)
        with response:
            if response.status == 200:
                content_type = (response.headers.get("Content-Type") or "").lower()
                text = response.text(64 << 20)
                if "html" in content_type:
                    raise RemoteError(f"Civitai answered {what} with a web page instead of JSON; "
                                      f"is CIVITAI_BASE_URL ({self.base_url}) right?")
                try:
                    document = json.loads(text)
                except (ValueError, RecursionError):
                    raise RemoteError(f"Civitai answered {what} with something that is not JSON") from None
                if not isinstance(document, dict):
                    raise RemoteError(f"Civitai answered {what} with unexpected JSON")
                return document
            body = _json_or_text(response.text(64 * 1024))
        raise self._error_for(response.status, body, response.headers, what=what, page=page, download=False)

    def _login_error(self, page: str) -> AuthRequired:
        if self.api_key():
            return AuthRequired(
                "Civitai did not accept the API key (it treats an unknown or expired key as no key) and "
                f"the creator of this model requires you to be logged in to download it: check the key "
                f"({KEY_HINT}; create one at {KEY_PAGE}); model page: {page}")
        return AuthRequired(f"this model needs a Civitai API key: {KEY_HINT} "
                            f"(create one at {KEY_PAGE}); model page: {page}")

    def _error_for(self, status: int, body: Any, headers, *, what: str, page: str,
                   download: bool) -> ModelManagerError:
        error = body.get("error") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        text = " ".join(str(x) for x in (error, message) if x) if isinstance(body, dict) else str(body or "")
        text = self.settings.redactor(text.strip())[:300]
        lowered = text.lower()
        if status == 401:
            if "disabled downloads" in lowered:
                return AccessDenied("the creator of this Civitai model has disabled downloads of this file "
                                    f"(it can only be used for generation on Civitai); model page: {page}")
            return self._login_error(page)
        if status == 403:
            if isinstance(body, dict) and str(error).lower() == "early access":
                when = _format_deadline(body.get("deadline"))
                until = f" until {when}" if when else ""
                return AccessDenied(
                    f"this Civitai model version is in Early Access{until}: it can be downloaded after that, "
                    f"or now by buying early access on {page} (then use that account's API key: {KEY_HINT})")
            if "do not have access" in lowered:
                return AccessDenied(f"your Civitai account does not have access to download this file; "
                                    f"see {page}")
            return AccessDenied(f"Civitai refused access to {what} ({text or 'HTTP 403'}); "
                                f"if it needs an account, {KEY_HINT}; see {page}")
        if status == 404:
            if download:
                return NotFound(f"Civitai has no downloadable file for this link ({text or 'File not found'}): "
                                f"the version may be unpublished or removed, or the type/format/size/fp "
                                f"options match no file; see {page}")
            return NotFound(f"Civitai has no {what} ({text or 'not found'}); check the link: {page}")
        if status == 410:
            return NotFound(f"this Civitai model is archived and its files can no longer be downloaded; see {page}")
        if status == 429:
            retry_after = retry_after_seconds(headers)
            detail = f" ({text})" if download and text and len(text) < 200 else ""
            return RateLimited(f"Civitai is rate limiting requests{detail}; wait a little and try again",
                               retry_after=retry_after)
        if status == 400:
            return InvalidInput(f"Civitai rejected the request for {what}: {text or 'bad request'}")
        return RemoteError(f"Civitai answered HTTP {status} for {what}"
                           + (f": {text}" if text and "<html" not in lowered else "")
                           + "; try again later")


def _id(value: int | str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{value!r} is not a Civitai id (a whole number)") from None
    if number <= 0:
        raise InvalidInput(f"{value!r} is not a Civitai id (a whole number)")
    return number


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _format_deadline(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value[:40]
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
