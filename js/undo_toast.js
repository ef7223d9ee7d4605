// "Deleted NAME — Undo" for 15 s after every model delete (event model_manager.delete_model),
// whether it came from our UI, a DeleteModel node, the REST API or another tab. ComfyUI's toast
// API shows text only, so this note is our own small element with an Undo button; Undo calls the
// restore route, then the loaders' lists are refreshed like after a download.
import { restoreFromTrash } from "./api.js";
import { showToast, toastActionError } from "./toasts.js";

export const DELETE_MODEL_EVENT = "model_manager.delete_model";
export const UNDO_LIFE_MS = 15000;
const BOX_ID = "mm-undo-toasts";

function container() {
  let box = document.getElementById(BOX_ID);
  if (!box) {
    box = document.createElement("div");
    box.id = BOX_ID;
    box.className = "mm-undo-toasts";
    document.body.appendChild(box);
  }
  return box;
}

/**
 * Shows the note for one delete. `refreshLoaders()` runs after the delete and after a restore.
 * Returns the note's element (it removes itself after `life` ms or once Undo has finished).
 */
export function showUndoToast(app, payload, refreshLoaders, life = UNDO_LIFE_MS) {
  const { trash_id: trashId, model_type: modelType, name } = payload ?? {};
  const note = document.createElement("div");
  note.className = "mm-toast mm-undo-toast";
  note.dataset.trashId = trashId;
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
  container().appendChild(note);
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
      refreshLoaders?.();
    } catch (error) {
      undo.disabled = false;
      undo.textContent = "Undo";
      timer = setTimeout(() => note.remove(), life);
      toastActionError(app, `restore ${name}`, error);
    }
  });
  return note;
}

/** Listens for deletes: `listen(name, handler)` is the extension's event subscription. */
export function installUndoToasts(app, listen, refreshLoaders) {
  listen(DELETE_MODEL_EVENT, (payload) => {
    refreshLoaders?.(); // the deleted file leaves the loaders' lists
    if (payload?.trash_id) {
      showUndoToast(app, payload, refreshLoaders);
    } else {
      showToast(app, {
        severity: "info", summary: "Deleted for good", life: 6000,
        detail: `${payload?.model_type}/${payload?.name}`,
      });
    }
  });
}
