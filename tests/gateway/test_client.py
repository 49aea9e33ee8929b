"""The client library end to end: Signal sessions through the real daemon."""

from __future__ import annotations

from pathlib import Path

from cipherpost.client import (
    CaughtUp,
    Client,
    ClientEvent,
    ConnectionLost,
    MessageReceived,
    TickChanged,
)
from cipherpost.protocol.frames import Status

from .conftest import GatewayProcess

EVENT_TIMEOUT = 10.0


async def next_of(client: Client, kind: type) -> ClientEvent:
    while True:
        event = await client.next_event(EVENT_TIMEOUT)
        if isinstance(event, kind):
            return event


async def tick_reaches(client: Client, message_id: bytes, status: Status) -> None:
    while client.tick(message_id) < status:
        await next_of(client, TickChanged)
    assert client.tick(message_id) == status


async def enroll(gateway: GatewayProcess, tmp_path: Path) -> tuple[Client, Client, Client]:
    alice = await Client.register(
        tmp_path / "alice1", gateway.host, gateway.port, "alice", gateway_key=gateway.key
    )
    code = await alice.create_link_code()
    alice2 = await Client.link(
        tmp_path / "alice2",
        gateway.host,
        gateway.port,
        "alice",
        code,
        alice.crypto.identity_key_pair,
        gateway_key=gateway.key,
    )
    bob = await Client.register(
        tmp_path / "bob1", gateway.host, gateway.port, "bob", gateway_key=gateway.key
    )
    return alice, alice2, bob


async def test_text_ticks_and_sync_copy(gateway: GatewayProcess, tmp_path: Path) -> None:
    alice, alice2, bob = await enroll(gateway, tmp_path)

    message_id = await alice.send_text("bob", "hello bob")
    # ✓ at least; bob may already have acknowledged it (✓✓) by the time send_text returns.
    assert alice.tick(message_id) >= Status.SENT

    received = await next_of(bob, MessageReceived)
    assert isinstance(received, MessageReceived)
    assert (received.sender, received.text, received.message_id) == (
        "alice",
        "hello bob",
        message_id,
    )
    copy = await next_of(alice2, MessageReceived)
    assert isinstance(copy, MessageReceived)
    assert copy.outgoing
    assert copy.conversation == "bob"

    await tick_reaches(alice, message_id, Status.DELIVERED)
    await bob.mark_read(received)
    await tick_reaches(alice, message_id, Status.READ)
    await tick_reaches(alice2, message_id, Status.READ)

    reply_id = await bob.send_text("alice", "hi both")
    texts = {(await next_of(device, MessageReceived)).text for device in (alice, alice2)}  # type: ignore[attr-defined]
    assert texts == {"hi both"}
    await tick_reaches(bob, reply_id, Status.DELIVERED)

    assert alice.safety_number("bob") == bob.safety_number("alice")
    assert alice2.safety_number("bob") == bob.safety_number("alice")
    for client in (alice, alice2, bob):
        await client.close()


async def test_offline_device_catches_up(gateway: GatewayProcess, tmp_path: Path) -> None:
    alice, alice2, bob = await enroll(gateway, tmp_path)
    await bob.send_text("alice", "first")
    first = await next_of(alice2, MessageReceived)
    assert isinstance(first, MessageReceived)
    assert first.text == "first"
    await alice2.close()
    await bob.send_text("alice", "second")
    await bob.send_text("alice", "third")

    again = await Client.open(tmp_path / "alice2")
    texts = [(await next_of(again, MessageReceived)).text for _ in range(2)]  # type: ignore[attr-defined]
    assert texts == ["second", "third"]
    await next_of(again, CaughtUp)
    for client in (alice, again, bob):
        await client.close()


async def test_duplicate_after_lost_ack_dropped(gateway: GatewayProcess, tmp_path: Path) -> None:
    alice, alice2, bob = await enroll(gateway, tmp_path)
    connection = bob._require_connection()
    connection.ack = lambda seq: None  # type: ignore[method-assign]  # the network loses acks
    message_id = await alice.send_text("bob", "only once")
    first = await next_of(bob, MessageReceived)
    assert isinstance(first, MessageReceived)
    assert first.message_id == message_id
    await bob.close()

    again = await Client.open(tmp_path / "bob1")
    await next_of(again, CaughtUp)
    assert again._events.empty()
    # The redelivered copy was acknowledged this time, so alice gets ✓✓.
    await tick_reaches(alice, message_id, Status.DELIVERED)
    for client in (alice, alice2, again):
        await client.close()


async def test_takeover_does_not_reconnect(gateway: GatewayProcess, tmp_path: Path) -> None:
    alice, alice2, bob = await enroll(gateway, tmp_path)
    await bob.close()
    # A second process with a copy of bob's state connects as the same device.
    first = await Client.open(tmp_path / "bob1")
    second = await Client.open(tmp_path / "bob1")

    lost = await next_of(first, ConnectionLost)
    assert isinstance(lost, ConnectionLost)
    assert not lost.will_reconnect
    assert "took over" in lost.reason
    await alice.send_text("bob", "to the new one")
    received = await next_of(second, MessageReceived)
    assert isinstance(received, MessageReceived)
    assert received.text == "to the new one"
    for client in (alice, alice2, first, second):
        await client.close()


async def test_new_device_gets_session_after_mismatch(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    alice, alice2, bob = await enroll(gateway, tmp_path)
    await alice.send_text("bob", "before")
    await next_of(bob, MessageReceived)
    code = await bob.create_link_code()
    bob2 = await Client.link(
        tmp_path / "bob2",
        gateway.host,
        gateway.port,
        "bob",
        code,
        bob.crypto.identity_key_pair,
        gateway_key=gateway.key,
    )

    # alice has no session with bob's new device; the gateway rejects, alice fixes and resends.
    await alice.send_text("bob", "after")
    received = await next_of(bob2, MessageReceived)
    assert isinstance(received, MessageReceived)
    assert received.text == "after"
    for client in (alice, alice2, bob, bob2):
        await client.close()
