"""The Signal protocol (libsignal v3 wire format) for cipherpost clients.

Pairwise sessions (X3DH and the Double Ratchet), Sender Keys for groups, safety numbers and
XEdDSA signatures. The cryptography runs in the Rust core `cipherpost._core`; this package adds
the stores, identity trust (trust on first use) and the order of loads and writes.

A two-party exchange::

    from cipherpost.crypto import *
    from cipherpost.crypto.stores import MemoryProtocolStore

    rng = Rng()
    bob = MemoryProtocolStore(generate_identity_key_pair(rng), generate_registration_id(rng))
    signed = generate_signed_prekey(bob.identity_key_pair(), 1, rng, now_ms=0)
    bob.store_signed_prekey(signed)
    bundle = build_prekey_bundle(
        bob.identity_key_pair().public_key, bob.local_registration_id(), 1, signed
    )

    alice = MemoryProtocolStore(generate_identity_key_pair(rng), generate_registration_id(rng))
    SessionBuilder(alice, Address("bob", 1)).process_prekey_bundle(bundle)
    message = SessionCipher(alice, Address("bob", 1)).encrypt(b"hello")
    assert SessionCipher(bob, Address("alice", 1)).decrypt(message) == b"hello"
"""

from cipherpost._core import KeyPair, PreKeyBundle, Rng
from cipherpost.crypto.fingerprint import (
    format_safety_number,
    identity_digits,
    safety_number,
    scannable_fingerprint,
    scannable_fingerprints_match,
    xeddsa_verify,
)
from cipherpost.crypto.group import GroupCipher, GroupSessionBuilder
from cipherpost.crypto.keys import (
    Address,
    PreKeyRecord,
    SignedPreKeyRecord,
    build_prekey_bundle,
    generate_identity_key_pair,
    generate_prekeys,
    generate_registration_id,
    generate_signed_prekey,
)
from cipherpost.crypto.session import CiphertextMessage, SessionBuilder, SessionCipher

__all__ = [
    "Address",
    "CiphertextMessage",
    "GroupCipher",
    "GroupSessionBuilder",
    "KeyPair",
    "PreKeyBundle",
    "PreKeyRecord",
    "Rng",
    "SessionBuilder",
    "SessionCipher",
    "SignedPreKeyRecord",
    "build_prekey_bundle",
    "format_safety_number",
    "generate_identity_key_pair",
    "generate_prekeys",
    "generate_registration_id",
    "generate_signed_prekey",
    "identity_digits",
    "safety_number",
    "scannable_fingerprint",
    "scannable_fingerprints_match",
    "xeddsa_verify",
]
