"""`cipherpost fingerprint` against a real SQLite protocol store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cipherpost.cli import main
from cipherpost.crypto import Address, format_safety_number, identity_digits, safety_number
from cipherpost.crypto.stores import SqliteProtocolStore
from peers.cipherpost_device import Device, seeded_rng


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "alice.db"
    store = SqliteProtocolStore(path, rng=seeded_rng("fingerprint cli"))
    store.save_identity(Address("bob", 2), Device("bob", 2).identity_key)
    store.close()
    return path


def stored_keys(path: Path) -> tuple[bytes, bytes]:
    with SqliteProtocolStore(path) as store:
        bob_key = store.load_identity(Address("bob", 2))
        assert bob_key is not None
        return store.identity_key_pair().public_key, bob_key


def test_fingerprint_pair(store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["fingerprint", "--store", str(store_path), "--local-id", "alice", "--remote", "bob.2"]
    )
    assert code == 0
    ours, bob_key = stored_keys(store_path)
    expected = format_safety_number(safety_number("alice", ours, "bob", bob_key))
    output = capsys.readouterr().out
    assert f"safety number {expected}" in output
    assert len(expected.split(" ")) == 12


def test_fingerprint_own_identity(store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fingerprint", "--store", str(store_path), "--local-id", "alice"]) == 0
    ours, _ = stored_keys(store_path)
    output = capsys.readouterr().out
    assert ours.hex() in output
    assert format_safety_number(identity_digits("alice", ours)) in output


def test_fingerprint_explicit_key_and_scannable(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    carol_key = Device("carol").identity_key
    args = ["fingerprint", "--store", str(store_path), "--local-id", "alice"]
    args += ["--remote", "carol", "--remote-key", carol_key.hex(), "--scannable"]
    assert main(args) == 0
    ours, _ = stored_keys(store_path)
    output = capsys.readouterr().out
    assert format_safety_number(safety_number("alice", ours, "carol", carol_key)) in output
    assert "scannable" in output


def test_fingerprint_unknown_contact(store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["fingerprint", "--store", str(store_path), "--local-id", "alice", "--remote", "dave"]
    assert main(args) == 1
    assert "no identity key stored for dave.1" in capsys.readouterr().err


def test_fingerprint_missing_store(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cipherpost",
            "fingerprint",
            "--store",
            str(tmp_path / "none.db"),
            "--local-id",
            "alice",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "not found" in result.stderr
    assert not (tmp_path / "none.db").exists()
