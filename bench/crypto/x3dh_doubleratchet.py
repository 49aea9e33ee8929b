"""Adapter for the pure-Python `x3dh` 1.3 and `doubleratchet` 1.3 packages (async APIs).

Both packages leave the cryptographic choices to subclasses. This module picks the ones their
documentation recommends and that match Signal's: Curve25519 identity keys, SHA-256, HKDF root
chain, HMAC message chain, AES-256-CBC with HMAC-SHA256 as the AEAD.
"""

from __future__ import annotations

from typing import Any

import doubleratchet
import x3dh
from doubleratchet.recommended import (
    HashFunction,
    aead_aes_hmac,
    diffie_hellman_ratchet_curve25519,
    kdf_hkdf,
    kdf_separate_hmacs,
)

INFO = b"cipherpost bench"
# Skipped message keys kept by the double ratchet, as in libsignal v3.
MAX_SKIPPED_MESSAGE_KEYS = 2000
MESSAGE_CHAIN_CONSTANT = b"\x02\x01"


class State(x3dh.BaseState):
    @staticmethod
    def _encode_public_key(key_format: x3dh.IdentityKeyFormat, pub: bytes) -> bytes:
        return b"\x05" + pub


class AEAD(aead_aes_hmac.AEAD):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256

    @staticmethod
    def _get_info() -> bytes:
        return INFO + b" message keys"


class RootChainKDF(kdf_hkdf.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256

    @staticmethod
    def _get_info() -> bytes:
        return INFO + b" root chain"


class MessageChainKDF(kdf_separate_hmacs.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256


class DoubleRatchet(doubleratchet.DoubleRatchet):
    @staticmethod
    def _build_associated_data(associated_data: bytes, header: doubleratchet.Header) -> bytes:
        # Length-prefixed associated data, then the header fields in fixed-width form.
        return (
            len(associated_data).to_bytes(4, "big")
            + associated_data
            + header.ratchet_pub
            + header.previous_sending_chain_length.to_bytes(8, "big")
            + header.sending_chain_length.to_bytes(8, "big")
        )


RATCHET_PARAMETERS: dict[str, Any] = {
    "diffie_hellman_ratchet_class": diffie_hellman_ratchet_curve25519.DiffieHellmanRatchet,
    "root_chain_kdf": RootChainKDF,
    "message_chain_kdf": MessageChainKDF,
    "message_chain_constant": MESSAGE_CHAIN_CONSTANT,
    "dos_protection_threshold": MAX_SKIPPED_MESSAGE_KEYS,
    "max_num_skipped_message_keys": MAX_SKIPPED_MESSAGE_KEYS,
    "aead": AEAD,
}


def create_state() -> State:
    """Return an X3DH state with a fresh identity and signed prekey and no one-time prekeys."""
    return State.create(x3dh.IdentityKeyFormat.CURVE_25519, x3dh.HashFunction.SHA_256, INFO)


async def setup(
    alice: State, bob: State, bundle: x3dh.Bundle, plaintext: bytes
) -> tuple[doubleratchet.DoubleRatchet, doubleratchet.DoubleRatchet]:
    """Run one session setup: X3DH both ways (with signature check) and the first message."""
    secret, associated_data, header = await alice.get_shared_secret_active(bundle)
    alice_ratchet, message = await DoubleRatchet.encrypt_initial_message(
        shared_secret=secret,
        recipient_ratchet_pub=bundle.signed_pre_key,
        message=plaintext,
        associated_data=associated_data,
        **RATCHET_PARAMETERS,
    )
    bob_secret, bob_associated_data, signed_pre_key = await bob.get_shared_secret_passive(header)
    bob_ratchet, decrypted = await DoubleRatchet.decrypt_initial_message(
        shared_secret=bob_secret,
        own_ratchet_priv=signed_pre_key.priv,
        message=message,
        associated_data=bob_associated_data,
        **RATCHET_PARAMETERS,
    )
    assert decrypted == plaintext
    return alice_ratchet, bob_ratchet


async def transfer(
    sender: doubleratchet.DoubleRatchet, receiver: doubleratchet.DoubleRatchet, plaintext: bytes
) -> None:
    message = await sender.encrypt_message(plaintext, b"")
    await receiver.decrypt_message(message, b"")
