"""Where a CLI download spends the time that is not bytes (not part of the test run):
``python bench/download_phases.py [--runs 5] [--size-mib 1024]``.

Runs ``comfyui-model-manager download URL --sha256 HEX`` from the local server as a whole process,
like ``bench/download.py``, inside a small wrapper that notes (wall clock, in the process) its first
HTTP request, the first request of the transfer itself (the second one: the first is the link's
probe), the last socket read or ``splice`` that moved bytes, the moment the partial is renamed into place, and the start
of the exit handlers; the spawn and the exit are timed from outside.  Reported as median [min - max]:

- before the first request / before the transfer's request: start-up (interpreter, imports,
  building the app, the task record, the writer lock);
- after the last byte: verifying the tail, placing the file, the records, the events, the exit.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from download import byte_compile
from local_server import MiB, LocalServer, make_file, sha256_of

WRAPPER = r'''
import atexit, json, os, socket, sys, time
marks = {"requests": [], "last_read": None, "placed": None, "exit_handlers": None}
_sendall, _recv_into, _replace = socket.socket.sendall, socket.socket.recv_into, os.replace
_splice = getattr(os, "splice", None)

def sendall(self, data, *args):
    if len(marks["requests"]) < 2 and bytes(data[:4]) == b"GET ":
        marks["requests"].append(time.time())
    return _sendall(self, data, *args)

def recv_into(self, *args):
    count = _recv_into(self, *args)
    if count:
        marks["last_read"] = time.time()
    return count

def splice(*args, **kwargs):  # body bytes moved by the kernel (socket -> pipe -> file)
    count = _splice(*args, **kwargs)
    if count:
        marks["last_read"] = time.time()
    return count

def replace(source, target, *args, **kwargs):
    _replace(source, target, *args, **kwargs)
    if str(source).endswith(".mmpart"):
        marks["placed"] = time.time()

def save():
    marks["exit_handlers"] = time.time()
    with open(report, "w") as fh:
        json.dump(marks, fh)

socket.socket.sendall, socket.socket.recv_into, os.replace = sendall, recv_into, replace
if _splice is not None:
    os.splice = splice
report = sys.argv.pop(1)
atexit.register(save)
sys.argv[0] = "comfyui-model-manager"
import runpy
runpy.run_module("comfyui_model_manager.core.cli", run_name="__main__", alter_sys=True)  # as python -m
'''

PHASES = (("before the first request", lambda m, t0, t1: m["requests"][0] - t0),
          ("before the transfer's request", lambda m, t0, t1: m["requests"][-1] - t0),
          ("bytes (first request to last read)", lambda m, t0, t1: m["last_read"] - m["requests"][0]),
          ("after the last byte", lambda m, t0, t1: t1 - m["last_read"]),
          ("  last byte -> placed", lambda m, t0, t1: m["placed"] - m["last_read"]),
          ("  placed -> exit handlers", lambda m, t0, t1: m["exit_handlers"] - m["placed"]),
          ("  exit handlers -> exited", lambda m, t0, t1: t1 - m["exit_handlers"]),
          ("whole process", lambda m, t0, t1: t1 - t0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mm-phases-"))
    try:
        pycache = root / "pycache"
        byte_compile(pycache)
        wrapper = root / "wrapper.py"
        wrapper.write_text(WRAPPER)
        results: dict[str, list[float]] = {name: [] for name, _ in PHASES}
        with LocalServer(root) as server:
            big = server.www / "big.safetensors"
            make_file(big, args.size_mib * MiB)
            digest = sha256_of(big)
            print(f"server: {server.kind}; {args.size_mib} MiB, {args.runs} runs; "
                  f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
            for _ in range(args.runs):
                dest = root / "dest"
                shutil.rmtree(dest, ignore_errors=True)
                (dest / "home").mkdir(parents=True)
                env = {**os.environ, "COMFYUI_MODEL_MANAGER_HOME": str(dest / "home"),
                       "PYTHONPYCACHEPREFIX": str(pycache)}
                env.pop("COMFYUI_PATH", None)
                report = root / "marks.json"
                started = time.time()
                subprocess.run([sys.executable, str(wrapper), str(report), "download", server.url(big.name),
                                "--type", "checkpoints", "--models-dir", str(dest / "models"), "--sha256", digest],
                               env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                ended = time.time()
                marks = json.loads(report.read_text())
                for name, phase in PHASES:
                    results[name].append(phase(marks, started, ended))
        width = max(len(name) for name in results)
        for name, values in results.items():
            print(f"  {name:<{width}}  {statistics.median(values) * 1000:7.1f} ms "
                  f"[{min(values) * 1000:.1f} - {max(values) * 1000:.1f}]")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
