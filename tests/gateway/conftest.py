"""Fixtures that run the real gateway daemon as a subprocess on a port the OS picks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cipherpost._core import KeyPair, Rng, TransportKeyPair
from cipherpost.client.connection import GatewayConnection
from cipherpost.protocol.frames import Kind, b64encode

READY_PATTERN = re.compile(rb"listening on (\S+):(\d+) key ([0-9a-f]{64})")
START_TIMEOUT = 30.0


@dataclass
class GatewayProcess:
    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    host: str = ""
    port: int = 0
    key: bytes = b""

    def start(self) -> None:
        """Start the daemon (on the previous port after a restart) and wait until it listens."""
        port = str(self.port)
        command = [
            sys.executable,
            "-m",
            "cipherpost",
            "gateway",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = READY_PATTERN.search(line)
        if match is None:
            self.process.kill()
            _, stderr = self.process.communicate(timeout=START_TIMEOUT)
            raise RuntimeError(f"gateway did not start: {line!r} {stderr.decode()[-2000:]}")
        self.host = match.group(1).decode()
        self.port = int(match.group(2))
        self.key = bytes.fromhex(match.group(3).decode())

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=START_TIMEOUT)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=START_TIMEOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=START_TIMEOUT)

    def stderr_text(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        return self.process.stderr.read().decode()

    async def connect(self, key: TransportKeyPair) -> GatewayConnection:
        return await GatewayConnection.connect(self.host, self.port, key, self.key)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    # Rate limits are off here, because these tests send and register in bursts from one
    # address; the tests of the limits start their own gateway with them on.
    process = GatewayProcess(tmp_path / "gateway", env={"CIPHERPOST_RATE_LIMITS": "off"})
    process.start()
    yield process
    process.stop()


@dataclass
class RawDevice:
    """A device driven by hand: opaque ciphertexts, no Signal sessions."""

    user: str
    device_id: int
    key: TransportKeyPair
    connection: GatewayConnection
    identity: KeyPair

    async def reconnect(self, gateway: GatewayProcess) -> GatewayConnection:
        self.connection = await gateway.connect(self.key)
        await self.connection.request(Kind.HELLO)
        return self.connection


def identity_body(user: str, identity: KeyPair | None = None) -> dict[str, object]:
    identity = identity or KeyPair.generate(Rng())
    return {
        "user": user,
        "registration_id": 1234,
        "identity_key": b64encode(identity.public_key),
    }


async def register(gateway: GatewayProcess, user: str, **extra: object) -> RawDevice:
    key = TransportKeyPair.generate()
    identity = KeyPair.generate(Rng())
    connection = await gateway.connect(key)
    result = await connection.request(Kind.REGISTER, {**identity_body(user, identity), **extra})
    return RawDevice(user, result["device"], key, connection, identity)


async def link(gateway: GatewayProcess, primary: RawDevice) -> RawDevice:
    code = (await primary.connection.request(Kind.LINK_CODE))["code"]
    key = TransportKeyPair.generate()
    identity = KeyPair.generate(Rng())
    connection = await gateway.connect(key)
    body = {**identity_body(primary.user, identity), "code": code}
    result = await connection.request(Kind.LINK, body)
    return RawDevice(primary.user, result["device"], key, connection, identity)


@pytest.fixture
async def cleanup() -> AsyncIterator[list[GatewayConnection]]:
    connections: list[GatewayConnection] = []
    yield connections
    for connection in connections:
        await connection.close()
