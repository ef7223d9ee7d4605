"""The pack's stylesheets take their colours from the theme variables, never from literals.

The theme variables (--mm-*) are made in one place, the :root block of js/model_manager.css, from
the frontend's palette variables, with literal fallbacks for a frontend that has none.  Anywhere
else a literal colour would stay the same in the dark and the light palette; the few that should
(a source's brand hue under the theme's text, the scrim under a modal dialog) are listed here.
The browser side (text readable in both palettes) is tests/test_sidebar_theme_browser.py.
"""
from __future__ import annotations

import re
from pathlib import Path

JS = Path(__file__).resolve().parent.parent / "js"
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(|(?<![\w-])(?:white|black)(?![\w-])")
#: (file, literal) -> why it may stay the same in every palette
ALLOWED = {
    ("sidebar/sidebar.css", "#1e88e5"): "Civitai's brand blue, mixed into the panel under the theme's text",
    ("sidebar/sidebar.css", "#f5a623"): "the Hub's brand yellow, mixed into the panel under the theme's text",
    ("workflow/workflow.css", "rgb("): "the scrim that dims the page under the modal dialog",
}


def _without_comments(css: str) -> str:
    return re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)


def _root_block(css: str) -> tuple[str, str]:
    """(the :root block, the rest)"""
    match = re.search(r":root\s*\{[^}]*\}", css)
    assert match, "no :root block"
    return match.group(0), css[:match.start()] + css[match.end():]


def test_literal_colours_are_only_fallbacks_of_palette_variables() -> None:
    root, _rest = _root_block(_without_comments((JS / "model_manager.css").read_text()))
    for line in root.splitlines():
        for found in COLOUR.finditer(line):
            before = line[:found.start()]
            assert re.search(r"var\(--[\w-]+,\s*[^()]*$", before) or before.rstrip().endswith(","), (
                f"model_manager.css :root: {found.group(0)} is not a var() fallback: {line.strip()}")


def test_no_literal_colours_outside_the_theme_block() -> None:
    found = []
    for path in sorted(JS.rglob("*.css")):
        name = path.relative_to(JS).as_posix()
        css = _without_comments(path.read_text())
        if name == "model_manager.css":
            css = _root_block(css)[1]
        for number, line in enumerate(css.splitlines(), 1):
            for match in COLOUR.finditer(line):
                if (name, match.group(0)) not in ALLOWED:
                    found.append(f"{name}:{number}: {match.group(0)} in {line.strip()}")
    assert found == [], "\n".join(found)


def test_every_theme_variable_used_is_defined() -> None:
    root, _rest = _root_block(_without_comments((JS / "model_manager.css").read_text()))
    defined = set(re.findall(r"(--mm-[\w-]+)\s*:", root))
    used = {(path.relative_to(JS).as_posix(), name) for path in JS.rglob("*.css")
            for name in re.findall(r"var\((--mm-[\w-]+)", path.read_text())}
    assert not [u for u in used if u[1] not in defined], sorted(u for u in used if u[1] not in defined)
