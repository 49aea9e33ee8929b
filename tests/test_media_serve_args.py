"""`cipherpost media serve` rejects invalid settings and system errors in one line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND_TIMEOUT = 60


def media_serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cipherpost", "media", "serve", *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("cipherpost media: ")
    for text in expected:
        assert text in last_line


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--port", "70000"),
        ("--port", "-1"),
        ("--max-upload-bytes", "-5"),
        ("--max-upload-bytes", "0"),
        ("--blob-ttl", "0"),
        ("--blob-ttl", "-3"),
        ("--blob-ttl", "nan"),
    ],
)
def test_serve_rejects_invalid_option(option: str, value: str, tmp_path: Path) -> None:
    result = media_serve("--data-dir", "media", option, value, cwd=tmp_path)
    assert_one_line_error(result, option)
    assert not (tmp_path / "media").exists()


def test_serve_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = media_serve("--port", str(port), "--data-dir", "media", cwd=tmp_path)
    assert_one_line_error(result, str(port), "pick another port")


def test_serve_data_dir_not_creatable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = media_serve("--port", "0", "--data-dir", str(blocker / "media"), cwd=tmp_path)
    assert_one_line_error(result, str(blocker / "media"))


@pytest.mark.parametrize(
    ("user", "device", "message"),
    [("", 1, "user id is empty"), ("alice", -3, "device id -3"), ("alice", 0, "device id 0")],
)
def test_token_rejects_invalid_owner(user: str, device: int, message: str) -> None:
    from cipherpost.exceptions import InvalidMediaArgumentError
    from cipherpost.media.tokens import mint_upload_token

    with pytest.raises(InvalidMediaArgumentError, match=message):
        mint_upload_token(b"k" * 32, user, device, max_bytes=1000)


def test_serve_help_shows_defaults(tmp_path: Path) -> None:
    result = media_serve("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "default 8780" in result.stdout
    assert f"default {100 * 1024 * 1024}" in result.stdout
