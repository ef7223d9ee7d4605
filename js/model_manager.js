// Model Manager for ComfyUI: progress on nodes, pause/resume/cancel menu, toasts, settings.
// Fed only by the pack's PromptServer events and REST routes (contract sections 4 and 5).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { cancelScan, getScan, listTasks, taskAction } from "./api.js";
import { EVENTS, loadStylesheet } from "./events.js";
import { ACTIVE_STATUSES } from "./format.js";
import { confirmAction, downloadMenuItems, patchExtraMenuOptions, scanMenuItems } from "./menu.js";
import { DOWNLOAD_NODE, NodeProgress, SCAN_NODE } from "./node_progress.js";
import { settingDefinitions } from "./settings.js";
import { registerSidebar } from "./sidebar/sidebar.js";
import { TaskStore } from "./task_store.js";
import {
  isKeyProblem, showToast, toastActionError, toastCompleted, toastFailed, toastKeyMissing,
} from "./toasts.js";
import { installUndoToasts } from "./undo_toast.js";
import { WorkflowModels } from "./workflow/workflow_models.js";

const KIND_OF_CLASS = { [DOWNLOAD_NODE]: "download", [SCAN_NODE]: "scan" };
const REFRESH_DELAY_MS = 400;
/** A node error this soon after its task failed or was cancelled repeats what was shown. */
const ENDED_GRACE_MS = 30000;

const comfyClassOf = (node) => node?.comfyClass ?? node?.constructor?.comfyClass ?? node?.type;

/** Everything the extension keeps for one page. */
class ModelManagerUI {
  constructor(comfyApp) {
    this.app = comfyApp;
    this.store = new TaskStore();
    this.controllers = new Set();
    this.toasted = new Set(); // task ids whose completion was announced
    this.executingNodeId = null;
    this.refreshTimer = null;
    /** prompt_id -> the workflow that was open when it started (node ids repeat across workflows) */
    this.promptWorkflows = new Map();
    /** the Models sidebar tab, when this frontend has sidebar tabs */
    this.sidebar = null;
  }

  // -- lifetime ------------------------------------------------------------------------
  async setup() {
    loadStylesheet(new URL("./model_manager.css", import.meta.url));
    this.listen(EVENTS.create, (task) => this.onTask(task));
    this.listen(EVENTS.update, (task) => this.onTask(task));
    this.listen(EVENTS.complete, (task) => this.onTask(task, true));
    this.listen(EVENTS.remove, ({ task_id }) => this.onTaskRemoved(task_id));
    this.listen(EVENTS.scanUpdate, (scan) => this.onScan(scan));
    this.listen(EVENTS.scanComplete, (scan) => this.onScanComplete(scan));
    installUndoToasts(this.app, (name, handler) => this.listen(name, handler), (type) => this.modelsChanged(type));
    api.addEventListener("executing", (event) => {
      const detail = event.detail;
      this.executingNodeId = detail == null ? null : String(detail?.node ?? detail);
    });
    api.addEventListener("execution_start", (event) => {
      const promptId = event.detail?.prompt_id;
      if (promptId) this.promptWorkflows.set(promptId, this.workflowKey());
    });
    api.addEventListener("execution_error", (event) => this.onExecutionError(event.detail));
    api.addEventListener("reconnected", () => this.loadTasks());
    await this.loadTasks();
  }

  listen(name, handler) {
    api.addEventListener(name, (event) => {
      try {
        handler(event.detail ?? {});
      } catch (error) {
        console.error(`[Model Manager] ${name} handler failed`, error);
      }
    });
  }

  /** Fetches the task list (page load, reconnect) and re-attaches panels to their tasks. */
  async loadTasks() {
    let tasks;
    try {
      tasks = await listTasks();
    } catch (error) {
      console.warn("[Model Manager] could not load download tasks:", error.message);
      return;
    }
    for (const task of tasks) {
      const before = this.store.upsert(task);
      const stored = this.store.get(task.task_id) ?? task;
      if (!ACTIVE_STATUSES.has(before)) {
        if (stored.status === "completed") this.toasted.add(task.task_id); // old news
        continue;
      }
      // It ended while the page was not listening (ComfyUI restarting): tell it now.
      if (stored.status === "completed" && !this.toasted.has(task.task_id)) {
        this.toasted.add(task.task_id);
        toastCompleted(this.app, stored);
        this.scheduleLoaderRefresh();
      } else if (stored.status === "failed") {
        toastFailed(this.app, stored);
      }
    }
    this.controllers.forEach((controller) => this.reattach(controller));
  }

  /** The open workflow (the object, not its path: saving under a new name keeps it the same). */
  workflowKey() {
    return this.app.extensionManager?.workflow?.activeWorkflow ?? null;
  }

  /**
   * Was the task asked for by a node of the workflow now on screen?  Unknown prompts (queued from
   * another tab or the API) count as yes: only a prompt this page saw start elsewhere is refused.
   */
  fromThisWorkflow(task) {
    const started = task?.prompt_id ? this.promptWorkflows.get(task.prompt_id) : undefined;
    return started === undefined || started === this.workflowKey();
  }

  // -- nodes ---------------------------------------------------------------------------
  nodeCreated(node) {
    const kind = KIND_OF_CLASS[comfyClassOf(node)];
    if (!kind || this.controllerOf(node)) return;
    const controller = new NodeProgress(node, kind, () => {
      controller.dispose();
      this.controllers.delete(controller);
    });
    this.controllers.add(controller);
    // Ids are only final once the node is in a graph (-1 before configure): attach later.
    setTimeout(() => this.reattach(controller), 0);
  }

  controllerOf(node) {
    for (const controller of this.controllers) if (controller.node === node) return controller;
    return undefined;
  }

  /** Show the newest task this node asked for, unless it is finished and for another URL. */
  reattach(controller) {
    if (controller.kind !== "download" || controller.nodeId == null) return;
    const current = controller.taskId && this.store.get(controller.taskId);
    if (current) {
      controller.showTask(current);
      return;
    }
    const url = String(controller.widgetValue("url") ?? "").trim();
    const task = this.store.latestForNode((id) => controller.matches(id),
      (candidate) => this.fromThisWorkflow(candidate)
        && (ACTIVE_STATUSES.has(candidate.status) || (url && candidate.url === url)));
    if (task) controller.showTask(task);
  }

  // -- events --------------------------------------------------------------------------
  onTask(task, completedEvent = false) {
    if (!task?.task_id) return;
    const previousStatus = this.store.upsert(task);
    const stored = this.store.get(task.task_id) ?? task;
    const ended = ["failed", "cancelled"].includes(stored.status) && previousStatus !== stored.status;
    for (const controller of this.controllers) {
      if (controller.kind !== "download") continue;
      const follows = controller.taskId === stored.task_id;
      const asked = controller.matches(stored.node_id) && this.fromThisWorkflow(stored);
      if (!follows && !asked) continue;
      controller.showTask(stored);
      if (ended) controller.endedAt = performance.now();
    }
    if (ACTIVE_STATUSES.has(stored.status)) this.toasted.delete(stored.task_id); // runs again
    if ((completedEvent || stored.status === "completed") && !this.toasted.has(stored.task_id)) {
      this.toasted.add(stored.task_id);
      toastCompleted(this.app, stored);
      this.scheduleLoaderRefresh();
    } else if (stored.status === "failed" && previousStatus !== "failed") {
      toastFailed(this.app, stored);
    }
  }

  onTaskRemoved(taskId) {
    this.store.remove(taskId);
    for (const controller of this.controllers) {
      if (controller.taskId === taskId) controller.showIdle("the download record was removed");
    }
  }

  onScan(payload) {
    const scan = this.store.upsertScan(payload);
    if (!scan) return;
    const target = this.scanController(scan);
    target?.showScan(scan);
  }

  /** complete_scan_task has the counts but not the final status: ask the route for it. */
  async onScanComplete(payload) {
    this.onScan({ ...payload, finished: true, status: payload.status ?? "completed" });
    if (!payload.scan_id) return;
    try {
      const final = await getScan(payload.scan_id);
      this.onScan({ ...payload, status: final.status, errors: final.errors ?? payload.errors, finished: true });
    } catch (error) {
      console.warn("[Model Manager] could not read the scan status:", error.message);
    }
  }

  /**
   * The ScanModels node a scan belongs to: named in the event, already following, or running.
   * A finished scan is never adopted by another node (a late answer of an old scan would
   * otherwise land on the first idle node).
   */
  scanController(scan) {
    const scans = [...this.controllers].filter((controller) => controller.kind === "scan");
    const byId = (id) => scans.find((controller) => controller.matches(id));
    const named = byId(scan.node_id) ?? scans.find((controller) => controller.taskId === scan.scan_id);
    if (named || scan.finished || scan.node_id != null) return named;
    return byId(this.executingNodeId)
      ?? scans.find((controller) => !controller.taskId
        && [scan.model_type, "all", undefined].includes(controller.widgetValue("model_type")));
  }

  /**
   * Our node raised: a key problem gets the "where to set it" toast; a download that failed
   * before any task existed (bad URL, 404, unknown type) gets its reason on the node and in a
   * toast, unless the failed task was already announced.
   */
  onExecutionError(detail) {
    const kind = KIND_OF_CLASS[detail?.node_type];
    if (!kind) return;
    const type = String(detail.exception_type ?? "");
    const message = String(detail.exception_message ?? "").trim();
    const keyProblem = type.endsWith("AuthRequired") || isKeyProblem(null, message);
    const controller = [...this.controllers].find((c) => c.kind === kind && c.matches(detail.node_id));
    if (controller && performance.now() - controller.endedAt < ENDED_GRACE_MS) return; // already told
    if (kind === "download") controller?.showError(message);
    if (keyProblem) toastKeyMissing(this.app, message);
    else if (kind === "download") {
      showToast(this.app, { severity: "error", summary: "Download failed", detail: message, life: 12000 });
    }
  }

  /** A model of `modelType` was deleted or restored: loader lists and the sidebar follow. */
  modelsChanged(modelType) {
    this.scheduleLoaderRefresh();
    this.sidebar?.modelsChanged(modelType);
  }

  /** New files show up in loader nodes' lists without reloading the page. */
  scheduleLoaderRefresh() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      try {
        const refresh = this.app.reloadNodeDefs ?? this.app.refreshComboInNodes;
        await refresh?.call(this.app);
      } catch (error) {
        console.warn("[Model Manager] could not refresh model lists:", error);
      }
    }, REFRESH_DELAY_MS);
  }

  // -- menu ----------------------------------------------------------------------------
  menuItems(node) {
    const controller = this.controllerOf(node);
    if (!controller) return [];
    if (controller.kind === "scan") {
      const scan = controller.taskId ? this.store.scans.get(controller.taskId) : undefined;
      return scanMenuItems(scan, () => this.cancelScanOf(controller));
    }
    const task = controller.taskId ? this.store.get(controller.taskId) : undefined;
    return downloadMenuItems(task, (action) => this.runAction(controller, action));
  }

  async runAction(controller, action) {
    const task = controller.taskId && this.store.get(controller.taskId);
    if (!task) return;
    if (action === "cancel") {
      const ok = await confirmAction(this.app, "Cancel download?",
        `Stop downloading ${task.filename || task.url} and delete the partial file?`);
      if (!ok) return;
    }
    try {
      this.onTask(await taskAction(task.task_id, action));
    } catch (error) {
      toastActionError(this.app, `${action} download`, error);
    }
  }

  async cancelScanOf(controller) {
    const scanId = controller.taskId;
    if (!scanId) return;
    const ok = await confirmAction(this.app, "Cancel scan?", "Stop scanning the model folders?");
    if (!ok) return;
    try {
      const answer = await cancelScan(scanId);
      if (answer && typeof answer === "object") this.onScan({ scan_id: scanId, ...answer });
      showToast(this.app, { severity: "info", summary: "Scan cancelled", life: 4000 });
    } catch (error) {
      toastActionError(this.app, "cancel scan", error);
    }
  }
}

const ui = new ModelManagerUI(app);
const workflowModels = new WorkflowModels(app, ui.store, () => ui.scheduleLoaderRefresh());

app.registerExtension({
  name: "ModelManager.Extension",
  settings: [...settingDefinitions(), ...workflowModels.settings()],
  commands: workflowModels.commands(),
  menuCommands: workflowModels.menuCommands(),
  setup: async () => {
    const ready = ui.setup(); // its event listeners are in place before the sidebar's
    ui.sidebar = registerSidebar(app, ui.store);
    workflowModels.installCanvasMenuFallback();
    await ready;
  },
  getCanvasMenuItems: () => workflowModels.canvasMenuItems(),
  afterConfigureGraph: () => workflowModels.afterConfigureGraph(),
  nodeCreated: (node) => ui.nodeCreated(node),
  loadedGraphNode: (node) => {
    const controller = ui.controllerOf(node);
    if (controller) ui.reattach(controller);
  },
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!KIND_OF_CLASS[nodeData?.name]) return;
    // Current frontends ask extensions through getNodeMenuItems; older ones only call the
    // node's getExtraMenuOptions. Never both, or the entries would show twice.
    if (typeof app.collectNodeMenuItems !== "function") {
      patchExtraMenuOptions(nodeType, (node) => ui.menuItems(node));
    }
  },
  getNodeMenuItems: (node) => ui.menuItems(node),
});
