"""A separate process that downloads one URL with its own download manager (test-sized limits).

``python tests/support/writer_process.py MODELS_DIR STATE_DIR URL [TYPE]`` prints, on stderr, each
new task message ("being downloaded by another process (pid N)") and, on stdout, the final task
JSON.  Tests start two of these (or one and a CLI) to share one models folder like two ComfyUIs,
with ranged segments even for small files (the CLI's limits need files of 64 MiB for that).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from comfyui_model_manager.core.downloads.manager import DownloadManager, DownloadRequest  # noqa: E402
from comfyui_model_manager.core.model_types import ModelFolders  # noqa: E402
from comfyui_model_manager.core.observers import UPDATE_DOWNLOAD_TASK  # noqa: E402
from comfyui_model_manager.core.settings import Settings  # noqa: E402
from support.downloads import FAST  # noqa: E402


def main(models_dir: str, state_dir: str, url: str, model_type: str = "checkpoints") -> int:
    settings = Settings(Path(state_dir) / "settings.json", environ={})
    manager = DownloadManager(ModelFolders.from_models_dir(Path(models_dir)), Path(state_dir), settings,
                              transfer_config=FAST, save_interval=0.05)
    seen: list[str] = []

    def on_event(event: str, task: dict) -> None:
        message = task.get("message")
        if event == UPDATE_DOWNLOAD_TASK and message and (not seen or seen[-1] != message):
            seen.append(message)
            print(message, file=sys.stderr, flush=True)

    manager.events.subscribe(on_event)
    manager.start()
    try:
        task, _created = manager.submit(DownloadRequest(url=url, model_type=model_type))
        final = manager.wait(task.task_id, timeout=120)
    finally:
        manager.shutdown()
    print(json.dumps(final.to_json()), flush=True)
    return 0 if final.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
