"""Offline queue limits: full queues, expiry with EXPIRED to the sender, ephemeral envelopes,
and batched draining under flow control."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cipherpost.client.connection import Disconnected, GatewayConnection
from cipherpost.exceptions import GatewayError
from cipherpost.gateway.drain import DRAIN_WINDOW
from cipherpost.protocol.frames import (
    ErrorCode,
    Kind,
    SendBody,
    SendFlag,
    Status,
    decode_deliver,
    decode_user,
    encode_send,
)

from .conftest import register
from .helpers import envelope_to, new_message_id, next_kind, receive_texts
from .ops import free_port, start_gateway, wait_for_metric


async def send_ephemeral(connection: GatewayConnection, send: SendBody) -> None:
    await connection.request_frame(
        Kind.SEND, encode_send(send), new_message_id(), flags=int(SendFlag.EPHEMERAL)
    )


async def drain_all(connection: GatewayConnection) -> list[tuple[bytes, int]]:
    """Acknowledge and return (text, flags) of everything up to and including the ephemeral
    envelopes that follow DRAINED, which arrive before the request below returns."""
    received: list[tuple[bytes, int]] = []
    while True:
        event = await connection.next_event(30.0)
        assert not isinstance(event, Disconnected), event
        if event.kind == Kind.DRAINED:
            break
        if event.kind == Kind.DELIVER:
            received.append((decode_deliver(event.body).ciphertext, event.flags))
            connection.ack(event.seq)
    await connection.request(Kind.PREKEY_COUNT)  # a round trip: later frames are in by now
    while not connection.events.empty():
        event = connection.events.get_nowait()
        assert not isinstance(event, Disconnected), event
        if event.kind == Kind.DELIVER:
            received.append((decode_deliver(event.body).ciphertext, event.flags))
            connection.ack(event.seq)
    return received


async def test_full_queue_rejects_and_keeps_queue(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, queue_max_length=3, rate_limits="off")
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        await bob.connection.close()
        for index in range(3):
            await alice.connection.send_envelopes(
                new_message_id(), envelope_to("bob", [1], b"kept %d" % index)
            )

        with pytest.raises(GatewayError) as rejected:
            await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"x"))
        assert rejected.value.code == ErrorCode.QUEUE_FULL
        assert "full" in str(rejected.value)
        # Ephemeral envelopes do not count against the limit.
        await send_ephemeral(alice.connection, envelope_to("bob", [1], b"typing"))

        connection = await bob.reconnect(gateway)
        received = await drain_all(connection)
        assert received == [
            (b"kept 0", 0),
            (b"kept 1", 0),
            (b"kept 2", 0),
            (b"typing", int(SendFlag.EPHEMERAL)),
        ]
        # With the queue emptied by the acknowledgements, sends are accepted again.
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"again"))
        assert await receive_texts(connection, 1) == [b"again"]
        await alice.connection.close()
        await connection.close()
    finally:
        gateway.stop()


async def test_retry_of_stored_send_to_full_queue_is_sent(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, queue_max_length=1, rate_limits="off")
    try:
        alice = await register(gateway, "alice")
        await register(gateway, "bob")
        message_id = new_message_id()
        await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"one"))
        # The queue is full now, but a retry of the stored message is answered SENT again.
        await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"one"))
        await alice.connection.close()
    finally:
        gateway.stop()


async def test_expired_message_reports_expired(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, queue_ttl_s=1, expiry_sweep_s=0.2, rate_limits="off")
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        await bob.connection.close()
        message_id = new_message_id()
        await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"too late"))

        status = await next_kind(alice.connection, Kind.STATUS)
        assert status.message_id == message_id
        assert status.flags == Status.EXPIRED
        assert decode_user(status.body) == "bob"
        alice.connection.ack(status.seq)

        connection = await bob.reconnect(gateway)
        assert await drain_all(connection) == []
        await alice.connection.close()
        await connection.close()
    finally:
        gateway.stop()


async def test_delivered_message_never_expires_to_sender(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, queue_ttl_s=1, expiry_sweep_s=0.2, rate_limits="off")
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        message_id = new_message_id()
        await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"on time"))
        assert await receive_texts(bob.connection, 1) == [b"on time"]
        status = await next_kind(alice.connection, Kind.STATUS)
        assert status.flags == Status.DELIVERED
        await asyncio.sleep(2.5)  # past the time to live: no EXPIRED may follow DELIVERED
        await alice.connection.request(Kind.PREKEY_COUNT)
        statuses = []
        while not alice.connection.events.empty():
            event = alice.connection.events.get_nowait()
            if not isinstance(event, Disconnected) and event.kind == Kind.STATUS:
                statuses.append(event)
        assert statuses == []
        await alice.connection.close()
        await bob.connection.close()
    finally:
        gateway.stop()


async def test_ephemeral_expires_first_and_waits_for_backlog(tmp_path: Path) -> None:
    metrics_port = free_port()
    gateway = start_gateway(
        tmp_path,
        ephemeral_ttl_s=1,
        expiry_sweep_s=0.2,
        metrics_port=metrics_port,
        rate_limits="off",
    )
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        await bob.connection.close()
        await send_ephemeral(alice.connection, envelope_to("bob", [1], b"old typing"))
        await wait_for_metric(metrics_port, "cipherpost_messages_expired_total", 1)

        # The real envelopes come first, then DRAINED, then the ephemeral ones.
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"r1"))
        await send_ephemeral(alice.connection, envelope_to("bob", [1], b"e1"))
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"r2"))
        connection = await bob.reconnect(gateway)
        received = await drain_all(connection)
        assert received == [(b"r1", 0), (b"r2", 0), (b"e1", int(SendFlag.EPHEMERAL))]
        # Ephemeral envelopes get no ticks.
        status = await next_kind(alice.connection, Kind.STATUS)
        assert status.flags == Status.DELIVERED
        await alice.connection.close()
        await connection.close()
    finally:
        gateway.stop()


async def test_drain_waits_for_acknowledgements(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, rate_limits="off")
    total = DRAIN_WINDOW * 2 + 10
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        await bob.connection.close()
        await asyncio.gather(
            *(
                alice.connection.send_envelopes(
                    new_message_id(), envelope_to("bob", [1], b"%04d" % index)
                )
                for index in range(total)
            )
        )

        connection = await bob.reconnect(gateway)
        first: list[tuple[int, bytes]] = []
        while len(first) < DRAIN_WINDOW:
            frame = await next_kind(connection, Kind.DELIVER)
            first.append((frame.seq, decode_deliver(frame.body).ciphertext))
        # Without acknowledgements the gateway sends nothing beyond the window.
        await connection.request(Kind.PREKEY_COUNT)
        await asyncio.sleep(1.0)
        pending = []
        while not connection.events.empty():
            event = connection.events.get_nowait()
            assert not isinstance(event, Disconnected), event
            pending.append(event.kind)
        assert Kind.DELIVER not in pending
        assert Kind.DRAINED not in pending

        received = [text for _, text in first]
        for seq, _ in first:
            connection.ack(seq)
        received += await receive_texts(connection, total - DRAIN_WINDOW)
        await next_kind(connection, Kind.DRAINED)
        assert received == [b"%04d" % index for index in range(total)]
        await alice.connection.close()
        await connection.close()
    finally:
        gateway.stop()
