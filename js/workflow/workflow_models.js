// "Download missing models…": a command (with its menu entry) and a canvas right-click entry
// that open the workflow models dialog for the workflow on screen, and a note offering that
// dialog when a loaded workflow has missing models (a setting turns the note off).
// Public frontend API only: registerExtension's commands, menuCommands, getCanvasMenuItems,
// afterConfigureGraph and settings; older frontends get the canvas entry through
// LGraphCanvas.prototype.getCanvasMenuOptions, as they expect of extensions.
import { noteBox } from "../events.js";
import { button, h } from "../sidebar/dom.js";
import { WorkflowModelsDialog, loadStyles } from "./dialog.js";
import { listWorkflowModels } from "./requests.js";

export const COMMAND_ID = "ModelManager.DownloadMissingModels";
export const MENU_LABEL = "Download missing models…";
export const OFFER_SETTING_ID = "ModelManager.Workflow.OfferMissingModels";
const OFFER_DELAY_MS = 300; // let the frontend finish loading the graph first
const OFFER_LIFE_MS = 20000;
const OFFERS_ID = "mm-wf-offers";

export class WorkflowModels {
  /** `store` is the page's TaskStore; `refreshLoaders()` makes loader nodes list new files. */
  constructor(app, store, refreshLoaders) {
    this.app = app;
    this.store = store;
    this.refreshLoaders = refreshLoaders;
    this.dialog = null;
    this.offerTimer = null;
    /** workflow -> the missing models it was offered for (switching tabs configures the graph again) */
    this.offered = new WeakMap();
  }

  // -- what registerExtension takes ------------------------------------------------------
  commands() {
    return [{ id: COMMAND_ID, label: MENU_LABEL, icon: "pi pi-cloud-download", function: () => this.open() }];
  }

  menuCommands() {
    return [{ path: ["Extensions", "Model Manager"], commands: [COMMAND_ID] }];
  }

  canvasMenuItems() {
    return [null, { content: MENU_LABEL, callback: () => { this.open(); } }];
  }

  settings() {
    return [{
      id: OFFER_SETTING_ID, category: ["Model Manager", "Workflow", "Offer missing models"],
      name: "Offer to download a loaded workflow's missing models", type: "boolean", defaultValue: true,
      tooltip: "When a workflow you open names models that are not on the server, a note offers "
        + `“${MENU_LABEL}”. The entry stays in the canvas menu either way.`,
    }];
  }

  /** Frontends without getCanvasMenuItems (1.27 and older) ask the canvas prototype instead. */
  installCanvasMenuFallback() {
    if (typeof this.app.collectCanvasMenuItems === "function") return;
    const Canvas = window.LGraphCanvas ?? this.app.canvas?.constructor;
    const original = Canvas?.prototype?.getCanvasMenuOptions;
    if (typeof original !== "function") return;
    const items = () => this.canvasMenuItems();
    Canvas.prototype.getCanvasMenuOptions = function (...args) {
      const options = original.apply(this, args);
      if (Array.isArray(options)) options.push(...items());
      return options;
    };
  }

  // -- the workflow on screen -------------------------------------------------------------
  activeWorkflow() {
    return this.app.extensionManager?.workflow?.activeWorkflow ?? null;
  }

  /** What the routes read: the UI workflow (subgraphs included) and, when it converts, its prompt. */
  async currentSource() {
    const graph = this.app.rootGraph ?? this.app.graph;
    try {
      const converted = await this.app.graphToPrompt(graph);
      if (converted?.workflow) return { workflow: converted.workflow, prompt: converted.output ?? undefined };
    } catch (error) {
      console.info("[Model Manager] the workflow did not convert to a prompt; reading its nodes only:", error?.message);
    }
    return { workflow: graph.serialize() };
  }

  async open() {
    if (this.dialog?.element.open) {
      this.dialog.element.focus();
      return this.dialog;
    }
    // Closed a moment ago, its close event not handled yet: finish it now and open anew.
    this.dialog?.dispose();
    dismissOffers();
    const source = await this.currentSource();
    const title = this.activeWorkflow()?.filename ?? "";
    this.dialog = new WorkflowModelsDialog(this.app, this.store, {
      source, title, refreshLoaders: this.refreshLoaders, onClosed: () => { this.dialog = null; },
    });
    return this.dialog.open();
  }

  // -- the offer after a load -------------------------------------------------------------
  offerEnabled() {
    const value = this.app.extensionManager?.setting?.get?.(OFFER_SETTING_ID)
      ?? this.app.ui?.settings?.getSettingValue?.(OFFER_SETTING_ID);
    return value !== false;
  }

  /** afterConfigureGraph: a workflow was loaded (opened, dropped, a template, a tab switch). */
  afterConfigureGraph() {
    clearTimeout(this.offerTimer);
    this.offerTimer = setTimeout(() => this.offer().catch((error) => {
      console.warn("[Model Manager] could not check the workflow's models:", error?.message ?? error);
    }), OFFER_DELAY_MS);
  }

  async offer() {
    if (!this.offerEnabled() || this.dialog) return;
    const workflow = this.activeWorkflow();
    const source = await this.currentSource();
    if (!source.workflow?.nodes?.length) return;
    const refs = await listWorkflowModels(source, { sizes: false }); // local only: no host is asked
    const absent = refs.filter((ref) => ref.status === "missing" || ref.status === "missing_no_url");
    const signature = absent.map((ref) => `${ref.directory}/${ref.name}`).sort().join("\n");
    if (workflow) {
      if (this.offered.get(workflow) === signature) return; // this workflow again, nothing new missing
      this.offered.set(workflow, signature);
    }
    if (!absent.length || this.dialog) return;
    const missing = absent.filter((ref) => ref.status === "missing").length;
    const noLink = absent.length - missing;
    const total = absent.length;
    const text = `This workflow uses ${total} model${total === 1 ? "" : "s"} that ${total === 1 ? "is" : "are"} `
      + `not on the server${noLink ? ` (${missing} can be downloaded)` : ""}.`;
    showOffer(text, () => this.open());
  }
}

/** A note with the offer's button; it goes away after a while, on ×, or once used. */
function showOffer(text, onAccept) {
  loadStyles();
  const box = noteBox(OFFERS_ID, "mm-wf-offers");
  dismissOffers();
  const note = h("div", { className: "mm-toast mm-wf-offer", role: "status" },
    h("span", { className: "mm-wf-offer-text", text }),
    button(MENU_LABEL, () => { note.remove(); onAccept(); }, { className: "mm-sb-primary mm-sb-small" }),
    button("Dismiss", () => note.remove(), { icon: "pi-times", iconOnly: true, className: "mm-sb-small" }));
  box.append(note);
  setTimeout(() => note.remove(), OFFER_LIFE_MS);
  return note;
}

function dismissOffers() {
  document.querySelectorAll(".mm-wf-offer").forEach((note) => note.remove());
}
