"""The media cipher through its Python API: vector, round trips, tampering, sidecar, ranges."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
from cipherpost import _core
from cipherpost.exceptions import (
    InvalidMediaArgumentError,
    InvalidMediaKeyError,
    MalformedMediaError,
    MediaEncHashMismatchError,
    MediaIOError,
    MediaMacError,
    MediaPlaintextHashMismatchError,
    MediaSidecarMismatchError,
    UnknownMediaTypeError,
)
from cipherpost.media import (
    MEDIA_TYPES,
    decrypt_bytes,
    decrypt_file,
    decrypt_range,
    derive_media_keys,
    encrypt_bytes,
    encrypt_file,
)
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

VECTORS = json.loads((Path(__file__).parent / "vectors" / "media-whatsapp.json").read_text())
KEY = bytes(range(32))
SIDECAR_STEP = 65_536
SIDECAR_WINDOW = 65_552


def pattern(length: int, seed: int = 0) -> bytes:
    return bytes((index * 31 + seed + index // 251) % 256 for index in range(length))


def reference_encrypt(media_type: str, key: bytes, plaintext: bytes) -> bytes:
    """Encrypt with pyca/cryptography and the standard library, as an independent check."""
    info = MEDIA_TYPES[media_type].encode()
    prk = hmac.new(b"\x00" * 32, key, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, 5):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    iv, cipher_key, mac_key = okm[:16], okm[16:48], okm[48:80]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:10]
    return ciphertext + mac


def reference_sidecar(mac_key: bytes, iv: bytes, blob: bytes) -> bytes:
    stream = iv + blob
    return b"".join(
        hmac.new(mac_key, stream[start : start + SIDECAR_WINDOW], hashlib.sha256).digest()[:10]
        for start in range(0, len(stream), SIDECAR_STEP)
    )


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda vector: vector["media_type"])
def test_vector_file_round_trip(vector: dict[str, str], tmp_path: Path) -> None:
    media_key = bytes.fromhex(vector["media_key"])
    iv, cipher_key, mac_key, ref_key = derive_media_keys(vector["media_type"], media_key)
    assert iv.hex() == vector["iv"]
    assert cipher_key.hex() == vector["cipher_key"]
    assert mac_key.hex() == vector["mac_key"]
    assert ref_key.hex() == vector["ref_key"]

    plain = tmp_path / "plain"
    plain.write_bytes(bytes.fromhex(vector["plaintext"]))
    result = encrypt_file(plain, tmp_path / "blob", vector["media_type"], media_key)
    assert (tmp_path / "blob").read_bytes().hex() == vector["blob"]
    assert result.mac.hex() == vector["mac"]
    assert result.file_sha256.hex() == vector["file_sha256"]
    assert result.file_enc_sha256.hex() == vector["file_enc_sha256"]

    file_sha256, file_length = decrypt_file(
        tmp_path / "blob",
        tmp_path / "out",
        vector["media_type"],
        media_key,
        bytes.fromhex(vector["file_enc_sha256"]),
        bytes.fromhex(vector["file_sha256"]),
    )
    assert (tmp_path / "out").read_bytes() == plain.read_bytes()
    assert file_sha256.hex() == vector["file_sha256"]
    assert file_length == plain.stat().st_size


def test_info_strings_cover_published_labels() -> None:
    for name, info in VECTORS["info_strings"].items():
        assert MEDIA_TYPES[name] == info
    assert MEDIA_TYPES["sticker"] == "WhatsApp Image Keys"
    assert MEDIA_TYPES["history"] == "WhatsApp History Keys"
    assert MEDIA_TYPES["app-state"] == "WhatsApp App State Keys"
    assert MEDIA_TYPES["thumbnail-video"] == "WhatsApp Video Thumbnail Keys"


SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 255, 4096, 65_535, 65_536, 65_537, 200_000]
CHUNK_SIZES = [16, 48, 4096, 65_536, _core.MEDIA_DEFAULT_CHUNK_SIZE]


@settings(max_examples=60, deadline=None)
@given(
    size=st.one_of(st.sampled_from(SIZES), st.integers(min_value=0, max_value=70_000)),
    chunk_size=st.sampled_from(CHUNK_SIZES),
    media_type=st.sampled_from(sorted(MEDIA_TYPES)),
    seed=st.integers(min_value=0, max_value=255),
)
def test_round_trip_matches_reference(
    tmp_path_factory: pytest.TempPathFactory, size: int, chunk_size: int, media_type: str, seed: int
) -> None:
    directory = tmp_path_factory.mktemp("roundtrip")
    plaintext = pattern(size, seed)
    (directory / "plain").write_bytes(plaintext)
    result = encrypt_file(
        directory / "plain",
        directory / "blob",
        media_type,
        KEY,
        sidecar=True,
        chunk_size=chunk_size,
    )
    blob = (directory / "blob").read_bytes()
    assert blob == reference_encrypt(media_type, KEY, plaintext)
    assert result.file_sha256 == hashlib.sha256(plaintext).digest()
    assert result.file_enc_sha256 == hashlib.sha256(blob).digest()
    assert result.file_length == size
    assert result.enc_length == len(blob)

    iv, _, mac_key, _ = derive_media_keys(media_type, KEY)
    assert result.sidecar == reference_sidecar(mac_key, iv, blob)

    decrypt_file(
        directory / "blob",
        directory / "out",
        media_type,
        KEY,
        result.file_enc_sha256,
        result.file_sha256,
        chunk_size=chunk_size,
    )
    assert (directory / "out").read_bytes() == plaintext


def test_block_aligned_plaintext_gets_full_padding_block() -> None:
    blob, result = encrypt_bytes(b"A" * 32, "image", KEY)
    assert len(blob) == 48 + 10
    assert result.enc_length == 58


def _listing(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


@pytest.fixture
def encrypted(tmp_path: Path) -> tuple[Path, bytes, bytes, bytes]:
    plaintext = pattern(100_000)
    (tmp_path / "plain").write_bytes(plaintext)
    result = encrypt_file(tmp_path / "plain", tmp_path / "blob", "video", KEY)
    return tmp_path, plaintext, result.file_enc_sha256, result.file_sha256


def _tamper(path: Path, position: int) -> bytes:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    return hashlib.sha256(data).digest()


def test_changed_blob_fails_hash_and_writes_nothing(
    encrypted: tuple[Path, bytes, bytes, bytes],
) -> None:
    directory, _, enc_sha256, sha256 = encrypted
    before = _listing(directory)
    _tamper(directory / "blob", 1000)
    with pytest.raises(MediaEncHashMismatchError):
        decrypt_file(directory / "blob", directory / "out", "video", KEY, enc_sha256, sha256)
    assert _listing(directory) == before


@pytest.mark.parametrize(
    "position", [0, 50_000, -11, -1], ids=["first", "middle", "last-cipher", "mac"]
)
def test_changed_ciphertext_or_mac_fails_mac(
    encrypted: tuple[Path, bytes, bytes, bytes], position: int
) -> None:
    directory, _, _, sha256 = encrypted
    before = _listing(directory)
    size = (directory / "blob").stat().st_size
    new_enc_sha256 = _tamper(directory / "blob", position % size)
    with pytest.raises(MediaMacError):
        decrypt_file(directory / "blob", directory / "out", "video", KEY, new_enc_sha256, sha256)
    assert _listing(directory) == before


def test_wrong_plaintext_hash_writes_nothing(encrypted: tuple[Path, bytes, bytes, bytes]) -> None:
    directory, _, enc_sha256, _ = encrypted
    before = _listing(directory)
    with pytest.raises(MediaPlaintextHashMismatchError):
        decrypt_file(directory / "blob", directory / "out", "video", KEY, enc_sha256, b"\x00" * 32)
    assert _listing(directory) == before


@pytest.mark.parametrize("wrong_type", ["image", "audio", "document", "history", "app-state"])
def test_wrong_media_type_fails_mac(
    encrypted: tuple[Path, bytes, bytes, bytes], wrong_type: str
) -> None:
    directory, _, enc_sha256, sha256 = encrypted
    before = _listing(directory)
    with pytest.raises(MediaMacError, match="wrong media key or media type"):
        decrypt_file(directory / "blob", directory / "out", wrong_type, KEY, enc_sha256, sha256)
    assert _listing(directory) == before


def test_failed_decrypt_keeps_existing_output(encrypted: tuple[Path, bytes, bytes, bytes]) -> None:
    directory, _, enc_sha256, sha256 = encrypted
    (directory / "out").write_bytes(b"previous")
    with pytest.raises(MediaMacError):
        decrypt_file(directory / "blob", directory / "out", "image", KEY, enc_sha256, sha256)
    assert (directory / "out").read_bytes() == b"previous"


def test_truncated_blob_with_matching_hash_is_malformed(tmp_path: Path) -> None:
    blob = b"\x01" * 37
    (tmp_path / "blob").write_bytes(blob)
    with pytest.raises(MalformedMediaError):
        decrypt_file(
            tmp_path / "blob", tmp_path / "out", "image", KEY, hashlib.sha256(blob).digest()
        )
    assert not (tmp_path / "out").exists()


def test_invalid_arguments_are_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(InvalidMediaKeyError, match="32 bytes, got 5"):
        encrypt_file(tmp_path / "plain", tmp_path / "blob", "image", b"short")
    with pytest.raises(UnknownMediaTypeError, match="picture"):
        encrypt_file(tmp_path / "plain", tmp_path / "blob", "picture", KEY)
    with pytest.raises(InvalidMediaArgumentError, match="chunk size 100"):
        encrypt_file(tmp_path / "plain", tmp_path / "blob", "image", KEY, chunk_size=100)
    with pytest.raises(InvalidMediaArgumentError, match="file_enc_sha256 must be a 32-byte"):
        decrypt_bytes(b"x" * 26, "image", KEY, b"short")
    with pytest.raises(MediaIOError, match="missing"):
        encrypt_file(tmp_path / "missing", tmp_path / "blob", "image", KEY)
    assert _listing(tmp_path) == {"plain"}


def test_range_decrypt_checks_sidecar(tmp_path: Path) -> None:
    plaintext = pattern(5 * 65_536 + 77)
    (tmp_path / "plain").write_bytes(plaintext)
    result = encrypt_file(tmp_path / "plain", tmp_path / "blob", "video", KEY)
    assert result.sidecar is not None
    for offset, length in [(0, 10), (65_530, 20), (131_072, 65_536), (len(plaintext) - 3, 50)]:
        got = decrypt_range(
            tmp_path / "blob", "video", KEY, result.file_length, result.sidecar, offset, length
        )
        assert got == plaintext[offset : offset + length]

    _tamper(tmp_path / "blob", 200_000)
    with pytest.raises(MediaSidecarMismatchError):
        decrypt_range(
            tmp_path / "blob", "video", KEY, result.file_length, result.sidecar, 199_990, 30
        )
    with pytest.raises(MediaSidecarMismatchError):
        decrypt_range(tmp_path / "blob", "audio", KEY, result.file_length, result.sidecar, 0, 30)


def test_large_file_round_trip(tmp_path: Path) -> None:
    plaintext = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "plain").write_bytes(plaintext)
    result = encrypt_file(tmp_path / "plain", tmp_path / "blob", "document")
    decrypt_file(
        tmp_path / "blob",
        tmp_path / "out",
        "document",
        result.media_key,
        result.file_enc_sha256,
        result.file_sha256,
    )
    assert (tmp_path / "out").read_bytes() == plaintext
    assert "media_key" not in repr(result)
