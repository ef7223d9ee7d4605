"""ScanModels: index the model folders, optionally hashing and asking Civitai for metadata."""
from __future__ import annotations

import json
import math
from typing import Any

from ..core.errors import ModelManagerError
from . import comfy_api, inputs
from .folders import model_type_names
from .runtime import get_runtime
from .waiting import POLL_SECONDS, run_interruptibly, stop_if_interrupted

CATEGORY = "model_manager"


class ScanFailed(ModelManagerError, code="scan_failed"):
    """The scan ended without a report (cancelled, or it failed; the message says why)."""


class ScanModels:
    DESCRIPTION = ("Scans the model folders and fills the model index; optionally computes SHA-256 "
                   "hashes and looks the models up on Civitai to add missing info and previews.")
    CATEGORY = CATEGORY
    FUNCTION = "scan"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING", "INT")
    RETURN_NAMES = ("report", "count")
    OUTPUT_TOOLTIPS = ("The scan report as JSON (one entry per model).", "How many models were found.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model_type": inputs.choice(["all", *model_type_names()], "all",
                                            "Which model folder type to scan, or all of them."),
            },
            "optional": {
                "compute_hashes": inputs.toggle(False, "Compute SHA-256 of every model (cached; slow the "
                                                "first time)."),
                "fetch_civitai_info": inputs.toggle(False, "Look models up on Civitai by hash and save "
                                                    "missing info, description and preview beside them "
                                                    "(implies hashing)."),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def IS_CHANGED(cls, **_: Any) -> float:
        return math.nan  # folders change behind ComfyUI's back: always rescan

    def scan(self, model_type: str = "all", compute_hashes: bool = False,
             fetch_civitai_info: bool = False, unique_id: Any = None) -> dict[str, Any]:
        runtime = get_runtime()
        prompt_id, context_node = comfy_api.executing_context()
        node_id = str(unique_id) if unique_id is not None else context_node
        task = run_interruptibly(runtime.executor, lambda: runtime.index.start_scan(
            model_type, compute_hashes=bool(compute_hashes), fetch_civitai_info=bool(fetch_civitai_info),
            node_id=node_id, prompt_id=prompt_id))
        bar = comfy_api.progress_bar(100, node_id)
        while not task.wait(POLL_SECONDS):
            stop_if_interrupted()
            if bar is not None and task.total:
                bar.update_absolute(int(100 * task.scanned / task.total), 100)
        stop_if_interrupted()
        if task.status != "completed" or task.report is None:
            detail = "; ".join(task.errors[:3]) or task.status
            raise ScanFailed(f"the scan of {model_type} did not complete: {detail}")
        report = task.report.to_json()
        summary = (f"{report['count']} models, {report['hashed']} hashed, "
                   f"{report['matched']} matched on Civitai, {len(report['errors'])} errors")
        return {"ui": {"text": [summary]},
                "result": (json.dumps(report, indent=2, sort_keys=True, default=str), report["count"])}
