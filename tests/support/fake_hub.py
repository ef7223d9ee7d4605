"""A fake Hugging Face Hub that answers like the real one (as documented in PROTOCOLS.md), for tests of every part.

The Hub on 127.0.0.1 and its LFS CDN on 127.0.0.2 (another origin, as huggingface_hub needs).
``huggingface_hub.hf_hub_download`` works against it (see tests/test_huggingface_fake_hub.py).

Usage::

    with FakeHub() as hub:
        hub.add_repo("acme/models")
        commit = hub.add_file("acme/models", "vae/model.safetensors", data)          # LFS (binary ext)
        hub.add_file("acme/models", "README.md", b"# hi")                            # plain git file
        hub.add_file("acme/models", "x.safetensors", b"pr", revision="refs/pr/1")    # another ref
        hub.add_repo("acme/gated", gated="manual", approved_tokens={"hf_ok"})
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        ...
        assert not any(r.has_authorization for r in hub.cdn_requests)

Knobs: ``valid_tokens`` (tokens the Hub knows; an unknown one gets 401 "Invalid credentials"),
``add_repo(gated=..., private=..., disabled=..., repo_type="dataset"|"space")``,
``expire_signatures()`` (CDN URLs issued so far answer 403), ``cdn_fault(drop_after=N, expire_on_drop=…)``,
``rate_limit(count, status=429, retry_after="1")`` (``status`` on the next ``count`` Hub requests,
with that ``Retry-After``, seconds or an HTTP date), ``cdn_delay``, ``lowercase_headers``
(every response header name in lower case on the Hub and the CDN, as HTTP/2 and proxies send them).
It never sends ``X-Xet-Hash`` (a real client would then skip HTTP and need a CAS server).
Logs: ``requests``, ``hub_requests`` (127.0.0.1), ``cdn_requests`` (127.0.0.2).
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from .fake_http import FakeServer, FileBody, LoggedRequest, Reply, json_reply

LFS_EXTENSIONS = (".safetensors", ".ckpt", ".bin", ".pt", ".pth", ".gguf", ".onnx", ".sft", ".pkl", ".zip")
TYPE_PREFIX = {"dataset": "datasets/", "space": "spaces/", "model": ""}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubFile:
    path: str
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def blob_id(self) -> str:
        if self.lfs:  # the git blob of an LFS file is its pointer
            return git_blob_sha1(self.pointer())
        return git_blob_sha1(self.data)

    def pointer(self) -> bytes:
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                f"size {len(self.data)}\n").encode()


@dataclass
class HubRepo:
    repo_id: str
    repo_type: str = "model"
    gated: bool | str = False
    private: bool = False
    disabled: bool = False
    approved_tokens: set[str] = field(default_factory=set)
    refs: dict[str, str] = field(default_factory=dict)  # branch / refs/pr/N -> commit
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return TYPE_PREFIX[self.repo_type] + self.repo_id


class FakeHub:
    """See the module docstring."""

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.renamed: dict[str, str] = {}  # old repo key -> new repo key
        self.valid_tokens: set[str] = set()
        self.cdn_delay = 0.0
        self._lock = threading.Lock()
        self._signatures: dict[str, float] = {}
        self._rate_limit = 0
        self._rate_limit_answer = (429, "1")
        self._fault: int | None = None
        self._expire_on_drop = False
        self.hub = FakeServer("127.0.0.1", self._handle_hub)
        self.cdn = FakeServer("127.0.0.2", self._handle_cdn)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self.hub.url

    def close(self) -> None:
        self.hub.close()
        self.cdn.close()

    def __enter__(self) -> "FakeHub":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- content ---------------------------------------------------------------------------
    def add_repo(self, repo_id: str, *, repo_type: str = "model", gated: bool | str = False,
                 private: bool = False, disabled: bool = False, approved_tokens: set[str] | None = None) -> HubRepo:
        repo = HubRepo(repo_id, repo_type, gated, private, disabled, set(approved_tokens or ()))
        self.repos[repo.key] = repo
        self.valid_tokens |= repo.approved_tokens
        return repo

    def add_file(self, repo_id: str, path: str, data: bytes, *, revision: str = "main",
                 repo_type: str = "model", lfs: bool | None = None) -> str:
        """Commit ``data`` at ``path`` on ``revision`` (a branch or ``refs/pr/N``); returns the commit.
        ``lfs`` defaults to True for model-weight extensions."""
        repo = self.repos[TYPE_PREFIX[repo_type] + repo_id]
        if lfs is None:
            lfs = path.lower().endswith(LFS_EXTENSIONS)
        parent = repo.refs.get(revision) or repo.refs.get("main")
        snapshot = dict(repo.commits.get(parent, {})) if parent else {}
        snapshot[path] = HubFile(path, data, lfs)
        commit = hashlib.sha1(f"{repo.key}|{revision}|{path}|{len(repo.commits)}|{parent}".encode()).hexdigest()
        repo.commits[commit] = snapshot
        repo.refs[revision] = commit
        return commit

    def rename_repo(self, old_id: str, new_id: str, repo_type: str = "model") -> None:
        """Move a repo; its old URLs answer a same-host 307 to the new name, as on the Hub."""
        prefix = TYPE_PREFIX[repo_type]
        repo = self.repos.pop(prefix + old_id)
        repo.repo_id = new_id
        self.repos[prefix + new_id] = repo
        self.renamed[prefix + old_id] = prefix + new_id

    # -- knobs -----------------------------------------------------------------------------
    @property
    def lowercase_headers(self) -> bool:
        return self.hub.lowercase_headers

    @lowercase_headers.setter
    def lowercase_headers(self, value: bool) -> None:
        self.hub.lowercase_headers = self.cdn.lowercase_headers = value

    def expire_signatures(self) -> None:
        with self._lock:
            self._signatures.clear()

    def cdn_fault(self, drop_after: int, expire_on_drop: bool = False) -> None:
        """The next CDN GET closes the connection after byte ``drop_after``; with
        ``expire_on_drop`` every signed CDN URL issued so far stops working at that moment."""
        self._fault = drop_after
        self._expire_on_drop = expire_on_drop

    def rate_limit(self, count: int, status: int = 429, retry_after: str = "1") -> None:
        with self._lock:
            self._rate_limit = count
            self._rate_limit_answer = (status, retry_after)

    # -- logs ------------------------------------------------------------------------------
    @property
    def requests(self) -> list[LoggedRequest]:
        return self.hub.requests + self.cdn.requests

    @property
    def hub_requests(self) -> list[LoggedRequest]:
        return self.hub.requests

    @property
    def cdn_requests(self) -> list[LoggedRequest]:
        return self.cdn.requests

    # -- helpers -----------------------------------------------------------------------------
    def _token(self, request: LoggedRequest) -> tuple[bool, str | None]:
        """(sent a token, the token when it is valid)."""
        header = request.header("Authorization")
        if not header:
            return False, None
        token = header.split(" ", 1)[1] if " " in header else header
        return True, token if token in self.valid_tokens else None

    def _access_error(self, repo: HubRepo | None, request: LoggedRequest, kind: str, label: str) -> Reply | None:
        sent, token = self._token(request)
        if sent and token is None:
            return Reply(401, {"X-Error-Message": "Invalid credentials in Authorization header",
                               "Content-Type": "application/json"},
                         b'{"error":"Invalid credentials in Authorization header"}')
        if repo is None or (repo.private and token not in repo.approved_tokens):
            status = 401 if token is None else 404
            return _error(status, "RepoNotFound", "Repository not found")
        if repo.disabled:
            return Reply(403, {"X-Error-Message": "Access to this resource is disabled.",
                               "Content-Type": "application/json"}, b'{"error":"Access to this resource is disabled."}')
        if repo.gated and token not in repo.approved_tokens:
            if token is None:
                return _error(401, "GatedRepo", f"Access to {kind} {label} is restricted. You must have access to "
                                                 "it and be authenticated to access it. Please log in.")
            return _error(403, "GatedRepo", f"Access to {kind} {label} is restricted and you are not in the "
                                             f"authorized list. Visit {self.endpoint}/{repo.key} to ask for access.")
        return None

    def _split_repo(self, parts: list[str]) -> tuple[str, str, list[str]]:
        """(repo key, repo type, remaining segments) from a URL path split on "/"."""
        repo_type = "model"
        if parts and parts[0] in ("datasets", "spaces"):
            repo_type = parts[0][:-1]
            parts = parts[1:]
        if len(parts) >= 2 and parts[1] not in ("resolve", "tree", "revision"):
            repo_id, rest = "/".join(parts[:2]), parts[2:]
        else:
            repo_id, rest = parts[0] if parts else "", parts[1:]
        return TYPE_PREFIX[repo_type] + repo_id, repo_type, rest

    @staticmethod
    def _take_revision(rest: list[str]) -> tuple[str, list[str]]:
        if not rest:
            return "main", []
        rev = unquote(rest[0])
        if rev == "refs" and len(rest) >= 3 and rest[1] in ("pr", "convert"):
            return "/".join(rest[:3]), rest[3:]
        return rev, rest[1:]

    def _commit_of(self, repo: HubRepo, revision: str) -> str | None:
        if revision in repo.refs:
            return repo.refs[revision]
        if len(revision) == 40 and revision in repo.commits:
            return revision
        return None

    # -- the Hub -----------------------------------------------------------------------------
    def _handle_hub(self, request: LoggedRequest) -> Reply:
        with self._lock:
            if self._rate_limit > 0:
                self._rate_limit -= 1
                status, retry_after = self._rate_limit_answer
                return Reply(status, {"RateLimit": '"api";r=0;t=1', "Retry-After": retry_after,
                                   "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}, b"")
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 3 and parts[1] in ("models", "datasets", "spaces"):
            return self._handle_api(request, parts[1], parts[2:])
        key, repo_type, rest = self._split_repo(parts)
        if key in self.renamed and rest[:1] == ["resolve"]:
            target = "/" + self.renamed[key] + "/" + "/".join(rest)
            return Reply(307, {"Location": target, "Content-Type": "text/plain"}, b"Temporary Redirect")
        if rest[:1] == ["resolve"]:
            return self._handle_resolve(request, key, repo_type, rest[1:])
        return Reply(404, {"Content-Type": "text/plain"}, b"Not Found")

    def _handle_resolve(self, request: LoggedRequest, key: str, repo_type: str, rest: list[str]) -> Reply:
        repo = self.repos.get(key)
        label = key.split("/", 1)[1] if repo_type != "model" else key
        denied = self._access_error(repo, request, repo_type, label)
        if denied:
            return denied
        revision, path_parts = self._take_revision(rest)
        commit = self._commit_of(repo, revision)
        if commit is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        path = unquote("/".join(path_parts))
        item = repo.commits[commit].get(path)
        if item is None:
            return _error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
        common = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes",
                  "X-Request-Id": "Root=1-fake", "Access-Control-Expose-Headers": "X-Repo-Commit"}
        if not item.lfs:
            return Reply(200, common, FileBody(item.data, etag=f'"{item.blob_id}"',
                                               content_type="text/plain; charset=utf-8"))
        location = self._sign(key, commit, item)
        body = f"Found. Redirecting to {location}".encode()
        return Reply(302, {**common, "Location": location, "Content-Type": "text/plain; charset=utf-8",
                           "X-Linked-Size": str(len(item.data)), "X-Linked-Etag": f'"{item.sha256}"',
                           "Vary": "Origin, Accept"}, body)

    def _sign(self, key: str, commit: str, item: HubFile) -> str:
        expires = time.time() + 3600
        signature = hashlib.sha256(f"{key}|{commit}|{item.path}|{expires}".encode()).hexdigest()
        with self._lock:
            self._signatures[signature] = expires
        name = item.path.rsplit("/", 1)[-1]
        disposition = quote(f"attachment; filename*=UTF-8''{quote(name)}; filename=\"{name}\";", safe="")
        return (f"{self.cdn.url}/repos/{item.sha256}?response-content-disposition={disposition}"
                f"&Expires={int(expires)}&Signature={signature}&Key-Pair-Id=FAKEKEYPAIR")

    def _handle_api(self, request: LoggedRequest, kind: str, parts: list[str]) -> Reply:
        repo_type = kind[:-1]
        key, _, rest = self._split_repo(([kind] if kind != "models" else []) + parts)
        repo = self.repos.get(key)
        denied = self._access_error(repo, request, repo_type, key.split("/", 1)[-1] if repo_type != "model" else key)
        if denied is not None and not (repo is not None and repo.gated and denied.status in (401, 403)):
            return denied  # gated repos still show their metadata, as on the Hub
        if rest[:1] == ["tree"]:
            revision, path_parts = self._take_revision(rest[1:])
            commit = self._commit_of(repo, revision)
            if commit is None:
                return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return json_reply(200, self._tree(repo.commits[commit], "/".join(unquote(p) for p in path_parts),
                                              request.query.get("recursive", "").lower() == "true"))
        revision = "main"
        if rest[:1] == ["revision"]:
            revision, _ = self._take_revision(rest[1:])
        elif rest:
            return Reply(404, {"Content-Type": "text/plain"}, b"Not Found")
        commit = self._commit_of(repo, revision)
        if commit is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        blobs = request.query.get("blobs", "").lower() == "true"
        siblings = []
        for item in repo.commits[commit].values():
            entry: dict[str, Any] = {"rfilename": item.path}
            if blobs:
                entry["size"] = len(item.data)
                entry["blobId"] = item.blob_id
                if item.lfs:
                    entry["lfs"] = {"sha256": item.sha256, "size": len(item.data), "pointerSize": len(item.pointer())}
            siblings.append(entry)
        return json_reply(200, {"_id": "fake", "id": repo.repo_id, "sha": commit, "siblings": siblings,
                                "gated": repo.gated, "private": repo.private, "disabled": repo.disabled,
                                "lastModified": "2026-01-01T00:00:00.000Z", "tags": [], "downloads": 0})

    @staticmethod
    def _tree(files: dict[str, HubFile], prefix: str, recursive: bool) -> list[dict]:
        prefix = prefix.strip("/")
        entries: dict[str, dict] = {}
        for item in files.values():
            if prefix and not item.path.startswith(prefix + "/"):
                continue
            relative = item.path[len(prefix) + 1:] if prefix else item.path
            pieces = relative.split("/")
            for depth in range(1, len(pieces)):
                folder = "/".join(([prefix] if prefix else []) + pieces[:depth])
                if recursive or depth == 1:
                    entries.setdefault(folder, {"type": "directory", "oid": git_blob_sha1(folder.encode()),
                                                "path": folder})
            if not recursive and len(pieces) > 1:
                continue
            entry: dict[str, Any] = {"type": "file", "oid": item.blob_id, "size": len(item.data), "path": item.path}
            if item.lfs:
                entry["lfs"] = {"oid": item.sha256, "size": len(item.data), "pointerSize": len(item.pointer())}
            entries[item.path] = entry
        return [entries[k] for k in sorted(entries)]

    # -- the CDN -----------------------------------------------------------------------------
    def _handle_cdn(self, request: LoggedRequest) -> Reply:
        signature = request.query.get("Signature", "")
        with self._lock:
            expires = self._signatures.get(signature)
        if expires is None or expires < time.time():
            return Reply(403, {"Content-Type": "application/xml"},
                         b"<Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>")
        digest = request.path.rsplit("/", 1)[-1]
        item = next((f for r in self.repos.values() for snap in r.commits.values() for f in snap.values()
                     if f.lfs and f.sha256 == digest), None)
        if item is None:
            return Reply(404, {"Content-Type": "application/xml"}, b"<Error><Code>NoSuchKey</Code></Error>")
        disposition = request.query.get("response-content-disposition", "")
        fault, self._fault = self._fault, None
        body = FileBody(item.data, etag=f'"{hashlib.md5(item.data).hexdigest()}"',
                        extra_headers={"Content-Disposition": disposition} if disposition else {},
                        delay=self.cdn_delay, drop_after=fault)
        if fault is not None and self._expire_on_drop:
            body.on_drop = self.expire_signatures
        return Reply(200, {}, body)


def _error(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> Reply:
    import json

    return Reply(status, {"X-Error-Code": code, "X-Error-Message": message,
                          "Content-Type": "application/json; charset=utf-8", **(extra or {})},
                 json.dumps({"error": message}).encode())
