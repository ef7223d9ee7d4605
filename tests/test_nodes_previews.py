"""Preview serving: thumbnails made once per preview version, small previews served unchanged."""
from __future__ import annotations

import os

from PIL import Image

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.nodes.folders import LiveModelFolders
from comfyui_model_manager.nodes.previews import PreviewCache


def _image(path, size, color=(200, 30, 30), fmt="PNG"):
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def test_small_preview_is_served_as_is(tmp_path):
    preview = _image(tmp_path / "m.png", (64, 48))
    cache = PreviewCache(tmp_path / "thumbs")
    served = cache.get(preview)
    assert served.path == preview.resolve() and served.content_type == "image/png"
    assert cache.thumbnails_made == 0


def test_big_preview_gets_one_cached_thumbnail(tmp_path):
    preview = _image(tmp_path / "m.jpg", (1600, 1200), fmt="JPEG")
    cache = PreviewCache(tmp_path / "thumbs", max_side=256)
    first = cache.get(preview)
    again = cache.get(preview)
    assert first == again and cache.thumbnails_made == 1
    with Image.open(first.path) as thumb:
        assert max(thumb.size) == 256 and thumb.format == "WEBP"
    # a new cache (a restart) reuses the thumbnail file: still no re-encoding
    restarted = PreviewCache(tmp_path / "thumbs", max_side=256)
    assert restarted.get(preview).path == first.path and restarted.thumbnails_made == 0
    # a changed preview gets a new ETag and a new thumbnail
    _image(preview, (1000, 1000), color=(0, 0, 255), fmt="JPEG")
    os.utime(preview, ns=(1, 1))
    changed = cache.get(preview)
    assert changed.etag != first.etag and cache.thumbnails_made == 2
    original = cache.get(preview, original=True)
    assert original.path == preview.resolve() and original.content_type == "image/jpeg"


def test_live_folders_follow_folder_paths_changes(tmp_path):
    mapping = {"loras": ([str(tmp_path / "loras")], {".safetensors"}),
               "configs": ([str(tmp_path / "configs")], [".yaml"]),
               "custom_nodes": ([str(tmp_path / "custom_nodes")], set())}
    folders = LiveModelFolders(lambda: mapping)
    assert isinstance(folders, ModelFolders)
    assert folders.names() == ["loras"]
    mapping["ultralytics"] = ([str(tmp_path / "u1"), str(tmp_path / "u2")], {".pt"})
    assert folders.names() == ["loras", "ultralytics"]
    assert folders.primary_root("ultralytics") == tmp_path / "u1"
    (tmp_path / "u2").mkdir()
    (tmp_path / "u2" / "seg.pt").write_bytes(b"x")
    assert folders.locate("ultralytics", "seg.pt").path == tmp_path / "u2" / "seg.pt"
