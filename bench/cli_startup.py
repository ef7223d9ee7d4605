"""How long the command line takes to answer ``--help`` (and an empty ``tasks``), against the
interpreter's own start-up measured in the same run.

Each round runs, in turn: ``python -c pass`` (the reference), ``comfyui-model-manager --help``,
``comfyui-model-manager download --help`` and ``comfyui-model-manager tasks`` (an empty state).
Rounds interleave them so a busy machine slows all alike; the report gives medians with min and
max (never best-of), the ratio to the reference, and the time added on top of it.

    python bench/cli_startup.py [--rounds 21] [--target-ms 120]

Exit status 1 when the median ``--help`` is over the target.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def console_script() -> list[str]:
    """The installed ``comfyui-model-manager`` beside this interpreter (else ``python -m``)."""
    beside = Path(sys.executable).parent / "comfyui-model-manager"
    found = str(beside) if beside.exists() else shutil.which("comfyui-model-manager")
    return [found] if found else [sys.executable, "-m", "comfyui_model_manager.core.cli"]


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--target-ms", type=float, default=120.0)
    options = parser.parse_args()
    cli = console_script()
    home = tempfile.mkdtemp(prefix="mm-bench-")
    env = {**os.environ, "COMFYUI_MODEL_MANAGER_HOME": home}
    env.pop("COMFYUI_URL", None)
    # As installed: a pip install compiles the modules once; with PYTHONDONTWRITEBYTECODE every run
    # would compile them again, which measures the compiler, not the start-up.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "--help": [*cli, "--help"],
        "download --help": [*cli, "download", "--help"],
        "tasks (empty)": [*cli, "tasks", "--models-dir", home],
    }
    for argv in cases.values():  # warm the file cache (and write the bytecode) once, unmeasured
        timed(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(options.rounds):
        for name, argv in cases.items():
            samples[name].append(timed(argv, env))
    shutil.rmtree(home, ignore_errors=True)
    reference = statistics.median(samples["python -c pass"])
    print(f"{options.rounds} interleaved rounds; {' '.join(cli)}")
    print(f"{'case':<18} {'median':>9} {'min':>9} {'max':>9} {'x python':>9} {'added':>9}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<18} {median * 1000:8.1f}ms {min(values) * 1000:8.1f}ms {max(values) * 1000:8.1f}ms "
              f"{median / reference:8.2f}x {(median - reference) * 1000:7.1f}ms")
    help_ms = statistics.median(samples["--help"]) * 1000
    verdict = "ok" if help_ms <= options.target_ms else "over"
    print(f"--help median {help_ms:.1f} ms; target {options.target_ms:.0f} ms: {verdict}")
    return 0 if help_ms <= options.target_ms else 1


if __name__ == "__main__":
    sys.exit(main())
