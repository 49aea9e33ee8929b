"""The client's Signal-protocol side: prekeys, bundles, sessions, encrypt and decrypt.

Every call into `cipherpost.crypto` made by the client is in this module. Message contents
are JSON objects encrypted with the pairwise session of each device.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cipherpost.crypto import (
    Address,
    CiphertextMessage,
    KeyPair,
    PreKeyBundle,
    Rng,
    SessionBuilder,
    SessionCipher,
    format_safety_number,
    generate_prekeys,
    generate_signed_prekey,
    safety_number,
)
from cipherpost.crypto.stores import SqliteProtocolStore
from cipherpost.exceptions import InvalidMessageError
from cipherpost.protocol.frames import b64decode, b64encode

# One-time prekeys kept on the gateway: the gateway accepts at most 100 per upload and
# sends a notice below 20, after which the client tops up to this many again.
PREKEY_TARGET = 100
SIGNED_PREKEY_ID = 1


@dataclass(frozen=True, slots=True)
class Content:
    """Decrypted message content: a text for `to` (the recipient user; on the sender's own
    other devices it names the conversation partner)."""

    text: str
    to: str


class DeviceCrypto:
    """The protocol store of one device and the operations the client needs from it."""

    def __init__(self, path: Path, identity: KeyPair | None = None) -> None:
        self.store = SqliteProtocolStore(path, identity)
        self._rng = Rng()

    def close(self) -> None:
        self.store.close()

    @property
    def identity_key(self) -> bytes:
        return self.store.identity_key_pair().public_key

    @property
    def identity_key_pair(self) -> KeyPair:
        return self.store.identity_key_pair()

    @property
    def registration_id(self) -> int:
        return self.store.local_registration_id()

    def prekey_upload(self, gateway_count: int, next_prekey_id: int) -> tuple[dict[str, Any], int]:
        """Build a PREKEYS_UPLOAD body that brings the gateway back to PREKEY_TARGET one-time
        prekeys, with a fresh signed prekey when none exists. Return it and the next id."""
        body: dict[str, Any] = {}
        store = self.store
        with store.transaction():
            signed = store.load_signed_prekey(SIGNED_PREKEY_ID)
            if signed is None:
                signed = generate_signed_prekey(
                    store.identity_key_pair(), SIGNED_PREKEY_ID, self._rng, int(time.time() * 1000)
                )
                store.store_signed_prekey(signed)
            body["signed_prekey"] = {
                "id": signed.signed_prekey_id,
                "public_key": b64encode(signed.key_pair.public_key),
                "signature": b64encode(signed.signature),
                "timestamp_ms": signed.timestamp_ms,
            }
            count = max(0, PREKEY_TARGET - gateway_count)
            prekeys = generate_prekeys(next_prekey_id, count, self._rng) if count else []
            for prekey in prekeys:
                store.store_prekey(prekey)
        body["prekeys"] = [
            {"id": prekey.prekey_id, "public_key": b64encode(prekey.key_pair.public_key)}
            for prekey in prekeys
        ]
        return body, next_prekey_id + count

    def has_session(self, user: str, device_id: int) -> bool:
        return SessionCipher(self.store, Address(user, device_id)).has_session()

    def start_session(self, user: str, bundle: dict[str, Any]) -> int:
        """Run X3DH with one device's bundle from a PREKEY_CLAIM result; return its device id."""
        prekey = bundle.get("prekey")
        signed = bundle["signed_prekey"]
        device_id = int(bundle["device"])
        built = PreKeyBundle(
            registration_id=int(bundle["registration_id"]),
            device_id=device_id,
            prekey_id=None if prekey is None else int(prekey["id"]),
            prekey_public=None if prekey is None else b64decode(prekey["public_key"], "prekey"),
            signed_prekey_id=int(signed["id"]),
            signed_prekey_public=b64decode(signed["public_key"], "signed_prekey"),
            signed_prekey_signature=b64decode(signed["signature"], "signature"),
            identity_key=b64decode(bundle["identity_key"], "identity_key"),
        )
        SessionBuilder(self.store, Address(user, device_id), self._rng).process_prekey_bundle(built)
        return device_id

    def forget_device(self, user: str, device_id: int) -> None:
        self.store.delete_session(Address(user, device_id))

    def session_devices(self, user: str) -> list[int]:
        return self.store.list_device_ids(user)

    @staticmethod
    def encode(content: Content) -> bytes:
        """Return the plaintext bytes that `encrypt` encrypts for `content`."""
        return json.dumps({"text": content.text, "to": content.to}).encode()

    def encrypt(self, user: str, device_id: int, content: Content) -> CiphertextMessage:
        plaintext = self.encode(content)
        return SessionCipher(self.store, Address(user, device_id), self._rng).encrypt(plaintext)

    def decrypt(self, user: str, device_id: int, message_type: int, body: bytes) -> Content:
        cipher = SessionCipher(self.store, Address(user, device_id), self._rng)
        plaintext = cipher.decrypt(CiphertextMessage(message_type, body))
        try:
            value = json.loads(plaintext)
            return Content(str(value["text"]), str(value["to"]))
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidMessageError(
                f"message from {user}/{device_id} decrypted to content this client cannot read"
            ) from error

    def remote_identity(self, user: str) -> bytes | None:
        for device_id in self.store.list_device_ids(user):
            key = self.store.load_identity(Address(user, device_id))
            if key is not None:
                return key
        return None

    def safety_number(self, local_user: str, remote_user: str) -> str | None:
        """Return the formatted safety number with `remote_user`, once a session exists."""
        remote = self.remote_identity(remote_user)
        if remote is None:
            return None
        digits = safety_number(local_user, self.identity_key, remote_user, remote)
        return format_safety_number(digits)
