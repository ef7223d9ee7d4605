"""The documentation stays true to the code: the README's size, its test command, its settings
table, every REST route in docs/REST.md, and every relative link pointing at a file."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from comfyui_model_manager.core.settings import Settings
from comfyui_model_manager.nodes.routes import ModelManagerRoutes

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 200


def test_readme_is_a_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines; keep it at most {MAX_README_LINES} and move details to docs/")


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = README.read_text(encoding="utf-8")
    ci_commands = set(re.findall(r"python -m pytest[^'\"\n]*", ci))
    assert ci_commands, ".ci/run runs no pytest command"
    readme_blocks = "\n".join(re.findall(r"```bash\n(.*?)```", readme, re.DOTALL))
    for command in ci_commands:
        assert command.strip() in readme_blocks, f"the README does not show CI's test command {command!r}"


def test_readme_settings_table_names_every_setting(tmp_path):
    readme = README.read_text(encoding="utf-8")
    table = readme[readme.index("## Settings"):]
    table = table[: table.index("\n## ", 4)]
    shown = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    public = Settings(tmp_path / "settings.json", environ={}).public_view()
    expected = {name.removesuffix("_set") for name in public}
    assert expected <= shown, f"settings missing from the README's table: {sorted(expected - shown)}"
    assert shown <= expected, f"the README's table names settings that do not exist: {sorted(shown - expected)}"


def _route_patterns(path: str) -> list[re.Pattern[str]]:
    """Regexes for a route path; ``{action:pause|resume}`` gives one per word (each must be documented)."""
    choice = re.search(r"\{(\w+):([\w|]+)\}", path)
    forms = ([path[: choice.start()] + word + path[choice.end():] for word in choice.group(2).split("|")]
             if choice else [path])
    patterns = []
    for form in forms:
        regex = re.sub(r"\{\w+:([^}]*)\}", r"(?:\1)", form)
        regex = re.sub(r"\{\w+\}", "[^/]+", regex)
        patterns.append(re.compile("/model-manager" + regex + "$"))
    return patterns


@pytest.mark.parametrize("method,path", [(m, p) for m, p, _ in ModelManagerRoutes().table()])
def test_every_route_is_in_the_rest_reference(method, path):
    reference = (ROOT / "docs" / "REST.md").read_text(encoding="utf-8")
    rows = [line for line in reference.splitlines() if line.startswith(f"| {method} |")]
    documented = [re.sub(r"\{\w+\}", "x", cell.split("?", 1)[0])
                  for row in rows for cell in re.findall(r"`(/model-manager[^`]*)`", row)]
    for pattern in _route_patterns(path):
        assert any(pattern.match(doc) for doc in documented), f"{method} {pattern.pattern} is not in docs/REST.md"


def test_rest_reference_shows_the_failure_shape():
    reference = (ROOT / "docs" / "REST.md").read_text(encoding="utf-8")
    assert '{"error": {"code":' in reference


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_point_at_files(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / unquote(target.split("#", 1)[0])).resolve()
        assert path.exists(), f"{page.name} links to {target}, which does not exist"


def test_no_placeholder_addresses():
    for page in (README, *DOCS):
        text = page.read_text(encoding="utf-8")
        for placeholder in ("github.com/comfyui-model-manager", "example.com", "<your", "YOUR_"):
            assert placeholder not in text, f"{page.name} contains the placeholder {placeholder!r}"
