"""Accounts, devices, takeover, the device-list check and registration tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from cipherpost._core import TransportKeyPair
from cipherpost.client.connection import Disconnected
from cipherpost.exceptions import DeviceListMismatchError, GatewayError
from cipherpost.protocol.frames import MAX_DEVICES_PER_ACCOUNT, ErrorCode, Kind, Reason

from .conftest import GatewayProcess, identity_body, link, register
from .helpers import EVENT_TIMEOUT, envelope_to, new_message_id, next_kind, receive_texts


async def test_takeover_disconnects_old_connection(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    old = alice.connection
    new = await alice.reconnect(gateway)

    event = await old.next_event(EVENT_TIMEOUT)
    while not isinstance(event, Disconnected):
        event = await old.next_event(EVENT_TIMEOUT)
    assert event.reason == Reason.TAKEOVER
    assert not event.may_reconnect

    # The new connection is the one that receives.
    bob = await register(gateway, "bob")
    await bob.connection.send_envelopes(new_message_id(), envelope_to("alice", [1], b"to new"))
    assert await receive_texts(new, 1) == [b"to new"]
    for connection in (old, new, bob.connection):
        await connection.close()


async def test_send_missing_device_rejected_with_list(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    await link(gateway, bob)

    with pytest.raises(DeviceListMismatchError) as missing:
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"x"))
    assert missing.value.code == ErrorCode.DEVICE_MISMATCH
    assert missing.value.user == "bob"
    assert missing.value.devices == [1, 2]

    with pytest.raises(DeviceListMismatchError) as extra:
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1, 2, 7], b"x"))
    assert extra.value.devices == [1, 2]
    await alice.connection.close()


async def test_send_to_removed_device_rejected(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    bob2 = await link(gateway, bob)
    await bob.connection.request(Kind.UNLINK, {"device": bob2.device_id})

    event = await bob2.connection.next_event(EVENT_TIMEOUT)
    while not isinstance(event, Disconnected):
        event = await bob2.connection.next_event(EVENT_TIMEOUT)
    assert event.reason == Reason.DEVICE_REMOVED

    with pytest.raises(DeviceListMismatchError) as rejected:
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1, 2], b"x"))
    assert rejected.value.devices == [1]
    # The removed device's key no longer authenticates.
    connection = await gateway.connect(bob2.key)
    with pytest.raises(GatewayError) as unknown:
        await connection.request(Kind.HELLO)
    assert unknown.value.code == ErrorCode.UNAUTHENTICATED
    await connection.close()
    await alice.connection.close()


async def test_device_limit(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    devices = [alice]
    for _ in range(MAX_DEVICES_PER_ACCOUNT - 1):
        devices.append(await link(gateway, alice))
    assert [device.device_id for device in devices] == list(range(1, MAX_DEVICES_PER_ACCOUNT + 1))
    with pytest.raises(GatewayError) as limit:
        await link(gateway, alice)
    assert limit.value.code == ErrorCode.LIMIT_REACHED
    result = await alice.connection.request(Kind.DEVICES, {"user": "alice"})
    assert result["devices"] == list(range(1, MAX_DEVICES_PER_ACCOUNT + 1))


async def test_link_code_is_single_use(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    code = (await alice.connection.request(Kind.LINK_CODE))["code"]
    first = await gateway.connect(TransportKeyPair.generate())
    await first.request(Kind.LINK, {**identity_body("alice"), "code": code})
    second = await gateway.connect(TransportKeyPair.generate())
    with pytest.raises(GatewayError) as reused:
        await second.request(Kind.LINK, {**identity_body("alice"), "code": code})
    assert reused.value.code == ErrorCode.FORBIDDEN


async def test_register_existing_user_rejected(gateway: GatewayProcess) -> None:
    await register(gateway, "alice")
    with pytest.raises(GatewayError) as taken:
        await register(gateway, "alice")
    assert taken.value.code == ErrorCode.ALREADY_REGISTERED


async def test_unknown_transport_key_rejected(gateway: GatewayProcess) -> None:
    connection = await gateway.connect(TransportKeyPair.generate())
    with pytest.raises(GatewayError) as unknown:
        await connection.request(Kind.HELLO)
    assert unknown.value.code == ErrorCode.UNAUTHENTICATED
    event = await connection.next_event(EVENT_TIMEOUT)
    assert isinstance(event, Disconnected)
    assert event.reason == Reason.AUTH_FAILED


async def test_other_device_queue_not_readable(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    mallory = await register(gateway, "mallory")
    await bob.connection.close()
    await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"secret"))
    await alice.connection.send_envelopes(new_message_id(), envelope_to("mallory", [1], b"own"))

    delivered = await next_kind(mallory.connection, Kind.DELIVER)
    # Acknowledging sequence numbers around its own tries to delete bob's envelope.
    for seq in range(1, delivered.seq + 5):
        mallory.connection.ack(seq)
    await mallory.connection.request(Kind.PREKEY_COUNT)

    connection = await bob.reconnect(gateway)
    assert await receive_texts(connection, 1) == [b"secret"]
    await next_kind(connection, Kind.DRAINED)
    for other in (alice.connection, mallory.connection, connection):
        await other.close()


@pytest.fixture
def token_gateway(tmp_path: Path):  # type: ignore[no-untyped-def]
    process = GatewayProcess(tmp_path / "gateway", ["--registration", "token"])
    process.start()
    yield process
    process.stop()


async def test_registration_tokens(token_gateway: GatewayProcess, tmp_path: Path) -> None:
    import asyncio
    import sys

    with pytest.raises(GatewayError) as no_token:
        await register(token_gateway, "alice")
    assert no_token.value.code == ErrorCode.FORBIDDEN

    created = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cipherpost",
        "gateway",
        "--data-dir",
        str(token_gateway.data_dir),
        "--create-tokens",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await created.communicate()
    assert created.returncode == 0
    token = stdout.decode().strip()
    assert len(token) > 16

    alice = await register(token_gateway, "alice", token=token)
    assert alice.device_id == 1
    with pytest.raises(GatewayError) as reused:
        await register(token_gateway, "bob", token=token)
    assert reused.value.code == ErrorCode.FORBIDDEN
