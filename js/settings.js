// Entries in ComfyUI's settings dialog under "Model Manager".
//
// Every entry uses a custom `type` renderer that talks to PUT /model-manager/settings and never
// calls the dialog's setter: ComfyUI's own settings store (user/default/comfy.settings.json)
// therefore never receives a key, token or limit. The pack's settings file is the one source
// of truth (the command line reads it too), and keys only come back as "set" / "not set".
import { getSettings, putSettings } from "./api.js";

export const SETTING_IDS = Object.freeze({
  civitaiKey: "ModelManager.Keys.CivitaiApiKey",
  huggingfaceToken: "ModelManager.Keys.HuggingFaceToken",
  maxConcurrent: "ModelManager.Downloads.MaxConcurrentDownloads",
  connections: "ModelManager.Downloads.ConnectionsPerDownload",
  nsfwLevel: "ModelManager.Civitai.PreviewNsfwLevel",
});

// Same ranges and names as core/settings.py.
const NSFW_LEVELS = [
  [1, "PG (safe only)"], [2, "PG-13"], [4, "R"], [8, "X"], [16, "XXX"], [32, "all"],
];

const CACHE_MS = 1000;

/** One GET shared by the fields drawn in the same dialog render. */
class SettingsSource {
  constructor() {
    this.pending = null;
    this.fetchedAt = 0;
  }

  load() {
    if (!this.pending || performance.now() - this.fetchedAt > CACHE_MS) {
      this.fetchedAt = performance.now();
      this.pending = getSettings();
    }
    return this.pending;
  }

  async save(changes) {
    const view = await putSettings(changes);
    this.pending = Promise.resolve(view);
    this.fetchedAt = performance.now();
    return view;
  }
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function messageLine() {
  const line = el("span", { className: "mm-setting-message" });
  return {
    line,
    ok(text) { line.textContent = text; line.dataset.kind = "ok"; },
    error(text) { line.textContent = text; line.dataset.kind = "error"; },
  };
}

/** Password field: shows only set / not set; Save sends the key, Clear removes it. */
function secretRenderer(source, key, label) {
  return () => {
    const state = el("span", { className: "mm-secret-state", textContent: "…" });
    const input = el("input", {
      type: "password", autocomplete: "new-password", spellcheck: false,
      className: "p-inputtext p-component mm-secret-input", placeholder: "paste to replace",
    });
    input.setAttribute("aria-label", label);
    input.setAttribute("data-1p-ignore", "");
    const save = el("button", { type: "button", className: "mm-button mm-save", textContent: "Save" });
    const clear = el("button", { type: "button", className: "mm-button mm-clear", textContent: "Clear" });
    const message = messageLine();
    const root = el("div", { className: "mm-setting mm-secret" }, state, input, save, clear, message.line);
    root.dataset.setting = key;

    const showState = (view) => {
      const isSet = !!view?.[`${key}_set`];
      state.textContent = isSet ? "set" : "not set";
      state.dataset.set = String(isSet);
    };
    const submit = async (value) => {
      save.disabled = clear.disabled = true;
      try {
        showState(await source.save({ [key]: value }));
        message.ok(value ? "saved" : "cleared");
      } catch (error) {
        message.error(error.message);
      } finally {
        input.value = ""; // the key never stays in the page
        save.disabled = clear.disabled = false;
      }
    };
    save.addEventListener("click", () => {
      const value = input.value.trim();
      if (value) submit(value);
      else message.error(`paste a ${label} first`);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") save.click();
    });
    clear.addEventListener("click", () => submit(""));
    source.load().then(showState, (error) => message.error(error.message));
    return root;
  };
}

function numberRenderer(source, key, min, max) {
  return () => {
    const input = el("input", {
      type: "number", min: String(min), max: String(max), step: "1",
      className: "p-inputtext p-component mm-number-input",
    });
    const message = messageLine();
    const root = el("div", { className: "mm-setting mm-number" }, input, message.line);
    root.dataset.setting = key;
    let current = null;
    source.load().then((view) => { current = view?.[key]; input.value = current ?? ""; },
      (error) => message.error(error.message));
    input.addEventListener("change", async () => {
      const value = Number(input.value);
      if (!Number.isInteger(value) || value < min || value > max) {
        message.error(`a whole number from ${min} to ${max}`);
        input.value = current ?? "";
        return;
      }
      try {
        const view = await source.save({ [key]: value });
        current = view?.[key];
        input.value = current ?? value;
        message.ok("saved");
      } catch (error) {
        message.error(error.message);
        input.value = current ?? "";
      }
    });
    return root;
  };
}

function nsfwRenderer(source, key) {
  return () => {
    const select = el("select", { className: "p-inputtext p-component mm-select" },
      ...NSFW_LEVELS.map(([value, text]) => el("option", { value: String(value), textContent: text })));
    const message = messageLine();
    const root = el("div", { className: "mm-setting mm-nsfw" }, select, message.line);
    root.dataset.setting = key;
    source.load().then((view) => { select.value = String(view?.[key] ?? 1); },
      (error) => message.error(error.message));
    select.addEventListener("change", async () => {
      try {
        const view = await source.save({ [key]: Number(select.value) });
        select.value = String(view?.[key] ?? select.value);
        message.ok("saved");
      } catch (error) {
        message.error(error.message);
      }
    });
    return root;
  };
}

/** The `settings` array of our ComfyUI extension. */
export function settingDefinitions() {
  const source = new SettingsSource();
  const keys = ["Model Manager", "API keys"];
  const downloads = ["Model Manager", "Downloads"];
  return [
    {
      id: SETTING_IDS.civitaiKey, category: [...keys, "Civitai API key"], name: "Civitai API key",
      tooltip: "Needed for models that require a login. Stored by the Model Manager on the server "
        + "(owner-only file), never in the workflow or in ComfyUI's settings. Only set / not set is shown.",
      type: secretRenderer(source, "civitai_api_key", "Civitai API key"), defaultValue: "",
    },
    {
      id: SETTING_IDS.huggingfaceToken, category: [...keys, "Hugging Face token"], name: "Hugging Face token",
      tooltip: "Needed for gated or private repositories. Stored like the Civitai key; HF_TOKEN and "
        + "huggingface-cli login also work.",
      type: secretRenderer(source, "huggingface_token", "Hugging Face token"), defaultValue: "",
    },
    {
      id: SETTING_IDS.maxConcurrent, category: [...downloads, "Max concurrent downloads"],
      name: "Max concurrent downloads", tooltip: "Downloads running at the same time (1–8); others wait queued.",
      type: numberRenderer(source, "max_concurrent_downloads", 1, 8), defaultValue: "",
    },
    {
      id: SETTING_IDS.connections, category: [...downloads, "Connections per download"],
      name: "Connections per download", tooltip: "Parallel ranged connections for one large file (1–16).",
      type: numberRenderer(source, "connections_per_download", 1, 16), defaultValue: "",
    },
    {
      id: SETTING_IDS.nsfwLevel, category: ["Model Manager", "Civitai", "Preview NSFW level"],
      name: "Civitai preview NSFW level", tooltip: "Highest Civitai rating allowed for preview images saved beside models.",
      type: nsfwRenderer(source, "civitai_nsfw_level"), defaultValue: "",
    },
  ];
}
