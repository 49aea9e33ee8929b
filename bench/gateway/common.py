"""Helpers for the gateway benchmarks: start the daemon, find a port, read its memory."""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = ROOT / "bench/gateway/loadgen/target/release/cipherpost-loadgen"
READY = re.compile(rb"listening on (\S+):(\d+) key ([0-9a-f]{64})")
START_TIMEOUT = 60


def raise_file_limit() -> None:
    """Let this process and its children open as many sockets as the hard limit allows."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build_loadgen() -> None:
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=LOADGEN.parents[2], check=True)


@dataclass
class Gateway:
    data_dir: Path
    port: int
    cpu: int | None = None  # pin the daemon to this CPU with taskset
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "cipherpost",
            "gateway",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra,
        ]
        if self.cpu is not None:
            command = ["taskset", "-c", str(self.cpu), *command]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={
                **os.environ,
                "CIPHERPOST_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                # The load comes from one address and one sender per pair, far above the
                # per-pair message limit; the benchmarks measure routing, not rate limiting.
                "CIPHERPOST_RATE_LIMITS": "off",
            },
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not READY.search(line):
            self.process.kill()
            raise RuntimeError(f"gateway did not start: {line!r}")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=START_TIMEOUT)

    def rss_kib(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("VmRSS missing from /proc status")

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
