"""`cipherpost media encrypt` and `cipherpost media decrypt` as a user runs them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest


def cipherpost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cipherpost", "media", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def encrypted(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    (tmp_path / "in.bin").write_bytes(b"voice note " * 5000)
    result = cipherpost(
        "encrypt", "--type", "audio", str(tmp_path / "in.bin"), str(tmp_path / "blob")
    )
    assert result.returncode == 0, result.stderr
    return tmp_path, json.loads(result.stdout)


def test_encrypt_prints_keys_and_hashes(encrypted: tuple[Path, dict[str, object]]) -> None:
    directory, report = encrypted
    plaintext = (directory / "in.bin").read_bytes()
    blob = (directory / "blob").read_bytes()
    assert len(bytes.fromhex(str(report["media_key"]))) == 32
    assert report["file_sha256"] == hashlib.sha256(plaintext).hexdigest()
    assert report["file_enc_sha256"] == hashlib.sha256(blob).hexdigest()
    assert report["file_length"] == len(plaintext)
    assert "sidecar" in report  # audio is streamable


def test_decrypt_round_trip(encrypted: tuple[Path, dict[str, object]]) -> None:
    directory, report = encrypted
    result = cipherpost(
        "decrypt",
        "--type",
        "audio",
        "--key",
        str(report["media_key"]),
        "--enc-sha256",
        str(report["file_enc_sha256"]),
        "--sha256",
        str(report["file_sha256"]),
        str(directory / "blob"),
        str(directory / "out.bin"),
    )
    assert result.returncode == 0, result.stderr
    assert (directory / "out.bin").read_bytes() == (directory / "in.bin").read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--type": "video"}, "media MAC check failed"),
        ({"--enc-sha256": "00" * 32}, "does not match file_enc_sha256"),
        ({"--sha256": "11" * 32}, "does not match file_sha256"),
        ({"--key": "22" * 32}, "media MAC check failed"),
        ({"--key": "abc"}, "--key 'abc' is invalid; give 64 hex digits"),
        ({"--type": "picture"}, "unknown media type"),
    ],
)
def test_decrypt_failure_writes_no_output(
    encrypted: tuple[Path, dict[str, object]], change: dict[str, str], message: str
) -> None:
    directory, report = encrypted
    options = {
        "--type": "audio",
        "--key": str(report["media_key"]),
        "--enc-sha256": str(report["file_enc_sha256"]),
        "--sha256": str(report["file_sha256"]),
    }
    options.update(change)
    arguments = [item for pair in options.items() for item in pair]
    before = sorted(path.name for path in directory.iterdir())
    result = cipherpost("decrypt", *arguments, str(directory / "blob"), str(directory / "out.bin"))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in directory.iterdir()) == before


def test_tampered_blob_is_rejected(encrypted: tuple[Path, dict[str, object]]) -> None:
    directory, report = encrypted
    blob = bytearray((directory / "blob").read_bytes())
    blob[-1] ^= 1
    (directory / "blob").write_bytes(bytes(blob))
    result = cipherpost(
        "decrypt",
        "--type",
        "audio",
        "--key",
        str(report["media_key"]),
        "--enc-sha256",
        hashlib.sha256(blob).hexdigest(),
        str(directory / "blob"),
        str(directory / "out.bin"),
    )
    assert result.returncode == 1
    assert "MAC" in result.stderr
    assert not (directory / "out.bin").exists()


def test_encrypt_missing_input_is_clear(tmp_path: Path) -> None:
    result = cipherpost(
        "encrypt", "--type", "image", str(tmp_path / "nope.jpg"), str(tmp_path / "blob")
    )
    assert result.returncode == 1
    assert "nope.jpg" in result.stderr
    assert not (tmp_path / "blob").exists()
