"""Addresses, prekey records and key generation for the Signal protocol.

Every function that needs randomness takes an `Rng`, and every timestamp is passed in, so that
tests can run deterministically with `Rng(seed)` and a fixed clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from cipherpost._core import KeyPair, PreKeyBundle, Rng
from cipherpost.exceptions import InvalidCryptoArgumentError

# Prekey ids travel as protobuf uint32 but libsignal and python-axolotl keep them below 2**24
# ("Medium.MAX_VALUE" = 0xFFFFFF) and wrap around when a batch passes the top.
PREKEY_ID_MAX = 0xFFFFFF

# Registration ids are drawn from 1..16380, libsignal's non-extended range, which keeps the
# protobuf varint at two bytes.
REGISTRATION_ID_MAX = 16380

# Device ids are protobuf uint32 on the wire. NOTE: a gateway may impose a smaller limit.
DEVICE_ID_MAX = 0xFFFFFFFF


class Address(NamedTuple):
    """One device of one user: the key of sessions and identities.

    A NamedTuple rather than a dataclass because it is a dictionary key on every encrypt and
    decrypt, and tuple hashing runs in C.
    """

    name: str
    device_id: int

    def __str__(self) -> str:
        return f"{self.name}.{self.device_id}"


@dataclass
class PreKeyRecord:
    """A one-time prekey with its id; the private half stays on this device."""

    prekey_id: int
    key_pair: KeyPair


@dataclass
class SignedPreKeyRecord:
    """A signed prekey, the identity key's XEdDSA signature over its public key and its age."""

    signed_prekey_id: int
    key_pair: KeyPair
    signature: bytes
    timestamp_ms: int


def generate_identity_key_pair(rng: Rng) -> KeyPair:
    """Generate a device's long-term identity key pair (done once, at install time)."""
    return KeyPair.generate(rng)


def generate_registration_id(rng: Rng) -> int:
    """Draw a registration id uniformly from 1..REGISTRATION_ID_MAX."""
    # Rejection sampling over 16-bit draws keeps the distribution uniform: 65520 is the largest
    # multiple of 16380 that fits in 16 bits.
    limit = (0x10000 // REGISTRATION_ID_MAX) * REGISTRATION_ID_MAX
    while True:
        value = int.from_bytes(rng.random_bytes(2), "big")
        if value < limit:
            return value % REGISTRATION_ID_MAX + 1


def check_prekey_id(prekey_id: int, label: str = "prekey id") -> None:
    """Raise InvalidCryptoArgumentError unless `prekey_id` lies in 1..PREKEY_ID_MAX."""
    if not 1 <= prekey_id <= PREKEY_ID_MAX:
        raise InvalidCryptoArgumentError(
            f"{label} {prekey_id} is out of range; use 1..{PREKEY_ID_MAX}"
        )


def generate_prekeys(start_id: int, count: int, rng: Rng) -> list[PreKeyRecord]:
    """Generate `count` one-time prekeys with ids from `start_id`, wrapping past PREKEY_ID_MAX.

    Ids wrap to 1 after PREKEY_ID_MAX (as libsignal's KeyHelper does), so a client can keep
    its next id in a counter and reuse ids only after 16.7 million prekeys.
    """
    check_prekey_id(start_id, "start id")
    if not 0 <= count <= PREKEY_ID_MAX:
        raise InvalidCryptoArgumentError(
            f"prekey count {count} is out of range; use 0..{PREKEY_ID_MAX}"
        )
    return [
        PreKeyRecord((start_id - 1 + offset) % PREKEY_ID_MAX + 1, KeyPair.generate(rng))
        for offset in range(count)
    ]


def generate_signed_prekey(
    identity: KeyPair, signed_prekey_id: int, rng: Rng, now_ms: int
) -> SignedPreKeyRecord:
    """Generate a signed prekey: a fresh key pair signed by `identity` over its 33-byte form."""
    check_prekey_id(signed_prekey_id, "signed prekey id")
    key_pair = KeyPair.generate(rng)
    signature = identity.sign(key_pair.public_key, rng)
    return SignedPreKeyRecord(signed_prekey_id, key_pair, signature, now_ms)


def build_prekey_bundle(
    identity_key: bytes,
    registration_id: int,
    device_id: int,
    signed_prekey: SignedPreKeyRecord,
    prekey: PreKeyRecord | None = None,
) -> PreKeyBundle:
    """Assemble the public bundle that a server hands to a device that wants to start a session.

    `prekey` is None when the server has run out of one-time prekeys; the session then starts
    from the signed prekey alone.
    """
    if not 0 <= device_id <= DEVICE_ID_MAX:
        raise InvalidCryptoArgumentError(
            f"device id {device_id} is out of range; use 0..{DEVICE_ID_MAX}"
        )
    return PreKeyBundle(
        registration_id=registration_id,
        device_id=device_id,
        prekey_id=None if prekey is None else prekey.prekey_id,
        prekey_public=None if prekey is None else prekey.key_pair.public_key,
        signed_prekey_id=signed_prekey.signed_prekey_id,
        signed_prekey_public=signed_prekey.key_pair.public_key,
        signed_prekey_signature=signed_prekey.signature,
        identity_key=identity_key,
    )
