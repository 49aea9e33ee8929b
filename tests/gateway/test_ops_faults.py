"""Fault and abuse tests against the real daemon: SIGKILL under load, cross-device
acknowledgements, unknown keys, replayed handshakes, floods and random bytes."""

from __future__ import annotations

import asyncio
import os
import random
import struct
from pathlib import Path

import pytest
from cipherpost._core import NoiseHandshake, TransportKeyPair
from cipherpost._framing import encode_frame
from cipherpost.client.connection import Disconnected
from cipherpost.exceptions import GatewayError, RateLimitedError, TransportError
from cipherpost.protocol.frames import NO_MESSAGE_ID, ErrorCode, Kind, Reason, decode_deliver

from .conftest import GatewayProcess, RawDevice, link, register
from .helpers import EVENT_TIMEOUT, envelope_to, new_message_id, next_kind, receive_texts
from .ops import start_gateway
from .test_frames import RawSocket

# The load of the SIGKILL test: senders, receivers with two devices each, messages in all,
# sends in flight per sender, and the number of ✓ after which the gateway is killed.
SENDERS = 4
RECEIVERS = 3
LOAD_MESSAGES = 10_000
IN_FLIGHT = 32
KILL_AFTER = 3_000
# Bound on the whole load run; it takes a small fraction of this on a loaded 2-core machine.
LOAD_TIMEOUT = 300.0

Planned = tuple[bytes, str, bytes]  # message id, recipient user, text


async def test_sigkill_under_load_keeps_every_acknowledged_message(
    gateway: GatewayProcess,
) -> None:
    senders = [await register(gateway, f"sender{index}") for index in range(SENDERS)]
    receivers: dict[str, list[RawDevice]] = {}
    for index in range(RECEIVERS):
        primary = await register(gateway, f"receiver{index}")
        receivers[primary.user] = [primary, await link(gateway, primary)]
    users = sorted(receivers)

    # message k goes from sender k % SENDERS to receiver k % RECEIVERS.
    plan: dict[str, list[Planned]] = {sender.user: [] for sender in senders}
    expected: dict[str, set[bytes]] = {user: set() for user in users}
    for k in range(LOAD_MESSAGES):
        message_id = os.urandom(16)
        recipient = users[k % RECEIVERS]
        plan[senders[k % SENDERS].user].append((message_id, recipient, b"load %d" % k))
        expected[recipient].add(message_id)

    acknowledged: set[bytes] = set()
    received: dict[tuple[str, int], set[bytes]] = {}
    restarted = asyncio.Event()

    async def send_all(sender: RawDevice, items: list[Planned]) -> list[Planned]:
        """Send `items` with IN_FLIGHT sends at once; return those that got no ✓."""
        semaphore = asyncio.Semaphore(IN_FLIGHT)
        failed: list[Planned] = []

        async def send_one(item: Planned) -> None:
            message_id, recipient, text = item
            async with semaphore:
                try:
                    await sender.connection.send_envelopes(
                        message_id, envelope_to(recipient, [1, 2], text)
                    )
                except (TransportError, TimeoutError):
                    failed.append(item)  # no ✓: the client keeps it and retries
                    return
            acknowledged.add(message_id)

        await asyncio.gather(*(send_one(item) for item in items))
        return failed

    async def receive_all(device: RawDevice) -> None:
        seen = received.setdefault((device.user, device.device_id), set())
        target = expected[device.user]
        while not target <= seen:
            event = await device.connection.next_event(LOAD_TIMEOUT)
            if isinstance(event, Disconnected):
                await restarted.wait()
                await device.reconnect(gateway)
                continue
            if event.kind == Kind.DELIVER:
                seen.add(event.message_id)  # de-duplication by message id
                if device.connection.closed is None:
                    device.connection.ack(event.seq)  # a lost ack means a redelivery

    async def run() -> set[bytes]:
        receiving = [
            asyncio.create_task(receive_all(device))
            for devices in receivers.values()
            for device in devices
        ]
        sending = [asyncio.create_task(send_all(s, plan[s.user])) for s in senders]
        while len(acknowledged) < KILL_AFTER:
            assert not all(task.done() for task in sending), "the load ended before the kill"
            await asyncio.sleep(0.002)
        gateway.kill()
        acknowledged_at_kill = set(acknowledged)
        failures = await asyncio.gather(*sending)
        assert any(failures), "no send was in flight at the kill"

        gateway.start()
        restarted.set()
        for sender in senders:
            await sender.reconnect(gateway)
        for _ in range(3):
            failures = await asyncio.gather(
                *(send_all(s, failed) for s, failed in zip(senders, failures, strict=True))
            )
            if not any(failures):
                break
        assert not any(failures), "sends kept failing after the restart"
        await asyncio.gather(*receiving)
        return acknowledged_at_kill

    acknowledged_at_kill = await asyncio.wait_for(run(), LOAD_TIMEOUT)

    all_ids = set().union(*expected.values())
    assert acknowledged == all_ids
    assert len(acknowledged_at_kill) >= KILL_AFTER
    for user, devices in receivers.items():
        for device in devices:
            seen = received[(user, device.device_id)]
            assert seen == expected[user], f"{user}/{device.device_id} misses messages"
    for devices in receivers.values():
        for device in devices:
            await device.connection.close()
    for sender in senders:
        await sender.connection.close()


async def test_ack_of_another_devices_envelope_is_ignored(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    bob2 = await link(gateway, bob)
    message_id = new_message_id()
    await alice.connection.send_envelopes(message_id, envelope_to("bob", [1, 2], b"mine"))
    first = await next_kind(bob.connection, Kind.DELIVER)
    second = await next_kind(bob2.connection, Kind.DELIVER)

    # Device 1 and another user try to delete device 2's copy by its queue seq.
    bob.connection.ack(second.seq)
    alice.connection.ack(second.seq)
    alice.connection.ack(first.seq)
    await bob.connection.request(Kind.PREKEY_COUNT)
    await alice.connection.request(Kind.PREKEY_COUNT)
    await bob2.connection.close()

    connection = await bob2.reconnect(gateway)
    again = await next_kind(connection, Kind.DELIVER)
    assert again.message_id == message_id
    assert again.seq == second.seq
    assert decode_deliver(again.body).ciphertext == b"mine"
    for device in (alice, bob):
        await device.connection.close()
    await connection.close()


async def test_unknown_transport_key_closed_others_unaffected(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    stranger = await gateway.connect(TransportKeyPair.generate())
    with pytest.raises(GatewayError) as rejected:
        await stranger.request(Kind.HELLO)
    assert rejected.value.code == ErrorCode.UNAUTHENTICATED
    event = await stranger.next_event(EVENT_TIMEOUT)
    while not isinstance(event, Disconnected):
        event = await stranger.next_event(EVENT_TIMEOUT)
    assert event.reason == Reason.AUTH_FAILED

    await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"fine"))
    assert await receive_texts(bob.connection, 1) == [b"fine"]
    await alice.connection.close()
    await bob.connection.close()


def record(message: bytes) -> bytes:
    return struct.pack(">H", len(message)) + message


async def read_record(reader: asyncio.StreamReader) -> bytes:
    (length,) = struct.unpack(">H", await reader.readexactly(2))
    return await reader.readexactly(length)


async def test_replayed_handshake_is_rejected(gateway: GatewayProcess) -> None:
    bob = await register(gateway, "bob")
    await bob.connection.close()

    # A real handshake of bob's key, recorded as an eavesdropper would see it.
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    handshake = NoiseHandshake(True, bob.key)
    first = record(handshake.write_message())
    writer.write(first)
    handshake.read_message(await read_record(reader))
    third = record(handshake.write_message())
    writer.write(third)
    transport = handshake.into_transport()
    hello = transport.seal(encode_frame(Kind.HELLO, 0, 1, NO_MESSAGE_ID, b""))
    writer.write(hello)
    assert await asyncio.wait_for(reader.read(4096), EVENT_TIMEOUT)  # the RESULT of HELLO
    writer.close()

    # Replayed on a new connection, the gateway's fresh ephemeral key breaks message 3.
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    writer.write(first)
    await read_record(reader)
    writer.write(third + hello)
    assert await asyncio.wait_for(reader.read(), EVENT_TIMEOUT) == b""
    writer.close()

    connection = await bob.reconnect(gateway)
    await connection.request(Kind.PREKEY_COUNT)
    await connection.close()


async def test_message_flood_is_limited(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path)  # the default limits: a bucket of 60 per pair
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        carol = await register(gateway, "carol")
        flood = 200

        async def send(index: int) -> bool:
            try:
                await alice.connection.send_envelopes(
                    new_message_id(), envelope_to("bob", [1], b"flood %d" % index)
                )
            except RateLimitedError as error:
                assert error.retry_after_ms > 0
                return False
            return True

        results = await asyncio.gather(*(send(index) for index in range(flood)))
        accepted = sum(results)
        assert 60 <= accepted < flood
        assert len(await receive_texts(bob.connection, accepted)) == accepted

        # Other senders still reach bob, and alice still reaches others.
        await carol.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"c"))
        assert await receive_texts(bob.connection, 1) == [b"c"]
        dave = await register(gateway, "dave")
        await alice.connection.send_envelopes(new_message_id(), envelope_to("dave", [1], b"a"))
        assert await receive_texts(dave.connection, 1) == [b"a"]
        for device in (alice, bob, carol, dave):
            await device.connection.close()
    finally:
        gateway.stop()


# Random inputs to the live daemon: connections of each kind, and the largest input.
RANDOM_CONNECTIONS = 30
RANDOM_MAX_BYTES = 4096


async def test_random_bytes_leave_other_connections_working(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    rng = random.Random(20261204)

    for _ in range(RANDOM_CONNECTIONS):
        # Before the handshake.
        reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
        writer.write(rng.randbytes(rng.randint(1, RANDOM_MAX_BYTES)))
        writer.write_eof()
        await asyncio.wait_for(reader.read(), EVENT_TIMEOUT)
        writer.close()

        # After the handshake, as encrypted plaintext that is not a valid frame stream.
        raw = await RawSocket.open(gateway)
        raw.send_plaintext(rng.randbytes(rng.randint(1, RANDOM_MAX_BYTES)))
        raw.writer.write_eof()
        await asyncio.wait_for(raw.reader.read(), EVENT_TIMEOUT)
        raw.writer.close()

    assert gateway.process is not None
    assert gateway.process.poll() is None
    await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"alive"))
    assert await receive_texts(bob.connection, 1) == [b"alive"]
    await alice.connection.close()
    await bob.connection.close()
