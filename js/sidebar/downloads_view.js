// The Downloads view: every task, live from the download events, with its actions, and the
// "New download" form.
import { listTasks, taskAction } from "../api.js";
import { FINISHED_STATUSES, formatBytes, formatDuration, formatSpeed, formatTransferred, taskMessage, taskNotice,
  taskPercent } from "../format.js";
import { toastActionError } from "../toasts.js";
import { button, clear, h, progressBar, rowParts, showProgress, syncRows, throttle } from "./dom.js";
import { NewDownloadForm } from "./new_download.js";
import { deleteTask } from "./requests.js";

const SOURCE_LABELS = { civitai: "Civitai", huggingface: "Hub", direct: "link" };
const RENDER_INTERVAL_MS = 250;

/** Which buttons a task in `status` offers. */
export function taskButtons(status) {
  return {
    pause: ["queued", "downloading"].includes(status),
    resume: ["paused", "cancelled"].includes(status),
    retry: status === "failed",
    cancel: ["queued", "downloading", "paused"].includes(status),
    remove: true,
  };
}

/**
 * Pause, Resume, Retry and Cancel buttons for one task; `run(action)` does pause | resume | cancel
 * (Retry resumes). Show them with showTaskButtons.
 */
export function taskActionButtons(run, className = "") {
  return {
    pause: button("Pause", () => run("pause"), { icon: "pi-pause", className }),
    resume: button("Resume", () => run("resume"), { icon: "pi-play", className }),
    retry: button("Retry", () => run("resume"), { icon: "pi-refresh", className }),
    cancel: button("Cancel", () => run("cancel"), { icon: "pi-times", className }),
  };
}

/** Shows the buttons (of taskActionButtons, and any others keyed as taskButtons) fit for `status`. */
export function showTaskButtons(buttons, status) {
  const shown = taskButtons(status);
  for (const [key, node] of Object.entries(buttons)) node.hidden = !shown[key];
}

export class DownloadsView {
  constructor(app, store) {
    this.app = app;
    this.store = store;
    this.rows = new Map(); // task_id -> { element, parts }
    this.throttle = throttle(() => this.render(), RENDER_INTERVAL_MS);
    this.form = new NewDownloadForm(app, {
      onCreated: (task) => { this.store.upsert(task); this.schedule(); },
    });
    this.newButton = button("New download", () => this.form.toggle(), { icon: "pi-plus", className: "mm-sb-primary" });
    this.clearButton = button("Clear finished", () => this.clearFinished(), { icon: "pi-trash" });
    this.list = h("div", { className: "mm-sb-tasks", role: "list", "aria-label": "Download tasks" });
    this.empty = h("div", { className: "mm-sb-empty", text: "No downloads yet. Paste a link with “New download”." });
    this.element = h("section", { className: "mm-sb-downloads", "aria-label": "Downloads" },
      h("div", { className: "mm-sb-toolbar" }, this.newButton, this.clearButton),
      this.form.element, this.empty, this.list);
  }

  async refresh() {
    try {
      for (const task of await listTasks()) this.store.upsert(task);
    } catch (error) {
      toastActionError(this.app, "loading the downloads", error);
    }
    this.render();
  }

  schedule() {
    this.throttle.schedule();
  }

  removed(taskId) {
    const row = this.rows.get(taskId);
    row?.element.remove();
    this.rows.delete(taskId);
    this.schedule();
  }

  tasks() {
    return [...this.store.tasks.values()].sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0));
  }

  render() {
    const tasks = this.tasks();
    syncRows(this.list, this.rows, tasks, (task) => task.task_id, (taskId) => this.makeRow(taskId),
      (row, task) => this.paint(row, task));
    this.empty.hidden = tasks.length > 0;
    this.clearButton.disabled = !tasks.some((t) => FINISHED_STATUSES.has(t.status));
  }

  makeRow(taskId) {
    const [parts, part] = rowParts();
    parts.buttons = {
      ...taskActionButtons((action) => this.act(taskId, action)),
      remove: button("Remove", () => this.remove(taskId), { icon: "pi-trash" }),
    };
    Object.assign(parts, progressBar("", part("percent", "span", "mm-sb-bar-text")));
    const element = h("div", { className: "mm-sb-task", role: "listitem", dataset: { taskId } },
      h("div", { className: "mm-sb-task-head" }, part("name", "span", "mm-sb-task-name"),
        part("source", "span", "mm-sb-badge")),
      h("div", { className: "mm-sb-task-sub" }, part("folder", "span", "mm-sb-task-folder")),
      parts.bar,
      h("div", { className: "mm-sb-task-line" }, part("status", "span", "mm-sb-task-status"),
        part("size", "span", "mm-sb-task-size"), part("speed", "span", "mm-sb-task-speed"),
        part("eta", "span", "mm-sb-task-eta")),
      part("note", "div", "mm-sb-task-note", { role: "status" }),
      part("error", "div", "mm-sb-task-error", { role: "alert" }),
      part("actions", "div", "mm-sb-task-actions", {}, ...Object.values(parts.buttons)));
    return { element, parts };
  }

  paint(row, task) {
    const { parts, element } = row;
    const percent = taskPercent(task);
    const running = task.status === "downloading";
    const name = String(task.filename || task.url || "").split("/").pop();
    element.dataset.status = task.status;
    parts.name.textContent = name;
    parts.name.title = task.url || "";
    parts.source.textContent = SOURCE_LABELS[task.source] ?? task.source ?? "link";
    parts.source.dataset.source = task.source ?? "direct";
    const folder = String(task.filename || "").includes("/") ? String(task.filename).replace(/\/[^/]*$/, "") : "";
    parts.folder.textContent = `${task.model_type}${folder ? `/${folder}` : ""}`;
    parts.percent.textContent = percent == null ? "" : `${percent.toFixed(percent >= 99.95 || percent === 0 ? 0 : 1)}%`;
    showProgress(parts, percent, `${name} ${parts.percent.textContent}`);
    parts.fill.classList.toggle("mm-sb-indeterminate", percent == null && running);
    element.dataset.percent = percent == null ? "" : percent.toFixed(1);
    parts.status.textContent = task.status;
    parts.size.textContent = task.status === "completed" && task.total_bytes
      ? formatBytes(task.total_bytes) : formatTransferred(task);
    parts.speed.textContent = running ? formatSpeed(task.speed_bps) : "";
    const eta = running ? formatDuration(task.eta_seconds) : "";
    parts.eta.textContent = eta ? `ETA ${eta}` : "";
    parts.note.textContent = taskMessage(task);
    parts.note.hidden = !parts.note.textContent;
    parts.error.textContent = taskNotice(task);
    parts.error.hidden = !parts.error.textContent;
    showTaskButtons(parts.buttons, task.status);
  }

  async act(taskId, action) {
    const row = this.rows.get(taskId);
    const buttons = row ? Object.values(row.parts.buttons) : [];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const task = await taskAction(taskId, action);
      if (task) this.store.upsert(task);
    } catch (error) {
      toastActionError(this.app, `${action === "resume" ? "resume" : action} download`, error);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      this.render();
    }
  }

  async remove(taskId) {
    try {
      await deleteTask(taskId);
      this.store.remove(taskId);
      this.removed(taskId);
    } catch (error) {
      toastActionError(this.app, "remove download", error);
    }
  }

  async clearFinished() {
    const finished = this.tasks().filter((t) => FINISHED_STATUSES.has(t.status));
    this.clearButton.disabled = true;
    for (const task of finished) await this.remove(task.task_id);
    this.render();
  }

  dispose() {
    this.throttle.cancel();
    clear(this.list);
  }
}
