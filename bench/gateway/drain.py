"""Drain time of a queued backlog on reconnect, and the durable enqueue rate of the store.

Drain: device B goes offline, A sends `--messages` 256-byte envelopes (each acknowledged with
✓), and B reconnects. The time runs from B's HELLO to the DRAINED frame, with every DELIVER
acknowledged on the way. It is measured twice: with the Rust load generator as B (the
gateway's figure) and with the Python client connection on uvloop as B (what the client
library adds). Enqueue: SqliteGatewayStore.store_send in transactions of
`--batch` sends, once with synchronous=FULL and once with NORMAL.

    .venv/bin/python bench/gateway/drain.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import uvloop
from cipherpost._core import KeyPair, Rng, TransportKeyPair
from cipherpost.client.connection import GatewayConnection
from cipherpost.protocol.frames import (
    DeviceEnvelope,
    Kind,
    SendBody,
    b64encode,
    decode_deliver,
)
from cipherpost.storage import DeviceRecord, SqliteGatewayStore
from common import LOADGEN, Gateway, build_loadgen, free_port

PAYLOAD = 256
# Sends kept in flight while filling the queue.
FILL_WINDOW = 64


async def register(gateway: Gateway, user: str) -> tuple[TransportKeyPair, GatewayConnection]:
    key = TransportKeyPair.generate()
    connection = await GatewayConnection.connect("127.0.0.1", gateway.port, key)
    body = {
        "user": user,
        "registration_id": 1,
        "identity_key": b64encode(KeyPair.generate(Rng()).public_key),
    }
    await connection.request(Kind.REGISTER, body)
    return key, connection


async def fill(sender: GatewayConnection, recipient: str, count: int) -> None:
    semaphore = asyncio.Semaphore(FILL_WINDOW)
    payload = os.urandom(PAYLOAD)

    async def send_one() -> None:
        async with semaphore:
            body = SendBody(recipient, 0, (DeviceEnvelope(1, 2, payload),))
            await sender.send_envelopes(os.urandom(16), body)

    await asyncio.gather(*(send_one() for _ in range(count)))


async def drain_once(gateway: Gateway, key: TransportKeyPair) -> tuple[float, int]:
    connection = await GatewayConnection.connect("127.0.0.1", gateway.port, key)
    started = time.perf_counter()
    await connection.request(Kind.HELLO)
    received = 0
    while True:
        frame = await connection.next_event(30)
        if getattr(frame, "kind", None) == Kind.DRAINED:
            break
        if getattr(frame, "kind", None) == Kind.DELIVER:
            decode_deliver(frame.body)  # type: ignore[union-attr]
            connection.ack(frame.seq)  # type: ignore[union-attr]
            received += 1
    elapsed = time.perf_counter() - started
    await connection.request(Kind.PREKEY_COUNT)  # the acknowledgements are stored
    await connection.close()
    return elapsed, received


async def measure_drain(messages: int, rounds: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="cipherpost-drain-") as directory:
        gateway = Gateway(Path(directory), free_port())
        gateway.start()
        try:
            _, sender = await register(gateway, "sender")
            key, receiver = await register(gateway, "receiver")
            await receiver.close()
            times = []
            for _ in range(rounds):
                await fill(sender, "receiver", messages)
                elapsed, received = await drain_once(gateway, key)
                assert received == messages, f"drained {received} of {messages}"
                times.append(elapsed)
            await sender.close()
        finally:
            gateway.stop()
    return times


def measure_enqueue(synchronous: str, sends: int, batch: int) -> float:
    with tempfile.TemporaryDirectory(prefix="cipherpost-enqueue-") as directory:
        store = SqliteGatewayStore(Path(directory) / "store.sqlite3", synchronous)
        with store.transaction():
            store.create_account(DeviceRecord("a", 1, b"a" * 32, b"\x05" * 33, 1), None)
            store.create_account(DeviceRecord("b", 1, b"b" * 32, b"\x05" * 33, 1), None)
        payload = os.urandom(PAYLOAD)
        body = SendBody("b", 0, (DeviceEnvelope(1, 2, payload),))
        started = time.perf_counter()
        for start in range(0, sends, batch):
            with store.transaction():
                for index in range(start, min(start + batch, sends)):
                    store.store_send("a", 1, index.to_bytes(16, "big"), body)
        elapsed = time.perf_counter() - started
        store.close()
    return sends / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=819)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sends", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()

    build_loadgen()
    with tempfile.TemporaryDirectory(prefix="cipherpost-drain-") as directory:
        gateway = Gateway(Path(directory), free_port())
        gateway.start()
        try:
            command = [
                str(LOADGEN),
                "drain",
                "--port",
                str(gateway.port),
                "--clients",
                str(args.messages),
                "--seconds",
                str(args.rounds),
                "--inflight",
                "64",
            ]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        finally:
            gateway.stop()
    times_ms = [float(line.split(" in ")[1].split()[0]) for line in output.splitlines()]
    print(
        f"drain of {args.messages} queued messages, Rust client: median "
        f"{statistics.median(times_ms):.1f} ms, min {min(times_ms):.1f} ms, max "
        f"{max(times_ms):.1f} ms over {args.rounds} rounds"
    )

    times = uvloop.run(measure_drain(args.messages, args.rounds))
    print(
        f"drain of {args.messages} queued messages, Python client: median "
        f"{statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms, max "
        f"{max(times) * 1000:.1f} ms over {args.rounds} rounds"
    )
    for synchronous in ("FULL", "NORMAL"):
        rate = measure_enqueue(synchronous, args.sends, args.batch)
        print(
            f"durable enqueue, synchronous={synchronous}, {args.batch} sends per commit: "
            f"{rate:,.0f} sends/s"
        )


if __name__ == "__main__":
    main()
