// Dragging a model from the sidebar onto the canvas adds the loader node for its folder type
// with the file selected. Public API only: LiteGraph.createNode, graph.add, the canvas's
// convertEventToCanvasOffset and standard HTML drag-and-drop events.

export const DRAG_TYPE = "application/x-comfy-model-manager";

/** Folder type -> [node class, widget name], first existing class wins. */
const LOADERS = {
  checkpoints: [["CheckpointLoaderSimple", "ckpt_name"]],
  loras: [["LoraLoader", "lora_name"], ["LoraLoaderModelOnly", "lora_name"]],
  vae: [["VAELoader", "vae_name"]],
  controlnet: [["ControlNetLoader", "control_net_name"]],
  upscale_models: [["UpscaleModelLoader", "model_name"]],
  text_encoders: [["CLIPLoader", "clip_name"]],
  clip: [["CLIPLoader", "clip_name"]],
  diffusion_models: [["UNETLoader", "unet_name"]],
  unet: [["UNETLoader", "unet_name"]],
  clip_vision: [["CLIPVisionLoader", "clip_name"]],
  style_models: [["StyleModelLoader", "style_model_name"]],
  gligen: [["GLIGENLoader", "gligen_name"]],
  hypernetworks: [["HypernetworkLoader", "hypernetwork_name"]],
  photomaker: [["PhotoMakerLoader", "photomaker_model_name"]],
  model_patches: [["ModelPatchLoader", "name"]],
  audio_encoders: [["AudioEncoderLoader", "audio_encoder_name"]],
  latent_upscale_models: [["LatentUpscaleModelLoader", "model_name"]],
};

const registered = (LiteGraph, type) => !!LiteGraph?.registered_node_types?.[type];

/** [node class, widget name] for a folder type on this ComfyUI, or null. */
export function loaderFor(modelType, LiteGraph = window.LiteGraph) {
  for (const candidate of LOADERS[modelType] ?? []) {
    if (registered(LiteGraph, candidate[0])) return candidate;
  }
  return null;
}

/** The combo value naming `name` (loaders list "sub/x" as "sub\x" on Windows). */
function comboValue(widget, name) {
  const values = widget?.options?.values;
  const list = Array.isArray(values) ? values : typeof values === "function" ? values() : [];
  if (!list?.length || list.includes(name)) return name;
  const windows = name.replaceAll("/", "\\");
  return list.includes(windows) ? windows : name;
}

/** Adds the loader for `model` ({type, name}) at canvas position `pos`; answers the node or null. */
export function addLoaderNode(app, model, pos) {
  const LiteGraph = window.LiteGraph;
  const loader = loaderFor(model.type, LiteGraph);
  if (!loader) return null;
  const [nodeType, widgetName] = loader;
  const node = LiteGraph.createNode(nodeType);
  if (!node) return null;
  node.pos = [pos[0], pos[1]];
  const graph = app.canvas?.graph ?? app.graph;
  graph.add(node);
  const widget = node.widgets?.find((w) => w.name === widgetName);
  if (widget) {
    widget.value = comboValue(widget, model.name);
    widget.callback?.(widget.value);
  }
  app.canvas?.setDirty?.(true, true);
  return node;
}

const carriesModel = (event) => [...(event.dataTransfer?.types ?? [])].includes(DRAG_TYPE);

/** Is the pointer over the canvas (and not over the sidebar or a dialog above it)? */
function overCanvas(app, event) {
  const canvas = app.canvasEl ?? app.canvas?.canvas;
  if (!canvas) return false;
  const rect = canvas.getBoundingClientRect();
  const inside = event.clientX >= rect.left && event.clientX <= rect.right
    && event.clientY >= rect.top && event.clientY <= rect.bottom;
  return inside && !event.target?.closest?.(".mm-sb, .p-dialog, .p-drawer");
}

/**
 * Listens (window, capture phase) for our drags over the canvas; `onMissing(model)` is told when
 * there is no loader for the type. Returns a function that removes the listeners.
 */
export function installCanvasDrop(app, { onAdded, onMissing } = {}) {
  const over = (event) => {
    if (!carriesModel(event) || !overCanvas(app, event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  };
  const drop = (event) => {
    if (!carriesModel(event) || !overCanvas(app, event)) return;
    event.preventDefault();
    event.stopPropagation(); // the page's own drop handler would try to load a workflow
    let model;
    try {
      model = JSON.parse(event.dataTransfer.getData(DRAG_TYPE));
    } catch {
      return;
    }
    if (!model?.type || !model?.name) return;
    const pos = app.canvas.convertEventToCanvasOffset(event);
    const node = addLoaderNode(app, model, pos);
    if (node) onAdded?.(node, model);
    else onMissing?.(model);
  };
  window.addEventListener("dragover", over, true);
  window.addEventListener("drop", drop, true);
  return () => {
    window.removeEventListener("dragover", over, true);
    window.removeEventListener("drop", drop, true);
  };
}

/** dragstart of a model card: only our own data (no image URL the page would try to load). */
export function startModelDrag(event, model) {
  const data = event.dataTransfer;
  data.clearData();
  data.setData(DRAG_TYPE, JSON.stringify({ type: model.type, name: model.name }));
  data.setData("text/plain", model.name);
  data.effectAllowed = "copy";
}
