"""Is the text on the page readable?  The colours the browser computed, measured in the page.

``text_contrast(page, root_selector)`` walks every visible element under the roots that shows
text of its own (a text node, or the value of an input, select or textarea) and answers, for each,
its computed text colour, the background it is drawn on, and the WCAG contrast ratio of the two.

Colours are whatever CSS produced (``rgb()``, ``color(srgb …)`` from ``color-mix``, named
colours): the page paints each into a 1x1 canvas and reads the pixel back, so no CSS colour
syntax is parsed here.  The background is found the way it is painted: the element's own
background colour, then its ancestors', composed over each other until one is opaque (white is
beneath the page, unless told otherwise); the opacity of the elements in between fades the text
towards that background.  Disabled controls and ``aria-hidden`` decoration are left out (WCAG
does not ask contrast of them).

``theme_colours(page, selectors)`` answers the text colour and the painted background of the
first element of each selector, to compare one palette with another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: WCAG 2 AA for normal-size text.
AA_NORMAL_TEXT = 4.5

_MEASURE_JS = r"""
(() => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const rgba = (css) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#000';
    ctx.fillStyle = css;              // an unknown syntax leaves the black, visible in the report
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    return a ? [r / a * 255, g / a * 255, b / a * 255, a / 255] : [0, 0, 0, 0];
  };
  const over = (top, bottom) => {     // top (with alpha) over an opaque bottom
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
  };
  let base = [255, 255, 255, 1];     // what is beneath the page's elements
  const painted = (element) => {      // [background rgb, opacity product up to it]
    const layers = [];
    let fade = 1;
    for (let e = element; e && e.nodeType === 1; e = e.parentElement) {
      const style = getComputedStyle(e);
      const colour = rgba(style.backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] >= 1) break;
      fade *= Number(style.opacity);
    }
    let colour = base;
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return [colour, fade * Number(getComputedStyle(element).opacity)];
  };
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const hex = (c) => '#' + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  const describe = (e) => e.localName + (e.className && typeof e.className === 'string'
    ? '.' + e.className.trim().split(/\s+/).join('.') : '');
  const measure = (e) => {
    const style = getComputedStyle(e);
    const [background, fade] = painted(e);
    const text = rgba(style.color);
    const shown = over([...text.slice(0, 3), text[3] * fade], background);
    return { background, shown, ratio: ratio(shown, background), style };
  };
  window.__mmTextContrast = (rootSelector, beneath) => {
    base = beneath ? rgba(beneath) : [255, 255, 255, 1];
    const found = [];
    for (const root of document.querySelectorAll(rootSelector)) {
      for (const e of [root, ...root.querySelectorAll('*')]) {
        if (!e.checkVisibility?.({ opacityProperty: false, visibilityProperty: true })) continue;
        const rect = e.getBoundingClientRect();
        if (!rect.width || !rect.height) continue;
        if (e.closest('[aria-hidden="true"], :disabled, [aria-disabled="true"]')) continue;
        const field = /^(input|select|textarea)$/.test(e.localName) && e.type !== 'checkbox' && e.type !== 'file';
        const own = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
        const shown = field ? (e.localName === 'select' ? e.selectedOptions[0]?.text ?? '' : e.value) : own;
        if (!shown || !shown.trim()) continue;
        const m = measure(e);
        found.push({ element: describe(e), text: shown.trim().slice(0, 60), colour: hex(m.shown),
                     background: hex(m.background), ratio: Math.round(m.ratio * 100) / 100 });
      }
    }
    return found;
  };
  window.__mmThemeColours = (selectors) => { base = [255, 255, 255, 1]; return Object.fromEntries(selectors.map((selector) => {
    const e = document.querySelector(selector);
    if (!e) return [selector, null];
    const m = measure(e);
    return [selector, { colour: hex(m.shown), background: hex(m.background),
                        text_luminance: luminance(m.shown), background_luminance: luminance(m.background) }];
  })); };
})();
"""


@dataclass(frozen=True)
class TextSample:
    element: str
    text: str
    colour: str
    background: str
    ratio: float

    def __str__(self) -> str:
        return f"{self.element} {self.text!r}: {self.colour} on {self.background} = {self.ratio}:1"


def _install(page: Any) -> None:
    if not page.evaluate("() => typeof window.__mmTextContrast === 'function'"):
        page.evaluate(_MEASURE_JS)


def text_contrast(page: Any, root_selector: str, beneath: str | None = None) -> list[TextSample]:
    """Every visible text of the elements under ``root_selector`` (a Playwright page).
    ``beneath``: the CSS colour under the page's elements where it is not white (a DOM widget
    over a canvas node sits on the node's colour, painted in the canvas)."""
    _install(page)
    return [TextSample(**sample) for sample in
            page.evaluate("([s, b]) => window.__mmTextContrast(s, b)", [root_selector, beneath])]


def unreadable(samples: list[TextSample], minimum: float = AA_NORMAL_TEXT) -> list[str]:
    return [str(sample) for sample in samples if sample.ratio < minimum]


def theme_colours(page: Any, selectors: list[str]) -> dict[str, dict[str, Any] | None]:
    """Text colour, painted background and their luminances of the first match of each selector."""
    _install(page)
    return page.evaluate("(s) => window.__mmThemeColours(s)", selectors)
