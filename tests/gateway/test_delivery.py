"""Store-and-forward delivery through the real daemon over real sockets."""

from __future__ import annotations

from cipherpost.protocol.frames import Kind, Status, decode_deliver, decode_user

from .conftest import GatewayProcess, link, register
from .helpers import envelope_to, new_message_id, next_kind, receive_texts


async def test_online_delivery(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    await next_kind(bob.connection, Kind.DRAINED)
    message_id = new_message_id()

    await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"hello", 42))

    frame = await next_kind(bob.connection, Kind.DELIVER)
    body = decode_deliver(frame.body)
    assert frame.message_id == message_id
    assert body.sender == "alice"
    assert body.sender_device == 1
    assert body.timestamp_ms == 42
    assert body.ciphertext == b"hello"
    await alice.connection.close()
    await bob.connection.close()


async def test_offline_delivery_in_order_then_live(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    await bob.connection.close()

    for index in range(5):
        await alice.connection.send_envelopes(
            new_message_id(), envelope_to("bob", [1], b"queued %d" % index)
        )

    connection = await bob.reconnect(gateway)
    assert await receive_texts(connection, 5) == [b"queued %d" % i for i in range(5)]
    await next_kind(connection, Kind.DRAINED)

    await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"live"))
    assert await receive_texts(connection, 1) == [b"live"]
    await alice.connection.close()
    await connection.close()


async def test_acknowledged_envelope_is_not_redelivered(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"one"))
    assert await receive_texts(bob.connection, 1) == [b"one"]
    await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"two"))
    await receive_texts(bob.connection, 1, ack=False)
    # Wait for the acknowledgement of "one" to be stored before dropping the connection.
    await bob.connection.request(Kind.PREKEY_COUNT)
    await bob.connection.close()

    connection = await bob.reconnect(gateway)
    assert await receive_texts(connection, 1) == [b"two"]
    await next_kind(connection, Kind.DRAINED)
    await alice.connection.close()
    await connection.close()


async def test_fan_out_and_delivered_on_first_ack(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    alice2 = await link(gateway, alice)
    bob = await register(gateway, "bob")
    bob2 = await link(gateway, bob)
    bob3 = await link(gateway, bob)
    message_id = new_message_id()

    await alice.connection.send_envelopes(message_id, envelope_to("bob", [1, 2, 3], b"to bob"))
    await alice.connection.send_envelopes(message_id, envelope_to("alice", [2], b"sync copy"))

    assert await receive_texts(alice2.connection, 1) == [b"sync copy"]
    frames = [await next_kind(device.connection, Kind.DELIVER) for device in (bob, bob2, bob3)]
    assert [decode_deliver(frame.body).ciphertext for frame in frames] == [b"to bob"] * 3

    # The sync copy's acknowledgement by alice's own device must not count as delivered.
    bob2.connection.ack(frames[1].seq)
    for device in (alice, alice2):
        status = await next_kind(device.connection, Kind.STATUS)
        assert status.message_id == message_id
        assert status.flags == Status.DELIVERED
        assert decode_user(status.body) == "bob"
        device.connection.ack(status.seq)

    # Later acknowledgements by bob's other devices send no second DELIVERED.
    bob.connection.ack(frames[0].seq)
    bob3.connection.ack(frames[2].seq)
    bob.connection.receipt("alice", message_id)
    status = await next_kind(alice.connection, Kind.STATUS)
    assert status.flags == Status.READ

    for device in (alice, alice2, bob, bob2, bob3):
        await device.connection.close()


async def test_status_ignores_late_delivered_after_read(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    message_id = new_message_id()
    await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"hi"))
    frame = await next_kind(bob.connection, Kind.DELIVER)

    # The read receipt overtakes the acknowledgement.
    bob.connection.receipt("alice", message_id)
    bob.connection.receipt("alice", message_id)
    bob.connection.ack(frame.seq)
    await bob.connection.request(Kind.PREKEY_COUNT)

    status = await next_kind(alice.connection, Kind.STATUS)
    assert status.flags == Status.READ
    alice.connection.ack(status.seq)
    await alice.connection.close()

    # Nothing else was queued for alice: no DELIVERED after READ, no second READ.
    connection = await alice.reconnect(gateway)
    frame = await next_kind(connection, Kind.DRAINED)
    assert frame.kind == Kind.DRAINED
    await connection.close()
    await bob.connection.close()


async def test_retried_send_is_stored_once(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    await bob.connection.close()
    message_id = new_message_id()
    for _ in range(3):
        await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"retry"))

    connection = await bob.reconnect(gateway)
    assert await receive_texts(connection, 1) == [b"retry"]
    await next_kind(connection, Kind.DRAINED)
    await alice.connection.close()
    await connection.close()


async def test_redelivery_after_lost_ack_keeps_message_id(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    message_id = new_message_id()
    await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"once"))
    first = await next_kind(bob.connection, Kind.DELIVER)
    await bob.connection.close()  # the acknowledgement is lost

    connection = await bob.reconnect(gateway)
    again = await next_kind(connection, Kind.DELIVER)
    assert again.message_id == first.message_id == message_id
    assert again.seq == first.seq
    await alice.connection.close()
    await connection.close()
