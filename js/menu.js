// Right-click menu entries for our nodes. Items are plain litegraph menu values
// ({content, disabled, callback}), used by both getNodeMenuItems (current frontends) and
// the node prototype's getExtraMenuOptions (older ones).

const PAUSABLE = new Set(["queued", "downloading"]);
const RESUMABLE = new Set(["paused", "failed", "cancelled"]); // cancelled restarts from zero
const CANCELLABLE = new Set(["queued", "downloading", "paused", "failed"]);

export const MENU_LABELS = Object.freeze({
  pause: "Pause download",
  resume: "Resume download",
  cancel: "Cancel download…",
  cancelScan: "Cancel scan…",
});

/**
 * Entries for a DownloadModel node showing `task` (or nothing yet).
 * `act(action)` runs pause | resume | cancel (cancel asks first).
 */
export function downloadMenuItems(task, act) {
  const status = task?.status;
  return [
    { content: MENU_LABELS.pause, disabled: !PAUSABLE.has(status), callback: () => act("pause") },
    { content: MENU_LABELS.resume, disabled: !RESUMABLE.has(status), callback: () => act("resume") },
    { content: MENU_LABELS.cancel, disabled: !CANCELLABLE.has(status), callback: () => act("cancel") },
  ];
}

export function scanMenuItems(scan, cancel) {
  const running = !!scan && !scan.finished;
  return [{ content: MENU_LABELS.cancelScan, disabled: !running, callback: () => cancel() }];
}

/** Asks through ComfyUI's confirmation dialog (window.confirm on frontends without it). */
export async function confirmAction(app, title, message) {
  const dialog = app?.extensionManager?.dialog;
  if (dialog && typeof dialog.confirm === "function") {
    return (await dialog.confirm({ title, message, type: "default" })) === true;
  }
  return window.confirm(`${title}\n\n${message}`);
}

/**
 * Older frontends: add our entries through the node type's getExtraMenuOptions, keeping
 * whatever the prototype already had. `itemsFor(node)` builds the entries.
 */
export function patchExtraMenuOptions(nodeType, itemsFor) {
  const original = nodeType.prototype.getExtraMenuOptions;
  nodeType.prototype.getExtraMenuOptions = function (canvas, options) {
    const result = original?.apply(this, arguments);
    const items = itemsFor(this);
    if (items.length) options.push(null, ...items);
    return result;
  };
}
