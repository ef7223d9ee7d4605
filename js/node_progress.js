// One progress panel bound to one graph node, and the task or scan it currently follows.
import { ProgressPanel, addProgressWidget, downloadView, scanView } from "./progress_widget.js";

export const DOWNLOAD_NODE = "DownloadModel";
export const SCAN_NODE = "ScanModels";

const IDLE_TEXT = {
  download: "no download yet · queue the prompt to start",
  scan: "no scan yet · queue the prompt to scan",
};

/** Execution ids of node `nodeId` of `graph` (a subgraph) seen from `root`. */
function executionIds(root, graph, nodeId) {
  const ids = [];
  const walk = (current, prefix, depth) => {
    if (depth > 16) return; // subgraphs cannot nest without end; guard anyway
    for (const node of current.nodes ?? current._nodes ?? []) {
      if (!node.subgraph) continue;
      const path = prefix ? `${prefix}:${node.id}` : String(node.id);
      if (node.subgraph === graph) ids.push(`${path}:${nodeId}`);
      walk(node.subgraph, path, depth + 1);
    }
  };
  walk(root, "", 0);
  return ids;
}

export class NodeProgress {
  constructor(node, kind, onRemoved) {
    this.node = node;
    this.kind = kind;
    this.taskId = null; // download task or scan id followed
    this.endedAt = -Infinity; // when the followed task last failed or was cancelled (performance.now())
    this.panel = new ProgressPanel(IDLE_TEXT[kind]);
    this.panel.element.dataset.kind = kind;
    addProgressWidget(node, this.panel);
    const previous = node.onRemoved;
    node.onRemoved = function () {
      const result = previous?.apply(this, arguments);
      onRemoved();
      return result;
    };
  }

  get nodeId() {
    return this.node.id == null ? null : String(this.node.id);
  }

  /**
   * Does a server-side node id (UNIQUE_ID) name this node?  Inside a subgraph the server uses
   * execution ids "outer:inner" (one per path of subgraph nodes leading to this node's graph).
   */
  matches(serverNodeId) {
    if (serverNodeId == null || this.nodeId == null) return false;
    const wanted = String(serverNodeId);
    const graph = this.node.graph;
    const root = graph?.rootGraph ?? graph;
    if (!graph || graph === root) return wanted === this.nodeId;
    return executionIds(root, graph, this.nodeId).includes(wanted);
  }

  widgetValue(name) {
    return this.node.widgets?.find((widget) => widget.name === name)?.value;
  }

  showTask(task) {
    this.taskId = task.task_id;
    this.panel.element.dataset.taskId = task.task_id;
    this.panel.show(downloadView(task));
  }

  showScan(scan) {
    this.taskId = scan.scan_id;
    this.panel.element.dataset.taskId = scan.scan_id;
    this.panel.show(scanView(scan));
  }

  showIdle(text) {
    this.taskId = null;
    delete this.panel.element.dataset.taskId;
    this.panel.show({ status: "idle", percent: null, statusText: text ?? IDLE_TEXT[this.kind], detailText: "", errorText: "" });
  }

  /** The node failed before a task existed (e.g. the link could not be resolved). */
  showError(message) {
    this.taskId = null;
    delete this.panel.element.dataset.taskId;
    this.panel.show({ status: "failed", percent: null, statusText: "failed", detailText: "", errorText: message });
  }

  dispose() {
    this.panel.dispose();
  }
}
