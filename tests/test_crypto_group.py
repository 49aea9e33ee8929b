"""Sender Key group messages through the public group API."""

from __future__ import annotations

import pytest
from cipherpost import _core
from cipherpost.crypto import Address
from cipherpost.exceptions import DuplicateMessageError, InvalidMessageError, NoSenderKeyError
from peers.cipherpost_device import Device

GROUP = "book club"


def make_group(*names: str) -> list[Device]:
    """Return devices that have each processed every other device's distribution message."""
    devices = [Device(name) for name in names]
    for sender in devices:
        distribution = sender.group_distribution(GROUP)
        for receiver in devices:
            if receiver is not sender:
                receiver.group_accept(GROUP, sender.address, distribution)
    return devices


def sender_key_bytes(device: Device, sender: Address) -> bytes | None:
    record = device.store.load_sender_key(GROUP, sender)
    return None if record is None else record.serialize()


def test_every_member_reads_every_sender() -> None:
    members = make_group("alice", "bob", "carol")
    for sender in members:
        body = sender.group_cipher(GROUP, sender.address).encrypt(f"from {sender.address}".encode())
        for receiver in members:
            if receiver is not sender:
                plaintext = receiver.group_cipher(GROUP, sender.address).decrypt(body)
                assert plaintext == f"from {sender.address}".encode()


def test_out_of_order_then_duplicate() -> None:
    alice, bob = make_group("alice", "bob")
    sending = alice.group_cipher(GROUP, alice.address)
    receiving = bob.group_cipher(GROUP, alice.address)
    bodies = [sending.encrypt(f"message {index}".encode()) for index in range(5)]

    for index in (4, 0, 3, 1, 2):
        assert receiving.decrypt(bodies[index]) == f"message {index}".encode()

    before = sender_key_bytes(bob, alice.address)
    with pytest.raises(DuplicateMessageError):
        receiving.decrypt(bodies[2])
    assert sender_key_bytes(bob, alice.address) == before


def test_tampered_group_message_changes_nothing() -> None:
    alice, bob = make_group("alice", "bob")
    body = alice.group_cipher(GROUP, alice.address).encrypt(b"intact")
    tampered = bytearray(body)
    tampered[-70] ^= 0x01  # inside the ciphertext, before the 64-byte signature

    before = sender_key_bytes(bob, alice.address)
    with pytest.raises(InvalidMessageError):
        bob.group_cipher(GROUP, alice.address).decrypt(bytes(tampered))
    assert sender_key_bytes(bob, alice.address) == before
    assert bob.group_cipher(GROUP, alice.address).decrypt(body) == b"intact"


def test_no_sender_key() -> None:
    alice, bob = Device("alice"), Device("bob")
    with pytest.raises(NoSenderKeyError, match="create a distribution message"):
        alice.group_cipher(GROUP, alice.address).encrypt(b"x")
    alice.group_distribution(GROUP)
    body = alice.group_cipher(GROUP, alice.address).encrypt(b"x")
    with pytest.raises(NoSenderKeyError, match="process their distribution message"):
        bob.group_cipher(GROUP, alice.address).decrypt(body)


def test_late_joiner_cannot_read_earlier_messages() -> None:
    alice, bob = make_group("alice", "bob")
    sending = alice.group_cipher(GROUP, alice.address)
    early = sending.encrypt(b"before carol joined")
    assert bob.group_cipher(GROUP, alice.address).decrypt(early) == b"before carol joined"

    carol = Device("carol")
    carol.group_accept(GROUP, alice.address, alice.group_distribution(GROUP))
    later = sending.encrypt(b"after carol joined")
    assert carol.group_cipher(GROUP, alice.address).decrypt(later) == b"after carol joined"
    with pytest.raises((DuplicateMessageError, InvalidMessageError)):
        carol.group_cipher(GROUP, alice.address).decrypt(early)


def test_states_per_sender_are_capped() -> None:
    alice, bob = Device("alice"), Device("bob")
    # A new sender key (after a member left) arrives as a new distribution message; the
    # receiver keeps at most MAX_SENDER_KEY_STATES of them.
    bodies = []
    for rotation in range(_core.MAX_SENDER_KEY_STATES + 1):
        alice.store.store_sender_key(GROUP, alice.address, _core.SenderKeyRecord())
        bob.group_accept(GROUP, alice.address, alice.group_distribution(GROUP))
        bodies.append(alice.group_cipher(GROUP, alice.address).encrypt(f"key {rotation}".encode()))

    receiving = bob.group_cipher(GROUP, alice.address)
    assert receiving.decrypt(bodies[-1]) == f"key {len(bodies) - 1}".encode()
    assert receiving.decrypt(bodies[1]) == b"key 1"
    with pytest.raises((NoSenderKeyError, InvalidMessageError)):
        receiving.decrypt(bodies[0])
