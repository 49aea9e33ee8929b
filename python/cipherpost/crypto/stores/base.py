"""The storage interfaces of the Signal protocol (see the package docstring)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from cipherpost._core import KeyPair, SenderKeyRecord, SessionRecord
from cipherpost.crypto.keys import Address, PreKeyRecord, SignedPreKeyRecord


class IdentityKeyStore(Protocol):
    """Our own identity and the identity keys of the devices we talk to (trust on first use)."""

    def identity_key_pair(self) -> KeyPair:
        """Return this device's identity key pair."""
        ...

    def local_registration_id(self) -> int:
        """Return this device's registration id."""
        ...

    def load_identity(self, address: Address) -> bytes | None:
        """Return the stored 33-byte identity key of `address`, or None if none is stored."""
        ...

    def save_identity(self, address: Address, identity_key: bytes) -> bool:
        """Store `identity_key` for `address`; return True if it replaced a different key."""
        ...

    def is_trusted_identity(self, address: Address, identity_key: bytes) -> bool:
        """Return True if no key is stored for `address` yet or the stored key is this one."""
        ...


class PreKeyStore(Protocol):
    """Our one-time prekeys, each removed once a session has used it."""

    def load_prekey(self, prekey_id: int) -> PreKeyRecord | None: ...

    def store_prekey(self, record: PreKeyRecord) -> None: ...

    def remove_prekey(self, prekey_id: int) -> None: ...

    def count_prekeys(self) -> int:
        """Return how many one-time prekeys are left, to decide when to upload more."""
        ...


class SignedPreKeyStore(Protocol):
    """Our signed prekeys; older ones stay until late prekey messages naming them are unlikely."""

    def load_signed_prekey(self, signed_prekey_id: int) -> SignedPreKeyRecord | None: ...

    def store_signed_prekey(self, record: SignedPreKeyRecord) -> None: ...

    def remove_signed_prekey(self, signed_prekey_id: int) -> None: ...

    def list_signed_prekeys(self) -> list[SignedPreKeyRecord]:
        """Return every stored signed prekey, oldest timestamp first."""
        ...


class SessionStore(Protocol):
    """One session record per remote device."""

    def load_session(self, address: Address) -> SessionRecord | None: ...

    def store_session(self, address: Address, record: SessionRecord) -> None: ...

    def delete_session(self, address: Address) -> None: ...

    def list_device_ids(self, name: str) -> list[int]:
        """Return the device ids of `name` that we have sessions with, in ascending order."""
        ...


class SenderKeyStore(Protocol):
    """Sender key records, one per (group, sending device)."""

    def load_sender_key(self, group_id: str, sender: Address) -> SenderKeyRecord | None: ...

    def store_sender_key(self, group_id: str, sender: Address, record: SenderKeyRecord) -> None: ...


class ProtocolStore(
    IdentityKeyStore, PreKeyStore, SignedPreKeyStore, SessionStore, SenderKeyStore, Protocol
):
    """All five stores in one object, as the session and group ciphers take them."""

    def transaction(self) -> AbstractContextManager[None]:
        """Group the writes made inside the `with` block into one atomic step.

        Used when a prekey message is accepted: the new session, the removed one-time prekey and
        the saved identity are written together. A persistent store commits them in one
        transaction and rolls back if the block raises; nested blocks join the outer one. A store
        whose writes cannot fail halfway (the memory store) may apply them immediately.
        """
        ...
