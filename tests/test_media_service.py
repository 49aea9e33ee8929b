"""The media service over real HTTP on 127.0.0.1: uploads, resumption, tokens, ranged downloads."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cipherpost.exceptions import MediaTransferError, UploadTokenError
from cipherpost.media.client import MediaClient
from cipherpost.media.service import MediaServer, MediaServiceConfig
from cipherpost.media.storage import FilesystemBlobStore
from cipherpost.media.tokens import mint_upload_token

SECRET = b"s" * 32
LIMIT = 4 * 1024 * 1024


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[MediaServer]:
    config = MediaServiceConfig(
        root=tmp_path / "store", token_secret=SECRET, max_upload_bytes=LIMIT
    )
    media_server = MediaServer(config, "127.0.0.1", 0)
    await media_server.start()
    yield media_server
    await media_server.stop()


@pytest.fixture
async def client(server: MediaServer) -> AsyncIterator[MediaClient]:
    async with MediaClient(server.base_url) as media_client:
        yield media_client


def token(max_bytes: int = LIMIT, ttl: int = 300, now: float | None = None) -> str:
    return mint_upload_token(SECRET, "alice", 1, max_bytes=max_bytes, ttl_seconds=ttl, now=now)


def blob_file(tmp_path: Path, size: int, name: str = "blob") -> tuple[Path, str, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), data


async def test_upload_then_download(client: MediaClient, tmp_path: Path) -> None:
    path, blob_id, data = blob_file(tmp_path, 700_000)
    seen: list[tuple[int, int]] = []
    await client.upload_file(path, blob_id, token(), lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(data), len(data))
    assert await client.upload_offset(blob_id, token()) == (len(data), True)

    await client.download_file(blob_id, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == data


async def test_download_headers_and_ranges(client: MediaClient, tmp_path: Path) -> None:
    path, blob_id, data = blob_file(tmp_path, 100_000)
    await client.upload_file(path, blob_id, token())
    url = client.blob_url(blob_id)
    session = client.session

    async with session.get(url) as response:
        assert response.status == 200
        assert response.headers["ETag"] == f'"{blob_id}"'
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers["Accept-Ranges"] == "bytes"
        assert await response.read() == data

    cases = {
        "bytes=0-9": (0, 10),
        "bytes=99990-": (99_990, 100_000),
        "bytes=-25": (99_975, 100_000),
        "bytes=500-99999999": (500, 100_000),
    }
    for header, (start, stop) in cases.items():
        async with session.get(url, headers={"Range": header}) as response:
            assert response.status == 206, header
            assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/100000"
            assert await response.read() == data[start:stop], header

    async with session.get(url, headers={"Range": "bytes=100000-"}) as response:
        assert response.status == 416
        assert response.headers["Content-Range"] == "bytes */100000"
    async with session.get(url, headers={"If-None-Match": f'"{blob_id}"'}) as response:
        assert response.status == 304
    async with session.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'}) as response:
        assert response.status == 200
        assert len(await response.read()) == len(data)
    async with session.head(url) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == "100000"
    async with session.get(client.blob_url("0" * 64)) as response:
        assert response.status == 404
    async with session.get(f"{client.base_url}/v1/blobs/not-a-hash") as response:
        assert response.status == 400


async def test_upload_resumes_after_partial_request(client: MediaClient, tmp_path: Path) -> None:
    path, blob_id, data = blob_file(tmp_path, 600_000)
    headers = {"Authorization": f"Bearer {token()}", "Content-Range": f"bytes 0-199999/{len(data)}"}
    async with client.session.put(
        client.blob_url(blob_id), data=data[:200_000], headers=headers
    ) as response:
        assert response.status == 202
        assert (await response.json())["offset"] == 200_000
    assert await client.upload_offset(blob_id, token()) == (200_000, False)

    headers["Content-Range"] = f"bytes 300000-599999/{len(data)}"
    async with client.session.put(
        client.blob_url(blob_id), data=data[300_000:], headers=headers
    ) as response:
        assert response.status == 409
        assert (await response.json())["offset"] == 200_000

    seen: list[int] = []
    await client.upload_file(path, blob_id, token(), lambda done, total: seen.append(done))
    assert seen[0] == 200_000
    await client.download_file(blob_id, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == data


async def test_upload_resumes_after_dropped_connection(
    server: MediaServer, client: MediaClient, tmp_path: Path
) -> None:
    path, blob_id, data = blob_file(tmp_path, 1_000_000)
    address = urlsplit(server.base_url)
    _reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head = (
        f"PUT /v1/blobs/{blob_id} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Authorization: Bearer {token()}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    writer.write(head.encode() + data[:400_000])
    await writer.drain()
    stored = 0
    for _ in range(200):  # bounded wait until the server has stored part of the body
        stored, _ = await client.upload_offset(blob_id, token())
        if stored > 0:
            break
        await asyncio.sleep(0.05)
    writer.close()
    await writer.wait_closed()
    assert 0 < stored <= 400_000

    offsets: list[int] = []
    await client.upload_file(path, blob_id, token(), lambda done, total: offsets.append(done))
    assert offsets[0] >= stored  # resumed, not restarted
    assert await client.upload_offset(blob_id, token()) == (len(data), True)


async def test_upload_without_valid_token_is_rejected(client: MediaClient, tmp_path: Path) -> None:
    _, blob_id, data = blob_file(tmp_path, 1000)
    url = client.blob_url(blob_id)
    forged = mint_upload_token(b"x" * 32, "alice", 1, max_bytes=LIMIT)
    expired = token(now=1_000_000.0)
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Basic {token()}"},
    ):
        async with client.session.put(url, data=data, headers=headers) as response:
            assert response.status == 401, headers
            assert response.headers["WWW-Authenticate"] == "Bearer"
    with pytest.raises(UploadTokenError):
        await client.upload_offset(blob_id, expired)
    async with client.session.get(url) as response:
        assert response.status == 404


async def test_upload_over_limit_is_rejected(client: MediaClient, tmp_path: Path) -> None:
    path, blob_id, _ = blob_file(tmp_path, 5000)
    with pytest.raises(MediaTransferError) as raised:
        await client.upload_file(path, blob_id, token(max_bytes=4000))
    assert raised.value.status == 413
    headers = {"Authorization": f"Bearer {token()}", "Content-Range": f"bytes 0-0/{LIMIT + 1}"}
    async with client.session.put(client.blob_url(blob_id), data=b"x", headers=headers) as response:
        assert response.status == 413


async def test_upload_with_wrong_hash_is_discarded(
    server: MediaServer, client: MediaClient, tmp_path: Path
) -> None:
    path, _, _ = blob_file(tmp_path, 3000)
    wrong_id = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(MediaTransferError) as raised:
        await client.upload_file(path, wrong_id, token())
    assert raised.value.status == 422
    assert await client.upload_offset(wrong_id, token()) == (0, False)
    store = FilesystemBlobStore(server.config.root)
    assert store.stat_blob(wrong_id) is None


async def test_download_resumes_partial_file(client: MediaClient, tmp_path: Path) -> None:
    path, blob_id, data = blob_file(tmp_path, 300_000)
    await client.upload_file(path, blob_id, token())
    partial = tmp_path / "partial"
    partial.write_bytes(data[:123_456])
    await client.download_file(blob_id, partial)
    assert partial.read_bytes() == data


async def test_expired_blob_is_gone_until_referenced(tmp_path: Path) -> None:
    config = MediaServiceConfig(root=tmp_path / "store", token_secret=SECRET, blob_ttl_seconds=60)
    media_server = MediaServer(config, "127.0.0.1", 0)
    await media_server.start()
    try:
        async with MediaClient(media_server.base_url) as media_client:
            path, blob_id, _ = blob_file(tmp_path, 2000)
            await media_client.upload_file(path, blob_id, token())
            store = FilesystemBlobStore(config.root)
            store.touch_blob(blob_id, 1000.0)  # last referenced long ago
            async with media_client.session.get(media_client.blob_url(blob_id)) as response:
                assert response.status == 404
            await media_client.upload_file(path, blob_id, token())  # the same blob again
            async with media_client.session.get(media_client.blob_url(blob_id)) as response:
                assert response.status == 200
            store.touch_blob(blob_id, 1000.0)
            assert store.delete_expired(2000.0, 60, 60) == 1
            assert store.stat_blob(blob_id) is None
    finally:
        await media_server.stop()


async def test_reference_keeps_blob_alive(
    client: MediaClient, server: MediaServer, tmp_path: Path
) -> None:
    path, blob_id, _ = blob_file(tmp_path, 2000)
    await client.upload_file(path, blob_id, token())
    store = FilesystemBlobStore(server.config.root)
    store.touch_blob(blob_id, 1000.0)
    with pytest.raises(MediaTransferError) as raised:
        await client.add_reference(blob_id, token())  # already expired
    assert raised.value.status == 404
    await client.upload_file(path, blob_id, token())
    before = store.stat_blob(blob_id)
    assert before is not None
    await client.add_reference(blob_id, token())
    after = store.stat_blob(blob_id)
    assert after is not None and after.referenced_at >= before.referenced_at


def start_media_serve(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `cipherpost media serve` on a free port; return the process and its first line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cipherpost", "media", "serve", "--port", "0"]
        + ["--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline()


def test_serve_command_runs_service(tmp_path: Path) -> None:
    data_dir = tmp_path / "media"
    process, line = start_media_serve(data_dir)
    try:
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        minted = subprocess.run(
            [
                sys.executable,
                "-m",
                "cipherpost",
                "media",
                "token",
                "--user",
                "bob",
                "--data-dir",
                str(data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()

        async def round_trip() -> bytes:
            async with MediaClient(match.group(0)) as media_client:
                path, blob_id, _ = blob_file(tmp_path, 5000)
                await media_client.upload_file(path, blob_id, minted)
                await media_client.download_file(blob_id, tmp_path / "copy")
                return (tmp_path / "copy").read_bytes()

        assert asyncio.run(round_trip()) == (tmp_path / "blob").read_bytes()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode == 0


async def test_mounted_as_sub_application(tmp_path: Path) -> None:
    from aiohttp import web
    from cipherpost.media.service import create_media_app

    parent = web.Application()
    config = MediaServiceConfig(root=tmp_path / "store", token_secret=SECRET)
    parent.add_subapp("/media/", create_media_app(config))
    runner = web.AppRunner(parent)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with MediaClient(f"http://127.0.0.1:{port}/media") as media_client:
            path, blob_id, data = blob_file(tmp_path, 10_000)
            await media_client.upload_file(path, blob_id, token())
            await media_client.download_file(blob_id, tmp_path / "copy")
            assert (tmp_path / "copy").read_bytes() == data
    finally:
        await runner.cleanup()


async def test_client_reports_unreachable_service(tmp_path: Path) -> None:
    _path, blob_id, _ = blob_file(tmp_path, 100)
    async with MediaClient("http://127.0.0.1:9", max_attempts=3, retry_delay=0.01) as media_client:
        with pytest.raises(MediaTransferError, match="failed after 3 attempts"):
            await media_client.download_file(blob_id, tmp_path / "copy")


async def test_rejection_message_is_plain_text(client: MediaClient, tmp_path: Path) -> None:
    # Past the service's limit but within the token's, so the service itself answers 413.
    path, blob_id, _ = blob_file(tmp_path, LIMIT + 1)
    with pytest.raises(MediaTransferError) as too_large:
        await client.upload_file(path, blob_id, token(max_bytes=2 * LIMIT))
    assert too_large.value.status == 413
    assert "HTTP 413: " in str(too_large.value)
    assert '{"error"' not in str(too_large.value)

    forged = mint_upload_token(b"x" * 32, "alice", 1, max_bytes=2 * LIMIT)
    with pytest.raises(UploadTokenError) as unauthorized:
        await client.upload_file(path, blob_id, forged)
    assert '{"error"' not in str(unauthorized.value)
    assert "get a new upload token" in str(unauthorized.value)


async def test_upload_over_token_limit_fails_early(
    server: MediaServer, client: MediaClient, tmp_path: Path
) -> None:
    path, blob_id, _ = blob_file(tmp_path, 5000)
    with pytest.raises(MediaTransferError) as raised:
        await client.upload_file(path, blob_id, token(max_bytes=4000))
    assert raised.value.status == 413
    assert "allows at most 4000" in str(raised.value)
    # Nothing was sent, so the service has no partial upload for the blob.
    assert await client.upload_offset(blob_id, token()) == (0, False)
