"""The `cipherpost` commands of the gateway, messaging and demo, run as subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import GatewayProcess

COMMAND_TIMEOUT = 60


def cipherpost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cipherpost", *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def test_demo_shows_whole_story() -> None:
    result = cipherpost("demo")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("✓  stored by the gateway" in line for line in lines)
    assert any("✓✓ delivered" in line for line in lines)
    assert any(line.startswith("alice     read") for line in lines)
    assert any("caught up" in line for line in lines)
    numbers = [line.split(":  ")[1] for line in lines if line.startswith("safety number")]
    assert len(numbers) == 2
    assert numbers[0] == numbers[1]
    assert len(numbers[0].replace(" ", "")) == 60


def test_register_send_listen(gateway: GatewayProcess, tmp_path: Path) -> None:
    address = ["--port", str(gateway.port), "--gateway-key", gateway.key.hex()]
    for user in ("alice", "bob"):
        result = cipherpost("register", "--state-dir", str(tmp_path / user), user, *address)
        assert result.returncode == 0, result.stderr
        assert f"registered {user} device 1" in result.stdout

    sent = cipherpost("send", "--state-dir", str(tmp_path / "alice"), "bob", "hello from the shell")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("✓ ")

    listened = cipherpost(
        "listen", "--state-dir", str(tmp_path / "bob"), "--count", "1", "--timeout", "20", "--read"
    )
    assert listened.returncode == 0, listened.stderr
    assert "alice: hello from the shell" in listened.stdout


def test_send_without_state_dir_fails_with_hint(tmp_path: Path) -> None:
    result = cipherpost("send", "--state-dir", str(tmp_path / "missing"), "bob", "x")
    assert result.returncode == 1
    assert "run `cipherpost register`" in result.stderr
    assert "Traceback" not in result.stderr


def test_gateway_rejects_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("port = 'abc'\n")
    result = cipherpost("gateway", "--config", str(config))
    assert result.returncode == 2
    assert "port 'abc' is not an integer" in result.stderr
