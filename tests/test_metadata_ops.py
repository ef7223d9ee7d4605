"""Descriptions, previews and delete on real files; every path stays inside a model root."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from comfyui_model_manager.core.errors import InvalidInput, NotFound, UnsafePath
from support.scanner_files import image_bytes, make_index, png_header_only, write_safetensors


@pytest.fixture
def loras(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "loras"
    write_safetensors(folder / "sub" / "m.safetensors")
    return folder


def test_set_description_writes_name_md(tmp_path, loras):
    index = make_index(tmp_path)
    (loras / "sub" / "m.txt").write_text("old txt")
    record = index.set_description("loras", "sub/m.safetensors", "# Title\n\nÜnïcode ✓")
    assert (loras / "sub" / "m.md").read_text(encoding="utf-8") == "# Title\n\nÜnïcode ✓"
    assert record.description == "# Title\n\nÜnïcode ✓" and record.description_file == "sub/m.md"
    assert (loras / "sub" / "m.txt").read_text() == "old txt"
    assert not [p for p in (loras / "sub").iterdir() if p.name.startswith(".")]  # no temp file left
    assert index.get_model("loras", "sub/m.safetensors").description.startswith("# Title")
    with pytest.raises(InvalidInput, match="too long"):
        index.set_description("loras", "sub/m.safetensors", "x" * 1_000_001)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_set_preview_from_bytes_stores_one_webp_and_removes_other_variants(tmp_path, loras, fmt):
    folder = loras / "sub"
    for name in ("m.png", "m.JPG", "m.preview.png", "m.preview.webp"):
        (folder / name).write_bytes(image_bytes("PNG"))
    (folder / "m.json").write_text("{}")
    (folder / "m.metadata.json").write_text("{}")
    (folder / "m.civitai.info").write_text("{}")
    (folder / "other.png").write_bytes(b"not ours")
    index = make_index(tmp_path)
    record = index.set_preview("loras", "sub/m.safetensors", image_bytes(fmt, size=(40, 30)))
    assert record.preview == "sub/m.webp"
    with Image.open(folder / "m.webp") as stored:
        assert stored.format == "WEBP" and stored.size == (40, 30)
    assert sorted(p.name for p in folder.iterdir()) == [
        "m.civitai.info", "m.json", "m.metadata.json", "m.safetensors", "m.webp", "other.png"]
    assert index.preview_path("loras", "sub/m.safetensors") == folder / "m.webp"


def test_set_preview_from_a_pil_image_and_big_images_are_scaled(tmp_path, loras):
    index = make_index(tmp_path)
    image = Image.new("RGBA", (3000, 1000), (1, 2, 3, 128))
    index.set_preview_image("loras", "sub/m.safetensors", image)
    with Image.open(loras / "sub" / "m.webp") as stored:
        assert stored.size == (2048, 683) and stored.mode == "RGBA"
    index.set_preview("loras", "sub/m.safetensors", Image.new("L", (5, 5), 9))
    with Image.open(loras / "sub" / "m.webp") as stored:
        assert stored.size == (5, 5)


def test_set_preview_refuses_non_images_and_too_many_pixels(tmp_path, loras):
    index = make_index(tmp_path)
    (loras / "sub" / "m.png").write_bytes(image_bytes("PNG"))
    with pytest.raises(InvalidInput, match="not an image Pillow can read"):
        index.set_preview("loras", "sub/m.safetensors", b"<html>not an image</html>")
    with pytest.raises(InvalidInput, match="no image data"):
        index.set_preview("loras", "sub/m.safetensors", b"")
    with pytest.raises(InvalidInput, match=r"9000x8000 = 72,000,000 pixels; at most 64,000,000"):
        index.set_preview("loras", "sub/m.safetensors", png_header_only(9000, 8000))
    with pytest.raises(InvalidInput, match="too many pixels|at most 64,000,000"):
        index.set_preview("loras", "sub/m.safetensors", png_header_only(20000, 20000))
    with pytest.raises(InvalidInput, match="at most 64,000,000"):
        index.set_preview_image("loras", "sub/m.safetensors", Image.new("1", (8001, 8000)))
    with pytest.raises(InvalidInput, match="damaged"):
        index.set_preview("loras", "sub/m.safetensors", image_bytes("PNG", size=(50, 50))[:80])
    # Nothing was changed by the refused attempts.
    assert sorted(p.name for p in (loras / "sub").iterdir()) == ["m.png", "m.safetensors"]


def test_delete_removes_the_model_and_every_sidecar(tmp_path, loras):
    folder = loras / "sub"
    sidecars = ["m.webp", "m.png", "m.jpg", "m.jpeg", "m.gif", "m.preview.png", "m.preview.jpeg", "m.md",
                "m.txt", "m.civitai.info", "m.json", "m.metadata.json", "m.sha256", ".m.safetensors.mmpart"]
    for name in sidecars:
        (folder / name).write_bytes(b"x")
    write_safetensors(folder / "keep.safetensors")
    (folder / "keep.webp").write_bytes(b"y")
    (folder / "m.yaml").write_text("config of someone else")
    index = make_index(tmp_path)
    index.scan("loras", compute_hashes=True)
    deleted = index.delete_model("loras", "sub/m.safetensors").files
    assert sorted(p.name for p in deleted) == sorted(["m.safetensors", *sidecars])
    assert sorted(p.name for p in folder.iterdir()) == ["keep.safetensors", "keep.webp", "m.yaml"]
    assert [r.name for r in index.list_models("loras")] == ["sub/keep.safetensors"]
    assert [r.name for r in make_index(tmp_path).list_models("loras")] == ["sub/keep.safetensors"]
    with pytest.raises(NotFound, match="no loras model named 'sub/m.safetensors'"):
        index.delete_model("loras", "sub/m.safetensors")


def test_delete_can_keep_sidecars_and_keeps_sidecars_shared_with_another_model(tmp_path, loras):
    folder = loras / "sub"
    (folder / "m.webp").write_bytes(b"x")
    (folder / "m.md").write_text("d")
    index = make_index(tmp_path)
    write_safetensors(folder / "n.safetensors")
    (folder / "n.md").write_text("n")
    assert [p.name for p in index.delete_model("loras", "sub/n.safetensors", delete_sidecars=False).files] == ["n.safetensors"]
    assert (folder / "n.md").exists()
    (folder / "m.ckpt").write_bytes(b"pickle")  # same stem: m.webp / m.md belong to both
    assert [p.name for p in index.delete_model("loras", "sub/m.ckpt").files] == ["m.ckpt"]
    assert (folder / "m.webp").exists() and (folder / "m.md").exists()


@pytest.mark.parametrize("name, error", [
    ("../checkpoints/x.safetensors", UnsafePath),
    ("sub/../../x.safetensors", UnsafePath),
    ("/etc/passwd", UnsafePath),
    ("C:/x.safetensors", UnsafePath),
    ("..\\x.safetensors", UnsafePath),
    ("sub/.hidden.safetensors", UnsafePath),
    ("", InvalidInput),
    ("missing.safetensors", NotFound),
])
def test_traversal_and_bad_names_are_refused_everywhere(tmp_path, loras, name, error):
    outside = tmp_path / "x.safetensors"
    outside.write_bytes(b"precious")
    index = make_index(tmp_path)
    for call in (lambda: index.get_model("loras", name),
                 lambda: index.delete_model("loras", name),
                 lambda: index.set_description("loras", name, "x"),
                 lambda: index.set_preview("loras", name, image_bytes()),
                 lambda: index.preview_path("loras", name)):
        with pytest.raises(error):
            call()
    assert outside.read_bytes() == b"precious"
    assert not (tmp_path / "x.md").exists() and not (tmp_path / "x.webp").exists()


def test_symlinks_that_leave_the_root_are_refused(tmp_path, loras):
    outside = tmp_path / "outside"
    write_safetensors(outside / "victim.safetensors")
    (outside / "victim.md").write_text("keep me")
    os.symlink(outside / "victim.safetensors", loras / "link.safetensors")
    os.symlink(outside, loras / "dirlink")
    index = make_index(tmp_path)
    for name in ("link.safetensors", "dirlink/victim.safetensors"):
        with pytest.raises(UnsafePath, match="outside its model folder"):
            index.delete_model("loras", name)
        with pytest.raises(UnsafePath):
            index.set_description("loras", name, "x")
    assert (outside / "victim.safetensors").exists() and (outside / "victim.md").read_text() == "keep me"
    with pytest.raises(InvalidInput, match="unknown model type"):
        index.delete_model("custom_nodes", "x.py")


def test_only_model_files_can_be_read_changed_or_deleted(tmp_path, loras):
    folder = loras / "sub"
    (folder / "m.yaml").write_text("config")
    (folder / "m.md").write_text("notes")
    (folder / "m.safetensors.part").write_bytes(b"partial")
    index = make_index(tmp_path)
    for name in ("sub/m.yaml", "sub/m.md", "sub/m.safetensors.part"):
        with pytest.raises(InvalidInput, match="is not a loras model file"):
            index.delete_model("loras", name)
        with pytest.raises(InvalidInput, match="is not a loras model file"):
            index.get_model("loras", name)
        with pytest.raises(InvalidInput, match="is not a loras model file"):
            index.set_preview("loras", name, image_bytes())
    assert sorted(p.name for p in folder.iterdir()) == ["m.md", "m.safetensors", "m.safetensors.part", "m.yaml"]


def test_sidecars_symlinked_out_of_the_root_are_never_read_or_served(tmp_path, loras):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    picture = tmp_path / "outside.png"
    picture.write_bytes(image_bytes("PNG"))
    folder = loras / "sub"
    os.symlink(secret, folder / "m.md")
    os.symlink(picture, folder / "m.png")
    (folder / "inside.png").write_bytes(image_bytes("PNG"))
    os.symlink(folder / "inside.png", folder / "m.preview.png")  # a link inside the root is fine
    index = make_index(tmp_path)
    record = index.scan("loras").models[0].to_json()
    assert record["description"] is None and "top secret" not in json.dumps(record)
    assert record["preview"] == "sub/m.preview.png"
    assert index.preview_path("loras", "sub/m.safetensors") == folder / "m.preview.png"
    assert index.get_model("loras", "sub/m.safetensors").description is None


def test_file_system_failures_say_what_failed(tmp_path, loras):
    index = make_index(tmp_path)
    blocker = loras / "sub" / "m.md"
    blocker.mkdir()  # a folder where the description file should go: the rename fails
    from comfyui_model_manager.core.errors import ModelManagerError

    with pytest.raises(ModelManagerError, match=r"could not write the description of loras/sub/m.safetensors: "):
        index.set_description("loras", "sub/m.safetensors", "text")
    assert not [p for p in (loras / "sub").iterdir() if p.name.startswith(".")]  # no temp file left


def test_writes_replace_a_planted_sidecar_symlink_and_never_write_through_it(tmp_path, loras):
    """``NAME.webp`` / ``NAME.md`` planted as symlinks to files outside the root: setting the
    preview or description replaces the link itself; the outside files keep their bytes."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.webp").write_bytes(b"victim picture")
    (outside / "victim.md").write_bytes(b"victim text")
    folder = loras / "sub"
    os.symlink(outside / "victim.webp", folder / "m.webp")
    os.symlink(outside / "victim.md", folder / "m.md")
    os.symlink(outside / "dangling.webp", folder / "m.preview.webp")  # points at nothing yet
    index = make_index(tmp_path)
    index.set_preview("loras", "sub/m.safetensors", image_bytes("PNG"))
    index.set_description("loras", "sub/m.safetensors", "mine")
    assert (outside / "victim.webp").read_bytes() == b"victim picture"
    assert (outside / "victim.md").read_bytes() == b"victim text"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.md", "victim.webp"]
    assert not (folder / "m.webp").is_symlink() and not (folder / "m.md").is_symlink()
    assert (folder / "m.md").read_text() == "mine"
    with Image.open(folder / "m.webp") as stored:
        assert stored.format == "WEBP"
