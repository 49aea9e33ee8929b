"""Two cipherpost devices talking through the public session API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import pytest
from cipherpost import _core
from cipherpost.crypto import (
    Address,
    CiphertextMessage,
    PreKeyBundle,
    SessionBuilder,
    SessionCipher,
    generate_identity_key_pair,
)
from cipherpost.crypto.stores import MemoryProtocolStore, SqliteProtocolStore
from cipherpost.exceptions import (
    DuplicateMessageError,
    InvalidMessageError,
    InvalidSignatureError,
    MessageTooFarInFutureError,
    NoSessionError,
    UnknownPreKeyError,
    UntrustedIdentityError,
)
from peers.cipherpost_device import Device, connect, seeded_rng
from peers.wire import protobuf_fields

PREKEY = _core.PREKEY_MESSAGE_TYPE
SIGNAL = _core.SIGNAL_MESSAGE_TYPE

DeviceFactory = Callable[..., Device]


@pytest.fixture(params=["memory", "sqlite"])
def make_device(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeviceFactory]:
    """Return a factory of devices backed by one kind of store."""
    opened: list[SqliteProtocolStore] = []
    serial = count()

    def factory(name: str, device_id: int = 1) -> Device:
        # Each device gets its own seed, also a second device under an address already used.
        rng = seeded_rng(f"{name}-{device_id}-{next(serial)}")
        if request.param == "memory":
            return Device(name, device_id, rng=rng)
        store = SqliteProtocolStore(tmp_path / f"{name}-{device_id}-{len(opened)}.db", rng=rng)
        opened.append(store)
        return Device(name, device_id, rng=rng, store=store)

    yield factory
    for store in opened:
        store.close()


def flip_last_byte(message: CiphertextMessage) -> CiphertextMessage:
    body = bytearray(message.body)
    body[-1] ^= 0x01
    return CiphertextMessage(message.type, bytes(body))


# --- session setup ------------------------------------------------------------------------------


def test_setup_with_one_time_prekey(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    bundle = bob.publish_bundle(signed_prekey_id=3, prekey_id=17)
    alice.start_session(bob.address, bundle)

    first = alice.encrypt(bob.address, b"first")
    second = alice.encrypt(bob.address, b"second")
    assert first.type == PREKEY
    assert second.type == PREKEY
    assert bob.store.load_prekey(17) is not None

    assert bob.decrypt(alice.address, first) == b"first"
    assert bob.store.load_prekey(17) is None
    assert bob.store.load_identity(alice.address) == alice.identity_key
    assert alice.store.load_identity(bob.address) == bob.identity_key
    assert bob.decrypt(alice.address, second) == b"second"

    reply = bob.encrypt(alice.address, b"reply")
    assert reply.type == SIGNAL
    assert alice.decrypt(bob.address, reply) == b"reply"
    assert alice.encrypt(bob.address, b"now signal").type == SIGNAL


def test_setup_without_one_time_prekey(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    bundle = bob.publish_bundle(prekey_id=None)
    alice.start_session(bob.address, bundle)

    message = alice.encrypt(bob.address, b"no one-time prekey")
    assert message.type == PREKEY
    assert bob.decrypt(alice.address, message) == b"no one-time prekey"
    assert alice.cipher(bob.address).remote_registration_id() == bob.store.local_registration_id()


def test_setup_rejects_bad_signature(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    bundle = bob.publish_bundle()
    signature = bytearray(bundle.signed_prekey_signature)
    signature[0] ^= 0x01
    forged = PreKeyBundle(
        bundle.registration_id,
        bundle.device_id,
        bundle.prekey_id,
        bundle.prekey_public,
        bundle.signed_prekey_id,
        bundle.signed_prekey_public,
        bytes(signature),
        bundle.identity_key,
    )

    with pytest.raises(InvalidSignatureError):
        alice.start_session(bob.address, forged)
    assert alice.store.load_session(bob.address) is None
    assert alice.store.load_identity(bob.address) is None


def test_ping_pong_many_turns(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    for turn in range(20):
        sender, receiver = (alice, bob) if turn % 2 == 0 else (bob, alice)
        for index in range(turn % 3 + 1):
            plaintext = f"turn {turn} message {index}".encode()
            message = sender.encrypt(receiver.address, plaintext)
            assert receiver.decrypt(sender.address, message) == plaintext


def test_deterministic_with_seeded_rng() -> None:
    def run() -> list[bytes]:
        alice = Device("alice", rng=seeded_rng("deterministic-alice"))
        bob = Device("bob", rng=seeded_rng("deterministic-bob"))
        bundle = bob.publish_bundle()
        alice.start_session(bob.address, bundle)
        first = alice.encrypt(bob.address, b"same bytes")
        bob.decrypt(alice.address, first)
        reply = bob.encrypt(alice.address, b"same reply")
        return [first.body, reply.body]

    assert run() == run()


# --- lost, reordered and repeated messages ------------------------------------------------------


def test_reordered_within_and_across_chains(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)

    early = [alice.encrypt(bob.address, f"early {index}".encode()) for index in range(4)]
    assert bob.decrypt(alice.address, early[3]) == b"early 3"
    reply = bob.encrypt(alice.address, b"reply")
    assert alice.decrypt(bob.address, reply) == b"reply"
    late = alice.encrypt(bob.address, b"late")
    assert bob.decrypt(alice.address, late) == b"late"

    # Messages from the previous sending chain still decrypt after the ratchet moved on.
    for index in (1, 0, 2):
        assert bob.decrypt(alice.address, early[index]) == f"early {index}".encode()


def test_duplicate_signal_message(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    message = alice.encrypt(bob.address, b"once")
    assert bob.decrypt(alice.address, message) == b"once"

    before = bob.snapshot(alice.address)
    with pytest.raises(DuplicateMessageError):
        bob.decrypt(alice.address, message)
    assert bob.snapshot(alice.address) == before


def test_duplicate_prekey_message(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    alice.start_session(bob.address, bob.publish_bundle())
    message = alice.encrypt(bob.address, b"once")
    assert bob.decrypt(alice.address, message) == b"once"

    before = bob.snapshot(alice.address)
    with pytest.raises(DuplicateMessageError):
        bob.decrypt(alice.address, message)
    assert bob.snapshot(alice.address) == before


def test_tampered_message_changes_nothing(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    message = alice.encrypt(bob.address, b"intact")

    before = bob.snapshot(alice.address)
    with pytest.raises(InvalidMessageError):
        bob.decrypt(alice.address, flip_last_byte(message))
    assert bob.snapshot(alice.address) == before
    assert bob.decrypt(alice.address, message) == b"intact"


def test_tampered_prekey_message_changes_nothing(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    alice.start_session(bob.address, bob.publish_bundle())
    message = alice.encrypt(bob.address, b"intact")
    # Flip the last MAC byte of the embedded SignalMessage (protobuf field 4). The outer fields
    # are not covered by the MAC: the registration id is not authenticated at all, and a changed
    # prekey id reads as an unknown prekey.
    inner = protobuf_fields(message.body[1:])[4]
    assert isinstance(inner, bytes)
    tampered = bytearray(message.body)
    tampered[message.body.index(inner) + len(inner) - 1] ^= 0x01

    before = bob.snapshot(alice.address)
    with pytest.raises(InvalidMessageError):
        bob.decrypt(alice.address, CiphertextMessage(message.type, bytes(tampered)))
    assert bob.snapshot(alice.address) == before
    assert bob.decrypt(alice.address, message) == b"intact"


def test_forward_jump_limit(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    for _ in range(_core.MAX_FORWARD_JUMP + 1):
        alice.encrypt(bob.address, b"lost")
    too_far = alice.encrypt(bob.address, b"too far")

    before = bob.snapshot(alice.address)
    with pytest.raises(MessageTooFarInFutureError):
        bob.decrypt(alice.address, too_far)
    assert bob.snapshot(alice.address) == before


@pytest.mark.parametrize("evicted", [False, True], ids=["chain-kept", "chain-evicted"])
def test_late_message_and_receiving_chain_limit(make_device: DeviceFactory, evicted: bool) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    held = alice.encrypt(bob.address, b"held back")

    # Each turn gives Bob one new receiving chain. Bob already has the chain of the prekey
    # messages, and the held message's chain arrives in the first turn.
    turns = _core.MAX_RECEIVER_CHAINS + 1 if evicted else _core.MAX_RECEIVER_CHAINS - 2
    for turn in range(turns):
        message = alice.encrypt(bob.address, f"alice {turn}".encode())
        assert bob.decrypt(alice.address, message) == f"alice {turn}".encode()
        reply = bob.encrypt(alice.address, f"bob {turn}".encode())
        assert alice.decrypt(bob.address, reply) == f"bob {turn}".encode()

    if not evicted:
        assert bob.decrypt(alice.address, held) == b"held back"
        return
    before = bob.snapshot(alice.address)
    with pytest.raises(InvalidMessageError):
        bob.decrypt(alice.address, held)
    assert bob.snapshot(alice.address) == before


def test_skipped_keys_capped_oldest_first(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    cap = _core.MAX_SKIPPED_KEYS_PER_CHAIN
    # Two jumps that together skip more keys than the cap: the oldest skipped keys go.
    sent = [alice.encrypt(bob.address, f"m{index}".encode()) for index in range(cap + 501)]
    assert bob.decrypt(alice.address, sent[1500]) == b"m1500"
    assert bob.decrypt(alice.address, sent[cap + 500]) == f"m{cap + 500}".encode()

    assert bob.decrypt(alice.address, sent[600]) == b"m600"
    assert bob.decrypt(alice.address, sent[cap + 499]) == f"m{cap + 499}".encode()
    before = bob.snapshot(alice.address)
    with pytest.raises(DuplicateMessageError):
        bob.decrypt(alice.address, sent[0])
    assert bob.snapshot(alice.address) == before


def test_unknown_message_type(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    message = alice.encrypt(bob.address, b"x")
    with pytest.raises(InvalidMessageError, match="message type 7"):
        bob.decrypt(alice.address, CiphertextMessage(7, message.body))


# --- missing sessions and prekeys ---------------------------------------------------------------


def test_no_session(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    with pytest.raises(NoSessionError, match="bob.1"):
        alice.encrypt(bob.address, b"x")
    with pytest.raises(NoSessionError):
        alice.decrypt(bob.address, CiphertextMessage(SIGNAL, b"\x33"))


def test_unknown_one_time_prekey(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    alice.start_session(bob.address, bob.publish_bundle(prekey_id=5))
    message = alice.encrypt(bob.address, b"x")
    bob.store.remove_prekey(5)

    with pytest.raises(UnknownPreKeyError, match="one-time prekey 5"):
        bob.decrypt(alice.address, message)
    assert bob.store.load_session(alice.address) is None
    assert bob.store.load_identity(alice.address) is None


def test_unknown_signed_prekey(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    alice.start_session(bob.address, bob.publish_bundle(signed_prekey_id=9))
    message = alice.encrypt(bob.address, b"x")
    bob.store.remove_signed_prekey(9)

    with pytest.raises(UnknownPreKeyError, match="signed prekey 9"):
        bob.decrypt(alice.address, message)
    assert bob.store.load_session(alice.address) is None
    assert bob.store.count_prekeys() == 1


# --- identity trust -----------------------------------------------------------------------------


def test_changed_identity_rejected_on_bundle(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    reinstalled = make_device("bob")  # same address, new identity key
    bundle = reinstalled.publish_bundle()

    before = alice.snapshot(bob.address)
    with pytest.raises(UntrustedIdentityError) as raised:
        alice.start_session(bob.address, bundle)
    assert raised.value.name == "bob"
    assert raised.value.identity_key == reinstalled.identity_key
    assert alice.snapshot(bob.address) == before

    # The user verified the new safety number and accepts the key.
    assert alice.store.save_identity(bob.address, reinstalled.identity_key) is True
    alice.start_session(bob.address, bundle)
    message = alice.encrypt(bob.address, b"hello again")
    assert reinstalled.decrypt(alice.address, message) == b"hello again"


def test_changed_identity_rejected_on_prekey_message(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    impostor = make_device("alice")
    impostor.start_session(bob.address, bob.publish_bundle(signed_prekey_id=2, prekey_id=2))
    message = impostor.encrypt(bob.address, b"trust me")

    before = bob.snapshot(alice.address)
    with pytest.raises(UntrustedIdentityError):
        bob.decrypt(alice.address, message)
    assert bob.snapshot(alice.address) == before
    assert bob.store.load_prekey(2) is not None


def test_changed_identity_blocks_encrypt_and_decrypt(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    incoming = bob.encrypt(alice.address, b"in flight")
    other_key = generate_identity_key_pair(seeded_rng("other key")).public_key
    alice.store.save_identity(bob.address, other_key)

    with pytest.raises(UntrustedIdentityError):
        alice.encrypt(bob.address, b"x")
    before = alice.snapshot(bob.address)
    with pytest.raises(UntrustedIdentityError):
        alice.decrypt(bob.address, incoming)
    assert alice.snapshot(bob.address) == before

    alice.store.save_identity(bob.address, bob.identity_key)
    assert alice.decrypt(bob.address, incoming) == b"in flight"


# --- several sessions with one device -----------------------------------------------------------


def test_simultaneous_initiation(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    alice_bundle = alice.publish_bundle()
    bob_bundle = bob.publish_bundle()
    alice.start_session(bob.address, bob_bundle)
    bob.start_session(alice.address, alice_bundle)

    from_alice = alice.encrypt(bob.address, b"from alice")
    from_bob = bob.encrypt(alice.address, b"from bob")
    assert bob.decrypt(alice.address, from_alice) == b"from alice"
    assert alice.decrypt(bob.address, from_bob) == b"from bob"

    # Both sides now hold two states; the conversation continues on whichever each side uses.
    for turn in range(6):
        sender, receiver = (alice, bob) if turn % 2 == 0 else (bob, alice)
        plaintext = f"after the race {turn}".encode()
        assert receiver.decrypt(sender.address, sender.encrypt(receiver.address, plaintext)) == (
            plaintext
        )


def test_late_message_on_archived_session(make_device: DeviceFactory) -> None:
    alice, bob = make_device("alice"), make_device("bob")
    connect(alice, bob)
    late = alice.encrypt(bob.address, b"sent on the old session")

    # Bob starts a fresh session to Alice; the old state is archived, not dropped.
    bob.start_session(alice.address, alice.publish_bundle(signed_prekey_id=2, prekey_id=2))
    fresh = bob.encrypt(alice.address, b"new session")
    assert fresh.type == PREKEY
    assert alice.decrypt(bob.address, fresh) == b"new session"

    assert bob.decrypt(alice.address, late) == b"sent on the old session"


def test_devices_of_one_user_are_separate(make_device: DeviceFactory) -> None:
    alice = make_device("alice")
    phone, laptop = make_device("bob", 1), make_device("bob", 2)
    connect(alice, phone)
    connect(alice, laptop)

    to_phone = alice.encrypt(phone.address, b"phone")
    to_laptop = alice.encrypt(laptop.address, b"laptop")
    assert phone.decrypt(alice.address, to_phone) == b"phone"
    assert laptop.decrypt(alice.address, to_laptop) == b"laptop"
    with pytest.raises(InvalidMessageError):
        laptop.decrypt(alice.address, alice.encrypt(phone.address, b"wrong device"))


def test_cipher_accepts_any_protocol_store() -> None:
    # SessionBuilder and SessionCipher depend on the ProtocolStore interface only.
    rng = seeded_rng("any store")
    store = MemoryProtocolStore(generate_identity_key_pair(rng), 77)
    bob = Device("bob")
    SessionBuilder(store, bob.address, rng).process_prekey_bundle(bob.publish_bundle())
    message = SessionCipher(store, bob.address, rng).encrypt(b"x")
    assert bob.decrypt(Address("alice", 1), message) == b"x"
    assert bob.cipher(Address("alice", 1)).remote_registration_id() == 77
