// Toasts through ComfyUI's toast API (app.extensionManager.toast); on frontends without it,
// a small self-closing DOM note (never alert(), which would block the page).
import { noteBox } from "./events.js";
import { modelLabel } from "./format.js";

const FALLBACK_ID = "mm-toast-fallback";

function fallbackToast({ severity, summary, detail, life }) {
  const box = noteBox(FALLBACK_ID, "mm-toast-fallback");
  const note = document.createElement("div");
  note.className = `mm-toast mm-toast-${severity}`;
  const title = document.createElement("strong");
  title.textContent = summary;
  const text = document.createElement("div");
  text.textContent = detail ?? "";
  note.append(title, text);
  box.appendChild(note);
  setTimeout(() => note.remove(), life ?? 8000);
}

/** Shows a toast; `severity` is success | info | warn | error. */
export function showToast(app, { severity = "info", summary, detail = "", life = 8000 }) {
  const toast = app?.extensionManager?.toast;
  if (toast && typeof toast.add === "function") {
    toast.add({ severity, summary, detail, life });
  } else {
    fallbackToast({ severity, summary, detail, life });
  }
  const log = severity === "error" ? console.warn : console.info;
  log(`[Model Manager] ${summary}${detail ? `: ${detail}` : ""}`);
}

export const KEY_SETTINGS_HINT = "Set it in Settings → Model Manager → API keys.";

/** True when a failure means an API key or token is missing or was refused. */
export function isKeyProblem(code, message) {
  if (code === "auth_required") return true;
  const text = message ?? "";
  return /\b(api key|token)\b/i.test(text)
    && /\b(needs?|needed|requires?|required|missing|not set|login|log in|unauthori[sz]ed)\b/i.test(text);
}

export function toastCompleted(app, task) {
  showToast(app, {
    severity: "success",
    summary: "Download complete",
    detail: `${modelLabel(task)} is ready to use.`,
    life: 6000,
  });
}

export function toastFailed(app, task, code) {
  const reason = task?.error || "unknown error";
  if (isKeyProblem(code ?? task?.error_code, reason)) {
    toastKeyMissing(app, reason);
    return;
  }
  showToast(app, {
    severity: "error",
    summary: "Download failed",
    detail: `${modelLabel(task)}: ${reason}`,
    life: 12000,
  });
}

export function toastKeyMissing(app, reason) {
  showToast(app, {
    severity: "warn",
    summary: "API key needed",
    detail: `${reason} ${KEY_SETTINGS_HINT}`.trim(),
    life: 15000,
  });
}

export function toastActionError(app, what, error) {
  showToast(app, {
    severity: "error",
    summary: `Model Manager: ${what} failed`,
    detail: error?.message ?? String(error),
  });
}
