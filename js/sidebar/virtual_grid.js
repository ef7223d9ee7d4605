// A virtualised grid (or list) of `total` items: only the rows in view (plus a margin) exist in
// the DOM, so 10,000 models scroll like 50. Items come from `fetchPage(offset, limit)` in pages
// fetched when their rows come into view; `renderItem(item, index)` makes one cell.

const PAGE = 200;
const OVERSCAN_ROWS = 3;

export class VirtualGrid {
  constructor({ fetchPage, renderItem, renderPlaceholder, onError, label = "Models" }) {
    this.fetchPage = fetchPage;
    this.renderItem = renderItem;
    this.renderPlaceholder = renderPlaceholder;
    this.onError = onError;
    this.mode = "grid";
    this.total = 0;
    this.pages = new Map(); // page index -> items[] | Promise
    this.generation = 0;
    this.cells = new Map(); // index -> element
    this.frame = 0;
    this.element = document.createElement("div");
    this.element.className = "mm-sb-scroller";
    this.element.tabIndex = -1;
    this.element.setAttribute("role", "list");
    this.element.setAttribute("aria-label", label);
    this.spacer = document.createElement("div");
    this.spacer.className = "mm-sb-spacer";
    this.element.append(this.spacer);
    this.element.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(this.element);
  }

  /** Cell geometry for the current mode and width. */
  layout() {
    const width = Math.max(1, this.element.clientWidth - 8);
    if (this.mode === "list") return { columns: 1, cellWidth: width, rowHeight: 44 };
    const columns = Math.max(1, Math.floor(width / 104));
    const cellWidth = width / columns;
    return { columns, cellWidth, rowHeight: Math.round(cellWidth * 1.2) + 40 };
  }

  setMode(mode) {
    this.mode = mode;
    this.element.dataset.mode = mode;
    this.dropCells();
    this.schedule();
  }

  /** New query: forget pages and cells; `first` is an already fetched first page. */
  reset(total, first) {
    this.generation += 1;
    this.total = total;
    this.pages = new Map();
    if (first) this.pages.set(0, first);
    this.dropCells();
    this.element.scrollTop = 0;
    this.render();
  }

  /** Replace one item everywhere it is shown (after an edit). */
  updateItem(match, item) {
    for (const [page, items] of this.pages) {
      if (!Array.isArray(items)) continue;
      const index = items.findIndex(match);
      if (index >= 0) {
        items[index] = item;
        const cell = this.cells.get(page * PAGE + index);
        if (cell) {
          cell.remove();
          this.cells.delete(page * PAGE + index);
        }
      }
    }
    this.schedule();
  }

  dropCells() {
    for (const cell of this.cells.values()) cell.remove();
    this.cells.clear();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  itemAt(index) {
    const items = this.pages.get(Math.floor(index / PAGE));
    return Array.isArray(items) ? items[index % PAGE] : undefined;
  }

  ensurePage(page) {
    if (this.pages.has(page)) return;
    const generation = this.generation;
    const pending = this.fetchPage(page * PAGE, PAGE).then((answer) => {
      if (generation !== this.generation) return;
      this.pages.set(page, answer.models);
      if (answer.total !== this.total) this.total = answer.total;
      this.schedule();
    }, (error) => {
      if (generation !== this.generation) return;
      this.pages.delete(page); // scrolling back here asks again
      this.onError?.(error);
    });
    this.pages.set(page, pending);
  }

  render() {
    const { columns, cellWidth, rowHeight } = this.layout();
    const rows = Math.ceil(this.total / columns);
    this.spacer.style.height = `${rows * rowHeight}px`;
    const top = this.element.scrollTop;
    const height = this.element.clientHeight || 600;
    const firstRow = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN_ROWS);
    const lastRow = Math.min(rows - 1, Math.ceil((top + height) / rowHeight) + OVERSCAN_ROWS);
    const first = firstRow * columns;
    const last = Math.min(this.total - 1, (lastRow + 1) * columns - 1);
    for (const [index, cell] of this.cells) {
      if (index < first || index > last) {
        cell.remove();
        this.cells.delete(index);
      }
    }
    for (let index = first; index <= last; index += 1) {
      const item = this.itemAt(index);
      if (item === undefined) this.ensurePage(Math.floor(index / PAGE));
      let cell = this.cells.get(index);
      if (cell && cell.dataset.placeholder === "1" && item !== undefined) {
        cell.remove();
        cell = undefined;
      }
      if (!cell) {
        cell = item === undefined ? this.renderPlaceholder(index) : this.renderItem(item, index);
        cell.dataset.placeholder = item === undefined ? "1" : "0";
        cell.dataset.index = String(index);
        cell.style.position = "absolute";
        this.element.append(cell);
        this.cells.set(index, cell);
      }
      const row = Math.floor(index / columns);
      const column = index % columns;
      cell.style.transform = `translate(${Math.round(column * cellWidth)}px, ${row * rowHeight}px)`;
      cell.style.width = `${Math.floor(cellWidth) - 8}px`;
      cell.style.height = `${rowHeight - 8}px`;
    }
    this.element.dataset.rendered = String(this.cells.size);
  }

  dispose() {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
  }
}

export const PAGE_SIZE = PAGE;
