"""A minimal reader of Signal wire messages, for tests that look inside ciphertexts.

Independent of the Rust decoder on purpose, so that tests can check what it reads.
"""

from __future__ import annotations

from cipherpost import _core
from cipherpost.crypto import CiphertextMessage

PREKEY = _core.PREKEY_MESSAGE_TYPE


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def protobuf_fields(data: bytes) -> dict[int, bytes | int]:
    """Decode the top-level fields of a protobuf message (varint and length-delimited only)."""
    fields: dict[int, bytes | int] = {}
    offset = 0
    while offset < len(data):
        key, offset = read_varint(data, offset)
        number, wire_type = key >> 3, key & 0x07
        if wire_type == 0:
            fields[number], offset = read_varint(data, offset)
        elif wire_type == 2:
            length, offset = read_varint(data, offset)
            fields[number] = data[offset : offset + length]
            offset += length
        else:
            raise ValueError(f"wire type {wire_type} does not occur in Signal messages")
    return fields


SIGNAL_MAC_LENGTH = 8


def ratchet_key(message: CiphertextMessage) -> bytes:
    """Return the sender's ratchet public key of a signal or prekey message."""
    body = message.body
    if message.type == PREKEY:
        inner = protobuf_fields(body[1:])[4]
        assert isinstance(inner, bytes)
        body = inner
    # Version byte, protobuf, then the 8-byte truncated MAC.
    key = protobuf_fields(body[1:-SIGNAL_MAC_LENGTH])[1]
    assert isinstance(key, bytes)
    return key
