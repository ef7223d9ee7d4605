#!/usr/bin/env python3
"""Queue a model download in a running ComfyUI and print its progress from the /ws events.

    pip install websocket-client
    python queue_download.py URL [--type loras] [--server 127.0.0.1:8188] [--rest]

Without ``--rest`` it queues a workflow (DownloadModel -> PreviewAny) with ``POST /prompt``, the
way any API client runs a graph; with ``--rest`` it asks the Model Manager directly
(``POST /api/model-manager/tasks``).  Either way it follows the ``model_manager.*`` events on
``/ws`` and exits 0 once the file is in place and verified.
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid

import websocket  # websocket-client

FINISHED = ("completed", "failed", "cancelled")


def call(server: str, method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{server}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        sys.exit(f"{method} {path} answered {exc.code}: {detail}")


def show(task: dict) -> None:
    progress = task.get("progress")
    percent = f"{progress:5.1f}%" if progress is not None else "  ?  "
    speed = task.get("speed_bps") or 0
    print(f"{task['status']:<11} {percent} {task['downloaded_bytes']:>12,} B "
          f"{speed / 1e6:6.2f} MB/s  {task['model_type']}/{task['filename']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--type", default="loras", help="model folder type, or auto (Civitai)")
    parser.add_argument("--server", default="127.0.0.1:8188")
    parser.add_argument("--rest", action="store_true", help="use the REST route instead of a workflow")
    args = parser.parse_args()

    client_id = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://{args.server}/ws?clientId={client_id}", timeout=300)
    task_id = prompt_id = None
    if args.rest:
        task = call(args.server, "POST", "/api/model-manager/tasks", {"url": args.url, "model_type": args.type})
        task_id = task["task_id"]
        show(task)
        if task["status"] in FINISHED:
            return 0 if task["status"] == "completed" else 1
    else:
        prompt = {
            "1": {"class_type": "DownloadModel", "inputs": {"url": args.url, "model_type": args.type}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        }
        prompt_id = call(args.server, "POST", "/prompt", {"prompt": prompt, "client_id": client_id})["prompt_id"]
        print(f"queued prompt {prompt_id}", flush=True)

    while True:
        raw = ws.recv()
        if not isinstance(raw, str):
            continue  # binary preview frames
        message = json.loads(raw)
        kind, data = message.get("type", ""), message.get("data") or {}
        if kind.startswith("model_manager.") and "status" in data:
            mine = data.get("task_id") == task_id or (prompt_id and data.get("prompt_id") == prompt_id)
            if mine:
                task_id = data["task_id"]
                show(data)
                if args.rest and data["status"] in FINISHED:
                    if data.get("error"):
                        print(data["error"], file=sys.stderr)
                    return 0 if data["status"] == "completed" else 1
        elif prompt_id and data.get("prompt_id") == prompt_id:
            if kind == "execution_success":
                print("done", flush=True)
                return 0
            if kind in ("execution_error", "execution_interrupted"):
                print(data.get("exception_message") or kind, file=sys.stderr)
                return 1


if __name__ == "__main__":
    sys.exit(main())
