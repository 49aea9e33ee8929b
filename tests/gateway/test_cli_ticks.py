"""`cipherpost send --wait` prints every tick once and in order, read included."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cipherpost.client import Client, MessageReceived

from .conftest import GatewayProcess

# Seconds `send --wait` may wait for read; it exits as soon as read arrives.
WAIT_SECONDS = 20.0
EVENT_TIMEOUT = 20.0


async def read_one_message(bob: Client) -> None:
    while True:
        event = await bob.next_event(EVENT_TIMEOUT)
        if isinstance(event, MessageReceived):
            await bob.mark_read(event)
            return


async def test_send_wait_prints_each_tick(gateway: GatewayProcess, tmp_path: Path) -> None:
    alice = await Client.register(
        tmp_path / "alice", gateway.host, gateway.port, "alice", gateway_key=gateway.key
    )
    await alice.close()
    bob = await Client.register(
        tmp_path / "bob", gateway.host, gateway.port, "bob", gateway_key=gateway.key
    )
    try:
        for round_number in range(3):
            reader = asyncio.create_task(read_one_message(bob))
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "cipherpost",
                "send",
                "--state-dir",
                str(tmp_path / "alice"),
                "bob",
                f"text {round_number}",
                "--wait",
                str(WAIT_SECONDS),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT_SECONDS + 30)
            await reader
            assert process.returncode == 0, stderr.decode()

            lines = stdout.decode().splitlines()
            message_id = lines[0].split()[1]
            assert lines == [
                f"✓ {message_id} to bob",
                f"✓✓ {message_id}",
                f"read {message_id}",
            ]
    finally:
        await bob.close()
