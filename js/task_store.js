// What the page knows about download tasks and scans, fed by REST answers and events.
import { ACTIVE_STATUSES } from "./format.js";

const newer = (a, b) => (a.updated_at ?? a.created_at ?? 0) >= (b.updated_at ?? b.created_at ?? 0);

export class TaskStore {
  constructor() {
    /** task_id -> task JSON (contract section 3) */
    this.tasks = new Map();
    /** scan_id -> latest scan payload (update_scan_task / complete_scan_task merged) */
    this.scans = new Map();
    /** task_id -> the copy removed from the page (a late event of it must not bring it back) */
    this.removed = new Map();
  }

  /** Stores `task` unless an older copy; answers the status it had before (or undefined). */
  upsert(task) {
    if (!task || !task.task_id) return undefined;
    const gone = this.removed.get(task.task_id);
    if (gone && !(ACTIVE_STATUSES.has(task.status) && newer(task, gone) && task.updated_at !== gone.updated_at)) {
      return undefined; // a late event of a removed record; a retry (running again, newer) comes back
    }
    this.removed.delete(task.task_id);
    const previous = this.tasks.get(task.task_id);
    if (previous && !newer(task, previous)) return previous.status;
    // A payload without node_id / prompt_id (REST answers) must not forget who asked.
    const merged = { ...task };
    for (const key of ["node_id", "prompt_id"]) {
      if (merged[key] == null && previous?.[key] != null) merged[key] = previous[key];
    }
    this.tasks.set(task.task_id, merged);
    return previous?.status;
  }

  remove(taskId) {
    const task = this.tasks.get(taskId);
    if (task) this.removed.set(taskId, task);
    this.tasks.delete(taskId);
  }

  get(taskId) {
    return this.tasks.get(taskId);
  }

  /**
   * The task a node should show after a reload: the newest one that node asked for.
   * `node` is a node id, or a function telling whether a server node id names the node.
   * `accept(task)` can refuse stale ones (e.g. a finished task for a different URL).
   */
  latestForNode(node, accept = () => true) {
    const isNode = typeof node === "function" ? node : (id) => String(id) === String(node);
    let best;
    for (const task of this.tasks.values()) {
      if (task.node_id == null || !isNode(task.node_id)) continue;
      if (!accept(task)) continue;
      if (!best || newer(task, best)) best = task;
    }
    return best;
  }

  upsertScan(payload) {
    if (!payload?.scan_id) return undefined;
    const previous = this.scans.get(payload.scan_id);
    const merged = { ...(previous ?? {}), ...payload };
    // An answer without the asking node (e.g. a cancel route reply) must not forget it.
    for (const key of ["node_id", "prompt_id"]) {
      if (merged[key] == null && previous?.[key] != null) merged[key] = previous[key];
    }
    this.scans.set(payload.scan_id, merged);
    return merged;
  }
}

export const isActive = (task) => !!task && ACTIVE_STATUSES.has(task.status);
