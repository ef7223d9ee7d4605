// REST client for the pack's routes (contract section 5), through ComfyUI's api.fetchApi
// so the page's base URL and auth headers are honoured.
import { api } from "../../scripts/api.js";

/** An error answered by our routes: `code` is the contract's error code (e.g. auth_required). */
export class ModelManagerApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.name = "ModelManagerApiError";
    this.code = code;
    this.status = status;
  }
}

export async function request(method, route, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await api.fetchApi(route, options);
  } catch (error) {
    throw new ModelManagerApiError(`ComfyUI did not answer: ${error?.message ?? error}`, "network", 0);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    const message = error.message || `${method} ${route} failed with HTTP ${response.status}`;
    throw new ModelManagerApiError(message, error.code || "http_error", response.status);
  }
  return data;
}

export const listTasks = async () => (await request("GET", "/model-manager/tasks"))?.tasks ?? [];

/** action: "pause" | "resume" | "cancel"; answers the updated task. */
export const taskAction = (taskId, action) =>
  request("POST", `/model-manager/tasks/${encodeURIComponent(taskId)}/${action}`);

export const getSettings = () => request("GET", "/model-manager/settings");

/** Only the given keys change; answers the public view (secrets as *_set flags). */
export const putSettings = (changes) => request("PUT", "/model-manager/settings", changes);

export const getScan = (scanId) => request("GET", `/model-manager/scans/${encodeURIComponent(scanId)}`);

export const cancelScan = (scanId) =>
  request("POST", `/model-manager/scans/${encodeURIComponent(scanId)}/cancel`);

/** Puts a deleted model back; answers the model. A file now at its place is a 409 unless `rename`. */
export const restoreFromTrash = (trashId, rename = false) =>
  request("POST", `/model-manager/trash/${encodeURIComponent(trashId)}/restore`, rename ? { rename: true } : {});
