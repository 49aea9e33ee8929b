"""Sender Keys for groups: each member encrypts once with its own chain and signing key.

A sender creates a `SenderKeyDistributionMessage` and sends it to every member over their
pairwise sessions; members process it and can then decrypt that sender's group messages. As in
the session module, a record is written back only after the Rust operation succeeded, and a
failed operation leaves the record untouched.
"""

from __future__ import annotations

from cipherpost._core import Rng, SenderKeyRecord
from cipherpost.crypto.keys import Address
from cipherpost.crypto.stores.base import SenderKeyStore
from cipherpost.exceptions import NoSenderKeyError


class GroupSessionBuilder:
    """Create our sender key for a group and accept other members' sender keys."""

    def __init__(self, store: SenderKeyStore, rng: Rng | None = None) -> None:
        self._store = store
        self._rng = rng if rng is not None else Rng()

    def create_distribution_message(self, group_id: str, our: Address) -> bytes:
        """Return a `SenderKeyDistributionMessage` for our sending state in `group_id`.

        The state is created on first use; later calls describe the same state at its current
        iteration, so a member who joins later cannot read earlier messages.
        """
        store = self._store
        record = store.load_sender_key(group_id, our)
        if record is None:
            record = SenderKeyRecord()
        message = record.create_distribution_message(self._rng)
        store.store_sender_key(group_id, our, record)
        return message

    def process_distribution_message(self, group_id: str, sender: Address, message: bytes) -> None:
        """Store the sender key that `sender` distributed for `group_id`."""
        store = self._store
        record = store.load_sender_key(group_id, sender)
        if record is None:
            record = SenderKeyRecord()
        record.process_distribution_message(message)
        store.store_sender_key(group_id, sender, record)


class GroupCipher:
    """Encrypt as, or decrypt from, one sender in one group."""

    def __init__(
        self, store: SenderKeyStore, group_id: str, sender: Address, rng: Rng | None = None
    ) -> None:
        self._store = store
        self._group_id = group_id
        self._sender = sender
        self._rng = rng if rng is not None else Rng()

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt with our sender key and return a signed `SenderKeyMessage`."""
        store = self._store
        record = store.load_sender_key(self._group_id, self._sender)
        if record is None:
            raise NoSenderKeyError(
                f"no sender key of {self._sender} in group {self._group_id!r}; "
                "create a distribution message first"
            )
        body = record.encrypt(plaintext, self._rng)
        store.store_sender_key(self._group_id, self._sender, record)
        return body

    def decrypt(self, body: bytes) -> bytes:
        """Verify and decrypt a `SenderKeyMessage` from the sender."""
        store = self._store
        record = store.load_sender_key(self._group_id, self._sender)
        if record is None:
            raise NoSenderKeyError(
                f"no sender key of {self._sender} in group {self._group_id!r}; "
                "process their distribution message first"
            )
        plaintext = record.decrypt(body)
        store.store_sender_key(self._group_id, self._sender, record)
        return plaintext
