// Untrusted descriptions (Civitai HTML, Markdown sidecars, anything a model file carries) turned
// into safe DOM: a small Markdown renderer whose output, like any HTML inside the text, goes
// through an allow-list sanitiser. Nothing here assigns untrusted text to innerHTML of a live
// document: HTML is parsed in an inert document (DOMParser runs no scripts and loads nothing) and
// rebuilt node by node with only allowed tags and attributes.

const ALLOWED_TAGS = new Set([
  "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
  "hr", "i", "img", "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table",
  "tbody", "td", "th", "thead", "tr", "u", "ul",
]);
/** Tags removed with everything inside them (their text is not content). */
const DROPPED_WITH_CONTENT = new Set([
  "script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math", "form",
  "textarea", "select", "button", "input", "link", "meta", "base", "frame", "frameset", "title",
]);
const ALLOWED_ATTRIBUTES = {
  a: new Set(["href", "title"]),
  img: new Set(["src", "alt", "title", "width", "height"]),
  td: new Set(["colspan", "rowspan"]),
  th: new Set(["colspan", "rowspan"]),
  "*": new Set(["title"]),
};
const SAFE_LINK = /^(https?:|mailto:|#|\/(?!\/))/i;
const SAFE_IMAGE = /^https?:/i;
const MAX_DEPTH = 64;

/** True for URLs that may be followed: http(s), mailto, same-page and same-site paths. */
export function isSafeUrl(value, forImage = false) {
  // Browsers ignore control characters and spaces inside a scheme ("java\tscript:"): drop them first.
  const compact = String(value ?? "").replace(/[\u0000-\u0020\u007f-\u009f]/g, "");
  return (forImage ? SAFE_IMAGE : SAFE_LINK).test(compact);
}

/** A DocumentFragment holding the sanitised form of `html` (a string). */
export function sanitizeHtml(html, doc = document) {
  const parsed = new DOMParser().parseFromString(`<body>${String(html ?? "")}</body>`, "text/html");
  const fragment = doc.createDocumentFragment();
  copyChildren(parsed.body, fragment, doc, 0);
  return fragment;
}

function copyChildren(source, target, doc, depth) {
  for (const child of source.childNodes) {
    const copy = copyNode(child, doc, depth + 1);
    if (copy) target.appendChild(copy);
  }
}

function copyNode(node, doc, depth) {
  if (node.nodeType === Node.TEXT_NODE) return doc.createTextNode(node.nodeValue);
  if (node.nodeType !== Node.ELEMENT_NODE || depth > MAX_DEPTH) return null;
  const tag = node.localName;
  if (DROPPED_WITH_CONTENT.has(tag)) return null;
  if (!ALLOWED_TAGS.has(tag)) {
    // Unknown wrappers (font, center, section, …) keep their content.
    const fragment = doc.createDocumentFragment();
    copyChildren(node, fragment, doc, depth);
    return fragment;
  }
  const element = doc.createElement(tag);
  const allowed = ALLOWED_ATTRIBUTES[tag] ?? new Set();
  for (const { name, value } of node.attributes) {
    const key = name.toLowerCase();
    if (!allowed.has(key) && !ALLOWED_ATTRIBUTES["*"].has(key)) continue; // on*, style, srcset, …
    if (key === "href" && !isSafeUrl(value)) continue;
    if (key === "src" && !isSafeUrl(value, true)) continue;
    element.setAttribute(key, value);
  }
  if (tag === "a") {
    element.setAttribute("target", "_blank");
    element.setAttribute("rel", "noopener noreferrer nofollow");
  }
  if (tag === "img") {
    if (!element.hasAttribute("src")) return null;
    element.setAttribute("loading", "lazy");
    element.setAttribute("referrerpolicy", "no-referrer");
  }
  copyChildren(node, element, doc, depth);
  return element;
}

// -- Markdown ---------------------------------------------------------------------------------
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

/** Inline marks: `code`, **bold**, *em*, ~~del~~, [text](url), ![alt](src), bare URLs.
 * Raw HTML in the text is kept (and sanitised afterwards with everything else). */
function inline(text) {
  const codes = [];
  let out = text.replace(/`([^`\n]+)`/g, (_, code) => {
    codes.push(`<code>${escapeHtml(code)}</code>`);
    return `\u0000${codes.length - 1}\u0000`;
  });
  out = out
    .replace(/!\[([^\]\n]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g, (_, alt, src) => `<img alt="${escapeHtml(alt)}" src="${escapeHtml(src)}">`)
    .replace(/\[([^\]\n]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g, (_, label, href) => `<a href="${escapeHtml(href)}">${label}</a>`)
    .replace(/(^|[\s(])(https?:\/\/[^\s<>()"']+)/g, (_, lead, url) => `${lead}<a href="${escapeHtml(url)}">${escapeHtml(url)}</a>`)
    .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
    .replace(/__([^_\n]+)__/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>")
    .replace(/~~([^~\n]+)~~/g, "<del>$1</del>");
  return out.replace(/\u0000(\d+)\u0000/g, (_, index) => codes[Number(index)]);
}

/** Markdown (the common subset sidecars use) to an HTML string; sanitise the result. */
export function markdownToHtml(markdown) {
  const lines = String(markdown ?? "").replace(/\r\n?/g, "\n").split("\n");
  const html = [];
  let paragraph = [];
  let list = null; // "ul" | "ol"
  let fence = null;
  const flush = () => {
    if (paragraph.length) html.push(`<p>${inline(paragraph.join(" "))}</p>`);
    paragraph = [];
  };
  const closeList = () => {
    if (list) html.push(`</${list}>`);
    list = null;
  };
  for (const line of lines) {
    if (fence !== null) {
      if (/^\s*```/.test(line)) {
        html.push(`<pre><code>${escapeHtml(fence.join("\n"))}</code></pre>`);
        fence = null;
      } else fence.push(line);
      continue;
    }
    if (/^\s*```/.test(line)) { flush(); closeList(); fence = []; continue; }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
    const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
    if (!line.trim()) { flush(); closeList(); continue; }
    if (heading) { flush(); closeList(); html.push(`<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`); continue; }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flush(); closeList(); html.push("<hr>"); continue; }
    if (bullet || numbered) {
      flush();
      const kind = bullet ? "ul" : "ol";
      if (list !== kind) { closeList(); html.push(`<${kind}>`); list = kind; }
      html.push(`<li>${inline((bullet ?? numbered)[1])}</li>`);
      continue;
    }
    if (/^\s*>\s?/.test(line)) { flush(); closeList(); html.push(`<blockquote>${inline(line.replace(/^\s*>\s?/, ""))}</blockquote>`); continue; }
    closeList();
    paragraph.push(line.trim());
  }
  if (fence !== null) html.push(`<pre><code>${escapeHtml(fence.join("\n"))}</code></pre>`);
  flush();
  closeList();
  return html.join("\n");
}

/** The description as safe DOM: Markdown rendered, any HTML in it sanitised. */
export function renderDescription(text, doc = document) {
  return sanitizeHtml(markdownToHtml(text), doc);
}
