"""Durability of ✓ across SIGKILL, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio

from cipherpost.client.connection import Disconnected
from cipherpost.exceptions import TransportError
from cipherpost.protocol.frames import Kind, Reason, decode_deliver

from .conftest import GatewayProcess, register
from .helpers import EVENT_TIMEOUT, envelope_to, new_message_id, next_kind_any

MESSAGES = 300


async def test_sigkill_loses_no_acknowledged_message(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    await bob.connection.close()

    acknowledged: list[bytes] = []

    async def send(index: int) -> None:
        text = b"message %d" % index
        try:
            await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], text))
        except TransportError:
            return  # no ✓: the client would retry this one
        acknowledged.append(text)

    # Kill the gateway while sends are in flight.
    sends = [asyncio.create_task(send(index)) for index in range(MESSAGES)]
    while len(acknowledged) < MESSAGES // 3:
        await asyncio.sleep(0.001)
    gateway.kill()
    await asyncio.gather(*sends)
    assert acknowledged, "no send was acknowledged before the kill"

    gateway.start()
    connection = await bob.reconnect(gateway)
    received = []
    while True:
        frame = await next_kind_any(connection, (Kind.DELIVER, Kind.DRAINED))
        if frame.kind == Kind.DRAINED:
            break
        received.append(decode_deliver(frame.body).ciphertext)
        connection.ack(frame.seq)  # the drain sends more only as envelopes are acknowledged
    assert set(acknowledged) <= set(received)
    await connection.close()


async def test_sigterm_exits_zero_after_pending_writes(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    await register(gateway, "bob")
    await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"x"))

    assert gateway.terminate() == 0
    event = await alice.connection.next_event(EVENT_TIMEOUT)
    while not isinstance(event, Disconnected):
        event = await alice.connection.next_event(EVENT_TIMEOUT)
    assert event.reason == Reason.SHUTDOWN
    stderr = gateway.stderr_text()
    assert "shutting down" in stderr
    assert "stopped" in stderr
