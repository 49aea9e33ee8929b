"""Media upload tokens minted by the gateway for an authenticated device, used against the
real media service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cipherpost.cli.media import load_or_create_secret
from cipherpost.client import Client, MessageReceived
from cipherpost.exceptions import GatewayError
from cipherpost.media.sending import media_message_in, send_media
from cipherpost.media.service import MediaServer, MediaServiceConfig
from cipherpost.media.tokens import verify_upload_token
from cipherpost.protocol.frames import ErrorCode

from .ops import start_gateway
from .test_cli import COMMAND_TIMEOUT, cipherpost

EVENT_TIMEOUT = 60.0


async def test_gateway_token_uploads_to_media_service(tmp_path: Path) -> None:
    media_dir = tmp_path / "media"
    secret = load_or_create_secret(media_dir, create=True)
    media = MediaServer(MediaServiceConfig(root=media_dir, token_secret=secret), "127.0.0.1", 0)
    await media.start()
    gateway = start_gateway(tmp_path / "gw", media_data_dir=str(media_dir), rate_limits="off")
    try:
        alice = await Client.register(
            tmp_path / "alice", gateway.host, gateway.port, "alice", gateway_key=gateway.key
        )
        bob = await Client.register(
            tmp_path / "bob", gateway.host, gateway.port, "bob", gateway_key=gateway.key
        )
        token = await alice.media_upload_token()
        grant = verify_upload_token(secret, token)
        assert grant.user_id == "alice"
        assert grant.device_id == alice.device_id

        attachment = tmp_path / "notes.txt"
        attachment.write_bytes(b"attachment bytes " * 100)
        _, sent = await send_media(alice, "bob", attachment, media_url=media.base_url, token=token)
        while True:
            event = await bob.next_event(EVENT_TIMEOUT)
            if isinstance(event, MessageReceived):
                break
        received = media_message_in(event.text)
        assert received is not None
        assert received == sent
        await alice.close()
        await bob.close()
    finally:
        gateway.stop()
        await media.stop()


async def test_gateway_without_media_rejects_token_request(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path / "gw", rate_limits="off")
    try:
        alice = await Client.register(
            tmp_path / "alice", gateway.host, gateway.port, "alice", gateway_key=gateway.key
        )
        with pytest.raises(GatewayError) as rejected:
            await alice.media_upload_token()
        assert rejected.value.code == ErrorCode.NOT_FOUND
        assert "media_data_dir" in str(rejected.value)
        await alice.close()
    finally:
        gateway.stop()


def test_cli_send_file_gets_token_from_gateway(tmp_path: Path) -> None:
    media_dir = tmp_path / "media"
    media = subprocess.Popen(
        [sys.executable, "-m", "cipherpost", "media", "serve", "--data-dir", str(media_dir)]
        + ["--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    gateway = None
    try:
        assert media.stdout is not None
        line = media.stdout.readline()
        assert "listening on " in line, media.stderr.read() if media.stderr else line
        media_url = line.rsplit("listening on ", 1)[1].strip()
        gateway = start_gateway(tmp_path / "gw", media_data_dir=str(media_dir), rate_limits="off")
        address = ["--port", str(gateway.port), "--gateway-key", gateway.key.hex()]
        for user in ("alice", "bob"):
            result = cipherpost("register", "--state-dir", str(tmp_path / user), user, *address)
            assert result.returncode == 0, result.stderr

        attachment = tmp_path / "notes.txt"
        attachment.write_bytes(b"attachment bytes " * 100)
        env = {key: value for key, value in os.environ.items() if key != "CIPHERPOST_MEDIA_TOKEN"}
        sent = subprocess.run(
            [sys.executable, "-m", "cipherpost", "send", "--state-dir", str(tmp_path / "alice")]
            + ["bob", "--file", str(attachment), "--media-url", media_url],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=env,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr
        assert "✓ " in sent.stdout
        assert "uploading notes.txt" in sent.stdout
    finally:
        if gateway is not None:
            gateway.stop()
        media.terminate()
        media.wait(timeout=COMMAND_TIMEOUT)
