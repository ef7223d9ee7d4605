// REST calls of the sidebar (besides the task calls in ../api.js).
import { api } from "../../../scripts/api.js";
import { ModelManagerApiError, request } from "../api.js";

const path = (type, name) => `${encodeURIComponent(type)}/${encodeURIComponent(name)}`;

export const resolveLink = (url) => request("POST", "/model-manager/resolve", { url });

export const createTask = (body) => request("POST", "/model-manager/tasks", body);

export const deleteTask = (taskId) => request("DELETE", `/model-manager/tasks/${encodeURIComponent(taskId)}`);

export const listTypes = async () => (await request("GET", "/model-manager/types"))?.types ?? [];

/** One page: { models, total, offset, limit }. */
export function listModels({ type, offset = 0, limit = 200, q = "", sort = "name" }) {
  const query = new URLSearchParams({ offset: String(offset), limit: String(limit), sort });
  if (type) query.set("type", type);
  if (q) query.set("q", q);
  return request("GET", `/model-manager/models?${query}`);
}

export const getModel = (type, name) => request("GET", `/model-manager/models/${path(type, name)}`);

export const saveDescription = (type, name, description) =>
  request("PATCH", `/model-manager/models/${path(type, name)}`, { description });

export const deleteModel = (type, name) => request("DELETE", `/model-manager/models/${path(type, name)}`);

/** `deep`: also hash every file and look it up on Civitai. */
export const startScan = (modelType, deep = false) => request("POST", "/model-manager/scans",
  { model_type: modelType || "all", ...(deep ? { compute_hashes: true, fetch_civitai_info: true } : {}) });

/** The URL the page loads a preview from (the route answers 304 while it is unchanged). */
export const previewUrl = (type, name, version = "") =>
  api.apiURL(`/model-manager/models/${path(type, name)}/preview${version ? `?v=${encodeURIComponent(version)}` : ""}`);

/** Uploads an image (Blob/File) as the model's preview. */
export async function uploadPreview(type, name, blob) {
  const form = new FormData();
  form.append("image", blob, blob.name || "preview.png");
  let response;
  try {
    response = await api.fetchApi(`/model-manager/models/${path(type, name)}/preview`, { method: "PUT", body: form });
  } catch (error) {
    throw new ModelManagerApiError(`ComfyUI did not answer: ${error?.message ?? error}`, "network", 0);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const problem = data?.error ?? {};
    throw new ModelManagerApiError(problem.message || `upload failed with HTTP ${response.status}`,
      problem.code || "http_error", response.status);
  }
  return data;
}
