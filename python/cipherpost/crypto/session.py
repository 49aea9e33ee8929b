"""Pairwise sessions: X3DH setup and Double Ratchet encryption with one remote device.

The Rust core does the cryptography on a `SessionRecord`; this module decides what to load,
which identity to trust and what to write back. Its invariant: nothing is written to the store
unless the Rust operation succeeded, and the Rust operations leave a record untouched when they
fail, so a rejected message (bad MAC, duplicate, unknown prekey, untrusted identity) changes no
stored state.

Identities follow trust on first use. The first identity key seen for an address is saved. A
different key later raises UntrustedIdentityError on both encrypt and decrypt until the caller
accepts it with `save_identity`.
"""

from __future__ import annotations

from typing import NamedTuple

from cipherpost._core import (
    PREKEY_MESSAGE_TYPE,
    SIGNAL_MESSAGE_TYPE,
    KeyPair,
    PreKeyBundle,
    Rng,
    SessionRecord,
    parse_prekey_message,
)
from cipherpost.crypto.keys import Address
from cipherpost.crypto.stores.base import ProtocolStore
from cipherpost.exceptions import (
    InvalidMessageError,
    NoSessionError,
    UnknownPreKeyError,
    UntrustedIdentityError,
)

_new_tuple = tuple.__new__


class CiphertextMessage(NamedTuple):
    """An encrypted message and its type: PREKEY_MESSAGE_TYPE (3) or SIGNAL_MESSAGE_TYPE (2).

    Immutable. A NamedTuple rather than a frozen dataclass because one is built per message and
    constructing a frozen dataclass costs about a microsecond, a sixth of the time budget.
    """

    type: int
    body: bytes


class SessionBuilder:
    """Start sessions with one remote device from its prekey bundle (X3DH, initiator side)."""

    def __init__(self, store: ProtocolStore, address: Address, rng: Rng | None = None) -> None:
        self._store = store
        self._address = address
        self._rng = rng if rng is not None else Rng()

    def process_prekey_bundle(self, bundle: PreKeyBundle) -> None:
        """Verify the bundle's signed prekey, run X3DH and store the new session.

        Raises UntrustedIdentityError if the bundle's identity key differs from the stored one,
        and InvalidSignatureError if the signed prekey's signature does not verify. An existing
        session is archived, not lost, so late messages on it still decrypt.
        """
        store = self._store
        address = self._address
        identity_key = bundle.identity_key
        if not store.is_trusted_identity(address, identity_key):
            raise UntrustedIdentityError(address.name, identity_key)

        record = store.load_session(address)
        if record is None:
            record = SessionRecord()
        record.initialize_from_bundle(
            store.identity_key_pair(), store.local_registration_id(), bundle, self._rng
        )

        with store.transaction():
            store.store_session(address, record)
            store.save_identity(address, identity_key)


class SessionCipher:
    """Encrypt to and decrypt from one remote device over its stored session."""

    def __init__(self, store: ProtocolStore, address: Address, rng: Rng | None = None) -> None:
        self._store = store
        self._address = address
        self._rng = rng if rng is not None else Rng()
        self._identity_key_pair = store.identity_key_pair()
        # Read once: the public key is an argument of every encrypt and decrypt, and the bound
        # store methods save an attribute lookup per call on the per-message path.
        self._our_identity_key = self._identity_key_pair.public_key
        self._load_session = store.load_session
        self._store_session = store.store_session
        self._is_trusted_identity = store.is_trusted_identity

    @property
    def address(self) -> Address:
        return self._address

    def encrypt(self, plaintext: bytes) -> CiphertextMessage:
        """Encrypt `plaintext` for the remote device and advance the sending chain.

        Returns a prekey message (type 3) until the remote device has replied, then signal
        messages (type 2). Raises NoSessionError without a session and UntrustedIdentityError
        if the remote identity key is no longer the trusted one.
        """
        address = self._address
        record = self._load_session(address)
        if record is None:
            raise NoSessionError(f"no session with {address}; process a prekey bundle first")
        remote_identity = record.remote_identity_key()
        if remote_identity is None:
            raise NoSessionError(f"no current session with {address}; process a prekey bundle")
        if not self._is_trusted_identity(address, remote_identity):
            raise UntrustedIdentityError(address.name, remote_identity)

        message = _new_tuple(CiphertextMessage, record.encrypt(self._our_identity_key, plaintext))
        self._store_session(address, record)
        return message

    def decrypt(self, message: CiphertextMessage) -> bytes:
        """Decrypt a message from the remote device; dispatch on its type."""
        message_type = message.type
        if message_type == SIGNAL_MESSAGE_TYPE:
            # Written out here rather than calling decrypt_signal_message, which saves a Python
            # call per message. The trust check comes first because a successful decrypt
            # mutates the record in place, and an untrusted identity must leave it untouched.
            address = self._address
            record = self._load_session(address)
            if record is None:
                raise NoSessionError(f"no session with {address} to decrypt this message")
            remote_identity = record.remote_identity_key()
            if remote_identity is not None and not self._is_trusted_identity(
                address, remote_identity
            ):
                raise UntrustedIdentityError(address.name, remote_identity)
            plaintext = record.decrypt_signal_message(
                self._our_identity_key, message.body, self._rng
            )
            self._store_session(address, record)
            return plaintext
        if message_type == PREKEY_MESSAGE_TYPE:
            return self.decrypt_prekey_message(message.body)
        raise InvalidMessageError(
            f"message type {message_type} from {self._address} is not a session message; "
            f"expected {SIGNAL_MESSAGE_TYPE} (signal) or {PREKEY_MESSAGE_TYPE} (prekey)"
        )

    def decrypt_signal_message(self, body: bytes) -> bytes:
        """Decrypt a `SignalMessage` with the current or an archived session state."""
        return self.decrypt(_new_tuple(CiphertextMessage, (SIGNAL_MESSAGE_TYPE, body)))

    def decrypt_prekey_message(self, body: bytes) -> bytes:
        """Decrypt a `PreKeySignalMessage`, creating the session it starts if it is new.

        Steps: read the unauthenticated header, check the sender's identity (trust on first
        use), load the prekeys it names, decrypt, then commit the session, the removal of the
        used one-time prekey and the sender's identity in one store transaction. A repeated
        prekey message decrypts with the existing state and needs no prekeys.
        """
        store = self._store
        address = self._address
        header = parse_prekey_message(body)
        identity_key = header.identity_key
        if not store.is_trusted_identity(address, identity_key):
            raise UntrustedIdentityError(address.name, identity_key)

        record = store.load_session(address)
        if record is None:
            record = SessionRecord()
        signed_prekey: KeyPair | None = None
        one_time_prekey: KeyPair | None = None
        used_prekey_id: int | None = None
        if not record.has_session_with_base_key(header.base_key):
            signed_prekey = self._load_signed_prekey(header.signed_prekey_id)
            if header.prekey_id is not None:
                one_time_prekey = self._load_one_time_prekey(header.prekey_id)
                used_prekey_id = header.prekey_id

        plaintext = record.decrypt_prekey_message(
            self._identity_key_pair,
            store.local_registration_id(),
            body,
            signed_prekey,
            one_time_prekey,
            self._rng,
        )

        with store.transaction():
            store.store_session(address, record)
            if used_prekey_id is not None:
                store.remove_prekey(used_prekey_id)
            store.save_identity(address, identity_key)
        return plaintext

    def _load_signed_prekey(self, signed_prekey_id: int) -> KeyPair:
        record = self._store.load_signed_prekey(signed_prekey_id)
        if record is None:
            raise UnknownPreKeyError(
                f"prekey message from {self._address} names signed prekey {signed_prekey_id}, "
                "which this device does not have (rotated away or never uploaded)"
            )
        return record.key_pair

    def _load_one_time_prekey(self, prekey_id: int) -> KeyPair:
        record = self._store.load_prekey(prekey_id)
        if record is None:
            raise UnknownPreKeyError(
                f"prekey message from {self._address} names one-time prekey {prekey_id}, "
                "which this device does not have (already used or never uploaded)"
            )
        return record.key_pair

    def has_session(self) -> bool:
        """Return True if a session with a current state exists for the remote device."""
        record = self._store.load_session(self._address)
        return record is not None and record.has_current_state()

    def remote_registration_id(self) -> int | None:
        """Return the remote device's registration id from the current session state."""
        record = self._store.load_session(self._address)
        return None if record is None else record.remote_registration_id()
