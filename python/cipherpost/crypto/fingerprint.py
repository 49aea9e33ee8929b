"""Safety numbers (Signal's numeric fingerprint) and XEdDSA signature checks.

Two users compare safety numbers to confirm that no server swapped their identity keys. Each
party's half is 30 digits from 5,200 iterations of SHA-512 over a version, the identity key and
the user id. The smaller of the two 30-digit halves comes first, so both sides see the same 60
digits.
"""

from __future__ import annotations

from cipherpost import _core
from cipherpost.exceptions import InvalidCryptoArgumentError

# Iterations of SHA-512 per half, as libsignal's NumericFingerprintGenerator uses for display.
FINGERPRINT_ITERATIONS = 5200

SAFETY_NUMBER_DIGITS = 60
SAFETY_NUMBER_GROUP = 5
SERIALIZED_KEY_LENGTH = 33
RAW_KEY_LENGTH = 32
DJB_KEY_TYPE = 0x05

xeddsa_verify = _core.xeddsa_verify
scannable_fingerprints_match = _core.scannable_fingerprints_match


def _check_identity_key(identity_key: bytes, label: str) -> None:
    if len(identity_key) != SERIALIZED_KEY_LENGTH or identity_key[0] != DJB_KEY_TYPE:
        raise InvalidCryptoArgumentError(
            f"{label} must be the 33-byte serialized form (0x05 then 32 key bytes), got "
            f"{len(identity_key)} bytes starting {identity_key[:1].hex() or 'with nothing'}"
        )


def safety_number(
    local_id: str, local_identity_key: bytes, remote_id: str, remote_identity_key: bytes
) -> str:
    """Return the 60-digit safety number of two users, with no spaces.

    `local_id` and `remote_id` are the users' stable identifiers (encoded as UTF-8); identity
    keys are in their 33-byte serialized form. Both users get the same digits.
    """
    _check_identity_key(local_identity_key, "local identity key")
    _check_identity_key(remote_identity_key, "remote identity key")
    return _core.safety_number(
        local_id.encode(),
        local_identity_key,
        remote_id.encode(),
        remote_identity_key,
        FINGERPRINT_ITERATIONS,
    )


def identity_digits(user_id: str, identity_key: bytes) -> str:
    """Return one party's 30-digit half of any safety number that includes it."""
    _check_identity_key(identity_key, "identity key")
    # With the same party on both sides the two sorted halves are equal, so either is ours.
    digits = _core.safety_number(
        user_id.encode(), identity_key, user_id.encode(), identity_key, FINGERPRINT_ITERATIONS
    )
    return digits[: SAFETY_NUMBER_DIGITS // 2]


def format_safety_number(digits: str) -> str:
    """Split a safety number (or one 30-digit half) into space-separated groups of 5 digits."""
    if not digits.isdigit() or len(digits) % SAFETY_NUMBER_GROUP:
        raise InvalidCryptoArgumentError(
            f"safety number {digits!r} must be decimal digits in groups of "
            f"{SAFETY_NUMBER_GROUP}; pass the output of safety_number()"
        )
    return " ".join(
        digits[start : start + SAFETY_NUMBER_GROUP]
        for start in range(0, len(digits), SAFETY_NUMBER_GROUP)
    )


def scannable_fingerprint(
    local_id: str, local_identity_key: bytes, remote_id: str, remote_identity_key: bytes
) -> bytes:
    """Return the QR-code payload (protobuf `CombinedFingerprints`, version 0) for two users."""
    _check_identity_key(local_identity_key, "local identity key")
    _check_identity_key(remote_identity_key, "remote identity key")
    return _core.scannable_fingerprint(
        local_id.encode(),
        local_identity_key,
        remote_id.encode(),
        remote_identity_key,
        FINGERPRINT_ITERATIONS,
    )
