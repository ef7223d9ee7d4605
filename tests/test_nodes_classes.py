"""The node classes as ComfyUI reads them, imported without ComfyUI."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import comfyui_model_manager as pack
from comfyui_model_manager.nodes.pickers import validate_picker

EXPECTED_OUTPUTS = {
    "DownloadModel": (("STRING", "STRING", "BOOLEAN"), ("model_name", "path", "verified")),
    "ScanModels": (("STRING", "INT"), ("report", "count")),
    "SetModelPreview": ((), None),
    "DeleteModel": ((), None),
    "ModelInfo": (("IMAGE", "STRING", "STRING", "STRING", "STRING", "STRING"),
                  ("preview", "description", "trigger_words", "base_model", "sha256", "info")),
}


def test_pack_exports_five_nodes_and_web_directory():
    assert sorted(pack.NODE_CLASS_MAPPINGS) == sorted(EXPECTED_OUTPUTS)
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(pack.NODE_CLASS_MAPPINGS)
    assert pack.WEB_DIRECTORY == "./js"


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUTS))
def test_classic_node_api(name):
    cls = pack.NODE_CLASS_MAPPINGS[name]
    assert cls.CATEGORY == "model_manager"
    assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 20
    assert callable(getattr(cls(), cls.FUNCTION))
    types, names = EXPECTED_OUTPUTS[name]
    assert tuple(cls.RETURN_TYPES) == types
    if names:
        assert tuple(cls.RETURN_NAMES) == names
    inputs = cls.INPUT_TYPES()
    json.dumps(inputs)  # /object_info serialises it
    for section in ("required", "optional"):
        for input_name, spec in inputs.get(section, {}).items():
            assert isinstance(spec[1].get("tooltip"), str) and spec[1]["tooltip"], f"{name}.{input_name}"


def test_output_nodes():
    mapping = pack.NODE_CLASS_MAPPINGS
    for name in ("ScanModels", "SetModelPreview", "DeleteModel", "DownloadModel"):
        assert mapping[name].OUTPUT_NODE is True
    assert not getattr(mapping["ModelInfo"], "OUTPUT_NODE", False)


def test_download_model_sockets():
    inputs = pack.NODE_CLASS_MAPPINGS["DownloadModel"].INPUT_TYPES()
    assert list(inputs["required"]) == ["url", "model_type"]
    assert inputs["required"]["url"][0] == "STRING"
    assert inputs["required"]["model_type"][0][0] == "auto"
    optional = inputs["optional"]
    assert [optional[k][0] for k in ("subfolder", "filename", "sha256")] == ["STRING"] * 3
    assert optional["if_exists"][0] == ["skip", "overwrite", "rename"]
    assert optional["wait"][0] == "BOOLEAN" and optional["wait"][1]["default"] is True


def test_picker_sockets():
    mapping = pack.NODE_CLASS_MAPPINGS
    for name in ("SetModelPreview", "DeleteModel", "ModelInfo"):
        required = mapping[name].INPUT_TYPES()["required"]
        assert isinstance(required["model_type"][0], list)
        assert isinstance(required["model_name"][0], list)
    delete = mapping["DeleteModel"].INPUT_TYPES()
    assert delete["required"]["confirm"][1]["default"] is False
    assert delete["optional"]["delete_sidecars"][1]["default"] is True
    assert delete["optional"]["permanently"][0] == "BOOLEAN"
    assert delete["optional"]["permanently"][1]["default"] is False
    preview = mapping["SetModelPreview"].INPUT_TYPES()["optional"]
    assert preview["image"][0] == "IMAGE"
    assert preview["description"][1]["multiline"] is True
    scan = mapping["ScanModels"].INPUT_TYPES()
    assert scan["required"]["model_type"][0][0] == "all"
    assert [scan["optional"][k][0] for k in ("compute_hashes", "fetch_civitai_info")] == ["BOOLEAN"] * 2


def test_download_is_changed_without_a_known_file_always_runs():
    value = pack.NODE_CLASS_MAPPINGS["DownloadModel"].IS_CHANGED(url="https://x/y.safetensors",
                                                                  model_type="auto")
    assert value == "generation-0"  # nothing delivered yet: a stable value


def test_nodes_that_change_files_run_every_time_they_are_queued():
    """ComfyUI keeps a node's result while IS_CHANGED gives back the same key: the value must never
    be found again in a dict (math.nan would be, by identity), or a second delete is skipped."""
    for name in ("DeleteModel", "SetModelPreview"):
        node = pack.NODE_CLASS_MAPPINGS[name]
        first = node.IS_CHANGED(model_type="loras", model_name="x.safetensors")
        second = node.IS_CHANGED(model_type="loras", model_name="x.safetensors")
        assert second not in {first: True}, name


def test_picker_validation_messages():
    assert validate_picker("loras", "sub/x.safetensors", {}) is True
    assert validate_picker("loras", None, {"model_name": "STRING"}) is True
    message = validate_picker("loras", "../../etc/passwd", {})
    assert isinstance(message, str) and "loras" in message and "inside its model folder" in message
    assert "absolute" in validate_picker("loras", "/etc/passwd", {})
    assert "STRING" in validate_picker("loras", None, {"model_name": "IMAGE"})


def test_import_outside_comfyui_is_light():
    """Importing the pack outside ComfyUI loads nothing heavy and registers the five nodes.

    What it imports is checked here; how long it takes is measured by bench/cli_startup.py
    against a same-run reference, not by a wall-clock bound that a loaded machine breaks."""
    code = (
        "import sys; import comfyui_model_manager as p; "
        "heavy = [m for m in ('requests', 'urllib3', 'PIL', 'huggingface_hub', 'torch', 'sqlite3', "
        "'aiohttp', 'tqdm', 'filelock') if m in sys.modules]; print(heavy, len(p.NODE_CLASS_MAPPINGS))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd="/").stdout
    assert out.strip() == "[] 5", out


def test_download_memo_generation_moves_only_when_the_file_disappeared(tmp_path):
    from comfyui_model_manager.nodes.download_memo import DownloadMemo

    memo, key = DownloadMemo(), ("https://h/m.safetensors", "loras", "", "")
    model = tmp_path / "m.safetensors"
    assert memo.generation(key) == "generation-0"  # first run: nothing cached yet anyway
    model.write_bytes(b"x")
    memo.completed(key, model)
    assert memo.generation(key) == "generation-0"  # cached while the file is there
    model.unlink()
    assert memo.generation(key) == "generation-1"  # gone: run again
    assert memo.generation(key) == "generation-1"  # (a failed re-run is never cached)
    model.write_bytes(b"x")
    memo.completed(key, model)
    assert memo.generation(key) == "generation-1"  # cached again after the re-download


def test_download_model_validates_what_can_never_work():
    validate = pack.NODE_CLASS_MAPPINGS["DownloadModel"].VALIDATE_INPUTS
    assert validate(url="https://h/x.safetensors", sha256="", subfolder="") is True
    assert validate(url=None, sha256=None, subfolder=None) is True  # linked inputs
    assert validate(url="a/b/c.safetensors", sha256="A" * 64, subfolder="sdxl/styles") is True
    assert "url is required" in validate(url="  ", sha256="", subfolder="")
    assert "64 hexadecimal" in validate(url="u", sha256="abc", subfolder="")
    assert "inside its model folder" in validate(url="u", sha256="", subfolder="../../etc")
