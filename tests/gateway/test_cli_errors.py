"""Bad settings and system errors end the command with one line, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import GatewayProcess

COMMAND_TIMEOUT = 60


def cipherpost(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cipherpost", *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("cipherpost ")
    for text in expected:
        assert text in last_line


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_gateway_port_in_use(busy_port: int, tmp_path: Path) -> None:
    result = cipherpost("gateway", "--port", str(busy_port), "--data-dir", "gw", cwd=tmp_path)
    assert_one_line_error(result, str(busy_port), "pick another port")


def test_metrics_port_in_use(busy_port: int, tmp_path: Path) -> None:
    result = cipherpost(
        "gateway",
        "--port",
        "0",
        "--storage",
        "memory",
        cwd=tmp_path,
        env={"CIPHERPOST_METRICS_PORT": str(busy_port)},
    )
    assert_one_line_error(result, str(busy_port), "pick another port")


def test_gateway_unknown_host(tmp_path: Path) -> None:
    # 203.0.113.0/24 is TEST-NET-3 (RFC 5737): no machine has it, so binding fails locally.
    result = cipherpost("gateway", "--host", "203.0.113.5", "--port", "0", cwd=tmp_path)
    assert_one_line_error(result, "203.0.113.5", "--host")


def test_gateway_data_dir_not_creatable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = cipherpost("gateway", "--port", "0", "--data-dir", str(blocker / "gw"), cwd=tmp_path)
    assert_one_line_error(result, str(blocker / "gw"))


def test_gateway_invalid_log_level(tmp_path: Path) -> None:
    result = cipherpost(
        "gateway",
        "--port",
        "0",
        "--storage",
        "memory",
        cwd=tmp_path,
        env={"CIPHERPOST_LOG_LEVEL": "verbose"},
    )
    assert_one_line_error(result, "'verbose'", "WARNING")


def test_register_invalid_gateway_key(tmp_path: Path) -> None:
    result = cipherpost(
        "register",
        "--state-dir",
        "carol",
        "--port",
        "1",
        "--gateway-key",
        "zz",
        "carol",
        cwd=tmp_path,
    )
    assert_one_line_error(result, "'zz'", "64 hex digits")
    assert not (tmp_path / "carol").exists()


def test_fingerprint_store_not_sqlite(tmp_path: Path) -> None:
    (tmp_path / "gw.log").write_text("a log file, not a protocol store\n" * 10)
    result = cipherpost(
        "fingerprint",
        "--store",
        "gw.log",
        "--local-id",
        "alice",
        "--remote",
        "bob",
        cwd=tmp_path,
    )
    assert_one_line_error(result, "gw.log", "--store")


def test_debug_after_subcommand(tmp_path: Path) -> None:
    result = cipherpost(
        "gateway", "--debug", "--port", "0", cwd=tmp_path, env={"CIPHERPOST_LOG_LEVEL": "verbose"}
    )
    assert result.returncode == 2
    assert "unrecognized arguments" not in result.stderr
    assert "log_level 'verbose'" in result.stderr


def test_subcommand_modules_all_import() -> None:
    import importlib

    from cipherpost.cli import SUBCOMMAND_MODULES

    for name in SUBCOMMAND_MODULES:
        assert hasattr(importlib.import_module(name), "add_parser"), name


def test_listen_count_below_one(tmp_path: Path) -> None:
    result = cipherpost("listen", "--state-dir", "bob", "--count", "-1", cwd=tmp_path)
    assert result.returncode == 2
    assert "--count -1" in result.stderr


def test_register_without_gateway_retries(gateway: GatewayProcess, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = str(probe.getsockname()[1])
    failed = cipherpost(
        "register", "--state-dir", "carol", "--port", closed_port, "carol", cwd=tmp_path
    )
    assert_one_line_error(failed, closed_port, "check that the gateway is running")

    retried = cipherpost(
        "register", "--state-dir", "carol", "--port", str(gateway.port), "carol", cwd=tmp_path
    )
    assert retried.returncode == 0, retried.stderr
    assert "registered carol device 1" in retried.stdout
