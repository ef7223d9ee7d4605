// REST calls for a workflow's models: POST /model-manager/workflow-models (list) and
// …/workflow-models/download (start or join the downloads of the missing ones).
import { request } from "../api.js";

/**
 * `source` is { workflow, prompt? } as the page holds it. Answers the references
 * [{name, directory, url, sha256, node_ids, status, path, reason, task_id, size?, host?}].
 */
export async function listWorkflowModels(source, { allowAnyHost = false, sizes = true } = {}) {
  const answer = await request("POST", "/model-manager/workflow-models",
    { ...source, allow_any_host: allowAnyHost, sizes });
  return answer?.models ?? [];
}

/** Only the models named in `names` ("folder/name"); answers { tasks, refused, present }. */
export async function downloadWorkflowModels(source, { names, allowAnyHost = false } = {}) {
  const answer = await request("POST", "/model-manager/workflow-models/download",
    { ...source, names, allow_any_host: allowAnyHost });
  return { tasks: answer?.tasks ?? [], refused: answer?.refused ?? [], present: answer?.present ?? [] };
}
