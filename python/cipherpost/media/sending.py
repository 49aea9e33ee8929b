"""Attachments over the messaging client: send a file to a user, save one that arrived.

The media message travels as the text of an ordinary E2EE message (its JSON serialization), so
the gateway sees only another Signal ciphertext. Upload tokens come from the media service's
secret; until the gateway hands them out over the device connection, the sender passes one in
(`cipherpost media token`, or the `CIPHERPOST_MEDIA_TOKEN` environment variable).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cipherpost.exceptions import InvalidMediaArgumentError
from cipherpost.media.client import MediaClient, ProgressCallback
from cipherpost.media.message import MediaMessage, is_media_message
from cipherpost.media.pipeline import prepare_and_upload, receive_media

if TYPE_CHECKING:
    from cipherpost.client import Client

MEDIA_URL_ENV = "CIPHERPOST_MEDIA_URL"
MEDIA_TOKEN_ENV = "CIPHERPOST_MEDIA_TOKEN"


def media_url_from(value: str | None) -> str:
    """Return the media service URL from an option or `CIPHERPOST_MEDIA_URL`."""
    url = value or os.environ.get(MEDIA_URL_ENV)
    if not url:
        raise InvalidMediaArgumentError(
            f"no media service URL: pass --media-url or set {MEDIA_URL_ENV} "
            "(the address `cipherpost media serve` prints)"
        )
    return url


def media_token_from(value: str | None) -> str:
    """Return an upload token from an option or `CIPHERPOST_MEDIA_TOKEN`."""
    token = value or os.environ.get(MEDIA_TOKEN_ENV)
    if not token:
        raise InvalidMediaArgumentError(
            f"no upload token: pass --media-token or set {MEDIA_TOKEN_ENV} "
            "(`cipherpost media token --user USER` mints one)"
        )
    return token


async def send_media(
    client: Client,
    user: str,
    path: str | os.PathLike[str],
    *,
    media_url: str,
    token: str,
    kind: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[bytes, MediaMessage]:
    """Compress, encrypt and upload `path`, then send its media message to every device of
    `user`; return (message id, media message)."""
    async with MediaClient(media_url) as media:
        message = await prepare_and_upload(
            path, client=media, token=token, kind=kind, progress=progress
        )
    message_id = await client.send_text(user, message.to_bytes().decode("utf-8"))
    return message_id, message


def media_message_in(text: str) -> MediaMessage | None:
    """Return the media message carried by a received text, or None for an ordinary text."""
    data = text.encode("utf-8")
    if not is_media_message(data):
        return None
    return MediaMessage.from_bytes(data)


async def save_media(
    message: MediaMessage,
    dest_dir: str | os.PathLike[str],
    *,
    media_url: str,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download, verify and decrypt an attachment into `dest_dir`; return the file's path."""
    async with MediaClient(media_url) as media:
        return await receive_media(message, client=media, dest_dir=dest_dir, progress=progress)


def describe(message: MediaMessage) -> str:
    """Return a one-line summary such as `image 1600×1200, 183 kB`."""
    parts = [message.media_type]
    if message.width and message.height:
        parts.append(f"{message.width}×{message.height}")
    if message.duration_ms:
        parts.append(f"{message.duration_ms / 1000:.1f} s")
    summary = " ".join(parts)
    return f"{summary}, {message.file_length / 1000:.0f} kB"
