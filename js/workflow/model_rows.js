// What the "Download missing models…" dialog shows for each model of a workflow: a reference
// from POST /model-manager/workflow-models joined with its download task, if any. Pure
// functions (no DOM, no ComfyUI), so they run in Node.js too.
import { formatBytes, taskPercent } from "../format.js";

export const STATUS_LABELS = Object.freeze({
  present: "Present",
  present_elsewhere: "Present elsewhere",
  missing: "Missing",
  missing_no_url: "Missing, no link",
  refused: "Refused",
  downloading: "Downloading",
});

const TASK_LABELS = Object.freeze({
  queued: "Queued",
  downloading: "Downloading",
  paused: "Paused",
  verifying: "Verifying",
  completed: "Downloaded and verified",
  failed: "Failed",
  cancelled: "Cancelled",
});

const RUNNING = new Set(["queued", "downloading", "verifying"]);

/** One key for a reference and for the task that fetches it: "folder/name". */
export const refKey = (ref) => `${ref.directory}/${String(ref.name ?? "").replaceAll("\\", "/")}`;
export const taskKey = (task) => `${task.model_type}/${String(task.filename ?? "").replaceAll("\\", "/")}`;

/** Can this row be ticked for "Download"? Missing with a link, or a download that ended badly. */
export function selectable(ref, task) {
  if (task) return task.status === "failed" || task.status === "cancelled";
  return ref.status === "missing";
}

/**
 * What a row says: { state, label, detail, percent, size }. `state` is the reference's status,
 * or the task's once there is one (the CSS and the tests read it from data-state).
 */
export function describeRow(ref, task) {
  if (task) {
    const percent = taskPercent(task);
    const running = task.status === "downloading";
    let label = TASK_LABELS[task.status] ?? task.status;
    if (running && percent != null) label = `${label} ${percent.toFixed(percent === 0 ? 0 : 1)}%`;
    const detail = task.status === "failed" ? task.error || "failed" : "";
    return { state: task.status, label, detail, percent, size: sizeOf(ref, task) };
  }
  // refused / missing_no_url: why; present_elsewhere: where; missing: e.g. a hash type not checked
  return { state: ref.status, label: STATUS_LABELS[ref.status] ?? ref.status, detail: ref.reason || "",
    percent: null, size: sizeOf(ref) };
}

function sizeOf(ref, task) {
  const bytes = task?.total_bytes ?? ref.size;
  return bytes == null ? "" : formatBytes(bytes);
}

/**
 * Counts over [{ref, task}] rows: what is there, what runs, what is paused, what ended how, what
 * cannot be had. A run is over when nothing runs and nothing is paused.
 */
export function countRows(rows) {
  const count = { total: rows.length, present: 0, downloaded: 0, running: 0, paused: 0, failed: 0, cancelled: 0,
    missing: 0, unavailable: 0, bytesToFetch: 0, bytesDone: 0, bytesTotal: 0 };
  for (const { ref, task } of rows) {
    if (task) {
      if (task.status === "completed") count.downloaded += 1;
      else if (task.status === "failed") count.failed += 1;
      else if (task.status === "cancelled") count.cancelled += 1;
      else if (task.status === "paused") count.paused += 1;
      else count.running += 1;
      if (RUNNING.has(task.status) && task.total_bytes) {
        count.bytesDone += task.downloaded_bytes || 0;
        count.bytesTotal += task.total_bytes;
      }
    } else if (ref.status === "present" || ref.status === "present_elsewhere") count.present += 1;
    else if (ref.status === "missing") {
      count.missing += 1;
      count.bytesToFetch += ref.size || 0;
    } else if (ref.status === "downloading") count.running += 1;
    else count.unavailable += 1;
  }
  return count;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The dialog's summary line. `started` is true once this dialog asked for downloads: then a
 * finished run reads as a result ("Done: …"), before it as an inventory.
 */
export function summaryText(count, started = false) {
  if (count.total === 0) return "This workflow names no model files.";
  const cannot = count.unavailable
    ? `${plural(count.unavailable, "model")} cannot be downloaded (no link or refused: see the row).` : "";
  const paused = count.paused ? `${count.paused} paused: resume ${count.paused === 1 ? "it" : "them"} to finish.` : "";
  if (count.running > 0) {
    const percent = count.bytesTotal ? ` (${Math.floor((100 * count.bytesDone) / count.bytesTotal)}%)` : "";
    return `Downloading ${plural(count.running, "model")}${percent}…${paused ? ` ${paused}` : ""}`;
  }
  if (paused) return paused.charAt(0).toUpperCase() + paused.slice(1);
  if (started || count.downloaded || count.failed || count.cancelled) {
    const parts = [];
    if (count.downloaded) parts.push(`${count.downloaded} downloaded and verified`);
    if (count.failed) parts.push(`${count.failed} failed`);
    if (count.cancelled) parts.push(`${count.cancelled} cancelled`);
    if (count.missing) parts.push(`${count.missing} still missing`);
    if (count.present) parts.push(`${count.present} already present`);
    const allIn = !count.failed && !count.cancelled && !count.missing;
    const tail = allIn ? (count.unavailable ? " Every model with a usable link is in place." : " Every model is in place.") : "";
    return `Done: ${parts.join(", ") || "nothing to do"}.${tail}${cannot ? ` ${cannot}` : ""}`;
  }
  const head = count.present === count.total ? `All ${plural(count.total, "model")} are present.`
    : `${plural(count.total, "model")}: ${count.present} present${count.missing
      ? `, ${count.missing} missing${count.bytesToFetch ? ` (${formatBytes(count.bytesToFetch)})` : ""} to download` : ""}.`;
  return cannot ? `${head} ${cannot}` : head;
}
