"""Routing throughput and latency: the gateway and mosquitto under the same load generator.

Each run pins the server to CPU 0 and the load generator to CPU 1, starts N clients paired
i <-> i^1, each with 8 messages of 256 bytes in flight, and reports from the generator:
✓ (SENT or PUBACK), delivery at the peer, and ✓✓ at the sender (gateway only), as messages
per second with p50 and p99 latency, plus the CPU time each side used and the server's CPU
time per message within the measured window.

    .venv/bin/python bench/gateway/routing.py               # 100 and 1,000 clients
    .venv/bin/python bench/gateway/routing.py --clients 100 --seconds 5

The gateway runs with its default SQLite store (WAL, synchronous=FULL) in a temporary
directory, so every ✓ is an fsynced commit. mosquitto 2.0 (Debian) runs with persistence off,
its default, so its PUBACK means "in memory". The script installs mosquitto with apt-get when
it is missing and the script runs as root.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import LOADGEN, Gateway, build_loadgen, free_port, raise_file_limit

MOSQUITTO = "/usr/sbin/mosquitto"
SERVER_CPU = 0
LOADGEN_CPU = 1
WARMUP_S = 2  # seconds of load before the measured window


def ensure_mosquitto() -> bool:
    if Path(MOSQUITTO).exists():
        return True
    if shutil.which("apt-get") is None:
        return False
    subprocess.run(["apt-get", "install", "-y", "-qq", "mosquitto"], check=False)
    return Path(MOSQUITTO).exists()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def run_loadgen(mode: str, port: int, clients: int, seconds: int, server_pid: int) -> str:
    """Run the load generator; return its output with the server's CPU per message added.

    The server's CPU time is read when the measured window opens (the generator's START line
    plus the warm-up) and when it closes, so client setup is left out. Divided by the messages
    acknowledged with ✓ in that window, it gives the server's CPU cost per message. A
    saturated server shows about 1 ÷ rate, and the figure varies between runs as much as the
    rate does on a shared machine.
    """
    command = [
        "taskset",
        "-c",
        str(LOADGEN_CPU),
        str(LOADGEN),
        mode,
        "--port",
        str(port),
        "--clients",
        str(clients),
        "--seconds",
        str(seconds),
        "--warmup",
        str(WARMUP_S),
    ]
    samples: list[float] = []

    def sample() -> None:
        samples.append(cpu_seconds(server_pid))

    timers = [threading.Timer(WARMUP_S, sample), threading.Timer(WARMUP_S + seconds, sample)]
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("START"):
                for timer in timers:
                    timer.start()
                continue
            lines.append(line)
    for timer in timers:
        timer.join()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    output = "".join(lines)
    sent = [line.split()[1] for line in lines if line.startswith("sent ")]
    if len(samples) == 2 and sent and float(sent[0]) > 0:
        per_message_us = (samples[1] - samples[0]) / (float(sent[0]) * seconds) * 1e6
        output += f"server_cpu_per_message {per_message_us:.0f} µs (measured window only)\n"
    return output


def bench_gateway(clients: int, seconds: int, storage: str) -> None:
    with tempfile.TemporaryDirectory(prefix="cipherpost-routing-") as directory:
        extra = ("--storage", storage)
        gateway = Gateway(Path(directory), free_port(), cpu=SERVER_CPU, extra=extra)
        gateway.start()
        assert gateway.process is not None
        before = cpu_seconds(gateway.process.pid)
        output = run_loadgen("gateway", gateway.port, clients, seconds, gateway.process.pid)
        used = cpu_seconds(gateway.process.pid) - before
        gateway.stop()
    print(f"--- cipherpost gateway ({storage} store), {clients} clients")
    print(output.rstrip())
    print(f"gateway_cpu {used:.1f} s (setup of the clients included)")


def bench_mosquitto(clients: int, seconds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cipherpost-mosquitto-") as directory:
        port = free_port()
        config = Path(directory) / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
        )
        process = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), MOSQUITTO, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        before = cpu_seconds(process.pid)
        output = run_loadgen("mqtt", port, clients, seconds, process.pid)
        used = cpu_seconds(process.pid) - before
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    print(f"--- mosquitto (QoS 1), {clients} clients")
    print(output.rstrip())
    print(f"mosquitto_cpu {used:.1f} s (setup of the clients included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, action="append", help="default: 100 and 1000")
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per run")
    parser.add_argument(
        "--storage",
        choices=("sqlite", "memory"),
        default="sqlite",
        help="gateway store; memory shows the routing cost without durable writes",
    )
    parser.add_argument("--no-mosquitto", action="store_true", help="run only the gateway")
    args = parser.parse_args()
    raise_file_limit()
    build_loadgen()
    have_mosquitto = not args.no_mosquitto and ensure_mosquitto()
    for clients in args.clients or [100, 1000]:
        bench_gateway(clients, args.seconds, args.storage)
        if args.no_mosquitto:
            continue
        if have_mosquitto:
            bench_mosquitto(clients, args.seconds)
        else:
            print("--- mosquitto not installed (apt-get install mosquitto); skipped")


if __name__ == "__main__":
    main()
