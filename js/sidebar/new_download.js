// "New download": paste a link, see what it is (POST /model-manager/resolve), adjust type,
// subfolder and file name, pick a version or file, Start.
import { formatBytes } from "../format.js";
import { KEY_SETTINGS_HINT, isKeyProblem, showToast } from "../toasts.js";
import { button, clear, h, select, spinner } from "./dom.js";
import { createTask, listTypes, resolveLink } from "./requests.js";

const SOURCE_NAMES = { civitai: "Civitai", huggingface: "Hugging Face", direct: "Direct link" };
const RESOLVE_DELAY_MS = 400;

/** What the user should do about a resolve/create failure (shown under the message). */
export function adviceFor(error) {
  if (error?.advice) return error.advice;
  if (isKeyProblem(error?.code, error?.message) || error?.status === 401) {
    return `Add the key: ${KEY_SETTINGS_HINT.replace(/^Set it in /, "")}`;
  }
  if (error?.status === 403) return "Open the model page, request or buy access, then try again.";
  if (error?.status === 404) return "Check the link: the model, version or file does not exist.";
  if (error?.status === 400) return "Paste a Civitai or Hugging Face link, or any http(s) link to a model file.";
  return "Try again in a moment.";
}

export class NewDownloadForm {
  constructor(app, { onCreated }) {
    this.app = app;
    this.onCreated = onCreated;
    this.resolved = null;
    this.types = null;
    this.requestNumber = 0;
    this.timer = null;
    this.link = h("input", {
      type: "text", className: "mm-sb-input mm-sb-link", placeholder: "Civitai or Hugging Face link, or any URL",
      "aria-label": "Link", spellcheck: false, autocomplete: "off",
    });
    this.link.addEventListener("input", () => this.scheduleResolve());
    this.link.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); this.resolveNow(); }
    });
    this.status = h("div", { className: "mm-sb-form-status", "aria-live": "polite" });
    this.details = h("div", { className: "mm-sb-resolved" });
    this.problem = h("div", { className: "mm-sb-problem", role: "alert", hidden: true });
    // Start is the form's submit button: Enter in a field starts the download too (the form's
    // submit handler runs start(); Enter in Link looks the link up instead).
    this.startButton = button("Start", undefined, { icon: "pi-download", className: "mm-sb-primary" });
    this.startButton.type = "submit";
    this.startButton.disabled = true;
    this.closeButton = button("Close", () => this.close(), { icon: "pi-times" });
    this.element = h("form", { className: "mm-sb-form", hidden: true, "aria-label": "New download" },
      h("label", { className: "mm-sb-label", text: "Link" }), this.link, this.status, this.problem, this.details,
      h("div", { className: "mm-sb-form-actions" }, this.startButton, this.closeButton));
    this.element.addEventListener("submit", (event) => { event.preventDefault(); this.start(); });
    this.element.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); this.close(); }
    });
  }

  toggle() {
    if (this.element.hidden) this.open();
    else this.close();
  }

  open() {
    this.element.hidden = false;
    this.link.focus();
  }

  close() {
    this.element.hidden = true;
    this.reset();
  }

  reset() {
    clearTimeout(this.timer);
    this.requestNumber += 1;
    this.link.value = "";
    this.resolved = null;
    clear(this.details);
    clear(this.status);
    this.showProblem(null);
    this.startButton.disabled = true;
  }

  scheduleResolve() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.resolveNow(), RESOLVE_DELAY_MS);
  }

  showProblem(error) {
    clear(this.problem);
    this.problem.hidden = !error;
    if (!error) return;
    this.problem.append(h("strong", { text: error.message || String(error) }),
      h("div", { className: "mm-sb-advice", text: adviceFor(error) }));
  }

  async resolveNow(url = this.link.value.trim()) {
    clearTimeout(this.timer);
    if (!url) return;
    const number = ++this.requestNumber;
    this.startButton.disabled = true;
    this.showProblem(null);
    clear(this.details);
    clear(this.status).append(spinner("Looking the link up"), " Looking the link up…");
    try {
      const [answer] = await Promise.all([resolveLink(url), this.loadTypes()]);
      if (number !== this.requestNumber) return;
      this.resolved = { ...answer, link: url };
      clear(this.status);
      this.renderDetails();
      this.startButton.disabled = false;
    } catch (error) {
      if (number !== this.requestNumber) return;
      clear(this.status);
      this.resolved = null;
      this.showProblem(error);
      showToast(this.app, { severity: "error", summary: "Model Manager: the link cannot be downloaded",
        detail: error.message, life: 10000 });
    }
  }

  async loadTypes() {
    if (!this.types) {
      try {
        this.types = (await listTypes()).map((t) => t.name);
      } catch {
        this.types = [];
      }
    }
    return this.types;
  }

  renderDetails() {
    const info = this.resolved;
    clear(this.details);
    const facts = h("dl", { className: "mm-sb-facts" });
    const fact = (label, value) => {
      if (value === null || value === undefined || value === "") return;
      facts.append(h("dt", { text: label }), h("dd", { text: value }));
    };
    fact("Source", SOURCE_NAMES[info.source] ?? info.source);
    fact("Model", info.name);
    fact("Base model", info.base_model);
    fact("File", info.filename);
    fact("Size", info.size ? formatBytes(info.size) : "unknown");
    const preview = info.preview_url
      ? h("img", { className: "mm-sb-resolved-preview", src: info.preview_url, alt: `Preview of ${info.name ?? info.filename}`,
        referrerpolicy: "no-referrer", loading: "lazy" })
      : h("div", { className: "mm-sb-resolved-preview mm-sb-noimage", "aria-hidden": "true" }, h("i", { className: "pi pi-box" }));
    this.details.append(h("div", { className: "mm-sb-resolved-head" }, preview, facts));

    const chosenType = info.model_type ?? "";
    const typeOptions = [["", "Choose a type…"], ...(this.types ?? []).map((t) => [t, t])];
    this.typeSelect = select("Type", typeOptions, chosenType);
    this.subfolder = h("input", { type: "text", className: "mm-sb-input", "aria-label": "Subfolder", placeholder: "optional", spellcheck: false });
    this.filename = h("input", { type: "text", className: "mm-sb-input", "aria-label": "File name", value: info.filename ?? "", spellcheck: false });
    const target = h("div", { className: "mm-sb-target" });
    const showTarget = () => {
      const type = this.typeSelect.value || "?";
      const sub = this.subfolder.value.trim().replace(/^\/+|\/+$/g, "");
      target.textContent = `Saved to ${type}/${sub ? `${sub}/` : ""}${this.filename.value.trim() || info.filename || ""}`;
    };
    for (const field of [this.typeSelect, this.subfolder, this.filename]) field.addEventListener("input", showTarget);
    this.typeSelect.addEventListener("change", showTarget);
    const fields = h("div", { className: "mm-sb-fields" });
    if (info.versions?.length) fields.append(...this.versionFields(info));
    fields.append(
      h("label", { className: "mm-sb-label", text: "Type" }), this.typeSelect,
      h("label", { className: "mm-sb-label", text: "Subfolder" }), this.subfolder,
      h("label", { className: "mm-sb-label", text: "File name" }), this.filename,
    );
    if (!info.model_type && info.model_type_hint) fields.append(h("div", { className: "mm-sb-hint", text: info.model_type_hint }));
    this.details.append(fields, target);
    showTarget();
  }

  /** Version and file pickers for a Civitai model; a choice resolves that file's own link. */
  versionFields(info) {
    const current = info.versions.find((v) => v.id === info.version_id) ?? info.versions[0];
    const versionSelect = select("Version", info.versions.map((v) => [String(v.id), `${v.name}${v.base_model ? ` · ${v.base_model}` : ""}`]),
      String(current.id));
    const fileOptions = (version) => version.files.map((f) => [f.url, [f.name, f.fp, f.size ? formatBytes(f.size) : ""].filter(Boolean).join(" · ")]);
    const currentFile = current.files.find((f) => f.id === info.file_id) ?? current.files[0];
    const fileSelect = select("File", fileOptions(current), currentFile?.url);
    const choose = (url) => {
      if (!url) return;
      const keep = { subfolder: this.subfolder?.value ?? "" };
      this.resolveNow(url).then(() => { if (this.subfolder) this.subfolder.value = keep.subfolder; });
    };
    versionSelect.addEventListener("change", () => {
      const version = info.versions.find((v) => String(v.id) === versionSelect.value);
      const primary = version?.files.find((f) => f.primary) ?? version?.files[0];
      choose(primary?.url);
    });
    fileSelect.addEventListener("change", () => choose(fileSelect.value));
    return [h("label", { className: "mm-sb-label", text: "Version" }), versionSelect,
      h("label", { className: "mm-sb-label", text: "File" }), fileSelect];
  }

  async start() {
    const info = this.resolved;
    if (!info) {
      await this.resolveNow();
      return;
    }
    const type = this.typeSelect?.value;
    if (!type) {
      this.showProblem({ message: "Choose a type: it decides the folder the file goes to.",
        advice: "Pick one in the Type list below." });
      this.typeSelect?.focus();
      return;
    }
    const body = { url: info.link, model_type: type };
    const subfolder = this.subfolder.value.trim();
    const filename = this.filename.value.trim();
    if (subfolder) body.subfolder = subfolder;
    if (filename && filename !== info.filename) body.filename = filename;
    this.startButton.disabled = true;
    clear(this.status).append(spinner("Starting"), " Starting…");
    try {
      const task = await createTask(body);
      this.onCreated?.(task);
      showToast(this.app, { severity: "info", summary: "Download started", detail: `${type}/${task.filename}`, life: 4000 });
      this.close();
    } catch (error) {
      clear(this.status);
      this.showProblem(error);
      this.startButton.disabled = false;
      showToast(this.app, { severity: "error", summary: "Model Manager: the download did not start", detail: error.message, life: 10000 });
    }
  }
}
