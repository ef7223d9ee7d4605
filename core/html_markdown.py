"""Civitai descriptions are HTML (from a rich-text editor); ``NAME.md`` wants plain Markdown.

A small converter over ``html.parser``: paragraphs, line breaks, headings, bold/italic, links,
lists, code, blockquotes and rules become Markdown; scripts, styles and every other tag are
dropped (their text kept); entities are decoded.  Nothing is fetched or executed.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = {"p", "div", "section", "article", "header", "footer", "table", "tr", "figure", "h1", "h2", "h3",
           "h4", "h5", "h6", "ul", "ol", "pre", "blockquote", "hr"}
_SKIP = {"script", "style", "template", "iframe", "object", "svg", "head"}
_SAFE_LINK = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)
#: Inline tags that open and close with the same Markdown marker.
_INLINE_MARKS = {"strong": "**", "b": "**", "em": "*", "i": "*", "s": "~~", "del": "~~", "strike": "~~"}


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.lists: list[list] = []  # stack of [kind, counter]
        self.links: list[str | None] = []
        self.skip = 0
        self.pre = 0
        self.quote = 0

    # -- helpers -------------------------------------------------------------------------
    # Only the end of the output is ever looked at: the helpers walk ``out`` backwards instead of
    # joining it, so a long description converts in linear time.
    def _text(self) -> str:
        return "".join(self.out)

    def _tail(self, size: int) -> str:
        """The last ``size`` characters of the output (fewer if it is shorter)."""
        pieces: list[str] = []
        length = 0
        for piece in reversed(self.out):
            pieces.append(piece)
            length += len(piece)
            if length >= size:
                break
        return "".join(reversed(pieces))[-size:]

    def _trailing_newlines(self) -> int | None:
        """How many newlines end the output; None while it holds nothing but whitespace."""
        trailing = 0
        counting = True
        for piece in reversed(self.out):
            if counting:
                stripped = piece.rstrip("\n")
                trailing += len(piece) - len(stripped)
                counting = not stripped
            if piece.strip():
                return trailing
        return None

    def _newlines(self, count: int) -> None:
        trailing = self._trailing_newlines()
        if trailing is None:
            return
        if trailing < count:
            self.out.append("\n" * (count - trailing))
            if self.quote:
                self.out.append("> " * self.quote)

    # -- parser callbacks ------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        attributes = dict(attrs)
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._newlines(2)
            self.out.append("#" * int(tag[1]) + " ")
        elif tag in ("p", "div", "section", "article", "table", "figure"):
            self._newlines(2)
        elif tag == "tr":
            self._newlines(1)
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "br":
            self.out.append("  \n" + "> " * self.quote)
        elif tag == "hr":
            self._newlines(2)
            self.out.append("---")
            self._newlines(2)
        elif (mark := self._inline_mark(tag)) is not None:
            self.out.append(mark)
        elif tag == "pre":
            self._newlines(2)
            self.out.append("```\n")
            self.pre += 1
        elif tag == "blockquote":
            self.quote += 1
            self._newlines(2)
            self.out.append("> ")
        elif tag in ("ul", "ol"):
            self._newlines(1 if self.lists else 2)
            self.lists.append([tag, 0])
        elif tag == "li":
            self._newlines(1)
            depth = max(len(self.lists) - 1, 0)
            kind = self.lists[-1] if self.lists else ["ul", 0]
            kind[1] += 1
            bullet = f"{kind[1]}." if kind[0] == "ol" else "-"
            self.out.append("  " * depth + bullet + " ")
        elif tag == "a":
            href = (attributes.get("href") or "").strip()
            self.links.append(href if _SAFE_LINK.match(href) else None)
            if self.links[-1]:
                self.out.append("[")
        elif tag == "img":
            src = (attributes.get("src") or "").strip()
            if _SAFE_LINK.match(src):
                alt = (attributes.get("alt") or "image").replace("]", "")
                self.out.append(f"![{alt}]({src})")

    def _inline_mark(self, tag: str) -> str | None:
        """The Markdown that opens and closes an inline tag (``**``, ``_``…), or None; inside
        ``<pre>`` a ``<code>`` adds nothing (the fence already marks it)."""
        if tag == "code":
            return None if self.pre else "`"
        return _INLINE_MARKS.get(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(self.skip - 1, 0)
            return
        if self.skip:
            return
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6", "p", "div", "section", "article", "table", "figure"):
            self._newlines(2)
        elif (mark := self._inline_mark(tag)) is not None:
            self.out.append(mark)
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
            self.out.append("\n```")
            self._newlines(2)
        elif tag == "blockquote":
            self.quote = max(self.quote - 1, 0)
            self._newlines(2)
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._newlines(2 if not self.lists else 1)
        elif tag == "a":
            href = self.links.pop() if self.links else None
            if href:
                self.out.append(f"]({href})")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.out.append(data)
            return
        text = re.sub(r"\s+", " ", data)
        tail = self._tail(2)
        if not tail or tail.endswith(("\n", "> ", "- ", ". ")):
            text = text.lstrip()
        self.out.append(text)


def html_to_markdown(html: str | None) -> str:
    """Convert a Civitai HTML description to Markdown (plain text passes through unchanged)."""
    if not html:
        return ""
    converter = _Converter()
    converter.feed(html)
    converter.close()
    text = converter._text()
    text = re.sub(r"[ \t]+\n", lambda m: "  \n" if m.group(0).startswith("  ") else "\n", text)
    text = re.sub(r"\*\*\s*\*\*", "", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
