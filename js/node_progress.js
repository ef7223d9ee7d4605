// One progress panel bound to one graph node, and the task or scan it currently follows.
import { ProgressPanel, addProgressWidget, downloadView, scanView } from "./progress_widget.js";

export const DOWNLOAD_NODE = "DownloadModel";
export const SCAN_NODE = "ScanModels";

const IDLE_TEXT = {
  download: "no download yet · queue the prompt to start",
  scan: "no scan yet · queue the prompt to scan",
};

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
