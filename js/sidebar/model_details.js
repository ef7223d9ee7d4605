// One model's details inside the sidebar: preview (Set preview from a file or a pasted image),
// description (sanitised; Edit / Save through PATCH), trigger words (Copy), facts, sidecars,
// links, and Delete (to the trash; the page-wide "Deleted NAME — Undo" note offers the Undo).
import { formatBytes } from "../format.js";
import { showToast, toastActionError } from "../toasts.js";
import { basename, button, clear, copyText, h, spinner } from "./dom.js";
import { deleteModel, getModel, saveDescription, uploadPreview } from "./requests.js";
import { renderDescription } from "./sanitize.js";

function civitaiLink(model) {
  const ids = model.civitai;
  if (!ids?.model_id) return null;
  const version = ids.version_id ? `?modelVersionId=${encodeURIComponent(ids.version_id)}` : "";
  return `https://civitai.com/models/${encodeURIComponent(ids.model_id)}${version}`;
}

export class ModelDetails {
  constructor(app, { onBack, onChanged, onDeleted, previewSrc }) {
    this.app = app;
    this.onBack = onBack;
    this.onChanged = onChanged;
    this.onDeleted = onDeleted;
    this.previewSrc = previewSrc;
    this.model = null;
    this.body = h("div", { className: "mm-sb-details-body" });
    this.backButton = button("Back", () => this.onBack(), { icon: "pi-arrow-left" });
    this.title = h("h3", { className: "mm-sb-details-title" });
    this.fileInput = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp,image/gif", hidden: true,
      "aria-label": "Preview image file" });
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files?.[0];
      this.fileInput.value = "";
      if (file) this.setPreview(file);
    });
    this.element = h("div", { className: "mm-sb-details", hidden: true, role: "region", "aria-label": "Model details", tabIndex: -1 },
      h("div", { className: "mm-sb-toolbar" }, this.backButton, this.title), this.body, this.fileInput);
    this.element.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.target.closest("textarea")) { event.preventDefault(); event.stopPropagation(); this.onBack(); }
    });
    this.element.addEventListener("paste", (event) => this.onPaste(event));
  }

  async show(light) {
    this.model = light;
    this.element.hidden = false;
    this.title.textContent = basename(light.name);
    clear(this.body).append(spinner("Loading the model"));
    this.backButton.focus();
    try {
      const full = await getModel(light.type, light.name);
      if (this.model !== light) return;
      this.model = full;
      this.render();
    } catch (error) {
      clear(this.body).append(h("div", { className: "mm-sb-problem", role: "alert", text: error.message }));
      toastActionError(this.app, "loading the model", error);
    }
  }

  hide() {
    this.element.hidden = true;
    this.model = null;
    clear(this.body);
  }

  render() {
    const model = this.model;
    clear(this.body);
    const src = this.previewSrc({ ...model, preview: model.preview });
    this.previewBox = h("div", { className: "mm-sb-preview", title: "Paste an image here to make it the preview" },
      src ? h("img", { src, alt: `Preview of ${basename(model.name)}` })
        : h("div", { className: "mm-sb-noimage", text: "No preview" }));
    const previewActions = h("div", { className: "mm-sb-row" },
      button("Set preview", () => this.fileInput.click(), { icon: "pi-image" }),
      h("span", { className: "mm-sb-hint", text: "or paste an image (Ctrl+V)" }));

    const facts = h("dl", { className: "mm-sb-facts" });
    const fact = (label, value, options = {}) => {
      if (value === null || value === undefined || value === "") return;
      const dd = h("dd", { className: options.mono ? "mm-sb-mono" : "" });
      if (value instanceof Node) dd.append(value);
      else dd.textContent = String(value);
      facts.append(h("dt", { text: label }), dd);
    };
    fact("Type", model.type);
    fact("Base model", model.base_model);
    fact("Size", formatBytes(model.size));
    fact("SHA256", model.sha256 ?? "not hashed yet (Scan with hashes)", { mono: true });
    fact("Path", `${model.root ? `${model.root}/` : ""}${model.name}`, { mono: true });
    const link = civitaiLink(model);
    if (link) {
      fact("Civitai", h("a", { href: link, target: "_blank", rel: "noopener noreferrer",
        text: model.civitai.model_name ? `${model.civitai.model_name}${model.civitai.version_name ? ` · ${model.civitai.version_name}` : ""}` : link }));
    }
    if (model.sidecars?.length) {
      fact("Sidecar files", h("ul", { className: "mm-sb-sidecars" }, ...model.sidecars.map((s) => h("li", { text: basename(s) }))));
    }

    const words = model.trigger_words ?? [];
    const triggers = h("div", { className: "mm-sb-section" }, h("h4", { text: "Trigger words" }));
    if (words.length) {
      triggers.append(h("div", { className: "mm-sb-chips" }, ...words.map((w) => h("span", { className: "mm-sb-chip", text: w }))),
        button("Copy", async () => {
          const ok = await copyText(words.join(", "));
          showToast(this.app, ok ? { severity: "success", summary: "Trigger words copied", life: 2500 }
            : { severity: "error", summary: "Could not copy the trigger words", detail: "The browser refused the clipboard." });
        }, { icon: "pi-copy", ariaLabel: "Copy trigger words", className: "mm-sb-small" }));
    } else {
      triggers.append(h("div", { className: "mm-sb-hint", text: "none known" }));
    }

    this.description = h("div", { className: "mm-sb-description" });
    this.showDescription();
    const descriptionSection = h("div", { className: "mm-sb-section" },
      h("div", { className: "mm-sb-row" }, h("h4", { text: "Description" }),
        this.editButton = button("Edit", () => this.editDescription(), { icon: "pi-pencil", ariaLabel: "Edit description", className: "mm-sb-small" })),
      this.description);

    const danger = h("div", { className: "mm-sb-section mm-sb-danger" },
      button("Delete", () => this.remove(), { icon: "pi-trash", className: "mm-sb-delete" }),
      h("span", { className: "mm-sb-hint", text: "moves the file and its sidecars to the trash" }));
    this.body.append(this.previewBox, previewActions, facts, triggers, descriptionSection, danger);
  }

  showDescription() {
    clear(this.description);
    const text = this.model.description;
    if (text && text.trim()) this.description.append(renderDescription(text));
    else this.description.append(h("div", { className: "mm-sb-hint", text: "No description yet." }));
  }

  editDescription() {
    clear(this.description);
    const area = h("textarea", { className: "mm-sb-input mm-sb-textarea", rows: 10, "aria-label": "Description",
      value: this.model.description ?? "", spellcheck: true });
    const save = button("Save", () => this.saveDescription(area.value, save), { icon: "pi-check", className: "mm-sb-primary" });
    const cancel = button("Cancel edit", () => this.showDescription(), { icon: "pi-times" });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); this.showDescription(); this.editButton?.focus(); }
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); save.click(); }
    });
    this.description.append(area, h("div", { className: "mm-sb-row" }, save, cancel,
      h("span", { className: "mm-sb-hint", text: "Markdown; Ctrl+Enter saves" })));
    area.focus();
  }

  async saveDescription(text, saveButton) {
    saveButton.disabled = true;
    saveButton.append(spinner("Saving"));
    try {
      const model = await saveDescription(this.model.type, this.model.name, text);
      this.model = { ...this.model, ...model };
      this.showDescription();
      this.editButton?.focus();
      this.onChanged?.(this.model);
      showToast(this.app, { severity: "success", summary: "Description saved", life: 3000 });
    } catch (error) {
      saveButton.disabled = false;
      saveButton.querySelector(".mm-sb-spinner")?.remove();
      toastActionError(this.app, "saving the description", error);
    }
  }

  onPaste(event) {
    if (!this.model || event.target.closest("textarea, input")) return;
    const item = [...(event.clipboardData?.items ?? [])].find((i) => i.kind === "file" && i.type.startsWith("image/"));
    if (!item) return;
    event.preventDefault();
    this.setPreview(item.getAsFile());
  }

  async setPreview(blob) {
    const model = this.model;
    const overlay = h("div", { className: "mm-sb-overlay" }, spinner("Uploading the preview"));
    this.previewBox.append(overlay);
    try {
      const updated = await uploadPreview(model.type, model.name, blob);
      this.model = { ...model, ...updated, preview_changed: true };
      this.onChanged?.(this.model);
      this.render();
      showToast(this.app, { severity: "success", summary: "Preview saved", life: 3000 });
    } catch (error) {
      overlay.remove();
      toastActionError(this.app, "setting the preview", error);
    }
  }

  async remove() {
    const model = this.model;
    try {
      await deleteModel(model.type, model.name);
    } catch (error) {
      toastActionError(this.app, `deleting ${basename(model.name)}`, error);
      return;
    }
    this.onBack();
    this.onDeleted?.(model);
  }
}
