"""The model index on real files: sidecar conventions, headers, roots, symlinks, persistence."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from support.scanner_files import (cover_metadata, folders_with, image_bytes, make_index, safetensors_bytes,
                                   write_safetensors)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def by_name(records: list) -> dict[str, dict]:
    """The records' JSON by name."""
    return {r.name: r.to_json() for r in records}


@pytest.mark.parametrize("sidecars, expected", [
    (["m.webp", "m.png", "m.preview.png"], "m.webp"),
    (["m.png", "m.jpg"], "m.png"),
    (["m.jpg"], "m.jpg"),
    (["m.jpeg"], "m.jpeg"),
    (["m.gif", "m.preview.jpeg"], "m.gif"),
    (["m.preview.png"], "m.preview.png"),
    (["m.preview.webp", "m.preview.jpg"], "m.preview.jpg"),
    (["m.PNG"], "m.PNG"),
    ([], None),
])
def test_every_preview_convention_first_match_wins(tmp_path, models, sidecars, expected):
    folder = models / "loras" / "styles"
    write_safetensors(folder / "m.safetensors")
    for name in sidecars:
        (folder / name).write_bytes(image_bytes("PNG"))
    index = make_index(tmp_path)
    record = index.scan("loras").models[0].to_json()
    assert record["preview"] == (f"styles/{expected}" if expected else None)
    assert record["preview_source"] == ("sidecar" if expected else None)
    path = index.preview_path("loras", "styles/m.safetensors")
    assert (path.name if path else None) == expected


def test_safetensors_cover_image_is_the_last_resort(tmp_path, models):
    cover = image_bytes("PNG", color=(1, 2, 3))
    write_safetensors(models / "loras" / "c.safetensors", cover_metadata(cover))
    write_safetensors(models / "loras" / "d.safetensors", cover_metadata(cover))
    (models / "loras" / "d.jpg").write_bytes(image_bytes("JPEG"))
    index = make_index(tmp_path)
    records = by_name(index.scan("loras").models)
    assert records["c.safetensors"]["preview"] == "ssmd_cover_images"
    assert records["c.safetensors"]["preview_source"] == "safetensors"
    assert "ssmd_cover_images" not in records["c.safetensors"]["metadata"]  # bulky: not kept
    assert records["d.safetensors"]["preview"] == "d.jpg"
    extracted = index.preview_path("loras", "c.safetensors")
    assert extracted.read_bytes() == cover
    assert extracted.suffix == ".png" and not str(extracted).startswith(str(models))


def test_descriptions_md_then_txt_and_other_tools_json(tmp_path, models):
    loras = models / "loras"
    write_safetensors(loras / "a.safetensors")
    (loras / "a.md").write_text("from md")
    (loras / "a.txt").write_text("from txt")
    write_safetensors(loras / "b.safetensors")
    (loras / "b.txt").write_text("only txt")
    write_safetensors(loras / "c.safetensors")
    (loras / "c.json").write_text(json.dumps({"description": "a1111 notes", "activation text": "foo, bar baz",
                                              "sd version": "SDXL"}))
    write_safetensors(loras / "d.safetensors")
    (loras / "d.metadata.json").write_text(json.dumps({
        "base_model": "Flux.1 D", "model_name": "LM name",
        "civitai": {"id": 77, "modelId": 66, "name": "v2", "trainedWords": ["lmword"]}}))
    before = {p.name: p.read_bytes() for p in loras.iterdir()}
    records = by_name(make_index(tmp_path).scan("loras").models)
    assert records["a.safetensors"]["description"] == "from md"
    assert records["a.safetensors"]["description_file"] == "a.md"
    assert records["b.safetensors"]["description"] == "only txt"
    c = records["c.safetensors"]
    assert (c["description"], c["trigger_words"], c["base_model"]) == ("a1111 notes", ["foo", "bar baz"], "SDXL")
    d = records["d.safetensors"]
    assert d["base_model"] == "Flux.1 D" and d["trigger_words"] == ["lmword"]
    assert d["civitai"] == {"model_id": 66, "version_id": 77, "model_name": "LM name", "version_name": "v2"}
    assert {p.name: p.read_bytes() for p in loras.iterdir()} == before  # read, never written


def test_civitai_info_and_header_derived_fields(tmp_path, models):
    loras = models / "loras"
    tags = {"10_ds": {"sks style": 40, "1girl": 12, "solo": 12}, "5_more": {"1girl": 30}}
    meta = {"ss_base_model_version": "sdxl_base_v1-0", "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
            "ss_tag_frequency": json.dumps(tags), "ss_network_dim": "16", "huge": "x" * 5000}
    write_safetensors(loras / "tagged.safetensors", meta)
    write_safetensors(loras / "arch.safetensors", {"modelspec.architecture": "flux-1-dev/lora"})
    write_safetensors(loras / "civ.safetensors", meta)
    (loras / "civ.civitai.info").write_text(json.dumps({
        "id": 200, "modelId": 100, "name": "v1.0", "baseModel": "Illustrious",
        "trainedWords": ["  trig  ", ""], "model": {"name": "Great LoRA", "type": "LORA"}}))
    records = by_name(make_index(tmp_path).scan("loras").models)
    tagged = records["tagged.safetensors"]
    assert tagged["base_model"] == "sdxl_base_v1-0"
    assert tagged["trigger_words"] == ["1girl", "sks style", "solo"]
    assert tagged["metadata"]["ss_network_dim"] == "16"
    assert len(tagged["metadata"]["huge"]) <= 1025 and "ss_tag_frequency" not in tagged["metadata"]
    assert tagged["tensor_count"] == 1 and tagged["header_error"] is None and tagged["civitai"] is None
    assert records["arch.safetensors"]["base_model"] == "flux-1-dev/lora"
    civ = records["civ.safetensors"]
    assert civ["base_model"] == "Illustrious" and civ["trigger_words"] == ["trig"]
    assert civ["civitai"] == {"model_id": 100, "version_id": 200, "model_name": "Great LoRA", "version_name": "v1.0"}


@pytest.mark.parametrize("content, message", [
    (b"\x01\x02", "shorter than its 8-byte header length"),
    ((2 ** 40).to_bytes(8, "little") + b"{}", "more than the 100 MiB allowed"),
    ((500).to_bytes(8, "little") + b"{}", "file ends after 2"),
    ((4).to_bytes(8, "little") + b"{{{{", "not valid JSON"),
    ((2).to_bytes(8, "little") + b"[]", "not a JSON object"),
    ((0).to_bytes(8, "little"), "its length is 0"),
])
def test_corrupt_header_is_reported_and_the_scan_continues(tmp_path, models, content, message):
    loras = models / "loras"
    loras.mkdir(parents=True)
    (loras / "bad.safetensors").write_bytes(content)
    write_safetensors(loras / "good.safetensors", {"ss_base_model_version": "sd_v1"})
    report = make_index(tmp_path).scan("loras")
    records = by_name(report.models)
    assert message in records["bad.safetensors"]["header_error"]
    assert records["good.safetensors"]["base_model"] == "sd_v1"
    assert report.task.status == "completed"
    assert any(e.startswith("loras/bad.safetensors: ") and message in e for e in report.to_json()["errors"])


def test_hidden_partial_and_foreign_files_are_skipped(tmp_path, models):
    loras = models / "loras"
    write_safetensors(loras / "ok.safetensors")
    for name in (".hidden.safetensors", ".ok2.safetensors.mmpart", "x.safetensors.part", "y.safetensors.tmp",
                 "z.safetensors.incomplete", "notes.txt", "readme.md", "image.png", "model.yaml"):
        (loras / name).write_bytes(b"data")
    (loras / ".cache").mkdir()
    write_safetensors(loras / ".cache" / "inside.safetensors")
    (loras / "dir.safetensors").mkdir()
    (loras / "ok.ckpt").write_bytes(b"pickle")
    names = [r.name for r in make_index(tmp_path).scan("loras").models]
    assert names == ["ok.ckpt", "ok.safetensors"]


def test_symlink_loops_and_links_that_leave_the_root(tmp_path, models):
    loras = models / "loras"
    write_safetensors(loras / "a" / "one.safetensors")
    os.symlink(loras, loras / "a" / "loop")            # loras/a/loop -> loras (a cycle)
    os.symlink(loras / "a", loras / "alias")           # second path to a folder inside the root
    outside = tmp_path / "elsewhere"
    write_safetensors(outside / "secret.safetensors")
    os.symlink(outside, loras / "external")            # leaves the root: not listed, never touched
    os.symlink(outside / "secret.safetensors", loras / "linked.safetensors")
    write_safetensors(loras / "real.safetensors")
    os.symlink(loras / "real.safetensors", loras / "same.safetensors")  # file link inside the root
    index = make_index(tmp_path)
    names = sorted(r.name for r in index.scan("loras").models)
    assert names in (["a/one.safetensors", "real.safetensors", "same.safetensors"],
                     ["alias/one.safetensors", "real.safetensors", "same.safetensors"])
    assert index.get_model("loras", "same.safetensors").size == (loras / "real.safetensors").stat().st_size


def test_several_roots_first_root_wins_for_the_same_name(tmp_path):
    first, second = tmp_path / "drive1" / "loras", tmp_path / "drive2" / "loras"
    folders = folders_with({"loras": [first, second], "vae": [tmp_path / "drive2" / "vae"]})
    write_safetensors(first / "shared.safetensors", payload=b"first")
    write_safetensors(second / "shared.safetensors", payload=b"second-root")
    write_safetensors(second / "deep" / "only2.safetensors")
    write_safetensors(tmp_path / "drive2" / "vae" / "v.safetensors")
    index = make_index(tmp_path, folders)
    records = by_name(index.scan().models)
    assert set(records) == {"shared.safetensors", "deep/only2.safetensors", "v.safetensors"}
    assert records["shared.safetensors"]["root"] == str(first)
    assert records["deep/only2.safetensors"]["root"] == str(second)
    assert records["v.safetensors"]["type"] == "vae"
    assert [r.name for r in index.list_models("vae")] == ["v.safetensors"]


def test_warm_start_lists_from_disk_and_rescans_only_changes(tmp_path, models):
    loras = models / "loras"
    write_safetensors(loras / "a.safetensors")
    write_safetensors(loras / "b.safetensors")
    (loras / "a.md").write_text("old text")
    make_index(tmp_path).scan()
    # A new process lists at once from the persisted index, without walking anything.
    warm = make_index(tmp_path)
    (loras / "added_later.safetensors").write_bytes(safetensors_bytes())
    assert [r.name for r in warm.list_models("loras")] == ["a.safetensors", "b.safetensors"]
    assert "metadata" not in warm.list_models("loras")[0].to_json(light=True)
    # Same size, same mtime: the sidecar is not read again (the stale text proves it).
    stat = (loras / "a.md").stat()
    (loras / "a.md").write_text("new text")
    os.utime(loras / "a.md", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    records = by_name(warm.scan("loras").models)
    assert records["a.safetensors"]["description"] == "old text"
    assert "added_later.safetensors" in records
    # A changed mtime makes it re-read; a removed model leaves the index.
    os.utime(loras / "a.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    (loras / "b.safetensors").unlink()
    (loras / "a.webp").write_bytes(image_bytes("WEBP"))
    records = by_name(warm.scan("loras").models)
    assert records["a.safetensors"]["description"] == "new text"
    assert records["a.safetensors"]["preview"] == "a.webp"
    assert "b.safetensors" not in records


def test_list_models_indexes_a_type_never_scanned_and_rejects_unknown_types(tmp_path, models):
    write_safetensors(models / "vae" / "v.safetensors")
    index = make_index(tmp_path)
    assert [r.name for r in index.list_models("vae")] == ["v.safetensors"]
    from comfyui_model_manager.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown model type 'nope'"):
        index.list_models("nope")


def test_get_model_sees_changes_made_after_the_scan(tmp_path, models):
    write_safetensors(models / "loras" / "x.safetensors")
    index = make_index(tmp_path)
    index.scan("loras")
    (models / "loras" / "x.preview.jpeg").write_bytes(image_bytes("JPEG"))
    record = index.get_model("loras", "x.safetensors").to_json()
    assert record["preview"] == "x.preview.jpeg"
    assert record["metadata"] == {}


def test_a_root_that_is_a_symlink_to_another_drive_is_listed_and_editable(tmp_path):
    drive = tmp_path / "drive" / "loras"
    write_safetensors(drive / "far.safetensors")
    (tmp_path / "models").mkdir()
    os.symlink(drive, tmp_path / "models" / "loras")
    index = make_index(tmp_path)
    assert [r.name for r in index.scan("loras").models] == ["far.safetensors"]
    index.set_description("loras", "far.safetensors", "over there")
    assert (drive / "far.md").read_text() == "over there"


def test_unicode_names_and_long_descriptions(tmp_path, models):
    folder = models / "loras" / "Ünïcode folder"
    write_safetensors(folder / "名前 with space.safetensors")
    (folder / "名前 with space.md").write_text("é" * 200_000, encoding="utf-8")  # 400 kB of UTF-8
    index = make_index(tmp_path)
    record = index.scan("loras").models[0].to_json()
    assert record["name"] == "Ünïcode folder/名前 with space.safetensors"
    assert record["description"].endswith("…") and len(record["description"].encode()) <= 256 * 1024 + 3
    assert index.get_model("loras", "Ünïcode folder/名前 with space.safetensors").size > 0


def test_a_change_made_while_a_scan_runs_is_not_lost(tmp_path, models):
    from comfyui_model_manager.core.scanner.hashing import FileHasher

    class Gate(FileHasher):
        def __init__(self):
            super().__init__()
            import threading
            self.entered, self.release = threading.Event(), threading.Event()

        def sha256(self, path, should_stop=lambda: False, on_bytes=None):
            self.entered.set()
            self.release.wait(5)
            return super().sha256(path, should_stop, on_bytes)

    write_safetensors(models / "loras" / "a.safetensors")
    index = make_index(tmp_path, hash_workers=1)
    index.hasher = Gate()
    task = index.start_scan("loras", compute_hashes=True)
    assert index.hasher.entered.wait(5)
    index.set_description("loras", "a.safetensors", "written during the scan")
    index.hasher.release.set()
    task.wait(5)
    (record,) = index.list_models("loras")
    assert record.description == "written during the scan" and record.sha256


def test_a_restart_lists_at_once_then_refreshes_in_the_background(tmp_path, models):
    write_safetensors(models / "loras" / "a.safetensors")
    make_index(tmp_path).scan()
    write_safetensors(models / "loras" / "b.safetensors")
    index = make_index(tmp_path, refresh_on_first_list=True)
    assert [r.name for r in index.list_models("loras")] == ["a.safetensors"]  # from disk, at once
    deadline = time.monotonic() + 5
    while [r.name for r in index.list_models("loras")] != ["a.safetensors", "b.safetensors"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_shutdown_cancels_running_scans(tmp_path, models):
    from comfyui_model_manager.core.scanner.hashing import FileHasher

    class Slow(FileHasher):
        def sha256(self, path, should_stop=lambda: False, on_bytes=None):
            while not should_stop():
                time.sleep(0.01)
            return super().sha256(path, should_stop, on_bytes)

    write_safetensors(models / "loras" / "a.safetensors")
    index = make_index(tmp_path)
    index.hasher = Slow()
    task = index.start_scan("loras", compute_hashes=True)
    time.sleep(0.1)
    started = time.monotonic()
    index.shutdown()
    assert task.status == "cancelled" and time.monotonic() - started < 2
    assert index.index_path.is_file()


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"version": 999, "entries": []}',
                                     b'{"version": 1, "entries": [{"nope": 1}, 5], "indexed_types": "x"}'])
def test_an_unreadable_saved_index_means_a_fresh_scan(tmp_path, models, content):
    write_safetensors(models / "loras" / "a.safetensors")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "model_index.json").write_bytes(content)
    index = make_index(tmp_path)
    assert [r.name for r in index.list_models("loras")] == ["a.safetensors"]
    # The listing returns at the end of the index phase; the scan saves the index just after.
    # Wait (bounded) until the file is the new index, not the unreadable one it replaces.
    deadline = time.monotonic() + 10
    saved = None
    while time.monotonic() < deadline:
        try:
            saved = json.loads((tmp_path / "state" / "model_index.json").read_text())
        except ValueError:
            saved = None
        entries = saved.get("entries") if isinstance(saved, dict) else None
        if entries and saved.get("version") == 1 and isinstance(entries[0], dict) and "record" in entries[0]:
            break
        time.sleep(0.02)
    assert saved["version"] == 1 and saved["entries"][0]["record"]["name"] == "a.safetensors"


def test_json_nested_too_deeply_is_a_corrupt_file_not_a_failed_scan(tmp_path, models):
    """``[[[[…`` deeper than Python's json goes (RecursionError) in a safetensors header, in its
    metadata values and in the JSON sidecars: that model is reported, the scan completes."""
    import struct

    deep = "[" * 100_000 + "]" * 100_000
    raw = json.dumps({"a": 1}).encode()[:-1] + b', "b": ' + deep.encode() + b"}"
    loras = models / "loras"
    loras.mkdir(parents=True)
    (loras / "deep_header.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    write_safetensors(loras / "deep_meta.safetensors",
                      {"ss_tag_frequency": deep, "ssmd_cover_images": deep})
    for name in ("deep_meta.civitai.info", "deep_meta.json", "deep_meta.metadata.json"):
        (loras / name).write_text(deep)
    write_safetensors(loras / "fine.safetensors")
    index = make_index(tmp_path)
    report = index.scan("loras")
    assert report.task.status == "completed", report.task.errors
    found = by_name(report.models)
    assert set(found) >= {"deep_header.safetensors", "deep_meta.safetensors", "fine.safetensors"}
    assert "not valid JSON" in found["deep_header.safetensors"]["header_error"]
    assert found["deep_meta.safetensors"]["trigger_words"] == [] and not found["deep_meta.safetensors"]["preview"]


MODEL_KEYS = ["type", "name", "root", "size", "mtime", "preview", "preview_source", "description",
              "description_file", "sha256", "base_model", "trigger_words", "tags", "civitai", "metadata",
              "tensor_count", "header_error", "sidecars"]


def test_the_model_json_has_its_keys_in_order_and_survives_the_saved_index(tmp_path, models):
    """One JSON for a model everywhere (routes, nodes, scan --json, the saved index); the light
    one of listings only lacks ``metadata``; a saved record reads back to the same record."""
    from comfyui_model_manager.core.scanner.index_state import IndexEntry

    write_safetensors(models / "loras" / "m.safetensors", {"ss_base_model_version": "sdxl", "k": "v"})
    (models / "loras" / "m.civitai.info").write_text(json.dumps(
        {"id": 2, "modelId": 1, "name": "v1", "trainedWords": ["w"], "model": {"name": "M"}}))
    index = make_index(tmp_path)
    (record,) = index.scan("loras").models
    assert list(record.to_json()) == MODEL_KEYS
    assert list(record.to_json(light=True)) == [k for k in MODEL_KEYS if k != "metadata"]
    assert record.to_json()["civitai"] == {"model_id": 1, "version_id": 2, "model_name": "M", "version_name": "v1"}
    assert record.to_json()["trigger_words"] == ["w"]
    assert record.to_json()["metadata"] == {"k": "v", "ss_base_model_version": "sdxl"}
    saved = json.loads((tmp_path / "state" / "model_index.json").read_text())["entries"]
    assert saved[0]["record"] == record.to_json()
    again = IndexEntry.from_json(saved[0])
    assert again is not None and again.record == record and again.to_json() == saved[0]
    damaged = {**saved[0], "record": {**saved[0]["record"], "trigger_words": "w", "civitai": [1], "size": "big"}}
    assert IndexEntry.from_json(damaged) is None  # a size that is no number: the entry is dropped
    damaged["record"]["size"] = 5
    loose = IndexEntry.from_json({**damaged, "sig": "nonsense"})
    assert loose is not None and loose.record.trigger_words == () and loose.record.civitai is None
    assert not loose.built_from(again.sig, again.record.root)  # an unreadable signature: built again
