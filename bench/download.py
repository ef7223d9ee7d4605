"""Download benchmark (not part of the test run): ``python bench/download.py``.

Whole processes, timed from outside (start to exit, Python's start-up included), interleaved
(the order rotates each round) and reported as median [min - max]; ratios are taken against a
reference measured in the same run, pair by pair and as a ratio of medians.  Never best-of: on a
shared machine one lucky run says nothing.

1. **Loopback, full speed**: a 1 GiB file from the local server: our CLI
   (``python -m comfyui_model_manager.core.cli download URL --sha256 HEX``: streamed, verified,
   renamed into place, task record written) against ``curl -o`` (no verification).
   Target: median ours / median curl <= 1.10.
2. **20 MB/s per connection** (``limit_rate``): a 256 MiB file: our CLI (default settings:
   starts with one connection and opens three more when it sees the limit) against ``curl``
   (one connection) and, when installed, ``aria2c -x4 -s4`` checking the same sha256.

The server is nginx when installed (``apt-get install -y nginx-light aria2``), else a Python
fallback; the first line says which.  Peak RSS for a 4 GiB download: ``bench/download_memory.py``.
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
from dataclasses import dataclass
from pathlib import Path

from local_server import LocalServer, MiB, make_file, sha256_of


@dataclass
class Run:
    wall: float
    cpu: float
    peak_rss_mb: float


#: Runs a command and reports its wall time, CPU and peak RSS.  A child's peak RSS (``ru_maxrss``)
#: starts at the RSS of the process that spawned it, so the spawning is done by this small
#: process (``python -S``: about 8 MB) rather than by the benchmark itself; the wall time is taken
#: around the command only, so the spawner's own start-up is in nobody's figure.
SPAWNER = """
import json, os, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawnp(command[0], command, os.environ)
_pid, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(report, "w") as fh:
    json.dump({"code": os.waitstatus_to_exitcode(status), "wall": wall,
               "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss}, fh)
"""


def timed(command: list[str], log: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``command`` to its end, its output into ``log``; wall time, CPU and peak RSS."""
    report = log.with_suffix(".json")
    with open(log, "wb") as out:
        subprocess.run([sys.executable, "-S", "-c", SPAWNER, str(report), *command],
                       stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, check=True)
    result = json.loads(report.read_text())
    if result["code"] != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"{command[0]} exited with {result['code']}:\n{tail}")
    return Run(result["wall"], result["cpu"], result["rss_kib"] / 1024)


class Contenders:
    """The commands compared; each ``run(name)`` starts from an empty destination folder."""

    def __init__(self, dest: Path, url: str, sha256: str, size: int, pycache: Path | None = None) -> None:
        self.dest, self.url, self.sha256, self.size, self.pycache = dest, url, sha256, size, pycache
        self.log = dest.parent / f"{dest.name}.log"

    def _fresh(self) -> Path:
        shutil.rmtree(self.dest, ignore_errors=True)
        self.dest.mkdir(parents=True)
        return self.dest

    def run(self, name: str) -> Run:
        dest = self._fresh()
        if name.startswith("ours"):
            home = dest / "home"
            home.mkdir()
            if name == "ours -c1":
                (home / "settings.json").write_text('{"connections_per_download": 1}')
            env = {**os.environ, "COMFYUI_MODEL_MANAGER_HOME": str(home)}
            env.pop("COMFYUI_PATH", None)
            if self.pycache is not None:
                env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
            command = [sys.executable, "-m", "comfyui_model_manager.core.cli", "download", self.url,
                       "--type", "checkpoints", "--models-dir", str(dest / "models"), "--sha256", self.sha256]
            result = timed(command, self.log, env)
            landed = dest / "models" / "checkpoints" / Path(self.url).name
        elif name == "curl":
            landed = dest / "curl.out"
            result = timed(["curl", "-s", "-f", "-o", str(landed), self.url], self.log)
        elif name == "aria2c -x4":
            landed = dest / "aria2.out"
            result = timed(["aria2c", "-q", "-x4", "-s4", "--file-allocation=none", "--allow-overwrite=true",
                            "--auto-file-renaming=false", f"--checksum=sha-256={self.sha256}",
                            "-d", str(dest), "-o", landed.name, self.url], self.log)
        else:
            raise ValueError(name)
        if landed.stat().st_size != self.size:
            raise SystemExit(f"{name}: {landed} holds {landed.stat().st_size} bytes, expected {self.size}")
        shutil.rmtree(dest, ignore_errors=True)
        return result


def byte_compile(pycache: Path) -> str:
    """Compile the pack's modules once into ``pycache`` (what ``pip install`` does at install
    time), so that no run pays for compiling them: with ``PYTHONDONTWRITEBYTECODE`` set, or in a
    read-only checkout, every run would otherwise compile them again.

    The interpreter's own modules go there too: with ``PYTHONPYCACHEPREFIX`` set, Python looks
    for every ``.pyc`` under the prefix only, so without them each run compiled ``http.client``,
    ``email``, ``argparse``, ``dataclasses`` ... from source (about 170 ms here), which an
    installed Python never does."""
    import importlib.util
    import sysconfig

    paths = sysconfig.get_paths()
    skip = r"[/\\](test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip|site-packages|dist-packages)[/\\]"
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(pycache)}
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-x", skip, paths["stdlib"]],
                   env=env, check=False, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-l", paths["purelib"]],  # the .pth finders
                   env=env, check=False, stdout=subprocess.DEVNULL)

    spec = importlib.util.find_spec("comfyui_model_manager")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the pack first: pip install -e .")
    package = next(iter(spec.submodule_search_locations))
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-x", r"[/\\](tests|bench|\.venv)[/\\]", package],
                   env={**os.environ, "PYTHONPYCACHEPREFIX": str(pycache)}, check=True, stdout=subprocess.DEVNULL)
    return package


def interleaved(contenders: Contenders, names: list[str], rounds: int) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(contenders.run(name))
    return runs


def spread(values: list[float], unit: str = "s", digits: int = 3) -> str:
    unit = f" {unit}" if unit else ""
    return (f"{statistics.median(values):.{digits}f}{unit} [{min(values):.{digits}f} - "
            f"{max(values):.{digits}f}]")


def report(title: str, runs: dict[str, list[Run]], reference: str, targets: dict[str, str]) -> None:
    print(title)
    width = max(len(name) for name in runs)
    for name, values in runs.items():
        print(f"  {name:<{width}}  wall {spread([r.wall for r in values])}   "
              f"cpu {spread([r.cpu for r in values], digits=2)}   "
              f"peak RSS {spread([r.peak_rss_mb for r in values], 'MB', 0)}")
    ref = [r.wall for r in runs[reference]]
    for name, values in runs.items():
        if name == reference:
            continue
        walls = [r.wall for r in values]
        pairs = [a / b for a, b in zip(walls, ref)]
        print(f"  {name} / {reference}: median/median {statistics.median(walls) / statistics.median(ref):.3f}"
              f"   pair by pair {spread(pairs, '', 3)}   {targets.get(name, '')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="the loopback file (default 1024)")
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds of the loopback case")
    parser.add_argument("--limited-mib", type=int, default=256, help="the rate-limited file (default 256)")
    parser.add_argument("--limited-runs", type=int, default=3, help="interleaved rounds of the limited case")
    parser.add_argument("--limit-mbps", type=float, default=20, help="per-connection limit, MB/s (default 20)")
    parser.add_argument("--single", action="store_true",
                        help="also run ours with connections_per_download=1 in the limited case")
    parser.add_argument("--skip-limited", action="store_true", help="only the loopback case")
    parser.add_argument("--skip-loopback", action="store_true", help="only the limited case")
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="do not byte-compile the pack first (each run then compiles it if "
                             "PYTHONDONTWRITEBYTECODE is set)")
    parser.add_argument("--dest", type=Path, default=None,
                        help="folder the downloads land in (default: a temp folder next to the served "
                             "files; e.g. /dev/shm for a disk-free comparison)")
    args = parser.parse_args()
    if not shutil.which("curl"):
        raise SystemExit("needs curl (apt-get install -y curl)")
    root = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    dest_root = Path(tempfile.mkdtemp(prefix="mm-bench-dest-", dir=args.dest)) if args.dest else root
    pycache = None if args.no_bytecode else root / "pycache"
    try:
        if pycache is not None:
            package = byte_compile(pycache)
            print(f"our modules ({package}) and the interpreter's byte-compiled once into {pycache}, "
                  "as an install does")
        with LocalServer(root, limit_bps=int(args.limit_mbps * 1e6), prefer=args.server) as server:
            print(f"server: {server.kind} on 127.0.0.1:{server.port}; downloads land in {dest_root}; "
                  f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
            if not args.skip_loopback:
                big = server.www / "big.safetensors"
                make_file(big, args.size_mib * MiB)
                expected = sha256_of(big)
                contenders = Contenders(dest_root / "loopback", server.url(big.name), expected, big.stat().st_size,
                                        pycache)
                runs = interleaved(contenders, ["curl", "ours"], args.runs)
                report(f"{args.size_mib} MiB at full speed over loopback, {args.runs} interleaved rounds, "
                       "whole processes", runs, "curl", {"ours": "(target <= 1.10)"})
                big.unlink()
            if not args.skip_limited:
                limited = server.www / "limited.safetensors"
                make_file(limited, args.limited_mib * MiB)
                expected = sha256_of(limited)
                names = ["curl", "ours"] + (["ours -c1"] if args.single else [])
                if shutil.which("aria2c"):
                    names.append("aria2c -x4")
                else:
                    print("(aria2c not installed: apt-get install -y aria2)")
                contenders = Contenders(dest_root / "limited", server.url(limited.name, limited=True), expected,
                                        limited.stat().st_size, pycache)
                runs = interleaved(contenders, names, args.limited_runs)
                report(f"{args.limited_mib} MiB at {args.limit_mbps:g} MB/s per connection, {args.limited_runs} "
                       "interleaved rounds, whole processes (aria2c checks the sha256 too)", runs, "curl",
                       {"ours": "(we were 1/4.1 = 0.244 of curl)"})
                if "aria2c -x4" in runs:
                    ours = statistics.median(r.wall for r in runs["ours"])
                    aria = statistics.median(r.wall for r in runs["aria2c -x4"])
                    print(f"  ours / aria2c -x4: median/median {ours / aria:.3f}   (we were 0.94)")
            print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if args.dest:
            shutil.rmtree(dest_root, ignore_errors=True)


if __name__ == "__main__":
    main()
