"""A UI workflow (as ComfyUI's templates are saved) turned into the API prompt the frontend would
queue, for tests that drive ComfyUI's ``POST /prompt`` without a browser.

It covers what simple templates use: links, widget values in input order (the seed's
"control after generate" value skipped), bypassed nodes (mode 4: an input of the same type passes
through) and muted ones (mode 2: left out), and nodes ComfyUI does not know (notes) left out.
It does not expand subgraphs, group nodes, primitives or reroutes: use templates without them.
"""
from __future__ import annotations

from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_CONTROLS = {"fixed", "increment", "decrement", "randomize"}
MUTED, BYPASSED = 2, 4


def _is_widget(spec: list) -> bool:
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def ui_to_prompt(workflow: dict[str, Any], object_info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: (link[1], link[2]) for link in workflow.get("links", [])}

    def source(link_id: int) -> list | None:
        origin, slot = links[link_id]
        node = nodes[origin]
        if node.get("mode") == BYPASSED:
            wanted = node["outputs"][slot]["type"]
            for item in node.get("inputs", []):
                if item.get("type") == wanted and item.get("link") is not None:
                    return source(item["link"])
            return None
        if node.get("mode") == MUTED or node["type"] not in object_info:
            return None
        return [str(origin), slot]

    prompt: dict[str, dict[str, Any]] = {}
    for node in workflow["nodes"]:
        info = object_info.get(node["type"])
        if info is None or node.get("mode") in (MUTED, BYPASSED):
            continue
        linked = {item["name"]: item["link"] for item in node.get("inputs", []) if item.get("link") is not None}
        values = list(node.get("widgets_values") or [])
        declared = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
        inputs: dict[str, Any] = {}
        for name, spec in declared.items():
            value = None
            if _is_widget(spec) and values:
                value = values.pop(0)
                if values and isinstance(values[0], str) and values[0] in SEED_CONTROLS:
                    values.pop(0)
            if name in linked:
                origin = source(linked[name])
                if origin is not None:
                    inputs[name] = origin
            elif _is_widget(spec):
                inputs[name] = value
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def output_nodes(prompt: dict[str, dict[str, Any]], object_info: dict[str, Any]) -> list[str]:
    return [node_id for node_id, node in prompt.items() if object_info[node["class_type"]].get("output_node")]
