"""In-memory protocol store: the reference implementation and the test fixture.

Records are kept as the Rust objects themselves, so loading a session is one dictionary lookup
and storing it is one assignment, with no serialization. Everything is lost when the process
exits.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from cipherpost._core import KeyPair, SenderKeyRecord, SessionRecord
from cipherpost.crypto.keys import Address, PreKeyRecord, SignedPreKeyRecord


class MemoryProtocolStore:
    """All five protocol stores in dictionaries, for one local device."""

    def __init__(self, identity_key_pair: KeyPair, registration_id: int) -> None:
        self._identity_key_pair = identity_key_pair
        self._registration_id = registration_id
        self._identities: dict[Address, bytes] = {}
        self._prekeys: dict[int, PreKeyRecord] = {}
        self._signed_prekeys: dict[int, SignedPreKeyRecord] = {}
        self._sessions: dict[Address, SessionRecord] = {}
        self._sender_keys: dict[tuple[str, Address], SenderKeyRecord] = {}

        # The lookups on the per-message path are the dictionaries' own C methods, bound here,
        # so that they cost no Python frame (about 100 ns saved per call, measured with timeit).
        self.load_session: Callable[[Address], SessionRecord | None] = self._sessions.get
        self.store_session: Callable[[Address, SessionRecord], None] = self._sessions.__setitem__
        self.load_identity: Callable[[Address], bytes | None] = self._identities.get
        self.load_prekey: Callable[[int], PreKeyRecord | None] = self._prekeys.get
        self.load_signed_prekey: Callable[[int], SignedPreKeyRecord | None] = (
            self._signed_prekeys.get
        )

    # --- identities --------------------------------------------------------------------------

    def identity_key_pair(self) -> KeyPair:
        return self._identity_key_pair

    def local_registration_id(self) -> int:
        return self._registration_id

    def save_identity(self, address: Address, identity_key: bytes) -> bool:
        previous = self._identities.get(address)
        self._identities[address] = bytes(identity_key)
        return previous is not None and previous != identity_key

    def is_trusted_identity(self, address: Address, identity_key: bytes) -> bool:
        stored = self._identities.get(address)
        return stored is None or stored == identity_key

    # --- one-time prekeys --------------------------------------------------------------------

    def store_prekey(self, record: PreKeyRecord) -> None:
        self._prekeys[record.prekey_id] = record

    def remove_prekey(self, prekey_id: int) -> None:
        self._prekeys.pop(prekey_id, None)

    def count_prekeys(self) -> int:
        return len(self._prekeys)

    # --- signed prekeys ----------------------------------------------------------------------

    def store_signed_prekey(self, record: SignedPreKeyRecord) -> None:
        self._signed_prekeys[record.signed_prekey_id] = record

    def remove_signed_prekey(self, signed_prekey_id: int) -> None:
        self._signed_prekeys.pop(signed_prekey_id, None)

    def list_signed_prekeys(self) -> list[SignedPreKeyRecord]:
        return sorted(
            self._signed_prekeys.values(),
            key=lambda record: (record.timestamp_ms, record.signed_prekey_id),
        )

    # --- sessions ----------------------------------------------------------------------------

    def delete_session(self, address: Address) -> None:
        self._sessions.pop(address, None)

    def list_device_ids(self, name: str) -> list[int]:
        return sorted(address.device_id for address in self._sessions if address.name == name)

    # --- sender keys -------------------------------------------------------------------------

    def load_sender_key(self, group_id: str, sender: Address) -> SenderKeyRecord | None:
        return self._sender_keys.get((group_id, sender))

    def store_sender_key(self, group_id: str, sender: Address, record: SenderKeyRecord) -> None:
        self._sender_keys[(group_id, sender)] = record

    # --- transactions ------------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[None]:
        # Dictionary writes cannot fail halfway, so there is nothing to roll back.
        return nullcontext()
