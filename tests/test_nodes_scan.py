"""ScanModels run outside ComfyUI over a real runtime: its events name the node that asked."""
from __future__ import annotations

import json
import threading

from comfyui_model_manager.core.model_types import ModelFolders
from comfyui_model_manager.core.observers import COMPLETE_SCAN_TASK, UPDATE_SCAN_TASK
from comfyui_model_manager.nodes import scan as scan_node
from comfyui_model_manager.nodes.runtime import RuntimeHolder, build_runtime
from support.scanner_files import write_safetensors


def test_scan_node_events_carry_its_node_id(tmp_path, monkeypatch):
    sent: list[tuple[str, dict]] = []
    lock = threading.Lock()

    def send(event: str, payload: dict) -> None:
        with lock:
            sent.append((event, payload))

    models = tmp_path / "models"
    for i in range(3):
        write_safetensors(models / "loras" / f"n{i}.safetensors", payload=bytes([i]) * 32)
    holder = RuntimeHolder(lambda: build_runtime(ModelFolders.from_models_dir(models), tmp_path / "state", send))
    monkeypatch.setattr(scan_node, "get_runtime", holder.get)
    try:
        out = scan_node.ScanModels().scan("loras", compute_hashes=True, unique_id=17)
    finally:
        holder.shutdown()
    report = json.loads(out["result"][0])
    assert out["result"][1] == report["count"] == 3
    scan_events = [(name, payload) for name, payload in sent if name in (UPDATE_SCAN_TASK, COMPLETE_SCAN_TASK)]
    assert scan_events and scan_events[-1][0] == COMPLETE_SCAN_TASK
    for _name, payload in scan_events:
        assert payload["scan_id"] == report["scan_id"]
        assert payload["node_id"] == "17" and "prompt_id" in payload  # no ComfyUI: prompt unknown
