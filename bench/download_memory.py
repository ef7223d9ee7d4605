"""Peak memory of a 4 GiB download (not part of the test run): ``python bench/download_memory.py``.

Downloads a 4 GiB file (sparse on the server side: the bytes are zeros, which costs the server
nothing) with our CLI, sha256 verified, in a fresh process, and prints that process's peak RSS
as the kernel counts it (``ru_maxrss`` of the reaped child, ``wait4``).  Two runs:

* full speed over loopback (one connection: it is fast enough alone);
* a per-connection limit (``--limit-mbps``, default 60 MB/s) so that four connections open and
  blocks finish out of order: the hasher then holds buffers ahead of its position.

Target: <= 150 MB in both.  The server is nginx when installed, else a Python fallback.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from download import Contenders
from local_server import LocalServer, MiB, make_file


def zeros_sha256(size: int) -> str:
    import hashlib

    digest, block = hashlib.sha256(), bytes(8 * MiB)
    for _ in range(size // len(block)):
        digest.update(block)
    digest.update(bytes(size % len(block)))
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=4)
    parser.add_argument("--limit-mbps", type=float, default=60, help="per-connection limit of the second run")
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto")
    args = parser.parse_args()
    size = int(args.size_gib * 1024) * MiB
    root = Path(tempfile.mkdtemp(prefix="mm-bench-mem-"))
    try:
        with LocalServer(root, limit_bps=int(args.limit_mbps * 1e6), prefer=args.server) as server:
            source = server.www / "big.safetensors"
            make_file(source, size, sparse=True)
            expected = zeros_sha256(size)
            print(f"server: {server.kind}; {size / 2**30:g} GiB file, load average {os.getloadavg()[0]:.2f}")
            for title, limited in (("full speed", False), (f"{args.limit_mbps:g} MB/s per connection", True)):
                contenders = Contenders(root / "dest", server.url(source.name, limited=limited), expected, size)
                run = contenders.run("ours")
                print(f"  {title:<24} peak RSS {run.peak_rss_mb:6.1f} MB   wall {run.wall:6.2f} s   "
                      f"cpu {run.cpu:5.2f} s   (target <= 150 MB)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
