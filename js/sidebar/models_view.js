// The Models view: folder type, search, sort, a virtualised grid or list, a Scan button with
// live progress, and the details of the model clicked.
import { cancelScan, getScan } from "../api.js";
import { formatBytes } from "../format.js";
import { focusUndoOf } from "../undo_toast.js";
import { showToast, toastActionError } from "../toasts.js";
import { basename, button, clear, h, progressBar, select, showProgress, spinner } from "./dom.js";
import { startModelDrag } from "./loaders.js";
import { ModelDetails } from "./model_details.js";
import { listModels, listTypes, previewUrl, startScan } from "./requests.js";
import { VirtualGrid } from "./virtual_grid.js";

const SORTS = [["name", "Name A–Z"], ["-name", "Name Z–A"], ["-added", "Newest first"], ["added", "Oldest first"],
  ["-size", "Largest first"], ["size", "Smallest first"]];
const SEARCH_DELAY_MS = 250;
const PREFERRED_TYPES = ["checkpoints", "loras", "vae", "controlnet", "diffusion_models", "text_encoders",
  "upscale_models", "embeddings"];

export class ModelsView {
  constructor(app) {
    this.app = app;
    this.type = "checkpoints";
    this.q = "";
    this.sort = "name";
    this.loaded = false;
    this.query = 0;
    this.scanId = null;
    /** previews changed on this page: model key -> version string (busts the browser copy) */
    this.previewVersions = new Map();

    this.typeSelect = select("Folder type", [["checkpoints", "checkpoints"]], this.type, (value) => {
      this.type = value;
      this.load();
    });
    this.search = h("input", { type: "search", className: "mm-sb-input mm-sb-search", placeholder: "Search name, trigger words, base model, tags",
      "aria-label": "Search", spellcheck: false });
    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { this.q = this.search.value.trim(); this.load(); }, SEARCH_DELAY_MS);
    });
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { clearTimeout(timer); this.q = this.search.value.trim(); this.load(); }
      if (event.key === "Escape" && this.search.value) { event.stopPropagation(); this.search.value = ""; this.q = ""; this.load(); }
    });
    this.sortSelect = select("Sort", SORTS, this.sort, (value) => { this.sort = value; this.load(); });
    this.modeButton = button("List view", () => this.toggleMode(), { icon: "pi-list", iconOnly: true });
    this.scanButton = button("Scan", () => this.scan(), { icon: "pi-sync" });
    this.deepScan = h("input", { type: "checkbox", "aria-label": "Also hash and fetch Civitai info" });
    const deepLabel = h("label", { className: "mm-sb-check", title: "Computes sha256 of every file and looks each up on Civitai (slower)" },
      this.deepScan, h("span", { text: "hashes + Civitai" }));
    this.scanLine = h("div", { className: "mm-sb-scan", hidden: true, "aria-live": "polite" });
    this.count = h("div", { className: "mm-sb-count", "aria-live": "polite" });
    this.grid = new VirtualGrid({
      fetchPage: (offset, limit) => listModels({ type: this.type, offset, limit, q: this.q, sort: this.sort }),
      renderItem: (model) => this.card(model),
      renderPlaceholder: () => h("div", { className: "mm-sb-card mm-sb-card-loading", "aria-hidden": "true" }),
      onError: (error) => toastActionError(this.app, "loading models", error),
    });
    this.grid.setMode("grid");
    this.details = new ModelDetails(app, {
      onBack: () => this.closeDetails(),
      onChanged: (model) => this.changed(model),
      onDeleted: (model) => {
        this.load();
        focusUndoOf(model.type, model.name); // when the note came first; else it takes the focus itself
      },
      previewSrc: (model) => this.previewSrc(model),
    });
    this.library = h("div", { className: "mm-sb-library" },
      h("div", { className: "mm-sb-toolbar" }, this.typeSelect, this.scanButton, deepLabel),
      h("div", { className: "mm-sb-toolbar" }, this.search),
      h("div", { className: "mm-sb-toolbar" }, this.sortSelect, this.modeButton),
      this.scanLine, this.count, this.grid.element);
    this.element = h("section", { className: "mm-sb-models", "aria-label": "Models" }, this.library, this.details.element);
  }

  async open() {
    if (this.loaded) {
      this.grid.schedule();
      return;
    }
    this.loaded = true;
    try {
      const types = (await listTypes()).map((t) => t.name);
      const ordered = [...PREFERRED_TYPES.filter((t) => types.includes(t)), ...types.filter((t) => !PREFERRED_TYPES.includes(t))];
      clear(this.typeSelect).append(...ordered.map((t) => h("option", { value: t, text: t })));
      this.type = ordered.includes(this.type) ? this.type : ordered[0];
      this.typeSelect.value = this.type;
    } catch (error) {
      toastActionError(this.app, "loading the model types", error);
    }
    await this.load();
  }

  async load() {
    const number = ++this.query;
    clear(this.count).append(spinner("Loading models"), " Loading…");
    this.element.dataset.loading = "true";
    try {
      const answer = await listModels({ type: this.type, offset: 0, limit: 200, q: this.q, sort: this.sort });
      if (number !== this.query) return;
      this.grid.reset(answer.total, answer.models);
      this.element.dataset.shown = this.type; // which folder the grid and the count are about
      const noun = answer.total === 1 ? "model" : "models";
      this.count.textContent = this.q ? `${answer.total.toLocaleString()} ${noun} match “${this.q}”`
        : `${answer.total.toLocaleString()} ${noun}`;
    } catch (error) {
      if (number !== this.query) return;
      this.count.textContent = "Could not load the models.";
      toastActionError(this.app, "loading models", error);
    } finally {
      if (number === this.query) delete this.element.dataset.loading;
    }
  }

  toggleMode() {
    const list = this.grid.mode === "grid";
    this.grid.setMode(list ? "list" : "grid");
    const label = list ? "Grid view" : "List view";
    this.modeButton.setAttribute("aria-label", label);
    this.modeButton.title = label;
    this.modeButton.querySelector("i").className = `pi ${list ? "pi-th-large" : "pi-list"}`;
  }

  previewSrc(model) {
    if (!model.preview) return null;
    return previewUrl(model.type, model.name, this.previewVersions.get(`${model.type}/${model.name}`) ?? "");
  }

  card(model) {
    const src = this.previewSrc(model);
    const thumb = src
      ? h("img", { className: "mm-sb-thumb", src, alt: "", loading: "lazy", decoding: "async", draggable: false })
      : h("div", { className: "mm-sb-thumb mm-sb-noimage", "aria-hidden": "true" }, h("span", { text: basename(model.name).slice(0, 2).toUpperCase() }));
    if (src) thumb.addEventListener("error", () => thumb.classList.add("mm-sb-broken"), { once: true });
    const label = basename(model.name);
    const card = h("div", {
      className: "mm-sb-card", role: "listitem", tabIndex: 0, draggable: true, title: model.name,
      "aria-label": label, dataset: { name: model.name, type: model.type },
    }, thumb,
    h("div", { className: "mm-sb-card-text" },
      h("span", { className: "mm-sb-card-name", text: label }),
      h("span", { className: "mm-sb-card-meta", text: [model.base_model, formatBytes(model.size)].filter(Boolean).join(" · ") })));
    card.addEventListener("click", () => this.openDetails(model));
    card.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); this.openDetails(model); }
    });
    card.addEventListener("dragstart", (event) => startModelDrag(event, model));
    return card;
  }

  openDetails(model) {
    this.lastFocus = document.activeElement;
    this.library.hidden = true;
    this.details.show(model);
  }

  closeDetails() {
    this.details.hide();
    this.library.hidden = false;
    this.grid.schedule();
    if (this.lastFocus?.isConnected) this.lastFocus.focus();
  }

  changed(model) {
    if (model.preview_changed) this.previewVersions.set(`${model.type}/${model.name}`, String(Date.now()));
    this.grid.updateItem((m) => m.type === model.type && m.name === model.name, model);
  }

  // -- scans ---------------------------------------------------------------------------
  async scan() {
    if (this.scanId) return;
    this.scanButton.disabled = true;
    try {
      const { scan_id: scanId } = await startScan(this.type, this.deepScan.checked);
      this.scanId = scanId;
      this.showScan({ scan_id: scanId, status: "scanning", scanned: 0, total: 0 });
    } catch (error) {
      this.scanButton.disabled = false;
      toastActionError(this.app, "scan", error);
    }
  }

  onScanEvent(payload) {
    if (!payload?.scan_id) return;
    if (!this.scanId && !payload.finished && [this.type, "all"].includes(payload.model_type)) this.scanId = payload.scan_id;
    if (payload.scan_id !== this.scanId) return;
    this.showScan(payload);
  }

  /** The completion event has the counts but not how the scan ended: the route tells. */
  async finishScan(scan) {
    let status = scan.status;
    if (!status) {
      try {
        status = (await getScan(scan.scan_id)).status;
      } catch (error) {
        console.warn("[Model Manager] could not read the scan status:", error.message);
      }
    }
    this.showScan({ ...scan, status: status ?? "completed", final: true });
  }

  showScan(scan) {
    if (scan.finished && !scan.final) {
      this.finishScan(scan);
      return;
    }
    clear(this.scanLine);
    this.scanLine.hidden = false;
    this.scanLine.dataset.scanId = scan.scan_id ?? "";
    if (scan.finished) {
      this.scanId = null;
      this.scanButton.disabled = false;
      const count = scan.count ?? 0;
      const status = scan.status === "cancelled" ? "Scan cancelled" : `Scan finished: ${count} model${count === 1 ? "" : "s"}`;
      this.scanLine.append(h("span", { text: status }));
      this.scanLine.dataset.status = scan.status ?? "completed";
      setTimeout(() => { if (!this.scanId) this.scanLine.hidden = true; }, 5000);
      this.load();
      return;
    }
    this.scanButton.disabled = true;
    this.scanLine.dataset.status = "running";
    const total = Number(scan.total) || 0;
    const done = Number(scan.scanned) || 0;
    const percent = total ? Math.min(100, (100 * done) / total) : 0;
    const progress = progressBar();
    showProgress(progress, percent, "Scan progress");
    this.scanLine.append(h("span", { text: `${scan.status === "hashing" ? "Hashing" : "Scanning"} ${done} / ${total || "?"}` }),
      progress.bar, button("Cancel scan", () => this.cancelScan(), { icon: "pi-times", className: "mm-sb-small" }));
  }

  async cancelScan() {
    if (!this.scanId) return;
    try {
      await cancelScan(this.scanId);
      showToast(this.app, { severity: "info", summary: "Scan cancelled", life: 4000 });
    } catch (error) {
      toastActionError(this.app, "cancel scan", error);
    }
  }
}
