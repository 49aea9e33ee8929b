"""A photo sent with `cipherpost send --file` arrives, smaller and without metadata, at every
device of the other user: real gateway, real media service, real clients, all as commands."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway.conftest import GatewayProcess
from PIL import Image
from test_media_pipeline import CAMERA_MODEL, assert_no_metadata, photo_with_metadata
from test_media_service import start_media_serve

COMMAND_TIMEOUT = 120


def cipherpost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cipherpost", *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def media_service(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path / "media"
    process, line = start_media_serve(data_dir)
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert match is not None, line
    yield match.group(0), data_dir
    process.terminate()
    process.wait(timeout=30)


def test_photo_arrives_smaller_without_metadata(
    gateway: GatewayProcess, media_service: tuple[str, Path], tmp_path: Path
) -> None:
    media_url, media_dir = media_service
    address = ["--port", str(gateway.port), "--gateway-key", gateway.key.hex()]
    for user in ("alice", "bob"):
        result = cipherpost("register", "--state-dir", str(tmp_path / user), user, *address)
        assert result.returncode == 0, result.stderr
    token = cipherpost("media", "token", "--user", "alice", "--data-dir", str(media_dir))
    assert token.returncode == 0, token.stderr

    photo = tmp_path / "beach.jpg"
    photo_with_metadata(photo)
    sent = cipherpost(
        "send",
        "--state-dir",
        str(tmp_path / "alice"),
        "bob",
        "--file",
        str(photo),
        "--media-url",
        media_url,
        "--media-token",
        token.stdout.strip(),
    )
    assert sent.returncode == 0, sent.stderr
    assert "✓ " in sent.stdout

    inbox = tmp_path / "inbox"
    listened = cipherpost(
        "listen",
        "--state-dir",
        str(tmp_path / "bob"),
        "--count",
        "1",
        "--timeout",
        "30",
        "--download-dir",
        str(inbox),
        "--media-url",
        media_url,
    )
    assert listened.returncode == 0, listened.stderr
    assert "alice: [image 1600×1200" in listened.stdout
    received = list(inbox.iterdir())
    assert len(received) == 1
    data = received[0].read_bytes()
    assert len(data) < photo.stat().st_size
    assert CAMERA_MODEL.encode() in photo.read_bytes()
    assert_no_metadata(data)
    with Image.open(received[0]) as image:
        assert image.size == (1600, 1200)


def test_send_needs_text_or_file(tmp_path: Path) -> None:
    result = cipherpost("send", "--state-dir", str(tmp_path), "bob")
    assert result.returncode == 2
    assert "either a message text or --file" in result.stderr
