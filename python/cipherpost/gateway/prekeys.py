"""Checks on prekey uploads: counts, key sizes, the signed prekey's signature and timestamp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cipherpost import _core
from cipherpost.exceptions import GatewayError
from cipherpost.protocol.frames import ErrorCode, b64decode, require_int
from cipherpost.storage.interfaces import OneTimePreKey, SignedPreKey

# One-time prekeys per upload, as Signal-Server allows.
MAX_PREKEYS_PER_UPLOAD = 100

# Below this many one-time prekeys the gateway sends a PREKEYS_LOW notice.
PREKEY_LOW_WATER = 20

# A signed prekey may be stamped up to 24 hours in the future, to allow for clock skew.
MAX_SIGNED_PREKEY_SKEW_MS = 24 * 60 * 60 * 1000

PUBLIC_KEY_SIZE = 33  # type byte 0x05 and a 32-byte Curve25519 key
SIGNATURE_SIZE = 64
MAX_KEY_ID = 0xFFFFFF  # prekey ids are 24-bit in the Signal protocol


@dataclass(frozen=True, slots=True)
class SignedUpload:
    record: SignedPreKey

    def verify(self, identity_key: bytes) -> None:
        """Raise GatewayError unless the identity key signed the prekey (XEdDSA)."""
        # Signal signs the 33-byte serialized public key of the signed prekey.
        if not _core.xeddsa_verify(identity_key, self.record.public_key, self.record.signature):
            raise GatewayError(
                ErrorCode.BAD_REQUEST,
                f"signature of signed prekey {self.record.key_id} does not verify under the "
                "device's identity key",
            )


def _public_key(value: Any, field: str) -> bytes:
    key = b64decode(value, field)
    if len(key) != PUBLIC_KEY_SIZE or key[0] != 0x05:
        raise GatewayError(
            ErrorCode.BAD_REQUEST,
            f"{field} must be {PUBLIC_KEY_SIZE} bytes starting with 0x05, got {len(key)} bytes",
        )
    return key


def parse_upload(
    body: dict[str, Any], now_ms: int
) -> tuple[SignedUpload | None, list[OneTimePreKey]]:
    """Validate a PREKEYS_UPLOAD body; raise GatewayError naming the bad field."""
    signed = None
    signed_body = body.get("signed_prekey")
    if signed_body is not None:
        if not isinstance(signed_body, dict):
            raise GatewayError(ErrorCode.BAD_REQUEST, "signed_prekey must be an object")
        timestamp = require_int(signed_body, "timestamp_ms", 0, 2**63 - 1)
        if timestamp > now_ms + MAX_SIGNED_PREKEY_SKEW_MS:
            raise GatewayError(
                ErrorCode.BAD_REQUEST,
                f"signed prekey timestamp {timestamp} is more than 24 hours in the future "
                f"(gateway time {now_ms}); fix the device clock",
            )
        signature = b64decode(signed_body.get("signature"), "signed_prekey.signature")
        if len(signature) != SIGNATURE_SIZE:
            raise GatewayError(
                ErrorCode.BAD_REQUEST,
                f"signed_prekey.signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}",
            )
        signed = SignedUpload(
            SignedPreKey(
                require_int(signed_body, "id", 0, MAX_KEY_ID),
                _public_key(signed_body.get("public_key"), "signed_prekey.public_key"),
                signature,
                timestamp,
            )
        )

    prekeys_body = body.get("prekeys", [])
    if not isinstance(prekeys_body, list):
        raise GatewayError(ErrorCode.BAD_REQUEST, "prekeys must be a list")
    if len(prekeys_body) > MAX_PREKEYS_PER_UPLOAD:
        raise GatewayError(
            ErrorCode.TOO_LARGE,
            f"upload has {len(prekeys_body)} one-time prekeys; send at most "
            f"{MAX_PREKEYS_PER_UPLOAD} per request",
        )
    one_time = []
    for entry in prekeys_body:
        if not isinstance(entry, dict):
            raise GatewayError(ErrorCode.BAD_REQUEST, "each prekey must be an object")
        one_time.append(
            OneTimePreKey(
                require_int(entry, "id", 0, MAX_KEY_ID),
                _public_key(entry.get("public_key"), "prekeys[].public_key"),
            )
        )
    return signed, one_time
