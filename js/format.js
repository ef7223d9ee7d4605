// Pure formatting helpers for sizes, speeds and times (no DOM, no ComfyUI imports).

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** 1536 -> "1.5 KB" (binary steps, as file managers show sizes). */
export function formatBytes(bytes) {
  if (bytes == null || !Number.isFinite(Number(bytes))) return "?";
  let value = Math.max(0, Number(bytes));
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function formatSpeed(bytesPerSecond) {
  if (!bytesPerSecond || bytesPerSecond <= 0) return "";
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** 75 -> "1:15", 3725 -> "1:02:05"; unknown -> "". */
export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(Number(seconds)) || seconds < 0) return "";
  const total = Math.round(Number(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Percent shown for a task: the server's value, else computed from the byte counts. */
export function taskPercent(task) {
  if (!task) return null;
  if (task.status === "completed") return 100;
  if (typeof task.progress === "number" && Number.isFinite(task.progress)) {
    return Math.min(100, Math.max(0, task.progress));
  }
  if (task.total_bytes > 0) {
    return Math.min(100, (100 * (task.downloaded_bytes || 0)) / task.total_bytes);
  }
  return null;
}

/** "12.3 MB / 40.0 MB" or "12.3 MB" when the size is unknown. */
export function formatTransferred(task) {
  const done = formatBytes(task.downloaded_bytes || 0);
  return task.total_bytes ? `${done} / ${formatBytes(task.total_bytes)}` : done;
}

/** The model's name as a loader lists it: "loras/sub/x.safetensors" -> shown with its type. */
export function modelLabel(task) {
  if (!task) return "";
  const name = task.filename || task.url || "";
  return task.model_type ? `${task.model_type}/${name}` : name;
}

export const ACTIVE_STATUSES = new Set(["queued", "downloading", "verifying", "paused"]);
export const FINISHED_STATUSES = new Set(["completed", "failed", "cancelled"]);

/** Why a task failed, or while it downloads, the retry it waits for ("… retry 2/5 in 4 s"). */
export function taskNotice(task) {
  if (task.status === "failed") return task.error || "failed";
  return task.status === "downloading" && task.error ? task.error : "";
}

/**
 * What a task with nothing wrong is waiting for, e.g. "being downloaded by another process
 * (pid 4242)": its progress is then that process's.  Shown as a plain note, not as an error.
 */
export function taskMessage(task) {
  return !FINISHED_STATUSES.has(task.status) && !taskNotice(task) && task.message ? String(task.message) : "";
}
