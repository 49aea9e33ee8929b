"""A failed register or link leaves no files behind, so the same call works on retry."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cipherpost.client import Client
from cipherpost.exceptions import GatewayError, TransportError

from .conftest import GatewayProcess


def closed_port() -> int:
    """Return a loopback port that nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_no_state(state_dir: Path) -> None:
    leftovers = sorted(path.name for path in state_dir.iterdir()) if state_dir.exists() else []
    assert leftovers == []


async def test_register_retry_after_no_gateway(gateway: GatewayProcess, tmp_path: Path) -> None:
    state_dir = tmp_path / "alice"
    with pytest.raises(OSError):
        await Client.register(state_dir, "127.0.0.1", closed_port(), "alice")
    assert not state_dir.exists()

    alice = await Client.register(
        state_dir, gateway.host, gateway.port, "alice", gateway_key=gateway.key
    )
    assert alice.user == "alice"
    await alice.close()


async def test_register_retry_after_rejection(gateway: GatewayProcess, tmp_path: Path) -> None:
    first = await Client.register(
        tmp_path / "first", gateway.host, gateway.port, "alice", gateway_key=gateway.key
    )
    await first.close()

    # An existing directory stays, but loses what the failed call put in it.
    state_dir = tmp_path / "second"
    state_dir.mkdir()
    with pytest.raises(GatewayError):
        await Client.register(state_dir, gateway.host, gateway.port, "alice")
    assert state_dir.exists()
    assert_no_state(state_dir)

    with pytest.raises(TransportError):
        await Client.register(state_dir, gateway.host, gateway.port, "bob", gateway_key=bytes(32))
    assert_no_state(state_dir)

    bob = await Client.register(state_dir, gateway.host, gateway.port, "bob")
    assert bob.user == "bob"
    await bob.close()


async def test_link_retry_after_bad_code(gateway: GatewayProcess, tmp_path: Path) -> None:
    alice = await Client.register(
        tmp_path / "alice", gateway.host, gateway.port, "alice", gateway_key=gateway.key
    )
    identity = alice.crypto.identity_key_pair
    state_dir = tmp_path / "tablet"
    with pytest.raises(GatewayError):
        await Client.link(state_dir, gateway.host, gateway.port, "alice", "000000", identity)
    assert not state_dir.exists()

    code = await alice.create_link_code()
    tablet = await Client.link(state_dir, gateway.host, gateway.port, "alice", code, identity)
    assert tablet.device_id != alice.device_id
    await tablet.close()
    await alice.close()


def test_unfinished_state_dir_named_in_error(tmp_path: Path) -> None:
    from cipherpost.client.client import _new_state_dir

    (tmp_path / "transport.key").write_bytes(b"left over")
    with pytest.raises(FileExistsError, match="did not finish"):
        _new_state_dir(tmp_path)


async def test_new_state_dir_owner_only(gateway: GatewayProcess, tmp_path: Path) -> None:
    state_dir = tmp_path / "alice"
    alice = await Client.register(
        state_dir, gateway.host, gateway.port, "alice", gateway_key=gateway.key
    )
    await alice.close()
    assert state_dir.stat().st_mode & 0o777 == 0o700
