"""A cipherpost device for tests and benchmarks: a store plus the steps around it.

Shared by the crypto tests, the interop tests and the benchmarks so that each of them sets up
sessions the same way.
"""

from __future__ import annotations

from typing import Any

from cipherpost.crypto import (
    Address,
    CiphertextMessage,
    GroupCipher,
    GroupSessionBuilder,
    PreKeyBundle,
    Rng,
    SessionBuilder,
    SessionCipher,
    build_prekey_bundle,
    generate_identity_key_pair,
    generate_prekeys,
    generate_registration_id,
    generate_signed_prekey,
)
from cipherpost.crypto.stores import MemoryProtocolStore, ProtocolStore

# A fixed clock for signed prekey timestamps, so that seeded runs are reproducible.
FIXED_NOW_MS = 1_700_000_000_000


class Device:
    """One local device: its address, store and randomness."""

    def __init__(
        self,
        name: str,
        device_id: int = 1,
        *,
        rng: Rng | None = None,
        store: ProtocolStore | None = None,
    ) -> None:
        self.address = Address(name, device_id)
        self.rng = rng if rng is not None else Rng()
        if store is None:
            store = MemoryProtocolStore(
                generate_identity_key_pair(self.rng), generate_registration_id(self.rng)
            )
        self.store = store
        self._ciphers: dict[Address, SessionCipher] = {}

    @property
    def identity_key(self) -> bytes:
        return self.store.identity_key_pair().public_key

    def publish_bundle(self, signed_prekey_id: int = 1, prekey_id: int | None = 1) -> PreKeyBundle:
        """Store a new signed prekey and, unless `prekey_id` is None, a one-time prekey.

        Returns the bundle a server would hand out for them.
        """
        signed = generate_signed_prekey(
            self.store.identity_key_pair(), signed_prekey_id, self.rng, FIXED_NOW_MS
        )
        self.store.store_signed_prekey(signed)
        prekey = None
        if prekey_id is not None:
            (prekey,) = generate_prekeys(prekey_id, 1, self.rng)
            self.store.store_prekey(prekey)
        return build_prekey_bundle(
            self.identity_key,
            self.store.local_registration_id(),
            self.address.device_id,
            signed,
            prekey,
        )

    def cipher(self, remote: Address) -> SessionCipher:
        cipher = self._ciphers.get(remote)
        if cipher is None:
            cipher = self._ciphers[remote] = SessionCipher(self.store, remote, self.rng)
        return cipher

    def start_session(self, remote: Address, bundle: PreKeyBundle) -> None:
        SessionBuilder(self.store, remote, self.rng).process_prekey_bundle(bundle)

    def encrypt(self, remote: Address, plaintext: bytes) -> CiphertextMessage:
        return self.cipher(remote).encrypt(plaintext)

    def decrypt(self, remote: Address, message: CiphertextMessage) -> bytes:
        return self.cipher(remote).decrypt(message)

    def group_distribution(self, group_id: str) -> bytes:
        return GroupSessionBuilder(self.store, self.rng).create_distribution_message(
            group_id, self.address
        )

    def group_accept(self, group_id: str, sender: Address, message: bytes) -> None:
        GroupSessionBuilder(self.store, self.rng).process_distribution_message(
            group_id, sender, message
        )

    def group_cipher(self, group_id: str, sender: Address) -> GroupCipher:
        return GroupCipher(self.store, group_id, sender, self.rng)

    def session_bytes(self, remote: Address) -> bytes | None:
        """Return the serialized session with `remote`, to compare state before and after."""
        record = self.store.load_session(remote)
        return None if record is None else record.serialize()

    def snapshot(self, remote: Address) -> dict[str, Any]:
        """Return everything a decrypt from `remote` may change, for unchanged-state checks."""
        return {
            "session": self.session_bytes(remote),
            "identity": self.store.load_identity(remote),
            "prekeys": self.store.count_prekeys(),
        }


def connect(alice: Device, bob: Device, *, one_time_prekey: bool = True) -> None:
    """Give `alice` a session with `bob` and deliver one message each way, so both are set up."""
    bundle = bob.publish_bundle(prekey_id=1 if one_time_prekey else None)
    alice.start_session(bob.address, bundle)
    first = alice.encrypt(bob.address, b"hello bob")
    assert bob.decrypt(alice.address, first) == b"hello bob"
    reply = bob.encrypt(alice.address, b"hello alice")
    assert alice.decrypt(bob.address, reply) == b"hello alice"


def seeded_rng(label: str) -> Rng:
    """Return a deterministic Rng whose 32-byte seed is derived from `label`."""
    seed = label.encode().ljust(32, b".")[:32]
    return Rng(seed)
