"""Memory of the gateway per idle authenticated connection.

Registers N devices through the load generator, restarts the gateway so that registration
leaves nothing behind in its heap, measures its resident memory, connects all N devices again
with HELLO, and measures again. Per connection = (after - before) / N.

    .venv/bin/python bench/gateway/idle_memory.py --clients 10000
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from common import LOADGEN, Gateway, build_loadgen, free_port, raise_file_limit

SETTLE_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--storage", default="sqlite", choices=("sqlite", "memory"))
    args = parser.parse_args()
    if args.storage == "memory":
        parser.error("idle_memory restarts the gateway, so it needs the sqlite store")
    raise_file_limit()
    build_loadgen()

    with tempfile.TemporaryDirectory(prefix="cipherpost-idle-") as directory:
        gateway = Gateway(Path(directory), free_port())
        gateway.start()
        loadgen = subprocess.Popen(
            [
                str(LOADGEN),
                "idle",
                "--port",
                str(gateway.port),
                "--clients",
                str(args.clients),
                "--seconds",
                "20",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert loadgen.stdout is not None and loadgen.stdin is not None
        registered = loadgen.stdout.readline().strip()
        print(registered)
        gateway.stop()

        gateway.start()
        time.sleep(SETTLE_SECONDS)
        before = gateway.rss_kib()
        loadgen.stdin.write("\n")
        loadgen.stdin.flush()
        ready = loadgen.stdout.readline().strip()
        time.sleep(SETTLE_SECONDS)
        after = gateway.rss_kib()
        print(ready)
        print(f"gateway RSS before {before} KiB, with {args.clients} idle connections {after} KiB")
        print(
            f"per idle authenticated connection: {(after - before) * 1024 / args.clients:.0f} bytes"
        )
        loadgen.wait(timeout=120)
        gateway.stop()


if __name__ == "__main__":
    main()
