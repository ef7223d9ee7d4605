"""DownloadModel: create or join a download task and wait for it on the node."""
from __future__ import annotations

from typing import Any

from ..core.errors import ModelManagerError
from ..core.validation import IF_EXISTS_CHOICES, expected_sha256, problem, subfolder_text, url_text
from . import comfy_api, inputs
from .folders import forget_loader_cache, loader_name, model_type_names
from .runtime import HOLDER, Runtime, get_runtime
from .waiting import POLL_SECONDS, run_interruptibly, stop_if_interrupted

CATEGORY = "model_manager"
_COMPLETED, _FAILED, _CANCELLED = "completed", "failed", "cancelled"


class DownloadFailed(ModelManagerError, code="download_failed", http_status=502):
    """The task ended without a verified file (its own message says why)."""


def _memo_key(url: str, model_type: str, subfolder: str, filename: str) -> tuple:
    return (url.strip(), model_type, subfolder.strip(), filename.strip())


class DownloadModel:
    DESCRIPTION = ("Downloads a model from Civitai, Hugging Face or any http(s) URL into a ComfyUI "
                   "model folder, with progress on the node. The download keeps running if the "
                   "workflow is cancelled; queue again to wait for it.")
    CATEGORY = CATEGORY
    FUNCTION = "download"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING", "STRING", "BOOLEAN")
    RETURN_NAMES = ("model_name", "path", "verified")
    OUTPUT_TOOLTIPS = ("The model's name as loaders take it (relative to its type folder).",
                       "Absolute path of the downloaded file.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "url": inputs.text("Civitai model page or download link, AIR URN, Hugging Face resolve/blob "
                                   "URL or owner/repo/file shorthand, or any http(s) URL.", multiline=False),
                "model_type": inputs.choice(["auto", *model_type_names()], "auto",
                                            "Folder type to save into; auto takes it from Civitai's metadata."),
            },
            "optional": {
                "subfolder": inputs.text("Subfolder inside the type's folder (created if missing)."),
                "filename": inputs.text("File name to save as; empty uses the server's name."),
                "sha256": inputs.text("Expected SHA-256 (hex); empty uses the checksum the source publishes."),
                "if_exists": inputs.choice(IF_EXISTS_CHOICES, "skip", "When the file is already there: skip "
                                           "(use it), overwrite, or rename the new one."),
                "wait": inputs.toggle(True, "Wait until the file is downloaded and verified; off returns as "
                                      "soon as the download is queued."),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, url: Any = None, sha256: Any = None, subfolder: Any = None) -> bool | str:
        """Refuse what can never work before the prompt runs (linked inputs arrive as None)."""
        if isinstance(url, str) and (message := problem(url_text, url)):
            return message
        if isinstance(sha256, str) and (message := problem(expected_sha256, sha256)):
            return message
        if isinstance(subfolder, str) and (message := problem(subfolder_text, subfolder)):
            return f"subfolder: {message}"
        return True

    @classmethod
    def IS_CHANGED(cls, url: str = "", model_type: str = "auto", subfolder: str = "",
                   filename: str = "", **_: Any) -> str:
        """Same value while the last downloaded file is there (ComfyUI reuses the cached result);
        a new value once it disappeared, so the node runs again and fetches it again."""
        if not HOLDER.created:
            return "generation-0"
        return get_runtime().download_memo.generation(_memo_key(url, model_type, subfolder, filename))

    def download(self, url: str, model_type: str, subfolder: str = "", filename: str = "",
                 sha256: str = "", if_exists: str = "skip", wait: bool = True,
                 unique_id: Any = None) -> dict[str, Any]:
        from ..core.downloads.manager import DownloadRequest

        runtime = get_runtime()
        present = self._present_file(runtime, model_type, subfolder, filename, if_exists)
        if present is not None:  # if_exists=skip and the named file is there: no network at all
            verified = self._verify_present(runtime, present, sha256)
            runtime.download_memo.completed(_memo_key(url, model_type, subfolder, filename), present.path)
            note = "already present, verified" if verified else "already present, kept unverified (no checksum known)"
            return {"ui": {"text": [f"{model_type}/{present.name}: {note}"]},
                    "result": (loader_name(present.name), str(present.path), verified)}
        prompt_id, context_node = comfy_api.executing_context()
        node_id = str(unique_id) if unique_id is not None else context_node
        request = DownloadRequest(
            url=(url or "").strip(), model_type=model_type or "auto", subfolder=(subfolder or "").strip(),
            filename=(filename or "").strip(), sha256=(sha256 or "").strip(), if_exists=if_exists or "skip",
            node_id=node_id, prompt_id=prompt_id,
        )
        task, _created = run_interruptibly(runtime.slow_executor, lambda: runtime.manager.submit(request))
        runtime.bridge.attach(task.task_id, node_id, prompt_id)
        if wait:
            task = self._wait(runtime, task.task_id, node_id)
        if task.status == _COMPLETED:
            forget_loader_cache(task.model_type)
            runtime.download_memo.completed(_memo_key(url, model_type, subfolder, filename), task.destination)
        name = loader_name(task.filename)
        summary = f"{task.model_type}/{task.filename}: {task.status}"
        return {"ui": {"text": [summary]}, "result": (name, str(task.destination), bool(task.verified))}

    @staticmethod
    def _verify_present(runtime: Runtime, present: Any, sha256: str) -> bool:
        """With a known sha256 the file already there must be that file (the hash cache spares
        re-reading an unchanged one); without one it is kept as it is, unverified."""
        from ..core.errors import Conflict

        expected = (sha256 or "").strip().lower()
        if not expected:
            return False
        actual = runtime.manager.file_digest(present.path)
        if actual != expected:
            raise Conflict(f"a different file is already at {present.name} (sha256 {actual}); "
                           "choose overwrite or rename")
        return True

    @staticmethod
    def _present_file(runtime: Runtime, model_type: str, subfolder: str, filename: str,
                      if_exists: str) -> Any:
        """The destination when it can be known without asking the source and already exists."""
        if (if_exists or "skip") != "skip" or model_type == "auto" or not (filename or "").strip():
            return None
        try:
            location = runtime.folders.destination(model_type, subfolder or "", filename.strip())
        except ModelManagerError:
            return None  # let the manager say what is wrong with it
        return location if location.path.is_file() else None

    @staticmethod
    def _wait(runtime: Runtime, task_id: str, node_id: str | None) -> Any:
        bar = comfy_api.progress_bar(100, node_id)
        shown = -1
        while True:
            task = runtime.manager.wait(task_id, timeout=POLL_SECONDS, should_stop=comfy_api.interrupted)
            stop_if_interrupted()
            percent = int(task.progress or 0)
            if bar is not None and percent != shown:
                bar.update_absolute(percent, 100)
                shown = percent
            if task.status == _COMPLETED:
                return task
            if task.status == _FAILED:
                raise DownloadFailed(
                    f"downloading {task.url} failed: {task.error or 'unknown error'}. Fix the cause "
                    "and queue again (a kept partial download continues where it stopped).")
            if task.status == _CANCELLED:
                raise DownloadFailed(f"the download of {task.url} was cancelled; queue again to restart it")
