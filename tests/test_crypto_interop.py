"""Interop with python-axolotl 0.2.3, an independent libsignal v3 implementation.

python-axolotl runs in `.venv-axolotl` (created by ci/axolotl-venv.sh) behind a subprocess, see
tests/peers/axolotl_peer.py. Each side generates its own keys with its own library.

python-axolotl 0.2.3 has no safety number implementation (IdentityKey.get_fingerprint raises
"IMPL ME"), so safety numbers are checked against the known-answer vector only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from cipherpost import _core
from cipherpost.crypto import Address, CiphertextMessage, KeyPair, PreKeyBundle, Rng, xeddsa_verify
from cipherpost.exceptions import DuplicateMessageError
from peers.axolotl_client import AxolotlPeer, PeerError
from peers.cipherpost_device import Device

pytestmark = pytest.mark.interop

PREKEY = _core.PREKEY_MESSAGE_TYPE
SIGNAL = _core.SIGNAL_MESSAGE_TYPE

# python-axolotl addresses its contacts by name and device id, as cipherpost does.
AXOLOTL = Address("axolotl", 1)
GROUP = "interop group"


@pytest.fixture
def peer() -> Iterator[AxolotlPeer]:
    with AxolotlPeer() as axolotl:
        yield axolotl


def bundle_from_peer(fields: dict[str, Any]) -> PreKeyBundle:
    prekey_public = fields.get("prekey_public")
    return PreKeyBundle(
        registration_id=fields["registration_id"],
        device_id=fields["device_id"],
        prekey_id=fields.get("prekey_id"),
        prekey_public=bytes.fromhex(prekey_public) if prekey_public else None,
        signed_prekey_id=fields["signed_prekey_id"],
        signed_prekey_public=bytes.fromhex(fields["signed_prekey_public"]),
        signed_prekey_signature=bytes.fromhex(fields["signed_prekey_signature"]),
        identity_key=bytes.fromhex(fields["identity_key"]),
    )


def bundle_to_peer(bundle: PreKeyBundle) -> dict[str, Any]:
    return {
        "registration_id": bundle.registration_id,
        "device_id": bundle.device_id,
        "prekey_id": bundle.prekey_id,
        "prekey_public": None if bundle.prekey_public is None else bundle.prekey_public.hex(),
        "signed_prekey_id": bundle.signed_prekey_id,
        "signed_prekey_public": bundle.signed_prekey_public.hex(),
        "signed_prekey_signature": bundle.signed_prekey_signature.hex(),
        "identity_key": bundle.identity_key.hex(),
    }


def to_axolotl(peer: AxolotlPeer, ours: Device, plaintext: bytes) -> None:
    message = ours.encrypt(AXOLOTL, plaintext)
    name, device_id = ours.address
    assert peer.decrypt(name, device_id, message.type, message.body) == plaintext


def from_axolotl(peer: AxolotlPeer, ours: Device, plaintext: bytes) -> None:
    name, device_id = ours.address
    message_type, body = peer.encrypt(name, device_id, plaintext)
    assert ours.decrypt(AXOLOTL, CiphertextMessage(message_type, body)) == plaintext


def axolotl_starts(peer: AxolotlPeer, ours: Device, one_time_prekey: bool = True) -> None:
    bundle = ours.publish_bundle(prekey_id=7 if one_time_prekey else None)
    name, device_id = ours.address
    peer.process_bundle(name, device_id, bundle_to_peer(bundle))


def cipherpost_starts(peer: AxolotlPeer, ours: Device, one_time_prekey: bool = True) -> None:
    fields = peer.generate_bundle(
        device_id=AXOLOTL.device_id, signed_prekey_id=3, prekey_id=11 if one_time_prekey else None
    )
    ours.start_session(AXOLOTL, bundle_from_peer(fields))


# --- sessions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("one_time_prekey", [True, False], ids=["one-time", "signed-only"])
def test_axolotl_initiates(peer: AxolotlPeer, one_time_prekey: bool) -> None:
    ours = Device("cipherpost")
    axolotl_starts(peer, ours, one_time_prekey)

    name, device_id = ours.address
    message_type, body = peer.encrypt(name, device_id, b"hello from axolotl")
    assert message_type == PREKEY
    assert ours.decrypt(AXOLOTL, CiphertextMessage(message_type, body)) == b"hello from axolotl"
    with pytest.raises(DuplicateMessageError):
        ours.decrypt(AXOLOTL, CiphertextMessage(message_type, body))
    if one_time_prekey:
        assert ours.store.load_prekey(7) is None
    assert ours.store.load_identity(AXOLOTL) == peer.identity()[0]

    to_axolotl(peer, ours, b"reply from cipherpost")
    for turn in range(6):
        from_axolotl(peer, ours, f"axolotl turn {turn}".encode())
        to_axolotl(peer, ours, f"cipherpost turn {turn}".encode())


@pytest.mark.parametrize("one_time_prekey", [True, False], ids=["one-time", "signed-only"])
def test_cipherpost_initiates(peer: AxolotlPeer, one_time_prekey: bool) -> None:
    ours = Device("cipherpost")
    cipherpost_starts(peer, ours, one_time_prekey)

    first = ours.encrypt(AXOLOTL, b"hello from cipherpost")
    assert first.type == PREKEY
    name, device_id = ours.address
    assert peer.decrypt(name, device_id, first.type, first.body) == b"hello from cipherpost"

    from_axolotl(peer, ours, b"reply from axolotl")
    assert ours.encrypt(AXOLOTL, b"probe").type == SIGNAL
    for turn in range(6):
        to_axolotl(peer, ours, f"cipherpost turn {turn}".encode())
        from_axolotl(peer, ours, f"axolotl turn {turn}".encode())


def test_bursts_both_ways(peer: AxolotlPeer) -> None:
    ours = Device("cipherpost")
    cipherpost_starts(peer, ours)
    for burst in range(4):
        for index in range(burst + 1):
            to_axolotl(peer, ours, f"ours {burst}.{index}".encode())
        for index in range(burst + 2):
            from_axolotl(peer, ours, f"theirs {burst}.{index}".encode())


def test_reordered_from_axolotl(peer: AxolotlPeer) -> None:
    ours = Device("cipherpost")
    axolotl_starts(peer, ours)
    name, device_id = ours.address
    shuffle = random.Random(2).shuffle

    first_chain = [peer.encrypt(name, device_id, f"a{index}".encode()) for index in range(5)]
    # Deliver one, reply (so that axolotl ratchets), then mix old and new chains.
    message_type, body = first_chain.pop(2)
    assert ours.decrypt(AXOLOTL, CiphertextMessage(message_type, body)) == b"a2"
    to_axolotl(peer, ours, b"ratchet")
    second_chain = [peer.encrypt(name, device_id, f"b{index}".encode()) for index in range(5)]

    pending = [(m, f"a{i}") for i, m in zip([0, 1, 3, 4], first_chain, strict=True)]
    pending += [(m, f"b{i}") for i, m in enumerate(second_chain)]
    shuffle(pending)
    for (message_type, body), plaintext in pending:
        decrypted = ours.decrypt(AXOLOTL, CiphertextMessage(message_type, body))
        assert decrypted == plaintext.encode()

    message_type, body = second_chain[0]
    with pytest.raises(DuplicateMessageError):
        ours.decrypt(AXOLOTL, CiphertextMessage(message_type, body))


def test_reordered_to_axolotl(peer: AxolotlPeer) -> None:
    ours = Device("cipherpost")
    cipherpost_starts(peer, ours)
    name, device_id = ours.address
    shuffle = random.Random(3).shuffle

    first_chain = [ours.encrypt(AXOLOTL, f"a{index}".encode()) for index in range(5)]
    message = first_chain.pop(0)
    assert peer.decrypt(name, device_id, message.type, message.body) == b"a0"
    from_axolotl(peer, ours, b"ratchet")
    second_chain = [ours.encrypt(AXOLOTL, f"b{index}".encode()) for index in range(5)]

    pending = [(m, f"a{i}") for i, m in zip([1, 2, 3, 4], first_chain, strict=True)]
    pending += [(m, f"b{i}") for i, m in enumerate(second_chain)]
    shuffle(pending)
    for message, plaintext in pending:
        assert peer.decrypt(name, device_id, message.type, message.body) == plaintext.encode()

    with pytest.raises(PeerError) as raised:
        peer.decrypt(name, device_id, second_chain[0].type, second_chain[0].body)
    assert raised.value.error == "DuplicateMessageException"


# --- signatures ---------------------------------------------------------------------------------


def test_xeddsa_both_ways(peer: AxolotlPeer) -> None:
    axolotl_identity, _ = peer.identity()
    rng = Rng()
    ours = KeyPair.generate(rng)
    for _ in range(16):
        message = rng.random_bytes(33)
        assert xeddsa_verify(axolotl_identity, message, peer.sign(message))
        assert peer.verify(ours.public_key, message, ours.sign(message, rng))


# --- Sender Keys --------------------------------------------------------------------------------


def test_group_from_axolotl(peer: AxolotlPeer) -> None:
    ours = Device("cipherpost")
    distribution = peer.group_create(GROUP, *AXOLOTL)
    ours.group_accept(GROUP, AXOLOTL, distribution)
    receiving = ours.group_cipher(GROUP, AXOLOTL)

    bodies = [peer.group_encrypt(GROUP, *AXOLOTL, f"group {index}".encode()) for index in range(6)]
    for index in (0, 3, 1, 5, 2, 4):
        assert receiving.decrypt(bodies[index]) == f"group {index}".encode()
    with pytest.raises(DuplicateMessageError):
        receiving.decrypt(bodies[3])


def test_group_to_axolotl(peer: AxolotlPeer) -> None:
    ours = Device("cipherpost")
    distribution = ours.group_distribution(GROUP)
    peer.group_process(GROUP, *ours.address, distribution)
    sending = ours.group_cipher(GROUP, ours.address)

    bodies = [sending.encrypt(f"group {index}".encode()) for index in range(6)]
    for index in (0, 3, 1, 5, 2, 4):
        assert peer.group_decrypt(GROUP, *ours.address, bodies[index]) == f"group {index}".encode()
    with pytest.raises(PeerError) as raised:
        peer.group_decrypt(GROUP, *ours.address, bodies[3])
    assert raised.value.error == "DuplicateMessageException"
