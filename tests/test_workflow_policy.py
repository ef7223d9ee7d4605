"""Hostile workflows: every refusal, judged without any connection (sizes off, resolver injected),
collisions, duplicates across nodes and subgraphs, limits."""
from __future__ import annotations

import hashlib

import pytest

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.settings import Settings
from comfyui_model_manager.core.scanner.hash_cache import HashCache
from comfyui_model_manager.core.workflow.limits import BadWorkflow, WorkflowTooLarge
from comfyui_model_manager.core.workflow.reader import from_document, read_bytes
from comfyui_model_manager.core.workflow.service import WorkflowModels

RESOLVED = {"evil.example": ["10.1.2.3"], "meta.example": ["169.254.169.254"], "ok.example": ["93.184.216.34"]}


@pytest.fixture
def service(tmp_path):
    settings = Settings(tmp_path / "settings.json", environ={})
    settings.update({"workflow_allowed_hosts": "evil.example, ok.example meta.example:8080"})
    cache = HashCache(tmp_path / "hashes.sqlite")
    folders = ModelFolders.from_models_dir(tmp_path / "models")
    yield WorkflowModels(folders, settings, digests=cache, environ={},
                         resolver=lambda host: RESOLVED.get(host, [])), tmp_path / "models", cache
    cache.close()


def listing(service, entries, **kwargs):
    workflow = from_document({"workflow": {"nodes": [], "models": entries}})
    return {r.name: r for r in service.list(workflow, sizes=False, **kwargs)}


def entry(name, url="https://huggingface.co/a/b/resolve/main/x.safetensors", directory="loras", **extra):
    return {"name": name, "url": url, "directory": directory, **extra}


@pytest.mark.loopback_only_network  # private, link-local and public addresses (none is ever asked)
def test_each_refusal_has_its_reason(service):
    svc, _models, _cache = service
    refs = listing(svc, [
        entry("ftp.safetensors", "ftp://huggingface.co/x.safetensors"),
        entry("file.safetensors", "file:///etc/passwd"),
        entry("other.safetensors", "https://elsewhere.example/x.safetensors"),
        entry("private.safetensors", "http://10.0.0.5/x.safetensors"),
        entry("linklocal.safetensors", "http://169.254.169.254/latest"),
        entry("loop.safetensors", "http://127.0.0.1:9/x.safetensors"),
        entry("/etc/abs.safetensors"), entry("../up.safetensors"), entry("C:/win.safetensors"),
        entry("..\\..\\back.safetensors"), entry("bad.exe"), entry("x.safetensors", directory="nope"),
        entry("evil.safetensors", "http://evil.example/x.safetensors"),
        entry("meta.safetensors", "http://meta.example/x.safetensors"),
        entry("cred.safetensors", "https://user:hunter2secret@huggingface.co/a/b/resolve/main/c.safetensors?token=abcdef123"),
    ])
    reasons = {name: (r.status, r.reason or "") for name, r in refs.items()}
    assert reasons["ftp.safetensors"][1].startswith("only http(s) links")
    assert "file" in reasons["file.safetensors"][1]
    assert "elsewhere.example is not on the list of allowed hosts" in reasons["other.safetensors"][1]
    for name in ("private.safetensors", "linklocal.safetensors", "loop.safetensors"):
        assert reasons[name][0] == "refused"  # not on the list at all
    assert "absolute" in reasons["/etc/abs.safetensors"][1]
    assert "inside its model folder" in reasons["../up.safetensors"][1]
    assert "absolute" in reasons["C:/win.safetensors"][1]
    assert "inside its model folder" in reasons["../../back.safetensors"][1]
    assert "extension" in reasons["bad.exe"][1]
    assert "unknown model folder 'nope'" in reasons["x.safetensors"][1]
    assert reasons["evil.safetensors"][0] == "missing"  # listed exactly: a private address is then fine
    assert "not on the list" in reasons["meta.safetensors"][1]  # listed with another port only
    assert all(r.status == "refused" for n, r in refs.items() if n not in ("evil.safetensors", "cred.safetensors"))
    cred = refs["cred.safetensors"]
    assert cred.status == "missing" and "hunter2" not in str(cred.to_json()) and "abcdef123" not in str(cred.to_json())


@pytest.mark.loopback_only_network
def test_allow_any_host_still_refuses_internal_addresses(service):
    svc, _models, _cache = service
    refs = listing(svc, [entry("a.safetensors", "https://public.example/a.safetensors"),
                         entry("b.safetensors", "http://10.9.9.9/b.safetensors"),
                         entry("c.safetensors", "http://[::1]/c.safetensors")], allow_any_host=True)
    assert refs["a.safetensors"].status == "missing"
    assert "private" in refs["b.safetensors"].reason and refs["c.safetensors"].status == "refused"


def test_presence_collision_elsewhere_and_hash_types(service, tmp_path):
    svc, models, cache = service
    (models / "loras" / "sub").mkdir(parents=True)
    here = models / "loras" / "sub" / "here.safetensors"
    here.write_bytes(b"one")
    other = models / "loras" / "renamed.safetensors"
    other.write_bytes(b"two")
    digest_two = hashlib.sha256(b"two").hexdigest()
    for path, data in ((here, b"one"), (other, b"two")):
        st = path.stat()
        cache.put(str(path), st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest())
    refs = listing(svc, [
        entry("sub\\here.safetensors"),
        entry("sub/here.safetensors", directory="loras", hash="00" * 32, hash_type="sha256"),
        entry("wanted.safetensors", hash=digest_two.upper(), hash_type="SHA256"),
        entry("md5.safetensors", hash="abc", hash_type="MD5"),
    ])
    assert refs["sub/here.safetensors"].status == "refused"  # both spellings are one reference
    assert "a different file named sub/here.safetensors" in refs["sub/here.safetensors"].reason
    assert refs["wanted.safetensors"].status == "present_elsewhere"
    assert "loras/renamed.safetensors" in refs["wanted.safetensors"].reason
    assert refs["md5.safetensors"].status == "missing" and "'MD5' is not checked" in refs["md5.safetensors"].reason


def test_duplicates_across_nodes_and_nested_subgraphs(service):
    svc, _models, _cache = service
    inner = {"id": "inner-sg", "nodes": [{"id": 5, "type": "LoraLoader", "widgets_values": ["x.safetensors", 1, 1]}]}
    outer = {"id": "outer-sg", "nodes": [{"id": 3, "type": "inner-sg"},
                                         {"id": 4, "type": "LoraLoader", "widgets_values": ["x.safetensors", 1, 1]}],
             "definitions": {"subgraphs": [inner]}}
    graph = {"nodes": [{"id": 1, "type": "LoraLoader", "widgets_values": ["x.safetensors", 1, 1],
                        "properties": {"models": [entry("x.safetensors")]}},
                       {"id": 2, "type": "outer-sg"}],
             "definitions": {"subgraphs": [outer]}}
    refs = svc.list(from_document({"workflow": graph, "prompt": {
        "9": {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": "x.safetensors", "model": ["1", 0]}}}}),
        sizes=False)
    assert len(refs) == 1 and refs[0].node_ids == ["1", "2:3:5", "2:4", "9"]
    assert refs[0].url and refs[0].status == "missing"


def test_limits():
    with pytest.raises(BadWorkflow, match="5,000"):
        from comfyui_model_manager.core.workflow.references import collect
        collect(from_document({"nodes": [], "models": [entry(f"m{i}.safetensors") for i in range(5001)]}), {})
    with pytest.raises(WorkflowTooLarge) as too_large:
        read_bytes(b" " * (33 * 1024 * 1024))
    assert too_large.value.http_status == 413 and too_large.value.exit_code == 2
    with pytest.raises(BadWorkflow, match="nested deeper"):
        read_bytes(b"[" * 200_000 + b"]" * 200_000)
    deep = {"nodes": [{"id": 1, "type": "sg0"}], "definitions": {"subgraphs": []}}
    level = deep
    for depth in range(40):
        sub = {"id": f"sg{depth}", "nodes": [{"id": 1, "type": f"sg{depth + 1}"}], "definitions": {"subgraphs": []}}
        level["definitions"]["subgraphs"].append(sub)
        level = sub
    with pytest.raises(BadWorkflow, match="deeper than"):
        from comfyui_model_manager.core.workflow.references import collect
        collect(from_document(deep), {})
