"""Oversized sends and sends on a connection the gateway closed for a rejected frame."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cipherpost.client import Client, MessageReceived
from cipherpost.client.client import new_message_id
from cipherpost.exceptions import ConnectionRejectedError, MessageTooLargeError
from cipherpost.protocol.frames import MAX_CIPHERTEXT_SIZE, DeviceEnvelope, SendBody

from .conftest import GatewayProcess

EVENT_TIMEOUT = 10.0
# Bound for a send that must fail, not loop on reconnects: the reconnect backoff starts at
# 0.1 s, so two tries fit well inside it.
SEND_FAILS_WITHIN = 30.0


async def two_users(gateway: GatewayProcess, tmp_path: Path) -> tuple[Client, Client]:
    alice = await Client.register(
        tmp_path / "alice", gateway.host, gateway.port, "alice", gateway_key=gateway.key
    )
    bob = await Client.register(
        tmp_path / "bob", gateway.host, gateway.port, "bob", gateway_key=gateway.key
    )
    return alice, bob


async def next_text(client: Client) -> str:
    while True:
        event = await client.next_event(EVENT_TIMEOUT)
        if isinstance(event, MessageReceived):
            return event.text


async def test_oversized_text_raises_before_sending(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    alice, bob = await two_users(gateway, tmp_path)
    try:
        with pytest.raises(MessageTooLargeError) as raised:
            await asyncio.wait_for(
                alice.send_text("bob", "a" * (MAX_CIPHERTEXT_SIZE + 1)), SEND_FAILS_WITHIN
            )
        assert raised.value.maximum == MAX_CIPHERTEXT_SIZE
        assert raised.value.size > MAX_CIPHERTEXT_SIZE
        assert f"the maximum is {MAX_CIPHERTEXT_SIZE}" in str(raised.value)

        # Nothing reached the gateway, so the connection and the session still work.
        await alice.send_text("bob", "short")
        assert await next_text(bob) == "short"
    finally:
        await alice.close()
        await bob.close()


async def test_rejected_frame_fails_only_its_send(gateway: GatewayProcess, tmp_path: Path) -> None:
    alice, bob = await two_users(gateway, tmp_path)
    try:
        await alice.send_text("bob", "first")
        assert await next_text(bob) == "first"

        # An envelope past the gateway's limit, sent around the client's own size check, makes
        # the gateway close the connection with MALFORMED_FRAME.
        oversized = SendBody(
            "bob",
            int(time.time() * 1000),
            (DeviceEnvelope(bob.device_id, 1, b"x" * (MAX_CIPHERTEXT_SIZE + 1)),),
        )
        bad = asyncio.create_task(alice._send_reliably(new_message_id(), oversized))
        good = asyncio.create_task(alice.send_text("bob", "second"))
        done = await asyncio.wait_for(
            asyncio.gather(bad, good, return_exceptions=True), SEND_FAILS_WITHIN
        )

        assert isinstance(done[0], ConnectionRejectedError)
        assert "was not stored" in str(done[0])
        assert isinstance(done[1], bytes)
        assert await next_text(bob) == "second"
    finally:
        await alice.close()
        await bob.close()
