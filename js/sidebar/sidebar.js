// The "Models" sidebar tab (id model-manager): Downloads and Models views, fed by the pack's
// events and REST routes. Registered with app.extensionManager.registerSidebarTab.
import { api } from "../../../scripts/api.js";
import { EVENTS, loadStylesheet } from "../events.js";
import { showToast } from "../toasts.js";
import { h } from "./dom.js";
import { DownloadsView } from "./downloads_view.js";
import { installCanvasDrop } from "./loaders.js";
import { ModelsView } from "./models_view.js";

export const TAB_ID = "model-manager";

class Sidebar {
  constructor(app, store) {
    this.app = app;
    this.store = store;
    this.downloads = new DownloadsView(app, store);
    this.models = new ModelsView(app);
    this.view = "downloads";
    this.tabs = {
      downloads: this.tabButton("downloads", "Downloads", "pi-download"),
      models: this.tabButton("models", "Models", "pi-box"),
    };
    this.element = h("div", { className: "mm-sb", dataset: { view: this.view } },
      h("div", { className: "mm-sb-tabs", role: "tablist", "aria-label": "Model Manager" },
        this.tabs.downloads, this.tabs.models),
      this.downloads.element, this.models.element);
    this.element.addEventListener("keydown", (event) => this.onKey(event));
    this.select("downloads", false);
  }

  tabButton(view, label, icon) {
    const node = h("button", { type: "button", className: "mm-sb-tab", role: "tab", id: `mm-sb-tab-${view}`,
      "aria-controls": `mm-sb-panel-${view}`, onClick: () => this.select(view) },
    h("i", { className: `pi ${icon}`, "aria-hidden": "true" }), h("span", { text: label }));
    return node;
  }

  /** Arrow keys move between the two tabs (the ARIA tab pattern). */
  onKey(event) {
    if (!event.target.classList?.contains("mm-sb-tab")) return;
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    event.preventDefault();
    const next = this.view === "downloads" ? "models" : "downloads";
    this.select(next);
    this.tabs[next].focus();
  }

  select(view, load = true) {
    this.view = view;
    this.element.dataset.view = view;
    for (const [name, tab] of Object.entries(this.tabs)) {
      const active = name === view;
      tab.setAttribute("aria-selected", String(active));
      tab.tabIndex = active ? 0 : -1;
    }
    this.downloads.element.hidden = view !== "downloads";
    this.models.element.hidden = view !== "models";
    this.downloads.element.id = "mm-sb-panel-downloads";
    this.models.element.id = "mm-sb-panel-models";
    if (!load) return;
    if (view === "downloads") this.downloads.refresh();
    else this.models.open();
  }

  /** The frontend mounts a fresh container each time the tab opens: move our view into it. */
  mount(container) {
    // The frontend's container has no height of its own: let ours fill the tab.
    Object.assign(container.style, { height: "100%", display: "flex", flexDirection: "column", minHeight: "0", overflow: "hidden" });
    container.append(this.element);
    this.select(this.view);
  }

  /** A model of `modelType` was deleted or restored (from anywhere): the library follows. */
  modelsChanged(modelType) {
    if (this.models.loaded && this.models.type === modelType) this.models.load();
  }

  listen() {
    const on = (name, handler) => api.addEventListener(name, (event) => {
      try {
        handler(event.detail ?? {});
      } catch (error) {
        console.error(`[Model Manager] sidebar: ${name} handler failed`, error);
      }
    });
    const task = (payload) => {
      this.store.upsert(payload);
      this.downloads.schedule();
    };
    on(EVENTS.create, task);
    on(EVENTS.update, task);
    on(EVENTS.complete, (payload) => {
      task(payload);
      this.models.loaded && this.models.type === payload.model_type && this.models.load();
    });
    on(EVENTS.remove, ({ task_id: taskId }) => {
      this.store.remove(taskId);
      this.downloads.removed(taskId);
    });
    on(EVENTS.scanUpdate, (payload) => this.models.onScanEvent(payload));
    on(EVENTS.scanComplete, (payload) => this.models.onScanEvent({ ...payload, finished: true }));
    api.addEventListener("reconnected", () => this.downloads.refresh());
  }
}

/** Registers the tab (frontends without sidebar tabs get nothing, and a console note). */
export function registerSidebar(app, store) {
  const manager = app.extensionManager;
  if (typeof manager?.registerSidebarTab !== "function") {
    console.info("[Model Manager] this ComfyUI frontend has no sidebar tabs; the Models tab is not shown");
    return null;
  }
  loadStylesheet(new URL("./sidebar.css", import.meta.url));
  const sidebar = new Sidebar(app, store);
  sidebar.listen();
  manager.registerSidebarTab({
    id: TAB_ID,
    icon: "pi pi-cloud-download",
    title: "Models",
    label: "Models",
    tooltip: "Model Manager: downloads and model library",
    type: "custom",
    render: (container) => sidebar.mount(container),
  });
  installCanvasDrop(app, {
    onMissing: (model) => showToast(app, {
      severity: "warn", summary: "No loader for this model type",
      detail: model.type === "embeddings" ? `Use it in a prompt as embedding:${model.name}`
        : `ComfyUI has no standard loader node for ${model.type}; add one and pick ${model.name}.`,
    }),
  });
  return sidebar;
}
