// Tiny DOM helpers for the sidebar. Text always goes in as text (textContent), never as HTML.

/**
 * h("button", { className: "x", onClick: fn, "aria-label": "Pause" }, "Pause", child)
 * Props: className, text, dataset, on<Event> listeners, hidden/disabled/value/type…, anything
 * else becomes an attribute.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") element.className = value;
    else if (key === "text") element.textContent = String(value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key in PROPERTIES) element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

const PROPERTIES = { hidden: 1, disabled: 1, value: 1, type: 1, checked: 1, placeholder: 1, draggable: 1,
  tabIndex: 1, title: 1, spellcheck: 1, id: 1, htmlFor: 1, min: 1, max: 1, accept: 1, selected: 1, rows: 1 };

export function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

/** A button with a visible label (and an icon from PrimeIcons, which every frontend ships). */
export function button(label, onClick, { icon, className = "", ariaLabel, title, iconOnly = false } = {}) {
  const node = h("button", {
    type: "button", className: `mm-sb-button ${className}`.trim(), onClick,
    "aria-label": ariaLabel ?? (iconOnly ? label : undefined), title: title ?? (iconOnly ? label : undefined),
  });
  if (icon) node.append(h("i", { className: `pi ${icon}`, "aria-hidden": "true" }));
  if (!iconOnly) node.append(h("span", { text: label }));
  return node;
}

/**
 * The named parts of a row, made where they sit in its tree: `const [parts, part] = rowParts();`
 * then `part("name", "span", "mm-x-name", props?, ...children)` makes the element, keeps it as
 * `parts.name` (for painting) and returns it.
 */
export function rowParts() {
  const parts = {};
  const part = (name, tag, className, props = {}, ...children) => {
    parts[name] = h(tag, { className, ...props }, ...children);
    return parts[name];
  };
  return [parts, part];
}

/** A 0–100 progress bar: `{ bar, fill }`, with `children` after the fill; paint it with showProgress. */
export function progressBar(className = "", ...children) {
  const fill = h("div", { className: "mm-sb-bar-fill" });
  const bar = h("div", { className: `mm-sb-bar ${className}`.trim(), role: "progressbar", "aria-valuemin": "0",
    "aria-valuemax": "100" }, fill, ...children);
  return { bar, fill };
}

/** Shows `percent` (null: not known, drawn empty) on a progressBar that screen readers call `label`. */
export function showProgress({ bar, fill }, percent, label) {
  fill.style.width = `${percent ?? 0}%`;
  bar.setAttribute("aria-valuenow", percent == null ? "0" : percent.toFixed(0));
  bar.setAttribute("aria-label", label);
}

/** A labelled <select>; options are [value, text] pairs. */
export function select(label, options, value, onChange, className = "") {
  const node = h("select", { className: `mm-sb-select ${className}`.trim(), "aria-label": label, title: label });
  for (const [optionValue, text] of options) {
    node.append(h("option", { value: optionValue, text }));
  }
  if (value !== undefined) node.value = value;
  if (onChange) node.addEventListener("change", () => onChange(node.value));
  return node;
}

export function spinner(label = "Loading…") {
  return h("span", { className: "mm-sb-spinner", role: "status", "aria-label": label },
    h("i", { className: "pi pi-spin pi-spinner", "aria-hidden": "true" }));
}

/** Copies text to the clipboard (a hidden textarea where the async API is refused). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { value: text, className: "mm-sb-offscreen" });
    document.body.append(area);
    area.select();
    const ok = document.execCommand?.("copy") ?? false;
    area.remove();
    return ok;
  }
}

export const basename = (name) => String(name ?? "").split("/").pop();

/**
 * Keeps `container`'s rows in step with `items`, in their order: one row per key, made once with
 * `make(key)` and painted with `paint(row, item)` on every call; rows whose key is gone are
 * removed. `rows` maps key -> { element, … } and is kept by the caller.
 */
export function syncRows(container, rows, items, keyOf, make, paint) {
  const seen = new Set();
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    seen.add(key);
    let row = rows.get(key);
    if (!row) {
      row = make(key);
      rows.set(key, row);
    }
    paint(row, item);
    const anchor = previous ? previous.nextSibling : container.firstChild;
    if (row.element !== anchor) container.insertBefore(row.element, anchor);
    previous = row.element;
  }
  for (const [key, row] of rows) {
    if (!seen.has(key)) {
      row.element.remove();
      rows.delete(key);
    }
  }
}

/** `run()` at most once per `ms` however often schedule() is called; cancel() drops a pending run. */
export function throttle(run, ms) {
  let timer = null;
  return {
    schedule() {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        run();
      }, ms);
    },
    cancel() {
      clearTimeout(timer);
      timer = null;
    },
  };
}
