"""Download benchmark (not part of the test run): ``python bench/download.py [--size-mib 1024]``.

Starts nginx (Debian's ``/usr/sbin/nginx``) as our own process on a free 127.0.0.1 port with a
temporary config: ``/files/`` serves at full speed, ``/limited/`` with ``limit_rate 20m`` per
connection.  Then prints, measured in this run:

1. wall time of our download of a 1 GiB file (default settings, sha256 verified) / ``curl -o``;
2. speed-up of default settings (4 connections) over ``connections_per_download=1`` under the
   20 MB/s per-connection limit (256 MiB file);
3. peak RSS of the downloading process (a subprocess; ``ru_maxrss``);
4. CPU seconds (user + system) per GiB.

Each of our downloads runs in a fresh subprocess (``bench/download.py --child``) that reports
its own wall time from submit to verified file, CPU time and peak RSS as JSON; the whole
process time (Python start included) is printed too.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_file(path: Path, size: int) -> None:
    block = os.urandom(8 * MiB)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            part = block[: min(len(block), size - written)]
            fh.write(part)
            written += len(part)


NGINX_CONF = """
worker_processes 1;
daemon off;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    types {{ application/octet-stream safetensors; }}
    server {{
        listen 127.0.0.1:{port};
        location /files/ {{ alias {root}/www/; }}
        location /limited/ {{ alias {root}/www/; limit_rate 20m; }}
    }}
}}
"""


def start_nginx(root: Path, port: int) -> subprocess.Popen:
    (root / "tmp").mkdir(exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, port=port))
    proc = subprocess.Popen([NGINX, "-p", str(root), "-c", str(conf), "-g", "user root;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"nginx did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def run_curl(url: str, dest: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["curl", "-s", "-f", "-o", str(dest), url], check=True)
    elapsed = time.perf_counter() - started
    dest.unlink()
    return elapsed


def run_ours(url: str, work: Path, connections: int) -> dict:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", url, str(work), str(connections)],
                         check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    result["process_wall"] = time.perf_counter() - started
    shutil.rmtree(work)
    return result


def child(url: str, work: Path, connections: int) -> None:
    """Runs in a subprocess: one download with the real manager, then report as JSON."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    from comfyui_model_manager.core.manager import DownloadManager, DownloadRequest
    from comfyui_model_manager.core.model_types import ModelFolders
    from comfyui_model_manager.core.settings import Settings

    import logging

    ramp_notes: list[str] = []

    class _Notes(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "opening" in record.getMessage():
                ramp_notes.append(record.getMessage())

    transfer_log = logging.getLogger("comfyui_model_manager.core.transfer")
    transfer_log.setLevel(logging.INFO)
    transfer_log.addHandler(_Notes())
    settings = Settings(work / "settings.json", environ={})
    settings.update({"connections_per_download": connections})
    manager = DownloadManager(ModelFolders.from_models_dir(work / "models"), work / "state", settings)
    manager.start()
    started = time.perf_counter()
    task, _ = manager.submit(DownloadRequest(url=url, model_type="checkpoints"))
    task = manager.wait(task.task_id)
    wall = time.perf_counter() - started
    manager.shutdown()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "status": task.status, "error": task.error, "sha256": task.sha256, "bytes": task.total_bytes,
        "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024,
        "ramp": ramp_notes,
    }))


def sha256_of(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 * MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--limited-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5, help="best of N for the 1 GiB comparison")
    parser.add_argument("--dest", type=Path, default=None,
                        help="folder the downloads (ours and curl's) land in; default: the temp folder "
                             "on the same disk as nginx's files (e.g. /dev/shm for a disk-free comparison)")
    parser.add_argument("--skip-limited", action="store_true", help="only the 1 GiB comparison")
    args = parser.parse_args()
    if not Path(NGINX).exists() or not shutil.which("curl"):
        raise SystemExit("needs /usr/sbin/nginx and curl")
    root = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    os.chmod(root, 0o755)
    (root / "www").mkdir()
    big, limited = root / "www/big.safetensors", root / "www/limited.safetensors"
    make_file(big, args.size_mib * MiB)
    make_file(limited, args.limited_mib * MiB)
    expected_big = sha256_of(big)
    port = free_port()
    nginx = start_nginx(root, port)
    try:
        base = f"http://127.0.0.1:{port}"
        dest = Path(tempfile.mkdtemp(prefix="mm-bench-dest-", dir=args.dest)) if args.dest else root
        curl_times, ours, single = [], [], []
        contenders = ["curl", 4, 1]
        for run in range(args.runs):  # interleaved, order rotated, best of N: such machines are noisy
            for who in contenders[run % 3:] + contenders[:run % 3]:
                if who == "curl":
                    curl_times.append(run_curl(f"{base}/files/big.safetensors", dest / "curl.out"))
                    continue
                result = run_ours(f"{base}/files/big.safetensors", dest / "ours", who)
                assert result["status"] == "completed" and result["sha256"] == expected_big, result
                (ours if who == 4 else single).append(result)
        best = min(ours, key=lambda r: r["wall"])
        best_single = min(single, key=lambda r: r["wall"])
        curl_best = min(curl_times)
        gib = best["bytes"] / (1024 * MiB)
        print(f"{args.size_mib} MiB file from nginx on 127.0.0.1 to {dest} (best of {args.runs}, interleaved)")
        print(f"  curl -o                         : {curl_best:.3f} s   (all runs: "
              f"{', '.join(f'{t:.2f}' for t in curl_times)})")
        print(f"  ours, default settings          : {best['wall']:.3f} s   (submit -> verified file in place; "
              f"whole process incl. Python start {best['process_wall']:.3f} s; all runs: "
              f"{', '.join(format(r['wall'], '.2f') for r in ours)})")
        print(f"  ours, connections_per_download=1: {best_single['wall']:.3f} s")
        ramped = sum(1 for r in ours if r["ramp"])
        print(f"  default runs that opened extra connections: {ramped} of {len(ours)}"
              + (f" ({ours[0]['ramp'][0] if ours[0]['ramp'] else ''})" if ramped else ""))
        print(f"  ratio ours / curl               : {best['wall'] / curl_best:.3f}   (target <= 1.10; "
              f"whole process: {best['process_wall'] / curl_best:.3f}; one connection: "
              f"{best_single['wall'] / curl_best:.3f})")
        import statistics

        median_ratio = statistics.median(r["wall"] for r in ours) / statistics.median(curl_times)
        print(f"  median ours / median curl       : {median_ratio:.3f}   (the spread of this machine)")
        print(f"  peak RSS of the download process: {max(r['max_rss_mb'] for r in ours + single):.1f} MB (target <= 150)")
        print(f"  CPU seconds per GiB             : {best['cpu'] / gib:.2f} (user+system, whole process)")

        if args.skip_limited:
            return
        url = f"{base}/limited/limited.safetensors"
        one = run_ours(url, root / "ours", 1)
        default = run_ours(url, root / "ours", 4)
        assert one["status"] == default["status"] == "completed", (one, default)
        print(f"{args.limited_mib} MiB under nginx limit_rate 20m per connection")
        print(f"  connections_per_download=1      : {one['wall']:.2f} s ({args.limited_mib * MiB / one['wall'] / 1e6:.1f} MB/s)")
        print(f"  default (4 connections)         : {default['wall']:.2f} s ({args.limited_mib * MiB / default['wall'] / 1e6:.1f} MB/s)")
        print(f"  speed-up                        : {one['wall'] / default['wall']:.2f}x  (target >= 3.5)")
    finally:
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(root, ignore_errors=True)
        if args.dest:
            shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
