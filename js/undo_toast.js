// "Deleted NAME — Undo" for 15 s after every model delete (event model_manager.delete_model),
// whether it came from the sidebar, a DeleteModel node, the REST API or another tab: the one Undo
// of the page. ComfyUI's toast API shows text only, so this note is our own small element with an
// Undo button; Undo calls the restore route, then whoever lists models is told, like after a
// download.
import { restoreFromTrash } from "./api.js";
import { EVENTS, noteBox } from "./events.js";
import { showToast, toastActionError } from "./toasts.js";

export const DELETE_MODEL_EVENT = EVENTS.modelDeleted;
export const UNDO_LIFE_MS = 15000;
const BOX_ID = "mm-undo-toasts";

/**
 * Shows the note for one delete. `modelsChanged(modelType)` runs after a restore.
 * Returns the note's element (it removes itself after `life` ms or once Undo has finished).
 */
export function showUndoToast(app, payload, modelsChanged, life = UNDO_LIFE_MS) {
  const { trash_id: trashId, model_type: modelType, name } = payload ?? {};
  const note = document.createElement("div");
  note.className = "mm-toast mm-undo-toast";
  note.setAttribute("role", "status");
  Object.assign(note.dataset, { trashId, modelType, name });
  const text = document.createElement("span");
  text.textContent = `Deleted ${name} — `;
  const undo = document.createElement("button");
  undo.type = "button";
  undo.className = "mm-undo-button";
  undo.textContent = "Undo";
  const close = document.createElement("button");
  close.type = "button";
  close.className = "mm-undo-close";
  close.title = "Dismiss";
  close.textContent = "×";
  note.append(text, undo, close);
  noteBox(BOX_ID, "mm-undo-toasts").appendChild(note);
  // Deleted from our sidebar with the keyboard: the focus (lost with the Delete button) goes to Undo.
  const focused = document.activeElement;
  if (!focused || focused === document.body || focused.closest?.(".mm-sb")) undo.focus({ preventScroll: true });
  let timer = setTimeout(() => note.remove(), life);
  close.addEventListener("click", () => { clearTimeout(timer); note.remove(); });
  undo.addEventListener("click", async () => {
    clearTimeout(timer);
    undo.disabled = true;
    undo.textContent = "Restoring…";
    try {
      const model = await restoreFromTrash(trashId);
      note.remove();
      showToast(app, {
        severity: "success", summary: "Restored", life: 5000,
        detail: `${modelType}/${model?.name ?? name} is back.`,
      });
      modelsChanged?.(modelType);
    } catch (error) {
      undo.disabled = false;
      undo.textContent = "Undo";
      timer = setTimeout(() => note.remove(), life);
      toastActionError(app, `restore ${name}`, error);
    }
  });
  return note;
}

/** Moves the focus to the Undo of `modelType`/`name`'s note, if it is shown (keyboard users). */
export function focusUndoOf(modelType, name) {
  const note = [...document.querySelectorAll(".mm-undo-toast")]
    .find((n) => n.dataset.modelType === modelType && n.dataset.name === name);
  note?.querySelector(".mm-undo-button")?.focus({ preventScroll: true });
}

/**
 * Listens for deletes: `listen(name, handler)` is the extension's event subscription;
 * `modelsChanged(modelType)` runs after each delete and each restore (loader lists, the sidebar).
 */
export function installUndoToasts(app, listen, modelsChanged) {
  listen(DELETE_MODEL_EVENT, (payload) => {
    modelsChanged?.(payload?.model_type); // the deleted file leaves the lists
    if (payload?.trash_id) {
      showUndoToast(app, payload, modelsChanged);
    } else {
      showToast(app, {
        severity: "info", summary: "Deleted for good", life: 6000,
        detail: `${payload?.model_type}/${payload?.name}`,
      });
    }
  });
}
