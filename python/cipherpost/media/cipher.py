"""Streaming media encryption in the WhatsApp format, over files.

The work happens in the Rust core (`cipherpost._core`), which releases the GIL, keeps memory
constant whatever the file size, and never leaves plaintext at a destination unless every check
passed. Checks on decryption run in this order: SHA-256 of the blob (`file_enc_sha256`), the
MAC, the padding, SHA-256 of the plaintext (`file_sha256`, when given).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cipherpost import _core

MEDIA_KEY_LENGTH = 32
SHA256_LENGTH = 32
#: Media type names accepted everywhere a `media_type` is asked for, with their HKDF info.
MEDIA_TYPES: dict[str, str] = dict(_core.MEDIA_TYPES)
#: Types whose downloads WhatsApp clients play while streaming; they get a sidecar by default.
STREAMABLE_TYPES = frozenset({"video", "audio", "gif", "ptt", "ptv"})

StrPath = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class EncryptedMedia:
    """The result of encrypting one file: what a media message must carry to decrypt it."""

    media_key: bytes
    file_sha256: bytes
    file_enc_sha256: bytes
    file_length: int
    enc_length: int
    mac: bytes
    sidecar: bytes | None

    def __repr__(self) -> str:
        # The media key is secret; show only public values.
        return (
            f"EncryptedMedia(file_enc_sha256={self.file_enc_sha256.hex()}, "
            f"file_length={self.file_length}, enc_length={self.enc_length})"
        )


def _from_summary(summary: dict[str, Any]) -> EncryptedMedia:
    return EncryptedMedia(
        media_key=summary["media_key"],
        file_sha256=summary["file_sha256"],
        file_enc_sha256=summary["file_enc_sha256"],
        file_length=summary["file_length"],
        enc_length=summary["enc_length"],
        mac=summary["mac"],
        sidecar=summary["sidecar"],
    )


def generate_media_key() -> bytes:
    """Return a fresh 32-byte media key from the operating system's randomness."""
    return _core.media_generate_key()


def derive_media_keys(media_type: str, media_key: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Expand a media key: return (IV, cipher key, MAC key, ref key)."""
    return _core.media_derive_keys(media_type, media_key)


def encrypt_file(
    input_path: StrPath,
    output_path: StrPath,
    media_type: str,
    media_key: bytes | None = None,
    *,
    sidecar: bool | None = None,
    chunk_size: int = _core.MEDIA_DEFAULT_CHUNK_SIZE,
) -> EncryptedMedia:
    """Encrypt `input_path` to `output_path` (ciphertext ‖ MAC) in one pass.

    A fresh media key is drawn when `media_key` is None. `sidecar` defaults to True for the
    streamable types. The output appears only when complete.
    """
    if sidecar is None:
        sidecar = media_type.lower() in STREAMABLE_TYPES
    summary = _core.media_encrypt_file(
        media_type,
        media_key,
        os.fspath(input_path),
        os.fspath(output_path),
        sidecar=sidecar,
        chunk_size=chunk_size,
    )
    return _from_summary(summary)


def decrypt_file(
    input_path: StrPath,
    output_path: StrPath,
    media_type: str,
    media_key: bytes,
    file_enc_sha256: bytes,
    file_sha256: bytes | None = None,
    *,
    chunk_size: int = _core.MEDIA_DEFAULT_CHUNK_SIZE,
) -> tuple[bytes, int]:
    """Decrypt and verify `input_path` into `output_path`; return (file_sha256, file_length).

    Raises a `MediaVerificationError` subclass when a check fails; `output_path` is then left
    as it was and no temporary file remains.
    """
    return _core.media_decrypt_file(
        media_type,
        media_key,
        os.fspath(input_path),
        os.fspath(output_path),
        file_enc_sha256,
        file_sha256,
        chunk_size=chunk_size,
    )


def encrypt_bytes(
    plaintext: bytes, media_type: str, media_key: bytes | None = None, *, sidecar: bool = False
) -> tuple[bytes, EncryptedMedia]:
    """Encrypt a buffer held in memory (thumbnails, tests); return (blob, result)."""
    blob, summary = _core.media_encrypt_bytes(media_type, media_key, plaintext, sidecar=sidecar)
    return blob, _from_summary(summary)


def decrypt_bytes(
    blob: bytes,
    media_type: str,
    media_key: bytes,
    file_enc_sha256: bytes,
    file_sha256: bytes | None = None,
) -> bytes:
    """Decrypt and verify a blob held in memory."""
    return _core.media_decrypt_bytes(media_type, media_key, blob, file_enc_sha256, file_sha256)


def decrypt_range(
    input_path: StrPath,
    media_type: str,
    media_key: bytes,
    file_length: int,
    sidecar: bytes,
    offset: int,
    length: int,
) -> bytes:
    """Decrypt plaintext bytes `offset .. offset + length` of an encrypted file.

    Every sidecar window that covers the bytes used is checked first, so the result is
    authentic even though the whole-file MAC is not checked.
    """
    return _core.media_decrypt_range_file(
        media_type, media_key, os.fspath(input_path), file_length, sidecar, offset, length
    )
