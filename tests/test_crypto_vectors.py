"""Known-answer tests of the Python API against the libsignal v3 vectors in tests/vectors/."""

from __future__ import annotations

import pytest
from cipherpost.crypto import (
    KeyPair,
    Rng,
    format_safety_number,
    identity_digits,
    safety_number,
    scannable_fingerprint,
    scannable_fingerprints_match,
    xeddsa_verify,
)
from vectors.signal_v3 import load

VECTORS = load()


def flip_bit(data: bytes, index: int, bit: int = 0) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 1 << bit
    return bytes(changed)


# --- X25519 -----------------------------------------------------------------------------------


def test_x25519_agreement_vector() -> None:
    vector = VECTORS["x25519_agreement"]
    alice = KeyPair.from_private(vector["alice_private"])
    bob = KeyPair.from_private(vector["bob_private"])

    assert alice.public_key == b"\x05" + vector["alice_public"]
    assert bob.public_key == b"\x05" + vector["bob_public"]
    assert alice.agree(vector["bob_public"]) == vector["shared"]
    assert bob.agree(b"\x05" + vector["alice_public"]) == vector["shared"]


# --- XEdDSA -----------------------------------------------------------------------------------


def test_xeddsa_vector_verifies() -> None:
    vector = VECTORS["xeddsa_signature"]
    public_u = vector["identity_public_u"]

    assert xeddsa_verify(public_u, vector["message"], vector["signature"])
    assert xeddsa_verify(b"\x05" + public_u, vector["message"], vector["signature"])


def test_xeddsa_vector_public_key_matches() -> None:
    vector = VECTORS["xeddsa_signature"]
    key_pair = KeyPair.from_private(vector["identity_private"])
    assert key_pair.public_key == b"\x05" + vector["identity_public_u"]


@pytest.mark.parametrize("index", [0, 31, 32, 62, 63])
def test_xeddsa_rejects_changed_signature(index: int) -> None:
    vector = VECTORS["xeddsa_signature"]
    signature = flip_bit(vector["signature"], index)
    assert not xeddsa_verify(vector["identity_public_u"], vector["message"], signature)


def test_xeddsa_rejects_sign_bit_flip() -> None:
    # libsignal carries the Edwards sign bit in the top bit of byte 63.
    vector = VECTORS["xeddsa_signature"]
    signature = flip_bit(vector["signature"], 63, bit=7)
    assert not xeddsa_verify(vector["identity_public_u"], vector["message"], signature)


def test_xeddsa_rejects_changed_message() -> None:
    vector = VECTORS["xeddsa_signature"]
    message = flip_bit(vector["message"], 5)
    assert not xeddsa_verify(vector["identity_public_u"], message, vector["signature"])


def test_xeddsa_own_signatures_verify() -> None:
    # About half of all keys have an Edwards sign bit of 1; 32 keys make both cases near-certain.
    rng = Rng(b"xeddsa-own-signatures".ljust(32, b"\0"))
    for _ in range(32):
        key_pair = KeyPair.generate(rng)
        message = rng.random_bytes(33)
        signature = key_pair.sign(message, rng)
        assert len(signature) == 64
        assert xeddsa_verify(key_pair.public_key, message, signature)


# --- safety numbers ---------------------------------------------------------------------------


def test_safety_number_vector() -> None:
    vector = VECTORS["safety_number"]
    digits = safety_number(
        vector["local_id"],
        vector["local_identity_key"],
        vector["remote_id"],
        vector["remote_identity_key"],
    )
    assert digits == vector["display"]


def test_safety_number_same_for_both_sides() -> None:
    vector = VECTORS["safety_number"]
    digits = safety_number(
        vector["remote_id"],
        vector["remote_identity_key"],
        vector["local_id"],
        vector["local_identity_key"],
    )
    assert digits == vector["display"]


def test_identity_digits_vector_halves() -> None:
    vector = VECTORS["safety_number"]
    assert identity_digits(vector["local_id"], vector["local_identity_key"]) == vector["local_half"]
    assert (
        identity_digits(vector["remote_id"], vector["remote_identity_key"]) == vector["remote_half"]
    )


def test_format_safety_number_groups() -> None:
    formatted = format_safety_number(VECTORS["safety_number"]["display"])
    groups = formatted.split(" ")
    assert len(groups) == 12
    assert all(len(group) == 5 for group in groups)
    assert "".join(groups) == VECTORS["safety_number"]["display"]


@pytest.mark.parametrize("bad", ["", "1234", "12345 67890", "abcde"])
def test_format_safety_number_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="safety number"):
        format_safety_number(bad)


def test_safety_number_rejects_raw_key() -> None:
    vector = VECTORS["safety_number"]
    with pytest.raises(ValueError, match="33-byte"):
        safety_number(
            vector["local_id"],
            vector["local_identity_key"][1:],
            vector["remote_id"],
            vector["remote_identity_key"],
        )


def test_scannable_fingerprints_match_across_sides() -> None:
    vector = VECTORS["safety_number"]
    ours = scannable_fingerprint(
        vector["local_id"],
        vector["local_identity_key"],
        vector["remote_id"],
        vector["remote_identity_key"],
    )
    theirs = scannable_fingerprint(
        vector["remote_id"],
        vector["remote_identity_key"],
        vector["local_id"],
        vector["local_identity_key"],
    )
    assert scannable_fingerprints_match(ours, theirs)
    assert not scannable_fingerprints_match(ours, ours)


def test_scannable_fingerprint_detects_other_key() -> None:
    vector = VECTORS["safety_number"]
    ours = scannable_fingerprint(
        vector["local_id"],
        vector["local_identity_key"],
        vector["remote_id"],
        vector["remote_identity_key"],
    )
    swapped_key = KeyPair.generate(Rng()).public_key
    theirs = scannable_fingerprint(
        vector["remote_id"], swapped_key, vector["local_id"], vector["local_identity_key"]
    )
    assert not scannable_fingerprints_match(ours, theirs)
