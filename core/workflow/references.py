"""Every model a workflow names, once, with all the nodes that name it.

Sources: the top-level ``models`` list and each node's ``properties.models`` (the frontend's
``{name, url, directory, hash?, hash_type?}``), and loader widgets (``LoaderSpec``), in the main
graph and in every subgraph, nested ones included; for an API-format prompt, the loader inputs.
Node ids of nodes inside subgraphs are ComfyUI's execution ids (``instance:inner``); nodes of a
subgraph that no node instantiates get ``subgraph-id:inner``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from .limits import MAX_REFERENCES, MAX_SUBGRAPH_DEPTH, BadWorkflow
from .loaders import LoaderSpec, canonical_folder
from .reader import Workflow

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class Candidate:
    """One distinct (directory, name) before policy and presence are applied."""

    name: str
    directory: str
    url: str | None = None
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    node_ids: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.directory, self.name)


@dataclass
class _Raw:
    name: Any
    directory: Any
    node_id: str | None
    url: Any = None
    hash: Any = None
    hash_type: Any = None


def collect(workflow: Workflow, loaders: Mapping[str, LoaderSpec]) -> list[Candidate]:
    """Distinct references in the order they first appear."""
    found: dict[tuple[str, str], Candidate] = {}
    for raw in _raw_references(workflow, loaders):
        if not isinstance(raw.name, str) or not isinstance(raw.directory, str):
            continue
        name = raw.name.strip().replace("\\", "/")
        directory = canonical_folder(raw.directory.strip())
        if not name or not directory:
            continue
        key = (directory, name)
        candidate = found.get(key)
        if candidate is None:
            if len(found) >= MAX_REFERENCES:
                raise BadWorkflow(f"the workflow names more than {MAX_REFERENCES:,} models; it is not read")
            candidate = found[key] = Candidate(name, directory)
        _merge(candidate, raw)
    return list(found.values())


def _merge(candidate: Candidate, raw: _Raw) -> None:
    if raw.node_id is not None and raw.node_id not in candidate.node_ids:
        candidate.node_ids.append(raw.node_id)
    if candidate.url is None and isinstance(raw.url, str) and raw.url.strip():
        candidate.url = raw.url.strip()
    if raw.hash is None or candidate.sha256 is not None:
        return
    kind = raw.hash_type if isinstance(raw.hash_type, str) else "sha256"
    value = raw.hash.strip() if isinstance(raw.hash, str) else ""
    if kind.strip().lower() != "sha256":
        note = f"hash type {str(kind)[:20]!r} is not checked (only SHA256 is)"
    elif not _SHA256.match(value):
        note = "the workflow's SHA256 is not 64 hexadecimal characters; it is not checked"
    else:
        candidate.sha256 = value.lower()
        return
    if note not in candidate.notes:
        candidate.notes.append(note)


def _raw_references(workflow: Workflow, loaders: Mapping[str, LoaderSpec]) -> Iterator[_Raw]:
    budget = [MAX_REFERENCES * 4]  # raw entries (duplicates included) read at most

    def counted(items: Iterator[_Raw]) -> Iterator[_Raw]:
        for item in items:
            budget[0] -= 1
            if budget[0] < 0:
                raise BadWorkflow(f"the workflow names more than {MAX_REFERENCES:,} models; it is not read")
            yield item

    if workflow.ui is not None:
        yield from counted(_from_ui(workflow.ui, loaders))
    if workflow.prompt is not None:
        yield from counted(_from_prompt(workflow.prompt, loaders))


def _models_list(value: Any, node_id: str | None) -> Iterator[_Raw]:
    if not isinstance(value, list):
        return
    for entry in value:
        if isinstance(entry, dict):
            yield _Raw(entry.get("name"), entry.get("directory"), node_id, entry.get("url"),
                       entry.get("hash"), entry.get("hash_type"))


def _from_ui(graph: dict, loaders: Mapping[str, LoaderSpec]) -> Iterator[_Raw]:
    yield from _models_list(graph.get("models"), None)
    subgraphs: dict[str, dict] = {}
    _gather_subgraphs(graph, subgraphs, 0)
    instantiated: set[str] = set()
    yield from _walk(graph.get("nodes"), "", subgraphs, loaders, instantiated, 0, ())
    for subgraph_id, subgraph in subgraphs.items():
        if subgraph_id not in instantiated:
            yield from _walk(subgraph.get("nodes"), f"{subgraph_id}:", subgraphs, loaders, instantiated, 1,
                             (subgraph_id,))


def _gather_subgraphs(graph: dict, into: dict[str, dict], depth: int) -> None:
    if depth > MAX_SUBGRAPH_DEPTH:
        raise BadWorkflow(f"the workflow nests subgraphs deeper than {MAX_SUBGRAPH_DEPTH} levels")
    definitions = graph.get("definitions")
    if not isinstance(definitions, dict):
        return
    for subgraph in definitions.get("subgraphs") or []:
        if isinstance(subgraph, dict) and isinstance(subgraph.get("id"), str):
            into.setdefault(subgraph["id"], subgraph)
            _gather_subgraphs(subgraph, into, depth + 1)


def _walk(nodes: Any, prefix: str, subgraphs: dict[str, dict], loaders: Mapping[str, LoaderSpec],
          instantiated: set[str], depth: int, stack: tuple[str, ...]) -> Iterator[_Raw]:
    if not isinstance(nodes, list):
        return
    if depth > MAX_SUBGRAPH_DEPTH:
        raise BadWorkflow(f"the workflow nests subgraphs deeper than {MAX_SUBGRAPH_DEPTH} levels")
    for node in nodes:
        if not isinstance(node, dict):
            continue
        node_id = f"{prefix}{node.get('id')}"
        class_type = node.get("type")
        properties = node.get("properties")
        if isinstance(properties, dict):
            yield from _models_list(properties.get("models"), node_id)
        spec = loaders.get(class_type) if isinstance(class_type, str) else None
        if spec is not None:
            for _input, folder, value in spec.from_widget_values(node.get("widgets_values")):
                yield _Raw(value, folder, node_id)
        if isinstance(class_type, str) and class_type in subgraphs and class_type not in stack:
            instantiated.add(class_type)
            yield from _walk(subgraphs[class_type].get("nodes"), f"{node_id}:", subgraphs, loaders,
                             instantiated, depth + 1, stack + (class_type,))


def _from_prompt(prompt: dict, loaders: Mapping[str, LoaderSpec]) -> Iterator[_Raw]:
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        spec = loaders.get(node.get("class_type"))
        if spec is not None:
            for _input, folder, value in spec.from_inputs(node.get("inputs")):
                yield _Raw(value, folder, str(node_id))


def class_types(workflow: Workflow) -> set[str]:
    """Every node class a workflow uses (subgraphs included), to look up loader specs for."""
    found: set[str] = set()
    if workflow.ui is not None:
        subgraphs: dict[str, dict] = {}
        _gather_subgraphs(workflow.ui, subgraphs, 0)
        for nodes in [workflow.ui.get("nodes"), *(s.get("nodes") for s in subgraphs.values())]:
            for node in nodes if isinstance(nodes, list) else []:
                if isinstance(node, dict) and isinstance(node.get("type"), str):
                    found.add(node["type"])
    if workflow.prompt is not None:
        found.update(n["class_type"] for n in workflow.prompt.values()
                     if isinstance(n, dict) and isinstance(n.get("class_type"), str))
    return found
