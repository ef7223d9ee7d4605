"""A fake Civitai that answers like the real one (as documented in PROTOCOLS.md), for tests of every part.

Two real HTTP servers: the site/API on 127.0.0.1 and signed storage + images on 127.0.0.2.

Usage::

    with FakeCivitai() as civitai:
        civitai.add_model(100, "My LoRA", "LORA", description="<p>Hi <b>there</b></p>")
        civitai.add_version(100, 200, "v1", base_model="SDXL 1.0", trained_words=["sks"])
        civitai.add_file(200, 300, "my_lora.safetensors", b"...bytes...")
        civitai.add_image(200, nsfw_level=1)
        monkeypatch.setenv("CIVITAI_BASE_URL", civitai.base_url)
        ...
        assert not any(r.has_authorization for r in civitai.storage_requests)

Behaviour knobs (attributes; change them at any time):
- ``valid_keys``: API keys Civitai knows (``Authorization: Bearer`` or ``?token=``); unknown keys
  are treated as anonymous, as Civitai does.
- ``add_version(..., require_auth=True | downloads_disabled=True | early_access_deadline="…Z" |
  archived=True | published=False)``: the download route answers as Civitai does in that case.
- ``api_rate_limit(count, retry_after=None, status=429)``: the next ``count`` v1 API calls get 429
  (or ``status``, e.g. 503); ``retry_after`` seconds, or a string sent as is (an HTTP date).
- ``download_limited = True``: the download limiter's 429 on /api/download.
- ``expire_signatures()``: every signed storage URL issued so far answers 403 from now on.
- ``storage_fault(drop_after=N, expire_on_drop=True)``: the next storage GET closes the
  connection after byte N (and expires signatures when it does); ``storage_delay`` slows it.
- ``api_delay``: seconds every v1 API answer waits (a slow Civitai keeps a scan running).
- ``storage_serves_html = True``: storage answers 200 text/html (a login page) instead of bytes.
- ``HEAD /api/download/models/{vid}`` answers 401 even with a valid key (reported of the real site):
  use GET without following the redirect, or GET with ``Range: bytes=0-0``.

Logs: ``requests`` (all), ``api_requests`` (127.0.0.1), ``storage_requests`` (127.0.0.2).
"""
from __future__ import annotations

import hashlib
import hmac
import io
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .fake_http import FakeServer, FileBody, LoggedRequest, Reply, json_reply

BROWSER_UA = re.compile(r"mozilla|chrome|safari|firefox|opera|edge", re.IGNORECASE)
FILE_TYPES = {"Model", "Text Encoder", "Vision Encoder", "Pruned Model", "Negative", "Training Data",
              "VAE", "Config", "Archive", "UNet", "Diffusion Model", "CLIPVision", "ControlNet",
              "Workflow", "Upscaler", "Enhancement LoRA", "Other"}
FILE_FORMATS = {"SafeTensor", "PickleTensor", "GGUF", "Diffusers", "Core ML", "ONNX", "Other"}
FILE_SIZES = {"full", "pruned"}
MAIN_WEIGHT_TYPES = {"Model", "Pruned Model", "Negative", "Diffusion Model"}
LIMITER_MESSAGE = ("We've noticed an unusual amount of downloading from your account. "
                   "Contact support@civitai.com or come back later.")
LOGIN_HTML = b"<!DOCTYPE html><html><head><title>Sign In | Civitai</title></head><body>Sign in</body></html>"


def civitai_hashes(data: bytes) -> dict[str, str]:
    """The ``hashes`` object Civitai shows for a file (upper-case hex)."""
    sha = hashlib.sha256(data).hexdigest().upper()
    return {
        "AutoV1": hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8].upper(),
        "AutoV2": sha[:10],
        "SHA256": sha,
        "CRC32": f"{zlib.crc32(data) & 0xFFFFFFFF:08X}",
        "BLAKE3": hashlib.blake2s(data).hexdigest().upper(),  # stand-in: blake3 is not in the stdlib
        "AutoV3": hashlib.sha256(data[8:]).hexdigest()[:12].upper(),
    }


def make_image(fmt: str = "JPEG", color: tuple[int, int, int] = (200, 30, 60), size=(16, 24)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


@dataclass
class FakeFile:
    id: int
    name: str
    data: bytes
    type: str = "Model"
    metadata: dict[str, Any] = field(default_factory=dict)
    primary: bool = False

    def score(self, preferences: dict[str, str] | None = None) -> float:
        """Civitai's file score; a download link's format/size/fp/quantType are the preferences."""
        prefs = {"format": "SafeTensor", "size": "pruned", "fp": "fp16", "quantType": "Q4_K_M", **(preferences or {})}
        meta = self.metadata
        value = 1000.0 if self.type in MAIN_WEIGHT_TYPES else 0.0
        for key, weight in (("format", 100), ("size", 10), ("fp", 1), ("quantType", 0.5)):
            value += weight if meta.get(key) == prefs[key] else -weight
        return value


@dataclass
class FakeImage:
    id: int
    nsfw_level: int
    data: bytes
    ext: str
    media_type: str = "image"


@dataclass
class FakeVersion:
    id: int
    model_id: int
    name: str
    base_model: str = "SD 1.5"
    trained_words: list[str] = field(default_factory=list)
    description: str | None = None
    files: list[FakeFile] = field(default_factory=list)
    images: list[FakeImage] = field(default_factory=list)
    require_auth: bool = False
    downloads_disabled: bool = False
    early_access_deadline: str | None = None
    early_access_keys: set[str] = field(default_factory=set)
    archived: bool = False
    published: bool = True
    published_at: str = "2026-01-01T00:00:00.000Z"


@dataclass
class FakeModel:
    id: int
    name: str
    type: str
    description: str | None = None
    nsfw: bool = False
    versions: list[FakeVersion] = field(default_factory=list)


class FakeCivitai:
    """See the module docstring. Thread-safe enough for tests: knobs are plain attributes."""

    def __init__(self) -> None:
        self.models: dict[int, FakeModel] = {}
        self.versions: dict[int, FakeVersion] = {}
        self.valid_keys: set[str] = set()
        self.download_limited = False
        self.storage_serves_html = False
        self.storage_delay = 0.0
        self.api_delay = 0.0
        self.signature_ttl = 86400.0
        self._lock = threading.Lock()
        self._api_limit = 0
        self._api_retry_after: float | str | None = None
        self._api_limit_status = 429
        self._signatures: dict[str, float] = {}  # signature -> expiry (time.time())
        self._secret = b"fake-civitai-signing-key"
        self._fault: dict[str, Any] | None = None
        self._next_image_id = 9000
        self.api = FakeServer("127.0.0.1", self._handle_api)
        self.storage = FakeServer("127.0.0.2", self._handle_storage)

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.api.url

    def close(self) -> None:
        self.api.close()
        self.storage.close()

    def __enter__(self) -> "FakeCivitai":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- registering content -------------------------------------------------------------
    def add_model(self, model_id: int, name: str, model_type: str, *, description: str | None = None,
                  nsfw: bool = False) -> FakeModel:
        model = FakeModel(model_id, name, model_type, description, nsfw)
        self.models[model_id] = model
        return model

    def add_version(self, model_id: int, version_id: int, name: str, **options: Any) -> FakeVersion:
        """Options: base_model, trained_words, description, require_auth, downloads_disabled,
        early_access_deadline, early_access_keys, archived, published, published_at.
        Versions added later are listed first by /models/{id} (newest first)."""
        version = FakeVersion(version_id, model_id, name, **options)
        self.versions[version_id] = version
        self.models[model_id].versions.insert(0, version)
        return version

    def add_file(self, version_id: int, file_id: int, name: str, data: bytes, *, file_type: str = "Model",
                 format: str | None = "SafeTensor", size: str | None = "pruned", fp: str | None = "fp16",
                 quant_type: str | None = None, primary: bool | None = None) -> FakeFile:
        """``primary`` defaults to "the best-scoring file of the version" as Civitai computes it."""
        metadata = {k: v for k, v in (("format", format), ("size", size), ("fp", fp),
                                      ("quantType", quant_type)) if v is not None}
        item = FakeFile(file_id, name, data, file_type, metadata)
        version = self.versions[version_id]
        version.files.append(item)
        if primary is None:
            best = max(version.files, key=lambda f: f.score())
            for f in version.files:
                f.primary = f is best
        else:
            if primary:
                for f in version.files:
                    f.primary = False
            item.primary = primary
        return item

    def add_image(self, version_id: int, nsfw_level: int = 1, *, fmt: str = "JPEG",
                  data: bytes | None = None, media_type: str = "image",
                  color: tuple[int, int, int] = (200, 30, 60)) -> str:
        """Adds an example image served from the storage host; returns its URL."""
        self._next_image_id += 1
        ext = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}.get(fmt, fmt.lower())
        image = FakeImage(self._next_image_id, nsfw_level, data if data is not None else make_image(fmt, color), ext,
                          media_type)
        self.versions[version_id].images.append(image)
        return self.image_url(image)

    def image_url(self, image: FakeImage) -> str:
        return f"{self.storage.url}/images/xG1nkqKTMzGDvpLrqFT7WA/original=true/{image.id}.{image.ext}"

    # -- knobs ---------------------------------------------------------------------------
    def api_rate_limit(self, count: int, retry_after: float | str | None = None, status: int = 429) -> None:
        with self._lock:
            self._api_limit = count
            self._api_retry_after = retry_after
            self._api_limit_status = status

    def expire_signatures(self) -> None:
        with self._lock:
            self._signatures.clear()

    def storage_fault(self, drop_after: int, expire_on_drop: bool = True) -> None:
        self._fault = {"drop_after": drop_after, "expire": expire_on_drop}

    # -- logs ----------------------------------------------------------------------------
    @property
    def requests(self) -> list[LoggedRequest]:
        return self.api.requests + self.storage.requests

    @property
    def api_requests(self) -> list[LoggedRequest]:
        return self.api.requests

    @property
    def storage_requests(self) -> list[LoggedRequest]:
        return [r for r in self.storage.requests if r.path.startswith("/file/")]

    @property
    def image_requests(self) -> list[LoggedRequest]:
        return [r for r in self.storage.requests if r.path.startswith("/images/")]

    # -- JSON shapes ---------------------------------------------------------------------
    def download_url(self, version: FakeVersion, item: FakeFile | None = None) -> str:
        url = f"{self.base_url}/api/download/models/{version.id}"
        if item is None or item.primary:
            return url
        query = {"type": item.type, **{k: v for k, v in item.metadata.items()}}
        if item.type == "Training Data":
            query.pop("format", None)
        return f"{url}?{urlencode(query)}"

    def version_json(self, version: FakeVersion, *, for_model_route: bool = False) -> dict[str, Any]:
        model = self.models[version.model_id]
        files = [] if version.archived else [self._file_json(version, f, for_model_route) for f in version.files]
        doc: dict[str, Any] = {
            "id": version.id, "modelId": version.model_id, "name": version.name,
            "description": version.description, "baseModel": version.base_model, "baseModelType": "Standard",
            "air": f"urn:air:sd1:{model.type.lower()}:civitai:{model.id}@{version.id}",
            "status": "Published" if version.published else "Draft", "availability": "Public",
            "nsfwLevel": max([i.nsfw_level for i in version.images] or [1]),
            "createdAt": version.published_at, "updatedAt": version.published_at,
            "publishedAt": version.published_at, "uploadType": "Created", "usageControl": "Download",
            "trainedWords": list(version.trained_words), "trainingStatus": None, "trainingDetails": None,
            "earlyAccessConfig": None, "earlyAccessEndsAt": version.early_access_deadline, "paidAccess": None,
            "stats": {"downloadCount": 12, "thumbsUpCount": 3},
            "model": {"name": model.name, "type": model.type, "nsfw": model.nsfw, "poi": False},
            "files": files,
            "images": [self._image_json(i) for i in version.images],
        }
        if files:
            doc["downloadUrl"] = self.download_url(version)
        if for_model_route:
            doc.pop("model")
        return doc

    def _file_json(self, version: FakeVersion, item: FakeFile, for_model_route: bool) -> dict[str, Any]:
        doc = {
            "id": item.id, "name": item.name, "type": item.type, "sizeKB": len(item.data) / 1024,
            "metadata": dict(item.metadata), "pickleScanResult": "Success", "pickleScanMessage": "No Pickle imports",
            "virusScanResult": "Success", "virusScanMessage": None, "scannedAt": version.published_at,
            "hashes": civitai_hashes(item.data), "primary": item.primary,
            "downloadUrl": self.download_url(version, item),
        }
        if for_model_route and not item.primary:
            doc.pop("primary")  # empty fields are removed on /models/{id}
        return doc

    def _image_json(self, image: FakeImage) -> dict[str, Any]:
        return {"url": self.image_url(image), "nsfwLevel": image.nsfw_level, "width": 16, "height": 24,
                "hash": "U5F~?e00", "type": image.media_type, "metadata": {"hash": "x"}, "meta": None,
                "hasMeta": False, "hasPositivePrompt": False, "onSite": False, "remixOfId": None,
                "minor": False, "poi": False}

    def model_json(self, model: FakeModel) -> dict[str, Any]:
        return {
            "id": model.id, "name": model.name, "description": model.description, "type": model.type,
            "nsfw": model.nsfw, "nsfwLevel": 1, "poi": False, "minor": False, "availability": "Public",
            "allowNoCredit": True, "allowCommercialUse": ["Image"], "allowDerivatives": True,
            "allowDifferentLicense": True, "stats": {"downloadCount": 12},
            "creator": {"username": "someone", "image": None}, "tags": ["style"],
            "modelVersions": [self.version_json(v, for_model_route=True) for v in model.versions if v.published],
        }

    # -- the API host ----------------------------------------------------------------------
    def _key_of(self, request: LoggedRequest) -> str | None:
        """Civitai reads the header first (``split(' ')[1]``), the query only without a header."""
        header = request.header("Authorization")
        if header is not None:
            parts = header.split(" ")
            key = parts[1] if len(parts) > 1 else None
        else:
            key = request.query.get("token")
        return key if key in self.valid_keys else None

    def _handle_api(self, request: LoggedRequest) -> Reply:
        path = request.path
        if path.startswith("/api/v1/"):
            return self._handle_v1(request)
        match = re.fullmatch(r"/api/download/models/(\d+)", path)
        if match and request.method == "HEAD":  # reported: HEAD is refused even with a valid key
            return json_reply(401, {"error": "Unauthorized", "message":
                                    "The creator of this asset requires you to be logged in to download it"})
        if match:
            return self._handle_download(request, int(match.group(1)))
        if path == "/login" or path.startswith("/model-versions/") or path.startswith("/models/"):
            return Reply(200, {"Content-Type": "text/html; charset=utf-8"}, LOGIN_HTML)
        return json_reply(404, {"error": "Not found"})

    def _handle_v1(self, request: LoggedRequest) -> Reply:
        if self.api_delay:
            time.sleep(self.api_delay)
        with self._lock:
            if self._api_limit > 0:
                self._api_limit -= 1
                wait = self._api_retry_after
                headers = {} if wait is None else {"Retry-After": wait if isinstance(wait, str) else f"{wait:g}"}
                return Reply(self._api_limit_status, {"Content-Type": "text/plain", **headers}, b"Too Many Requests")
        path = request.path
        match = re.fullmatch(r"/api/v1/model-versions/by-hash/([^/]+)", path)
        if match:
            wanted = match.group(1).upper()
            candidates = [v for v in self.versions.values() if v.published and any(
                wanted in civitai_hashes(f.data).values() for f in v.files)]
            if not candidates:
                return json_reply(404, {"error": "Model not found"})
            best = min(candidates, key=lambda v: (v.published_at, v.id))
            return json_reply(200, self.version_json(best))
        match = re.fullmatch(r"/api/v1/model-versions/([^/]+)", path)
        if match:
            if not match.group(1).isdigit():
                return json_reply(400, {"error": "Expected number, received nan"})
            version = self.versions.get(int(match.group(1)))
            if version is None or not version.published:
                return json_reply(404, {"error": "Model not found"})
            return json_reply(200, self.version_json(version))
        match = re.fullmatch(r"/api/v1/models/([^/]+)", path)
        if match:
            if not match.group(1).isdigit() or int(match.group(1)) > 2**31 - 1:
                return json_reply(400, {"error": "Number must be less than or equal to 2147483647"})
            model = self.models.get(int(match.group(1)))
            if model is None:
                return json_reply(404, {"error": f"No model with id {match.group(1)}"})
            return json_reply(200, self.model_json(model))
        return json_reply(404, {"error": "Not found"})

    def _handle_download(self, request: LoggedRequest, version_id: int) -> Reply:
        browser = bool(BROWSER_UA.search(request.header("User-Agent") or ""))

        def error(status: int, document: dict[str, Any], text: str) -> Reply:
            if browser:
                return Reply(status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode())
            return json_reply(status, document)

        if self.download_limited:
            return error(429, {"error": LIMITER_MESSAGE}, LIMITER_MESSAGE)
        query = request.query
        for name, allowed in (("type", FILE_TYPES), ("format", FILE_FORMATS), ("size", FILE_SIZES)):
            if name in query and query[name] not in allowed:
                return error(400, {"error": f"Invalid enum value for {name}"}, "Bad request")
        key = self._key_of(request)
        version = self.versions.get(version_id)
        if version is None or not version.published:
            return error(404, {"error": "File not found"}, "File not found")
        if version.archived:
            return error(410, {"error": "Model archived, not available for download"},
                         "Model archived, not available for download")
        if version.require_auth and key is None:
            if browser:
                return_url = quote(f"/model-versions/{version_id}", safe="")
                return Reply(307, {"Location": f"/login?returnUrl={return_url}&reason=download-auth"})
            return json_reply(401, {"error": "Unauthorized", "message":
                                    "The creator of this asset requires you to be logged in to download it"})
        if version.downloads_disabled:
            return error(401, {"error": "Unauthorized",
                               "message": "The creator of this asset has disabled downloads on this file"},
                         "The creator of this asset has disabled downloads on this file")
        if version.early_access_deadline and key not in version.early_access_keys:
            if browser:
                return Reply(307, {"Location": f"/model-versions/{version_id}"})
            return json_reply(403, {"error": "Early Access", "deadline": version.early_access_deadline,
                                    "message": "This asset is in Early Access. You can use Buzz access it now!"})
        chosen = self._choose_file(version, query)
        if chosen is None:
            return error(404, {"error": "File not found"}, "File not found")
        return Reply(307, {"Location": self._sign(chosen), "Cache-Control": "no-store, max-age=0"})

    def _choose_file(self, version: FakeVersion, query: dict[str, str]) -> FakeFile | None:
        files = version.files
        if "fileId" in query:
            return next((f for f in files if str(f.id) == query["fileId"]), None)
        if "type" in query:
            files = [f for f in files if f.type == query["type"]]
        if not files:
            return None
        preferences = {k: query[k] for k in ("format", "size", "fp", "quantType") if query.get(k)}
        chosen = max(files, key=lambda f: f.score(preferences))
        for name in ("format", "size", "fp", "quantType"):
            if name in query and name in chosen.metadata and chosen.metadata[name] != query[name]:
                return None
        return chosen

    def _sign(self, item: FakeFile) -> str:
        expires = time.time() + self.signature_ttl
        signature = hmac.new(self._secret, f"{item.id}:{expires}".encode(), hashlib.sha256).hexdigest()
        with self._lock:
            self._signatures[signature] = expires
        disposition = f'attachment; filename="{item.name}"'
        query = urlencode({
            "X-Amz-Expires": str(int(self.signature_ttl)), "response-content-disposition": disposition,
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "fakecred/auto/s3/aws4_request",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": signature,
        }, quote_via=quote)
        return f"{self.storage.url}/file/modelfiles/{item.id}/{quote(item.name, safe='')}?{query}"

    # -- the storage/image host ----------------------------------------------------------
    def _handle_storage(self, request: LoggedRequest) -> Reply:
        match = re.fullmatch(r"/images/[^/]+/[^/]+/(\d+)\.(\w+)", request.path)
        if match:
            image = next((i for v in self.versions.values() for i in v.images if i.id == int(match.group(1))), None)
            if image is None:
                return Reply(404, {"Content-Type": "text/plain"}, b"Not found")
            media = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(image.ext, "video/mp4")
            return Reply(200, {"Content-Type": media}, image.data)
        match = re.fullmatch(r"/file/modelfiles/(\d+)/[^/]+", request.path)
        if not match:
            return Reply(404, {"Content-Type": "application/xml"}, b"<Error><Code>NoSuchKey</Code></Error>")
        if request.has_authorization:
            return Reply(400, {"Content-Type": "application/xml"},
                         b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; "
                         b"only the X-Amz-Algorithm query parameter, Signature query string parameter or the "
                         b"Authorization header should be specified</Message></Error>")
        signature = request.query.get("X-Amz-Signature", "")
        with self._lock:
            expires = self._signatures.get(signature)
        if expires is None or expires < time.time():
            return Reply(403, {"Content-Type": "application/xml"},
                         b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        item = next((f for v in self.versions.values() for f in v.files if f.id == int(match.group(1))), None)
        if item is None:
            return Reply(404, {"Content-Type": "application/xml"}, b"<Error><Code>NoSuchKey</Code></Error>")
        if self.storage_serves_html:
            return Reply(200, {"Content-Type": "text/html; charset=utf-8"}, LOGIN_HTML)
        disposition = request.query.get("response-content-disposition", f'attachment; filename="{item.name}"')
        fault, self._fault = self._fault, None
        body = FileBody(item.data, etag=f'"{hashlib.md5(item.data).hexdigest()}"',
                        extra_headers={"Content-Disposition": disposition},
                        delay=self.storage_delay)
        if fault is not None:
            body.drop_after = fault["drop_after"]
            if fault["expire"]:
                body.on_drop = self.expire_signatures
        return Reply(200, {}, body)
