// The pack's PromptServer event names and the page-wide helpers both entry modules need.

export const EVENTS = Object.freeze({
  create: "model_manager.create_download_task",
  update: "model_manager.update_download_task",
  complete: "model_manager.complete_download_task",
  remove: "model_manager.delete_download_task",
  scanUpdate: "model_manager.update_scan_task",
  scanComplete: "model_manager.complete_scan_task",
  modelDeleted: "model_manager.delete_model",
});

/**
 * Adds `<link rel=stylesheet>` for `url` once.  Callers pass `new URL("./x.css", import.meta.url)`
 * so the sheet is found wherever ComfyUI serves the pack's folder (its name varies by install).
 */
export function loadStylesheet(url) {
  const href = String(url);
  if (document.querySelector(`link[href="${href}"]`)) return;
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href }));
}

/** The page-wide box with `id` that our own notes stack in (created on first use). */
export function noteBox(id, className) {
  let box = document.getElementById(id);
  if (!box) {
    box = Object.assign(document.createElement("div"), { id, className });
    document.body.appendChild(box);
  }
  return box;
}
