"""The fake Hub is faithful: huggingface_hub itself downloads from it and sees its errors."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from support.fake_hub import FakeHub, git_blob_sha1

from comfyui_model_manager.core.http import HttpClient

WEIGHTS = os.urandom(300_000)
README = b"# a model card\n"
TOKEN = "hf_approvedtoken123456"

CLIENT_SCRIPT = r"""
import json, sys
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.errors import RemoteEntryNotFoundError
out = {}
out["lfs"] = hf_hub_download("acme/models", "vae/model.safetensors")
out["git"] = hf_hub_download("acme/models", "README.md")
out["pr"] = hf_hub_download("acme/models", "vae/model.safetensors", revision="refs/pr/1")
out["dataset"] = hf_hub_download("acme/data", "train.bin", repo_type="dataset")
out["renamed"] = hf_hub_download("acme/old", "r.safetensors")
errors = {}
for name, call in {
    "gated": lambda: hf_hub_download("acme/gated", "w.safetensors"),
    "missing_repo": lambda: hf_hub_download("acme/nope", "x.safetensors"),
    "missing_rev": lambda: hf_hub_download("acme/models", "README.md", revision="v9"),
    "missing_file": lambda: hf_hub_download("acme/models", "nope.safetensors"),
}.items():
    try:
        call()
        errors[name] = None
    except Exception as exc:
        errors[name] = [type(exc).__name__, str(exc)]
out["errors"] = errors
# after the errors: a cached file would hide the gated error
out["gated_ok"] = hf_hub_download("acme/gated", "w.safetensors", token=sys.argv[1])
out["snapshot"] = snapshot_download("acme/models", revision="main")
print(json.dumps(out))
"""


def test_hf_hub_download_works_against_the_fake(tmp_path: Path) -> None:
    with FakeHub() as hub:
        hub.add_repo("acme/models")
        hub.add_file("acme/models", "vae/model.safetensors", WEIGHTS)
        main_commit = hub.add_file("acme/models", "README.md", README)
        hub.add_file("acme/models", "vae/model.safetensors", b"pr-bytes" * 100, revision="refs/pr/1")
        hub.add_repo("acme/data", repo_type="dataset")
        hub.add_file("acme/data", "train.bin", b"dataset-bytes" * 50, repo_type="dataset")
        hub.add_repo("acme/gated", gated="manual", approved_tokens={TOKEN})
        hub.add_file("acme/gated", "w.safetensors", b"gated-weights" * 100)
        hub.add_repo("acme/old")
        hub.add_file("acme/old", "r.safetensors", b"renamed" * 100)
        hub.rename_repo("acme/old", "acme/new")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        env.update(HF_ENDPOINT=hub.endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf"),
                   HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_ETAG_TIMEOUT="5",
                   NO_PROXY="127.0.0.1,127.0.0.2")
        done = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, TOKEN], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert Path(out["lfs"]).read_bytes() == WEIGHTS
        # the LFS blob is cached under its sha256, the git file under its git blob sha1
        assert Path(out["lfs"]).resolve().name == hashlib.sha256(WEIGHTS).hexdigest()
        assert Path(out["git"]).read_bytes() == README
        assert Path(out["git"]).resolve().name == git_blob_sha1(README)
        assert main_commit in out["git"]
        assert Path(out["pr"]).read_bytes() == b"pr-bytes" * 100
        assert Path(out["dataset"]).read_bytes() == b"dataset-bytes" * 50
        assert Path(out["renamed"]).read_bytes() == b"renamed" * 100
        assert Path(out["gated_ok"]).read_bytes() == b"gated-weights" * 100
        assert (Path(out["snapshot"]) / "vae" / "model.safetensors").read_bytes() == WEIGHTS
        errors = out["errors"]
        assert errors["gated"][0] == "GatedRepoError"
        assert "Access to model acme/gated is restricted" in errors["gated"][1]
        assert errors["missing_repo"][0] == "RepositoryNotFoundError"
        assert errors["missing_rev"][0] == "RevisionNotFoundError"
        assert errors["missing_file"][0] in ("RemoteEntryNotFoundError", "EntryNotFoundError")
        # the token went to the Hub only, never to the CDN
        assert any(r.header("Authorization") == f"Bearer {TOKEN}" for r in hub.hub_requests)
        assert hub.cdn_requests and not any(r.has_authorization for r in hub.cdn_requests)
        assert not any("X-Xet-Hash" in r.headers for r in hub.requests)


def test_fake_hub_headers_match_the_real_shapes() -> None:
    with FakeHub() as hub:
        hub.add_repo("acme/models")
        commit = hub.add_file("acme/models", "m.safetensors", WEIGHTS)
        http = HttpClient()
        with http.request("HEAD", f"{hub.endpoint}/acme/models/resolve/main/m.safetensors",
                          follow_redirects=False) as head:
            assert head.status == 302
            assert head.headers["X-Repo-Commit"] == commit and len(commit) == 40
            assert head.headers["X-Linked-Etag"] == f'"{hashlib.sha256(WEIGHTS).hexdigest()}"'
            assert head.headers["X-Linked-Size"] == str(len(WEIGHTS))
            assert head.headers["Location"].startswith("http://127.0.0.2:")
            assert "X-Xet-Hash" not in head.headers
        with http.request("GET", f"{hub.endpoint}/acme/models/resolve/{commit}/m.safetensors",
                          headers={"Range": "bytes=100-"}) as response:
            assert response.status == 206
            assert response.headers["Content-Range"] == f"bytes 100-{len(WEIGHTS) - 1}/{len(WEIGHTS)}"
            assert response.headers["Content-Disposition"] == (
                "attachment; filename*=UTF-8''m.safetensors; filename=\"m.safetensors\";")
            assert b"".join(response.iter_chunks()) == WEIGHTS[100:]
        with http.request("GET", f"{hub.endpoint}/api/models/acme/models/revision/main?blobs=true") as response:
            info = response.json()
        assert info["sha"] == commit
        assert info["siblings"] == [{"rfilename": "m.safetensors", "size": len(WEIGHTS),
                                     "blobId": info["siblings"][0]["blobId"],
                                     "lfs": {"sha256": hashlib.sha256(WEIGHTS).hexdigest(), "size": len(WEIGHTS),
                                             "pointerSize": info["siblings"][0]["lfs"]["pointerSize"]}}]
