// The progress panel shown on DownloadModel and ScanModels nodes: a DOM widget whose text is
// redrawn at most RENDERS_PER_SECOND times a second, however often events arrive.
import { formatDuration, formatSpeed, formatTransferred, taskMessage, taskNotice, taskPercent } from "./format.js";

export const WIDGET_NAME = "model_manager_progress";
const RENDERS_PER_SECOND = 4;
const MIN_RENDER_INTERVAL_MS = 1000 / RENDERS_PER_SECOND;
const WIDGET_HEIGHT = 78;

function el(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  parent?.appendChild(node);
  return node;
}

/** A bar, two lines of text and an error line; knows nothing about ComfyUI. */
export class ProgressPanel {
  constructor(idleText) {
    this.idleText = idleText;
    this.element = el("div", "mm-progress");
    this.element.dataset.status = "idle";
    this.element.dataset.renders = "0";
    const bar = el("div", "mm-progress-bar", this.element);
    this.fill = el("div", "mm-progress-fill", bar);
    this.percentText = el("span", "mm-progress-percent", bar);
    this.statusLine = el("div", "mm-progress-line mm-progress-status", this.element);
    this.detailLine = el("div", "mm-progress-line mm-progress-detail", this.element);
    this.errorLine = el("div", "mm-progress-line mm-progress-error", this.element);
    this.pending = null;
    this.timer = null;
    this.lastRender = 0;
    this.paint({ status: "idle", percent: null, statusText: idleText, detailText: "", errorText: "" });
  }

  /** Queues `view` to be painted; only the newest view is painted when the next slot comes. */
  show(view) {
    this.pending = view;
    if (this.timer) return;
    const wait = Math.max(0, this.lastRender + MIN_RENDER_INTERVAL_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      const next = this.pending;
      this.pending = null;
      if (next) this.paint(next);
    }, wait);
  }

  paint({ status, percent, statusText, detailText, errorText, key }) {
    this.lastRender = performance.now();
    const data = this.element.dataset;
    data.renders = String(Number(data.renders) + 1);
    data.status = status;
    data.key = key ?? "";
    data.percent = percent == null ? "" : percent.toFixed(1);
    this.fill.style.width = `${percent ?? 0}%`;
    this.fill.classList.toggle("mm-indeterminate", percent == null && status === "downloading");
    this.percentText.textContent = percent == null ? "" : `${percent.toFixed(percent >= 99.95 || percent === 0 ? 0 : 1)}%`;
    this.statusLine.textContent = statusText;
    this.detailLine.textContent = detailText;
    this.errorLine.textContent = errorText;
    this.errorLine.style.display = errorText ? "" : "none";
  }

  dispose() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}

/** What a download task looks like on the panel. */
export function downloadView(task) {
  const percent = taskPercent(task);
  const speed = task.status === "downloading" ? formatSpeed(task.speed_bps) : "";
  const eta = task.status === "downloading" ? formatDuration(task.eta_seconds) : "";
  const detail = [speed, eta && `ETA ${eta}`].filter(Boolean).join(" · ");
  return {
    key: task.task_id,
    status: task.status,
    percent,
    statusText: `${task.status} · ${formatTransferred(task)}`,
    detailText: [taskMessage(task), detail].filter(Boolean).join(" · ") || task.filename || "",
    errorText: taskNotice(task),
  };
}

const SCAN_PHASES = { scanning: "scanning", hashing: "hashing", fetching_info: "fetching Civitai info" };

/**
 * What a scan looks like on the panel: update_scan_task payloads, then (`finished`) the
 * complete_scan_task counts merged with the final status from GET /model-manager/scans/{id}.
 */
export function scanView(scan) {
  const done = !!scan.finished;
  const status = done ? (["cancelled", "failed"].includes(scan.status) ? scan.status : "completed")
    : scan.status || "scanning";
  const total = Number(scan.total) || 0;
  const scanned = Number(scan.scanned) || 0;
  const fraction = total > 0 ? Math.min(100, (100 * scanned) / total) : null;
  const percent = status === "completed" ? 100 : fraction; // a cancelled scan keeps where it stopped
  const errors = Array.isArray(scan.errors) ? scan.errors.length : Number(scan.errors) || 0;
  const statusText = done
    ? `${status} · ${scan.count} models, ${scan.hashed ?? 0} hashed, ${scan.matched ?? 0} matched on Civitai`
    : `${SCAN_PHASES[status] ?? status} · ${scanned} / ${total || "?"} files`;
  return {
    key: scan.scan_id,
    status,
    percent,
    statusText,
    detailText: done ? "" : scan.current || "",
    errorText: errors ? `${errors} error${errors === 1 ? "" : "s"}` : "",
  };
}

/** Adds the panel to `node` as a DOM widget that is never saved in workflows or prompts. */
export function addProgressWidget(node, panel) {
  const widget = node.addDOMWidget(WIDGET_NAME, "model_manager_progress", panel.element, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => WIDGET_HEIGHT,
    getMaxHeight: () => WIDGET_HEIGHT,
  });
  widget.serialize = false;
  const [width, height] = node.computeSize?.() ?? node.size;
  node.setSize?.([Math.max(node.size?.[0] ?? 0, width, 320), Math.max(node.size?.[1] ?? 0, height)]);
  return widget;
}
