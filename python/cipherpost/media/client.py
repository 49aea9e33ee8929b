"""HTTP client of the media service: resumable upload and download of encrypted blobs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import aiohttp

from cipherpost.exceptions import MediaTransferError, UploadTokenError
from cipherpost.media.storage import check_blob_id
from cipherpost.media.tokens import token_max_bytes

logger = logging.getLogger("cipherpost.media.client")

#: Called with (bytes done, bytes total) as a transfer progresses.
ProgressCallback = Callable[[int, int], None]

#: Bytes read from the file per upload body piece and written per download piece.
TRANSFER_CHUNK_SIZE = 256 * 1024
#: Attempts of one transfer before giving up, counting the first. Each retry resumes.
MAX_ATTEMPTS = 5
#: Wait before the first retry, doubled for each further one.
RETRY_DELAY_SECONDS = 0.5
#: Timeout for connecting and for each read from the server.
SOCKET_TIMEOUT_SECONDS = 30.0

# Characters of a media service error shown to the user; the service's messages are shorter.
ERROR_DETAIL_CHARS = 300


class MediaClient:
    """Uploads and downloads blobs on one media service; use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession | None = None,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        retry_delay: float = RETRY_DELAY_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=SOCKET_TIMEOUT_SECONDS, sock_read=SOCKET_TIMEOUT_SECONDS
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("MediaClient is not open; use 'async with MediaClient(...)'")
        return self._session

    def blob_url(self, blob_id: str) -> str:
        return f"{self.base_url}/v1/blobs/{check_blob_id(blob_id)}"

    async def upload_offset(self, blob_id: str, token: str) -> tuple[int, bool]:
        """Return (stored bytes, complete) for an upload, to know where to resume."""
        url = f"{self.base_url}/v1/uploads/{check_blob_id(blob_id)}"
        async with self.session.get(url, headers=_auth(token)) as response:
            await _raise_for_status(response, "upload status")
            body = await response.json()
            return int(body["offset"]), bool(body["complete"])

    async def upload_file(
        self,
        path: str | os.PathLike[str],
        blob_id: str,
        token: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Upload an encrypted file under `blob_id`, resuming after interruptions."""
        total = os.path.getsize(path)
        allowed = token_max_bytes(token)
        if allowed is not None and total > allowed:
            # The service would answer 413 only after receiving the whole body.
            raise MediaTransferError(
                f"blob {blob_id} is {total} bytes, but the upload token allows at most {allowed}; "
                "send a smaller file or get a token with a larger limit",
                413,
            )
        for attempt in range(1, self.max_attempts + 1):
            try:
                offset, complete = await self.upload_offset(blob_id, token)
                if progress is not None:
                    progress(offset, total)
                if complete:
                    return
                if await self._upload_from(path, blob_id, token, offset, total, progress):
                    return
            except (TimeoutError, aiohttp.ClientConnectionError) as error:
                if attempt == self.max_attempts:
                    raise MediaTransferError(
                        f"upload of blob {blob_id} failed after {attempt} attempts: {error}"
                    ) from error
                logger.warning(
                    "upload of blob %s interrupted (%s); resuming, attempt %d of %d",
                    blob_id,
                    error,
                    attempt + 1,
                    self.max_attempts,
                )
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        raise MediaTransferError(f"upload of blob {blob_id} did not complete")

    async def _upload_from(
        self,
        path: str | os.PathLike[str],
        blob_id: str,
        token: str,
        offset: int,
        total: int,
        progress: ProgressCallback | None,
    ) -> bool:
        headers = _auth(token)
        headers["Content-Type"] = "application/octet-stream"
        if total > 0:
            headers["Content-Range"] = f"bytes {offset}-{total - 1}/{total}"
        headers["Content-Length"] = str(total - offset)
        body = _file_body(path, offset, total, progress)
        async with self.session.put(self.blob_url(blob_id), data=body, headers=headers) as response:
            if response.status == 409:
                return False  # the stored offset moved; ask again
            await _raise_for_status(response, "upload")
            result = await response.json()
            return bool(result.get("complete"))

    async def add_reference(self, blob_id: str, token: str) -> None:
        """Mark a stored blob as referenced again (a forwarded attachment), so it does not expire."""
        url = f"{self.blob_url(blob_id)}/references"
        async with self.session.post(url, headers=_auth(token)) as response:
            await _raise_for_status(response, "reference")

    async def download_file(
        self,
        blob_id: str,
        path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Download a blob to `path`, resuming with Range requests after interruptions.

        The bytes are not checked here; `decrypt_file` checks them against the media message.
        """
        target = Path(path)
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._download_from(blob_id, target, progress)
                return
            except (
                TimeoutError,
                aiohttp.ClientConnectionError,
                aiohttp.ClientPayloadError,
            ) as error:
                if attempt == self.max_attempts:
                    raise MediaTransferError(
                        f"download of blob {blob_id} failed after {attempt} attempts: {error}"
                    ) from error
                logger.warning(
                    "download of blob %s interrupted (%s); resuming, attempt %d of %d",
                    blob_id,
                    error,
                    attempt + 1,
                    self.max_attempts,
                )
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))

    async def _download_from(
        self, blob_id: str, target: Path, progress: ProgressCallback | None
    ) -> None:
        have = target.stat().st_size if target.exists() else 0
        headers = {}
        if have:
            headers["Range"] = f"bytes={have}-"
            headers["If-Range"] = f'"{blob_id}"'
        async with self.session.get(self.blob_url(blob_id), headers=headers) as response:
            if response.status == 416 and have:
                return  # the file is already complete
            await _raise_for_status(response, "download")
            if response.status == 200:
                have = 0  # the server sent the whole blob
            total = have + (response.content_length or 0)
            handle = await asyncio.to_thread(open, target, "r+b" if have else "wb")
            with handle:
                await asyncio.to_thread(handle.seek, have)
                await asyncio.to_thread(handle.truncate)
                done = have
                async for data in response.content.iter_chunked(TRANSFER_CHUNK_SIZE):
                    await asyncio.to_thread(handle.write, data)
                    done += len(data)
                    if progress is not None:
                        progress(done, total)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _file_body(
    path: str | os.PathLike[str], offset: int, total: int, progress: ProgressCallback | None
) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(open, path, "rb")
    with handle:
        await asyncio.to_thread(handle.seek, offset)
        done = offset
        while True:
            data = await asyncio.to_thread(handle.read, TRANSFER_CHUNK_SIZE)
            if not data:
                return
            done += len(data)
            yield data
            if progress is not None:
                progress(done, total)


async def _raise_for_status(response: aiohttp.ClientResponse, what: str) -> None:
    if response.status < 400:
        return
    detail = ""
    with contextlib.suppress(aiohttp.ClientError, UnicodeDecodeError):
        detail = _error_detail(await response.text())
    message = f"media service rejected the {what} with HTTP {response.status}: {detail}"
    if response.status == 401:
        raise UploadTokenError(
            f"{message}; get a new upload token (from the gateway, or with `cipherpost media "
            "token` on the media service's data directory)",
            response.status,
        )
    raise MediaTransferError(message, response.status)


def _error_detail(body: str) -> str:
    """Return the `error` text of a JSON error body, else the start of the body."""
    try:
        value = json.loads(body)
    except ValueError:
        return body[:ERROR_DETAIL_CHARS]
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, str):
        return error[:ERROR_DETAIL_CHARS]
    return body[:ERROR_DETAIL_CHARS]
