"""Imports go one way: nodes/ -> core/; core/sources uses only the foundations (never the manager,
the scanner, the workflow tools or the CLI that use it); core/ never imports nodes/ or ComfyUI."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Package-relative names (``core.http``) of every import in ``path``, lazy ones included."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package[: len(package) - node.level + 1])
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    return bad


def test_sources_use_only_the_foundations():
    assert offenders("core/sources", ("core.downloads", "core.scanner", "core.workflow", "core.cli", "core.app",
                                      "core.resolve", "core.trash", "nodes")) == []


def test_the_scanner_never_reaches_up():
    assert offenders("core/scanner", ("core.downloads", "core.workflow", "core.cli", "core.app", "nodes")) == []


def test_core_never_imports_nodes_or_comfyui():
    assert offenders("core", ("nodes", "folder_paths", "server", "comfy", "execution")) == []
