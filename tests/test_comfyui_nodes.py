"""End to end in a real ComfyUI: the five nodes in queued workflows, events over /ws, loaders' lists.

One ComfyUI serves the whole module (started with ``--cpu --listen 127.0.0.1 --port <free>
--base-directory <tmp>`` and this pack linked into ``<tmp>/custom_nodes``).  Skipped with the
reason when no ComfyUI is found (see ``support/comfyui_harness.py``).

About the loader: ``LoraLoader`` needs a MODEL and a CLIP, i.e. a real checkpoint, which these
tests cannot ship.  The workflow therefore feeds ``DownloadModel.model_name`` into ComfyUI's own
``PreviewAny`` output node (which shows the string), and the test proves the loader would take
it by reading ``GET /object_info/LoraLoader`` from the same server right after the run: the new
name is in ``lora_name``'s list, without a restart.
"""
from __future__ import annotations

import hashlib
import io
import re
import time
from urllib.parse import quote

import pytest
from PIL import Image

from support.comfyui_harness import ComfyUIServer, require_comfyui
from support.scanner_files import png_header_only, write_safetensors

pytestmark = pytest.mark.comfyui

NODES = ("DownloadModel", "ScanModels", "SetModelPreview", "DeleteModel", "ModelInfo")


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy-nodes")
    extra = base / "extra"
    (extra / "more_loras" / "shared").mkdir(parents=True)
    (extra / "more_loras" / "shared" / "from_extra.safetensors").write_bytes(b"extra root model")
    (extra / "mm_custom_models").mkdir()
    config = base / "extra_model_paths.yaml"
    config.write_text(f"mm_test:\n    base_path: {extra}\n    loras: more_loras\n"
                      f"    mm_custom: mm_custom_models\n")
    server = ComfyUIServer(require_comfyui(), base,
                           extra_args=["--extra-model-paths-config", str(config)])
    server.start()
    yield server
    server.stop()


def _mm_events(ws, task_id=None):
    return [m for m in ws.of_type(*[f"model_manager.{n}" for n in (
        "create_download_task", "update_download_task", "complete_download_task",
        "delete_download_task")]) if task_id is None or m["data"].get("task_id") == task_id]


def _download_prompt(url, **inputs):
    node = {"url": url, "model_type": "loras", "subfolder": "", "filename": "", "sha256": "",
            "if_exists": "skip", "wait": True, **inputs}
    return {"1": {"class_type": "DownloadModel", "inputs": node},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


def _lora_names(comfy):
    info = comfy.object_info("LoraLoader")
    return info["LoraLoader"]["input"]["required"]["lora_name"][0]


def test_object_info_lists_the_five_nodes_with_their_sockets(comfy):
    info = comfy.object_info()
    for name in NODES:
        assert info[name]["category"] == "model_manager", name
        assert info[name]["description"]
    download = info["DownloadModel"]
    assert download["output"] == ["STRING", "STRING", "BOOLEAN"]
    assert download["output_name"] == ["model_name", "path", "verified"]
    assert download["output_node"] is True
    required, optional = download["input"]["required"], download["input"]["optional"]
    assert list(required) == ["url", "model_type"]
    types = required["model_type"][0]
    assert types[0] == "auto" and {"checkpoints", "loras", "vae", "controlnet"} <= set(types)
    assert "custom_nodes" not in types and "configs" not in types
    assert set(optional) == {"subfolder", "filename", "sha256", "if_exists", "wait"}
    assert info["ScanModels"]["output"] == ["STRING", "INT"]
    assert info["ModelInfo"]["output"] == ["IMAGE", "STRING", "STRING", "STRING", "STRING", "STRING"]
    assert info["ModelInfo"]["output_name"] == ["preview", "description", "trigger_words",
                                                "base_model", "sha256", "info"]
    for name in ("SetModelPreview", "DeleteModel", "ModelInfo"):
        picker = info[name]["input"]["required"]
        assert isinstance(picker["model_type"][0], list) and "loras" in picker["model_type"][0]
        assert isinstance(picker["model_name"][0], list)
    assert info["DeleteModel"]["input"]["required"]["confirm"][1]["default"] is False


def test_extra_model_paths_roots_and_types(comfy, files):
    """extra_model_paths.yaml: a second loras root and a new type are used like the built-in ones."""
    info = comfy.object_info("DownloadModel")["DownloadModel"]
    assert "mm_custom" in info["input"]["required"]["model_type"][0]
    picker = comfy.object_info("ModelInfo")["ModelInfo"]["input"]["required"]
    assert "shared/from_extra.safetensors" in picker["model_name"][0]
    listed = comfy.get("/model-manager/models?type=loras").json()["models"]
    assert "shared/from_extra.safetensors" in {m["name"] for m in listed}
    served = files.add("/files/custom_type.pt", 4096)
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt({
            "1": {"class_type": "DownloadModel", "inputs": {"url": files.url("/files/custom_type.pt"),
                                                            "model_type": "mm_custom"}},
            "2": {"class_type": "ModelInfo", "inputs": {"model_type": "loras",
                                                        "model_name": "shared/from_extra.safetensors"}},
            "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 5]}},
            "4": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}},
        }, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
    outputs = comfy.wait_for_history(prompt_id)["outputs"]
    import json

    assert json.loads(outputs["3"]["text"][0])["root"] == str(comfy.base_dir / "extra" / "more_loras")
    target = comfy.base_dir / "extra" / "mm_custom_models" / "custom_type.pt"
    assert outputs["4"]["text"] == [str(target)]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == served.sha256


def test_pack_import_is_fast_in_comfyui(comfy):
    """ComfyUI's own "Import times for custom nodes" line for the pack (< 0.1 s)."""
    match = re.search(r"^\s*([\d.]+) seconds: .*ComfyUI-Model-Manager\s*$", comfy.log_text(), re.M)
    assert match, comfy.log_tail()
    assert float(match.group(1)) <= 0.1  # printed with one decimal: see the precise test below
    assert "IMPORT FAILED" not in "\n".join(l for l in comfy.log_text().splitlines() if "Model-Manager" in l)


IMPORT_PROBE = r"""
import asyncio, importlib.util, json, os, sys, time
sys.path.insert(0, os.getcwd())
links, sys.argv = sys.argv[1:], ["main.py", "--cpu", "--base-directory", os.environ["MM_PROBE_BASE"]]
import comfy.options
comfy.options.enable_args_parsing()
import utils.extra_config, folder_paths  # as main.py does, before the server
import server, nodes
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
server.PromptServer(loop)  # routes get registered on it, as in ComfyUI
timings = []
for link in links:
    name = link.replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(name, os.path.join(link, "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    started = time.perf_counter()
    spec.loader.exec_module(module)
    timings.append(time.perf_counter() - started)
    assert len(module.NODE_CLASS_MAPPINGS) == 5
print(json.dumps(timings))
"""


def test_pack_import_adds_less_than_100_ms_to_comfyui_start(tmp_path):
    """The pack's import measured precisely inside ComfyUI's interpreter, with a PromptServer
    (so routes are registered and start-up is scheduled): best of three fresh imports."""
    import json
    import subprocess

    from support.comfyui_harness import PACK_ROOT, clean_environment

    installation = require_comfyui()
    links = []
    for index in range(3):
        link = tmp_path / f"mm_probe_{index}"
        link.symlink_to(PACK_ROOT, target_is_directory=True)
        links.append(str(link))
    run = subprocess.run([str(installation.python), "-c", IMPORT_PROBE, *links], cwd=installation.path,
                         env=clean_environment({"MM_PROBE_BASE": str(tmp_path)}), capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    timings = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"pack import inside ComfyUI: {[round(t * 1000, 1) for t in timings]} ms")
    assert min(timings) < 0.1, timings


def test_routes_answer_with_and_without_api_prefix(comfy):
    for path in ("/model-manager/tasks", "/api/model-manager/tasks"):
        response = comfy.get(path)
        assert response.status_code == 200 and "tasks" in response.json()
    response = comfy.get("/api/model-manager/tasks/does-not-exist")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_download_workflow_events_file_and_loader_list(comfy, files):
    served = files.add("/files/e2e_style.safetensors", 3 << 20)
    files.delay = 0.03
    with comfy.websocket() as ws:
        prompt = _download_prompt(files.url("/files/e2e_style.safetensors"), subfolder="e2e",
                                  sha256=served.sha256)
        prompt_id = comfy.queue_prompt(prompt, client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id, timeout=60)
        assert end["type"] == "execution_success", end
        events = _mm_events(ws)
        progress = [m["data"] for m in ws.of_type("progress") if m["data"].get("prompt_id") == prompt_id]
    files.delay = 0.0
    assert events, "no model_manager events"
    task_id = events[0]["data"]["task_id"]
    names = [m["type"].split(".", 1)[1] for m in events if m["data"]["task_id"] == task_id]
    assert names[0] == "create_download_task" and names[-1] == "complete_download_task"
    assert set(names[1:-1]) == {"update_download_task"} and len(names) >= 3
    statuses = [m["data"]["status"] for m in events if m["type"].endswith("update_download_task")]
    order = ["queued", "downloading", "verifying", "completed"]
    assert "downloading" in statuses
    flowing = [m["_received"] for m in events if m["type"].endswith("update_download_task")
               and m["data"]["status"] == "downloading"]
    duration = max(flowing[-1] - flowing[0], 0.0)
    assert len(flowing) <= 4 * duration + 2, (len(flowing), duration)  # <= 4 a second
    assert len(flowing) >= 2 * duration - 1, (len(flowing), duration)  # and not starved
    print(f"progress events while downloading: {len(flowing)} in {duration:.2f} s")
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses), statuses
    complete = events[-1]["data"]
    assert complete["status"] == "completed" and complete["node_id"] == "1"
    assert complete["prompt_id"] == prompt_id and complete["sha256"] == served.sha256
    assert complete["filename"] == "e2e/e2e_style.safetensors" and complete["model_type"] == "loras"
    # ComfyUI's own progress bar on node 1
    assert progress and all(p["node"] == "1" for p in progress)
    assert progress[-1]["value"] == 100 and progress[-1]["max"] == 100
    # the file, verified
    path = comfy.models_dir / "loras" / "e2e" / "e2e_style.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == served.sha256
    assert not list(path.parent.glob(".*mmpart"))
    # the node's outputs, as the loader takes them; and the loader lists it at once
    history = comfy.wait_for_history(prompt_id)
    assert history["outputs"]["2"]["text"] == ["e2e/e2e_style.safetensors"]
    assert "e2e/e2e_style.safetensors" in _lora_names(comfy)


def test_cached_while_the_file_is_there_rerun_when_it_disappeared(comfy, files):
    served = files.add("/files/cache_me.safetensors", 256 << 10)
    prompt = _download_prompt(files.url("/files/cache_me.safetensors"))
    path = comfy.models_dir / "loras" / "cache_me.safetensors"
    with comfy.websocket() as ws:
        first = comfy.queue_prompt(prompt, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(first)["type"] == "execution_success"
        assert path.is_file()
        gets_before = len(files.requests_for("/files/cache_me.safetensors"))
        mark = ws.mark()
        second = comfy.queue_prompt(prompt, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(second)["type"] == "execution_success"
        cached = ws.wait_for(lambda m: m["type"] == "execution_cached"
                             and m["data"]["prompt_id"] == second, start=mark)
        assert "1" in cached["data"]["nodes"]
        assert len(files.requests_for("/files/cache_me.safetensors")) == gets_before  # no network
        path.unlink()
        third = comfy.queue_prompt(prompt, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(third)["type"] == "execution_success"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == served.sha256


def test_skip_with_a_present_named_file_returns_at_once_without_network(comfy):
    target = comfy.models_dir / "vae" / "local" / "present.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"already here")
    dead = "http://127.0.0.1:9/never/answers.safetensors"  # discard port: nothing listens
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt(_download_prompt(dead, model_type="vae", subfolder="local",
                                                        filename="present.safetensors"),
                                       client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
    outputs = comfy.wait_for_history(prompt_id)["outputs"]
    assert outputs["2"]["text"] == ["local/present.safetensors"]
    assert target.read_bytes() == b"already here"


def test_wait_false_returns_when_queued(comfy, files):
    served = files.add("/files/no_wait.safetensors", 2 << 20)
    files.delay = 0.1
    try:
        with comfy.websocket() as ws:
            prompt = _download_prompt(files.url("/files/no_wait.safetensors"), wait=False)
            started = time.monotonic()
            prompt_id = comfy.queue_prompt(prompt, client_id=ws.client_id)
            assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
            took = time.monotonic() - started
            tasks = comfy.get("/model-manager/tasks").json()["tasks"]
            task = next(t for t in tasks if t["filename"] == "no_wait.safetensors")
            assert task["status"] in ("queued", "downloading"), task
            files.delay = 0.0
            ws.wait_for(lambda m: m["type"] == "model_manager.complete_download_task"
                        and m["data"]["task_id"] == task["task_id"], timeout=60)
    finally:
        files.delay = 0.0
    assert took < 5
    assert comfy.wait_for_history(prompt_id)["outputs"]["2"]["text"] == ["no_wait.safetensors"]
    path = comfy.models_dir / "loras" / "no_wait.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == served.sha256


def test_user_errors_have_clear_messages(comfy, files):
    served = files.add("/files/checked.safetensors", 200 << 10)
    wrong = "0" * 64
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt(_download_prompt("ftp://example.com/x.safetensors"),
                                       client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id)
        assert end["type"] == "execution_error"
        assert "only http:// and https:// URLs" in end["data"]["exception_message"]
        prompt_id = comfy.queue_prompt(_download_prompt(files.url("/files/missing.safetensors")),
                                       client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id)
        assert end["type"] == "execution_error"
        assert "404" in end["data"]["exception_message"], end["data"]["exception_message"]
        prompt_id = comfy.queue_prompt(_download_prompt(files.url("/files/checked.safetensors"), sha256=wrong),
                                       client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id)
    assert end["type"] == "execution_error"
    message = end["data"]["exception_message"]
    assert "sha256" in message.lower() or "checksum" in message.lower(), message
    assert "queue again" in message
    folder = comfy.models_dir / "loras"
    assert not (folder / "checked.safetensors").exists() and not list(folder.glob(".checked*"))
    assert served.sha256 != wrong
    # unknown type in an API run: refused at validation, naming the type
    response = comfy.post("/prompt", json={"prompt": {
        "1": {"class_type": "ModelInfo", "inputs": {"model_type": "lorax", "model_name": "a.safetensors"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}}}})
    assert response.status_code == 400
    assert "unknown model type 'lorax'" in response.text
    # DownloadModel inputs that can never work are refused before anything runs
    for inputs, text in (({"sha256": "abc"}, "64 hexadecimal"), ({"subfolder": "../../etc"}, "inside its model folder"),
                         ({"url": " "}, "url is required")):
        prompt = _download_prompt("https://example.com/x.safetensors")
        prompt["1"]["inputs"].update(inputs)
        response = comfy.post("/prompt", json={"prompt": prompt})
        assert response.status_code == 400 and text in response.text, response.text


def _png_bytes(size=(96, 64), color=(250, 120, 10)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_model_info_does_not_decode_a_decompression_bomb(comfy):
    """A preview of a few bytes that declares 60 000 x 60 000 pixels: ModelInfo gives the black
    placeholder instead of decoding it (or failing)."""
    loras = comfy.models_dir / "loras"
    write_safetensors(loras / "bomb_info.safetensors")
    (loras / "bomb_info.png").write_bytes(png_header_only(60_000, 60_000))
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt({
            "1": {"class_type": "ModelInfo", "inputs": {"model_type": "loras",
                                                        "model_name": "bomb_info.safetensors"}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        }, client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id)
    assert end["type"] == "execution_success", end
    shown = comfy.wait_for_history(prompt_id)["outputs"]["2"]["images"][0]
    response = comfy.get("/view", params={"filename": shown["filename"], "type": shown["type"],
                                          "subfolder": shown["subfolder"]})
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (64, 64) and image.convert("RGB").getpixel((10, 10)) == (0, 0, 0)


def test_preview_info_and_delete_nodes(comfy, files):
    served = files.add("/files/styled.safetensors", 64 << 10)
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt(_download_prompt(files.url("/files/styled.safetensors"),
                                                        subfolder="people"), client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
        name = "people/styled.safetensors"
        (comfy.input_dir / "preview_src.png").write_bytes(_png_bytes())

        # SetModelPreview fed by LoadImage (a plain string name in an API run)
        prompt_id = comfy.queue_prompt({
            "1": {"class_type": "LoadImage", "inputs": {"image": "preview_src.png"}},
            "2": {"class_type": "SetModelPreview", "inputs": {
                "model_type": "loras", "model_name": name, "image": ["1", 0],
                "description": "Warm orange style.\n\nUse at 0.8."}},
        }, client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id)
        assert end["type"] == "execution_success", end
        ui = comfy.wait_for_history(prompt_id)["outputs"]["2"]
        assert ui["images"][0]["type"] == "temp"  # the node shows the new preview

        response = comfy.get(f"/model-manager/models/loras/{quote(name, safe='')}/preview")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/")
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.size == (96, 64)
            r, g, b = image.convert("RGB").getpixel((48, 32))
            assert abs(r - 250) < 12 and abs(g - 120) < 12 and abs(b - 10) < 12
        folder = comfy.models_dir / "loras" / "people"
        assert (folder / "styled.webp").is_file() and (folder / "styled.md").is_file()

        # ModelInfo reads it back
        prompt_id = comfy.queue_prompt({
            "1": {"class_type": "ModelInfo", "inputs": {"model_type": "loras", "model_name": name}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
            "4": {"class_type": "PreviewAny", "inputs": {"source": ["1", 4]}},
        }, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
        outputs = comfy.wait_for_history(prompt_id)["outputs"]
        assert outputs["2"]["text"] == ["Warm orange style.\n\nUse at 0.8."]
        assert outputs["4"]["text"] == [served.sha256]  # verified while downloading, no re-hash
        assert outputs["3"]["images"]

        # ModelInfo with a name that is not there: the message names type and file
        prompt_id = comfy.queue_prompt({
            "1": {"class_type": "ModelInfo", "inputs": {"model_type": "loras", "model_name": "people/nope.safetensors"}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}},
        }, client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id)
        assert end["type"] == "execution_error"
        assert "loras" in end["data"]["exception_message"] and "people/nope.safetensors" in end["data"]["exception_message"]

        # DeleteModel refuses without confirm and deletes nothing
        before = sorted(p.name for p in folder.iterdir())
        delete = {"1": {"class_type": "DeleteModel", "inputs": {
            "model_type": "loras", "model_name": name, "confirm": False, "delete_sidecars": True}}}
        prompt_id = comfy.queue_prompt(delete, client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id)
        assert end["type"] == "execution_error"
        assert "confirm" in end["data"]["exception_message"]
        assert "Nothing was deleted" in end["data"]["exception_message"]
        assert sorted(p.name for p in folder.iterdir()) == before

        delete["1"]["inputs"]["confirm"] = True
        prompt_id = comfy.queue_prompt(delete, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
    assert not any(p.name.startswith("styled") for p in folder.iterdir())
    assert name not in _lora_names(comfy)
    assert served.sha256  # the source file stays served; only the local copy is gone


def test_scan_node_reports_models(comfy, files):
    files.add("/files/scan_me.safetensors", 32 << 10)
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt(_download_prompt(files.url("/files/scan_me.safetensors")),
                                       client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
        prompt_id = comfy.queue_prompt({
            "1": {"class_type": "ScanModels", "inputs": {"model_type": "loras", "compute_hashes": True,
                                                         "fetch_civitai_info": False}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        }, client_id=ws.client_id)
        assert ws.wait_for_prompt_end(prompt_id)["type"] == "execution_success"
        complete = ws.wait_for(lambda m: m["type"] == "model_manager.complete_scan_task")
    import json

    report = json.loads(comfy.wait_for_history(prompt_id)["outputs"]["2"]["text"][0])
    names = {m["name"] for m in report["models"]}
    assert "scan_me.safetensors" in names
    assert report["count"] == len(report["models"]) >= 1
    assert complete["data"]["count"] == report["count"]
    assert complete["data"]["node_id"] == "1" and complete["data"]["prompt_id"] == prompt_id


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"


def test_example_workflow_matches_the_nodes(comfy):
    """examples/download_model_workflow.json (drag-and-drop) uses nodes and widgets as served."""
    import json

    workflow = json.loads((EXAMPLES / "download_model_workflow.json").read_text())
    info = comfy.object_info()
    for node in workflow["nodes"]:
        assert node["type"] in info, node["type"]
        spec = info[node["type"]]["input"]
        widgets = [name for section in ("required", "optional")
                   for name, value in spec.get(section, {}).items()
                   if isinstance(value[0], list) or value[0] in ("STRING", "INT", "FLOAT", "BOOLEAN")]
        if node["type"] == "DownloadModel":
            assert len(node["widgets_values"]) == len(widgets)
            assert node["widgets_values"][1] in spec["required"]["model_type"][0]
    node_ids = {n["id"] for n in workflow["nodes"]}
    for link_id, source, _slot, target, _tslot, _type in workflow["links"]:
        assert source in node_ids and target in node_ids


def test_example_api_workflow_and_script(comfy, files):
    import json
    import subprocess
    import sys

    served = files.add("/files/example_api.safetensors", 128 << 10)
    prompt = json.loads((EXAMPLES / "download_model_api.json").read_text())
    prompt["1"]["inputs"].update(url=files.url("/files/example_api.safetensors"), filename="")
    with comfy.websocket() as ws:
        prompt_id = comfy.queue_prompt(prompt, client_id=ws.client_id)
        end = ws.wait_for_prompt_end(prompt_id)
        assert end["type"] == "execution_success", end
    outputs = comfy.wait_for_history(prompt_id)["outputs"]
    assert outputs["2"]["text"] == ["lcm/example_api.safetensors"]
    assert json.loads(outputs["4"]["text"][0])["name"] == "lcm/example_api.safetensors"

    script = EXAMPLES / "queue_download.py"
    server = f"127.0.0.1:{comfy.port}"
    for index, extra in enumerate(([], ["--rest"])):
        path = f"/files/example_script_{index}.safetensors"
        expected = files.add(path, 96 << 10)
        run = subprocess.run([sys.executable, str(script), files.url(path), "--type", "vae",
                              "--server", server, *extra], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "completed" in run.stdout
        target = comfy.models_dir / "vae" / f"example_script_{index}.safetensors"
        assert hashlib.sha256(target.read_bytes()).hexdigest() == expected.sha256
    assert served.sha256


def test_readme_script_runs(comfy, files):
    """The Python client example in docs/REST.md works as printed."""
    import subprocess
    import sys

    readme = (EXAMPLES.parent / "docs" / "REST.md").read_text()
    start = readme.index("```python\nimport json, urllib.request, uuid, websocket")
    code = readme[start + len("```python\n"): readme.index("```", start + 10)]
    served = files.add("/files/readme.safetensors", 64 << 10)
    code = code.replace('"127.0.0.1:8188"', f'"127.0.0.1:{comfy.port}"')
    code = re.sub(r'"https://huggingface\.co/[^"]+"', f'"{files.url("/files/readme.safetensors")}"', code)
    code = code.replace('"lcm-lora-sdv1-5.safetensors"', '"readme.safetensors"')
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("completed")
    target = comfy.models_dir / "loras" / "readme.safetensors"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == served.sha256
