// The "Download missing models…" dialog: the open workflow's models (name, folder, status, size,
// host; refused ones greyed with the reason), checkboxes and "Download all missing", live
// progress of each file from the download events with Pause/Resume/Cancel per row, and a summary
// when every download has ended. A native <dialog> of our own (no frontend internals); the files
// land on the server, whatever machine the browser runs on.
import { api } from "../../../scripts/api.js";
import { taskAction } from "../api.js";
import { EVENTS, loadStylesheet } from "../events.js";
import { toastActionError } from "../toasts.js";
import { button, h, progressBar, rowParts, showProgress, spinner, syncRows, throttle } from "../sidebar/dom.js";
import { showTaskButtons, taskActionButtons } from "../sidebar/downloads_view.js";
import { countRows, describeRow, refKey, selectable, summaryText, taskKey } from "./model_rows.js";
import { downloadWorkflowModels, listWorkflowModels } from "./requests.js";

const TASK_EVENTS = [EVENTS.create, EVENTS.update, EVENTS.complete];
const RENDER_INTERVAL_MS = 250;
const STYLESHEETS = ["../sidebar/sidebar.css", "./workflow.css"];

/** The sidebar's styles (buttons, bars) and ours, once per page. */
export function loadStyles() {
  for (const file of STYLESHEETS) loadStylesheet(new URL(file, import.meta.url));
}

export class WorkflowModelsDialog {
  /**
   * `source` is what the routes read ({workflow, prompt?}); `store` the page's TaskStore;
   * `refreshLoaders()` makes loader nodes list new files; `onClosed()` runs once it is gone.
   */
  constructor(app, store, { source, title, refreshLoaders, onClosed }) {
    this.app = app;
    this.store = store;
    this.source = source;
    this.refreshLoaders = refreshLoaders;
    this.onClosed = onClosed;
    this.refs = []; // references in the route's order
    this.taskIds = new Map(); // "folder/name" -> task_id of this dialog's (or a joined) download
    this.selected = new Set(); // "folder/name" ticked for downloading
    this.rows = new Map(); // "folder/name" -> { element, parts }
    this.allowAnyHost = false;
    this.started = false; // asked for downloads at least once
    this.announced = false; // the end of the current run was handled
    this.throttle = throttle(() => this.render(), RENDER_INTERVAL_MS);
    this.listeners = [];
    loadStyles();
    this.build(title);
  }

  // -- structure ------------------------------------------------------------------------
  build(title) {
    const titleId = "mm-wf-title";
    this.selectAll = h("input", { type: "checkbox", "aria-label": "Select all missing models",
      onChange: () => this.toggleAll(this.selectAll.checked) });
    this.body = h("tbody");
    this.table = h("table", { className: "mm-wf-table" },
      h("thead", {}, h("tr", {},
        h("th", { className: "mm-wf-check" }, this.selectAll),
        ...["Name", "Folder", "Status", "Size", "Host", "Progress"].map((text) => h("th", { text })))),
      this.body);
    this.loading = h("div", { className: "mm-wf-loading" }, spinner("Reading the workflow…"),
      h("span", { text: "Reading the workflow…" }));
    this.error = h("div", { className: "mm-wf-error", role: "alert", hidden: true });
    this.summary = h("p", { className: "mm-wf-summary", role: "status", "aria-live": "polite" });
    this.anyHost = h("input", { type: "checkbox", id: "mm-wf-any-host",
      onChange: () => { this.allowAnyHost = this.anyHost.checked; this.load(); } });
    this.downloadButton = button("Download all missing", () => this.download(), {
      icon: "pi-cloud-download", className: "mm-sb-primary mm-wf-download" });
    this.closeButton = button("Close", () => this.close(), { className: "mm-wf-close" });
    this.element = h("dialog", { className: "mm-wf", "aria-labelledby": titleId },
      h("header", { className: "mm-wf-head" },
        h("h2", { id: titleId, className: "mm-wf-title", text: "Models of this workflow" }),
        title ? h("span", { className: "mm-wf-workflow", text: title }) : null,
        button("Close", () => this.close(), { icon: "pi-times", iconOnly: true, className: "mm-wf-x" })),
      h("p", { className: "mm-wf-hint", text: "Missing models are downloaded to the ComfyUI server, "
        + "into the folder the workflow names, and checked before they are used." }),
      this.loading, this.error,
      h("div", { className: "mm-wf-scroll" }, this.table),
      h("footer", { className: "mm-wf-foot" },
        this.summary,
        h("div", { className: "mm-wf-options" },
          this.anyHost,
          h("label", { htmlFor: "mm-wf-any-host", text: "Allow links to any host (not only Hugging Face, "
            + "Civitai and the allowed hosts)" })),
        h("p", { className: "mm-wf-hint", text: "Downloads go on if you close this; the Models sidebar shows them." }),
        h("div", { className: "mm-wf-actions" }, this.downloadButton, this.closeButton)));
    // Keys typed here are ours: ComfyUI's shortcuts (Delete removes nodes…) must not see them.
    this.element.addEventListener("keydown", (event) => event.stopPropagation());
    this.element.addEventListener("close", () => this.dispose());
  }

  // -- lifetime -------------------------------------------------------------------------
  async open() {
    document.body.append(this.element);
    this.element.showModal();
    this.listen();
    await this.load();
    return this;
  }

  close() {
    if (this.element.open) this.element.close(); // the close event disposes
    else this.dispose();
  }

  dispose() {
    this.throttle.cancel();
    for (const [name, handler] of this.listeners) api.removeEventListener(name, handler);
    this.listeners = [];
    this.element.remove();
    const done = this.onClosed;
    this.onClosed = null;
    done?.();
  }

  listen() {
    for (const name of TASK_EVENTS) {
      const handler = (event) => this.onTask(event.detail ?? {});
      api.addEventListener(name, handler);
      this.listeners.push([name, handler]);
    }
    const removed = (event) => this.onTaskRemoved(event.detail?.task_id);
    api.addEventListener(EVENTS.remove, removed);
    this.listeners.push([EVENTS.remove, removed]);
  }

  // -- data -----------------------------------------------------------------------------
  /** (Re)reads the references; `sizes` false after downloads (no need to ask the hosts again). */
  async load({ sizes = true } = {}) {
    this.loading.hidden = false;
    this.showError("");
    this.downloadButton.disabled = true;
    try {
      const refs = await listWorkflowModels(this.source, { allowAnyHost: this.allowAnyHost, sizes });
      const firstLoad = this.refs.length === 0;
      this.refs = refs;
      for (const ref of refs) {
        if (ref.task_id) this.taskIds.set(refKey(ref), ref.task_id);
        if (firstLoad || !this.rows.has(refKey(ref))) {
          if (selectable(ref, this.taskOf(ref))) this.selected.add(refKey(ref));
        } else if (!selectable(ref, this.taskOf(ref))) this.selected.delete(refKey(ref));
      }
    } catch (error) {
      this.showError(`Could not read this workflow's models: ${error.message}`);
    } finally {
      this.loading.hidden = true;
      this.render();
    }
  }

  taskOf(ref) {
    const id = this.taskIds.get(refKey(ref)) ?? ref.task_id;
    return id ? this.store.get(id) : undefined;
  }

  rowsWithTasks() {
    return this.refs.map((ref) => ({ ref, task: this.taskOf(ref) }));
  }

  onTask(task) {
    if (!task?.task_id) return;
    this.store.upsert(task);
    const key = taskKey(task);
    const ref = this.refs.find((candidate) => refKey(candidate) === key);
    if (!ref) return;
    // A download of one of these files started elsewhere (sidebar, a node, another tab) shows here too.
    if (!this.taskIds.has(key) || this.taskIds.get(key) !== task.task_id) {
      if (["failed", "cancelled", "completed"].includes(task.status) && this.taskIds.has(key)) return;
      this.taskIds.set(key, task.task_id);
    }
    this.schedule();
  }

  onTaskRemoved(taskId) {
    for (const [key, id] of this.taskIds) if (id === taskId) this.taskIds.delete(key);
    this.schedule();
  }

  /** Starts (or joins) the downloads of the ticked rows. */
  async download() {
    const names = this.refs.map(refKey).filter((key) => this.selected.has(key));
    if (!names.length) return;
    this.downloadButton.disabled = true;
    this.showError("");
    try {
      const answer = await downloadWorkflowModels(this.source, { names, allowAnyHost: this.allowAnyHost });
      this.started = true;
      this.announced = false;
      for (const task of answer.tasks) {
        this.store.upsert(task);
        this.taskIds.set(taskKey(task), task.task_id);
        this.selected.delete(taskKey(task));
      }
      for (const refusal of answer.refused) this.markRefused(refusal);
      for (const present of answer.present) this.replaceRef(present);
    } catch (error) {
      this.showError(`Could not start the downloads: ${error.message}`);
    } finally {
      this.render();
    }
  }

  markRefused({ name, directory, reason }) {
    const ref = this.refs.find((candidate) => candidate.name === name && (!directory || candidate.directory === directory));
    if (!ref) return;
    ref.status = "refused";
    ref.reason = reason;
    this.selected.delete(refKey(ref));
  }

  replaceRef(fresh) {
    const index = this.refs.findIndex((candidate) => refKey(candidate) === refKey(fresh));
    if (index >= 0) this.refs[index] = { ...this.refs[index], ...fresh };
    this.selected.delete(refKey(fresh));
  }

  async act(taskId, action) {
    try {
      const task = await taskAction(taskId, action);
      if (task) this.store.upsert(task);
      if (action === "resume") this.announced = false;
    } catch (error) {
      toastActionError(this.app, `${action} download`, error);
    }
    this.render();
  }

  toggle(key, on) {
    if (on) this.selected.add(key);
    else this.selected.delete(key);
    this.render();
  }

  toggleAll(on) {
    for (const { ref, task } of this.rowsWithTasks()) {
      if (!selectable(ref, task)) continue;
      if (on) this.selected.add(refKey(ref));
      else this.selected.delete(refKey(ref));
    }
    this.render();
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  // -- painting -------------------------------------------------------------------------
  schedule() {
    this.throttle.schedule();
  }

  render() {
    this.throttle.cancel();
    const rows = this.rowsWithTasks();
    syncRows(this.body, this.rows, rows, ({ ref }) => refKey(ref), (key) => this.makeRow(key),
      (row, { ref, task }) => this.paint(row, ref, task));
    const count = countRows(rows);
    this.summary.textContent = summaryText(count, this.started);
    this.element.dataset.running = String(count.running);
    this.paintButtons(rows);
    if (this.started && count.running === 0 && count.paused === 0 && !this.announced) this.finished(count);
  }

  paintButtons(rows) {
    const choosable = rows.filter(({ ref, task }) => selectable(ref, task)).map(({ ref }) => refKey(ref));
    const chosen = choosable.filter((key) => this.selected.has(key));
    const missing = rows.filter(({ ref, task }) => !task && ref.status === "missing").length;
    this.downloadButton.disabled = chosen.length === 0;
    const all = chosen.length === choosable.length && chosen.length === missing;
    this.downloadButton.querySelector("span").textContent = all || chosen.length === 0
      ? "Download all missing" : `Download ${chosen.length} selected`;
    this.selectAll.disabled = choosable.length === 0;
    this.selectAll.checked = choosable.length > 0 && chosen.length === choosable.length;
    this.selectAll.indeterminate = chosen.length > 0 && chosen.length < choosable.length;
  }

  /** Every download of this run has ended: loaders list the new files, the rows say what is there. */
  finished(count) {
    this.announced = true;
    this.element.dataset.finished = "true";
    if (count.downloaded) {
      this.refreshLoaders?.();
      this.load({ sizes: false });
    }
  }

  makeRow(key) {
    const [parts, part] = rowParts();
    parts.check = h("input", { type: "checkbox", onChange: () => this.toggle(key, parts.check.checked) });
    parts.buttons = taskActionButtons((action) => this.act(this.taskIds.get(key), action), "mm-sb-small");
    Object.assign(parts, progressBar("mm-wf-bar"));
    const element = h("tr", { className: "mm-wf-row", dataset: { key } },
      h("td", { className: "mm-wf-check" }, parts.check),
      h("td", {}, part("name", "span", "mm-wf-name"), part("nodes", "span", "mm-wf-nodes")),
      part("folder", "td", "mm-wf-folder"),
      h("td", { className: "mm-wf-status" }, part("label", "span", "mm-wf-state"), part("detail", "span", "mm-wf-detail")),
      part("size", "td", "mm-wf-size"), part("host", "td", "mm-wf-host"),
      h("td", { className: "mm-wf-progress" }, parts.bar,
        part("actions", "div", "mm-wf-row-actions", {}, ...Object.values(parts.buttons))));
    return { element, parts };
  }

  paint({ element, parts }, ref, task) {
    const view = describeRow(ref, task);
    Object.assign(element.dataset, { state: view.state, status: ref.status, name: ref.name,
      directory: ref.directory, percent: view.percent == null ? "" : view.percent.toFixed(1),
      taskId: task?.task_id ?? "" });
    const canPick = selectable(ref, task);
    parts.check.disabled = !canPick;
    parts.check.checked = canPick && this.selected.has(refKey(ref));
    parts.check.setAttribute("aria-label", `Download ${ref.name}`);
    parts.name.textContent = ref.name;
    parts.name.title = ref.url || "no download link";
    parts.nodes.textContent = ref.node_ids?.length ? `node ${ref.node_ids.join(", ")}` : "";
    parts.folder.textContent = ref.directory;
    parts.label.textContent = view.label;
    parts.detail.textContent = view.detail;
    parts.detail.hidden = !view.detail;
    parts.size.textContent = view.size;
    parts.host.textContent = ref.host || "";
    parts.bar.hidden = !task;
    showProgress(parts, view.percent, `${ref.name} ${view.label}`);
    showTaskButtons(parts.buttons, task?.status);
    for (const node of Object.values(parts.buttons)) node.setAttribute("aria-label", `${node.textContent.trim()} ${ref.name}`);
  }
}
