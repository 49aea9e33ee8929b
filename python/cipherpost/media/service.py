"""The media service: resumable, hash-checked uploads and CDN-style downloads of encrypted blobs.

The service stores blobs it cannot read. Uploads need a token minted by the gateway
(`cipherpost.media.tokens`); downloads need only the blob id, which only the recipients of a
media message know. HTTP interface, all under `/v1`:

* `GET /v1/uploads/{id}` (token): `{"offset": N, "complete": bool}`, where to resume.
* `PUT /v1/blobs/{id}` (token): upload bytes. Without `Content-Range` the body is the whole
  blob; with `Content-Range: bytes START-END/TOTAL` it continues at START, which must not be
  beyond the stored offset. Replies 201 when the blob is complete and its SHA-256 equals the id,
  202 with the new offset when more is expected, 200 when the blob already existed (that counts
  as a new reference), 409 when START is past the stored offset or another upload of the same
  blob is running, 413 over the size limit, 422 on a hash mismatch (the upload is discarded).
* `POST /v1/blobs/{id}/references` (token): mark an existing blob as referenced again, so that
  a forwarded attachment does not expire.
* `GET`/`HEAD /v1/blobs/{id}`: download with `Range` (one range), `If-Range`, `If-None-Match`,
  a strong `ETag` (the id) and `Cache-Control: public, max-age=..., immutable`.

`create_media_app` returns an `aiohttp.web.Application` that the gateway can mount with
`add_subapp`; `MediaServer` runs it on its own (`cipherpost media serve`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from cipherpost.exceptions import InvalidMediaArgumentError, UploadTokenError
from cipherpost.media.storage import BlobInfo, BlobStore, FilesystemBlobStore, check_blob_id
from cipherpost.media.tokens import UploadGrant, verify_upload_token

logger = logging.getLogger("cipherpost.media.service")

#: Default largest blob. 100 MiB, as ejabberd's HTTP upload default.
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
#: Default time a blob stays without a new reference. 30 days, like the message queue TTL.
DEFAULT_BLOB_TTL_SECONDS = 30 * 24 * 3600
#: Default time an unfinished upload is kept for resumption. NOTE: a guess (one day).
DEFAULT_PARTIAL_TTL_SECONDS = 24 * 3600
#: How often expired blobs are swept.
DEFAULT_SWEEP_INTERVAL_SECONDS = 600.0
#: Bytes read from disk per step when serving or hashing, and flushed per write when storing.
IO_CHUNK_SIZE = 256 * 1024
#: Cache lifetime sent with blobs. Blobs are content-addressed, so a cached copy never goes
#: stale; one year is the customary maximum for immutable responses.
CACHE_MAX_AGE_SECONDS = 365 * 24 * 3600

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass(frozen=True, slots=True)
class MediaServiceConfig:
    """Settings of one media service."""

    root: Path
    token_secret: bytes
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    blob_ttl_seconds: float = DEFAULT_BLOB_TTL_SECONDS
    partial_ttl_seconds: float = DEFAULT_PARTIAL_TTL_SECONDS
    sweep_interval_seconds: float = DEFAULT_SWEEP_INTERVAL_SECONDS


STORE_KEY = web.AppKey("media_store", BlobStore)
CONFIG_KEY = web.AppKey("media_config", MediaServiceConfig)
#: Blob ids with an upload in progress, so that a second upload of the same blob waits.
LOCKS_KEY = web.AppKey("media_upload_locks", set[str])


def _error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _blob_id(request: web.Request) -> str:
    try:
        return check_blob_id(request.match_info["blob_id"])
    except InvalidMediaArgumentError as error:
        raise web.HTTPBadRequest(text=str(error)) from error


def _grant(request: web.Request) -> UploadGrant:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise web.HTTPUnauthorized(
            text="upload needs an 'Authorization: Bearer <token>' header with a token from the "
            "gateway",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return verify_upload_token(request.app[CONFIG_KEY].token_secret, token.strip())
    except UploadTokenError as error:
        logger.warning("rejected upload token from %s: %s", request.remote, error)
        raise web.HTTPUnauthorized(
            text=str(error), headers={"WWW-Authenticate": "Bearer"}
        ) from error


def _parse_content_range(request: web.Request) -> tuple[int, int | None, int]:
    """Return (start, end inclusive or None, total) of an upload request."""
    header = request.headers.get("Content-Range")
    if header is None:
        if request.content_length is None:
            raise web.HTTPLengthRequired(text="send Content-Length or Content-Range")
        return 0, None, request.content_length
    match = _CONTENT_RANGE.match(header.strip())
    if not match:
        raise web.HTTPBadRequest(text=f"Content-Range {header!r} is invalid; use 'bytes A-B/TOTAL'")
    start, end, total = (int(group) for group in match.groups())
    if start > end or end >= total:
        raise web.HTTPBadRequest(text=f"Content-Range {header!r} is out of order or past TOTAL")
    return start, end, total


async def _live_blob(
    store: BlobStore, config: MediaServiceConfig, blob_id: str, now: float
) -> BlobInfo | None:
    """Return the blob's info, or None if it is missing or expired (deleting it if expired)."""
    info = await asyncio.to_thread(store.stat_blob, blob_id)
    if info is not None and now - info.referenced_at > config.blob_ttl_seconds:
        await asyncio.to_thread(store.delete_blob, blob_id)
        logger.info("blob %s expired", blob_id)
        return None
    return info


async def _hash_prefix(store: BlobStore, blob_id: str, length: int) -> hashlib._Hash:
    """Hash the first `length` stored bytes of a partial upload (to continue the hash on resume)."""
    digest = hashlib.sha256()
    if length == 0:
        return digest
    handle = await asyncio.to_thread(store.read_partial, blob_id)
    try:
        remaining = length
        while remaining > 0:
            data = await asyncio.to_thread(handle.read, min(IO_CHUNK_SIZE, remaining))
            if not data:
                break
            digest.update(data)
            remaining -= len(data)
    finally:
        handle.close()
    return digest


async def handle_upload_status(request: web.Request) -> web.Response:
    _grant(request)
    blob_id = _blob_id(request)
    store = request.app[STORE_KEY]
    info = await _live_blob(store, request.app[CONFIG_KEY], blob_id, time.time())
    if info is not None:
        return web.json_response({"offset": info.size, "complete": True})
    offset = await asyncio.to_thread(store.partial_size, blob_id)
    return web.json_response({"offset": offset, "complete": False})


async def handle_reference(request: web.Request) -> web.Response:
    grant = _grant(request)
    blob_id = _blob_id(request)
    store = request.app[STORE_KEY]
    now = time.time()
    info = await _live_blob(store, request.app[CONFIG_KEY], blob_id, now)
    if info is None:
        return _error(404, "blob not found or expired; upload it again")
    await asyncio.to_thread(store.touch_blob, blob_id, now)
    logger.info("blob %s referenced again by %s/%d", blob_id, grant.user_id, grant.device_id)
    return web.json_response({"status": "referenced"})


async def handle_upload(request: web.Request) -> web.Response:
    grant = _grant(request)
    blob_id = _blob_id(request)
    config = request.app[CONFIG_KEY]
    store = request.app[STORE_KEY]
    start, end, total = _parse_content_range(request)
    limit = min(config.max_upload_bytes, grant.max_bytes)
    if total > limit:
        return _error(413, f"blob of {total} bytes exceeds the upload limit of {limit} bytes")

    now = time.time()
    info = await _live_blob(store, config, blob_id, now)
    if info is not None:
        await asyncio.to_thread(store.touch_blob, blob_id, now)
        return web.json_response({"offset": info.size, "complete": True, "status": "exists"})

    uploading = request.app[LOCKS_KEY]
    if blob_id in uploading:
        return _error(409, "another upload of this blob is in progress; retry later")
    uploading.add(blob_id)
    try:
        return await _receive(request, store, config, grant, blob_id, start, end, total)
    finally:
        uploading.discard(blob_id)


async def _receive(
    request: web.Request,
    store: BlobStore,
    config: MediaServiceConfig,
    grant: UploadGrant,
    blob_id: str,
    start: int,
    end: int | None,
    total: int,
) -> web.Response:
    stored = await asyncio.to_thread(store.partial_size, blob_id)
    if start > stored:
        return _error(409, f"upload must continue at byte {stored}", offset=stored, complete=False)
    expected_end = total if end is None else end + 1
    digest = await _hash_prefix(store, blob_id, start)
    handle = await asyncio.to_thread(store.open_partial, blob_id, start)
    received = start
    pending: list[bytes] = []
    pending_size = 0
    try:
        async for data in request.content.iter_chunked(IO_CHUNK_SIZE):
            if received + len(data) > expected_end:
                await _flush(handle, pending)
                return _error(
                    400, f"body is longer than the announced {expected_end - start} bytes"
                )
            digest.update(data)
            received += len(data)
            pending.append(data)
            pending_size += len(data)
            if pending_size >= IO_CHUNK_SIZE:
                await _flush(handle, pending)
                pending_size = 0
    except ConnectionError as error:
        # The client went away; bytes already read are kept (below) for it to resume after.
        # aiohttp drops what it had buffered but not yet handed over, so the stored offset
        # may be smaller than what the client sent.
        logger.info(
            "blob %s upload by %s/%d interrupted at %d of %d bytes: %s",
            blob_id,
            grant.user_id,
            grant.device_id,
            received,
            total,
            error,
        )
        return _error(400, "connection lost during upload", offset=received)
    finally:
        # Whatever arrived stays stored, so an interrupted upload resumes after it.
        await _flush(handle, pending)
        await asyncio.to_thread(_sync_and_close, handle)

    if received < total:
        logger.info(
            "blob %s upload by %s/%d paused at %d of %d bytes",
            blob_id,
            grant.user_id,
            grant.device_id,
            received,
            total,
        )
        return web.json_response({"offset": received, "complete": False}, status=202)
    if digest.hexdigest() != blob_id:
        await asyncio.to_thread(store.discard_partial, blob_id)
        logger.warning(
            "blob %s upload by %s/%d discarded: SHA-256 mismatch",
            blob_id,
            grant.user_id,
            grant.device_id,
        )
        return _error(
            422,
            "uploaded bytes do not match the blob id (file_enc_sha256); "
            "upload the encrypted file again from the start",
        )
    await asyncio.to_thread(store.commit_partial, blob_id, time.time())
    logger.info(
        "blob %s stored (%d bytes) for %s/%d", blob_id, total, grant.user_id, grant.device_id
    )
    return web.json_response({"offset": total, "complete": True, "status": "created"}, status=201)


async def _flush(handle: BinaryIO, pending: list[bytes]) -> None:
    if pending:
        data = b"".join(pending)
        pending.clear()
        await asyncio.to_thread(handle.write, data)


def _sync_and_close(handle: BinaryIO) -> None:
    try:
        handle.flush()
        os.fsync(handle.fileno())
    finally:
        handle.close()


async def handle_download(request: web.Request) -> web.StreamResponse:
    blob_id = _blob_id(request)
    config = request.app[CONFIG_KEY]
    store = request.app[STORE_KEY]
    info = await _live_blob(store, config, blob_id, time.time())
    if info is None:
        return _error(404, "blob not found or expired")

    etag = f'"{blob_id}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": f"public, max-age={CACHE_MAX_AGE_SECONDS}, immutable",
        "Content-Type": "application/octet-stream",
    }
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and etag in (tag.strip() for tag in if_none_match.split(",")):
        return web.Response(status=304, headers=headers)

    start, stop = 0, info.size
    status = 200
    use_range = "Range" in request.headers
    if_range = request.headers.get("If-Range")
    if use_range and if_range is not None and if_range.strip() != etag:
        use_range = False
    if use_range:
        try:
            requested = request.http_range
        except ValueError:
            return _range_not_satisfiable(info.size, headers)
        start = requested.start or 0
        stop = info.size if requested.stop is None else min(requested.stop, info.size)
        if requested.start is not None and requested.start < 0:
            start, stop = max(info.size + requested.start, 0), info.size
        if start >= info.size or start >= stop:
            return _range_not_satisfiable(info.size, headers)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"

    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = stop - start
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    handle = await asyncio.to_thread(store.open_blob, blob_id)
    try:
        await asyncio.to_thread(handle.seek, start)
        remaining = stop - start
        while remaining > 0:
            data = await asyncio.to_thread(handle.read, min(IO_CHUNK_SIZE, remaining))
            if not data:
                break
            await response.write(data)
            remaining -= len(data)
    finally:
        handle.close()
    await response.write_eof()
    return response


def _range_not_satisfiable(size: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        status=416,
        headers={**headers, "Content-Range": f"bytes */{size}"},
        text="requested range is not satisfiable",
    )


async def handle_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG_KEY]
    store = app[STORE_KEY]

    async def sweep_forever() -> None:
        while True:
            try:
                deleted = await asyncio.to_thread(
                    store.delete_expired,
                    time.time(),
                    config.blob_ttl_seconds,
                    config.partial_ttl_seconds,
                )
                if deleted:
                    logger.info("deleted %d expired blobs and partial uploads", deleted)
            except OSError:
                logger.exception("sweeping expired blobs failed; retrying next interval")
            await asyncio.sleep(config.sweep_interval_seconds)

    task = asyncio.create_task(sweep_forever())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_media_app(config: MediaServiceConfig, store: BlobStore | None = None) -> web.Application:
    """Build the media service application; mount it with `add_subapp` or run `MediaServer`."""
    app = web.Application(client_max_size=1024**2)
    app[CONFIG_KEY] = config
    app[STORE_KEY] = store if store is not None else FilesystemBlobStore(config.root)
    app[LOCKS_KEY] = set()
    app.router.add_get("/healthz", handle_health)
    app.router.add_get("/v1/uploads/{blob_id}", handle_upload_status)
    app.router.add_put("/v1/blobs/{blob_id}", handle_upload)
    app.router.add_post("/v1/blobs/{blob_id}/references", handle_reference)
    app.router.add_get("/v1/blobs/{blob_id}", handle_download)  # also answers HEAD
    app.cleanup_ctx.append(_sweeper)
    return app


class MediaServer:
    """Runs the media service on its own TCP port."""

    def __init__(self, config: MediaServiceConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Start listening; return the base URL, with the bound port when `port` was 0."""
        self._runner = web.AppRunner(create_media_app(self.config), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        for address in self._runner.addresses:
            self.port = int(address[1])  # the bound port, also when 0 was asked for
            break
        logger.info(
            "media service listening on http://%s:%d (storage %s)",
            self.host,
            self.port,
            self.config.root,
        )
        return self.base_url

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            logger.info("media service stopped")
