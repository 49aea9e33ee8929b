"""The media message: what an E2EE message carries so that the receiver can fetch and decrypt
one attachment.

Serialization (version 1) is UTF-8 JSON with sorted keys and these fields; binary values are
standard base64, lengths in bytes, durations in milliseconds:

    kind             "cipherpost.media" (marks the plaintext of an E2EE message as media)
    v                1
    media_type       a name from cipherpost.media.MEDIA_TYPES, selecting the HKDF info
    download_id      the blob's id on the media service (hex of file_enc_sha256)
    media_key        32 bytes
    file_sha256      32 bytes, SHA-256 of the plaintext
    file_enc_sha256  32 bytes, SHA-256 of the blob
    file_length      plaintext length
    mime_type        for example "image/jpeg"
    width, height    pixels (images and video), optional
    duration_ms      video and audio, optional
    thumbnail        a small JPEG, optional
    file_name        the sender's file name for documents, optional
    sidecar          streaming sidecar for video and audio, optional

The message itself is only ever sent inside a Signal-encrypted message, so the media key never
reaches the server.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cipherpost.exceptions import InvalidMediaArgumentError
from cipherpost.media.cipher import MEDIA_KEY_LENGTH, MEDIA_TYPES, SHA256_LENGTH

MESSAGE_KIND = "cipherpost.media"
MESSAGE_VERSION = 1
#: Largest serialized media message. Signal-Server limits a message to 96 KiB; this leaves room
#: for the Signal envelope around it.
MAX_MESSAGE_BYTES = 64 * 1024
#: Largest inline thumbnail. NOTE: a guess that fits a 96 px JPEG many times over.
MAX_THUMBNAIL_BYTES = 32 * 1024
MAX_FILE_NAME_LENGTH = 255
_DOWNLOAD_ID = re.compile(r"^[0-9a-f]{64}$")
_MIME_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


@dataclass(frozen=True, slots=True)
class MediaMessage:
    """One attachment, as announced to the receiver."""

    media_type: str
    download_id: str
    media_key: bytes
    file_sha256: bytes
    file_enc_sha256: bytes
    file_length: int
    mime_type: str
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    thumbnail: bytes | None = None
    file_name: str | None = None
    sidecar: bytes | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def __repr__(self) -> str:
        return (
            f"MediaMessage(media_type={self.media_type!r}, download_id={self.download_id!r}, "
            f"file_length={self.file_length}, mime_type={self.mime_type!r})"
        )

    def to_bytes(self) -> bytes:
        """Serialize as version-1 JSON; raise InvalidMediaArgumentError if it is too large."""
        fields: dict[str, Any] = {
            "kind": MESSAGE_KIND,
            "v": MESSAGE_VERSION,
            "media_type": self.media_type,
            "download_id": self.download_id,
            "media_key": _b64(self.media_key),
            "file_sha256": _b64(self.file_sha256),
            "file_enc_sha256": _b64(self.file_enc_sha256),
            "file_length": self.file_length,
            "mime_type": self.mime_type,
        }
        optional: dict[str, Any] = {
            "width": self.width,
            "height": self.height,
            "duration_ms": self.duration_ms,
            "thumbnail": None if self.thumbnail is None else _b64(self.thumbnail),
            "file_name": self.file_name,
            "sidecar": None if self.sidecar is None else _b64(self.sidecar),
        }
        fields.update({name: value for name, value in optional.items() if value is not None})
        data = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_MESSAGE_BYTES:
            raise InvalidMediaArgumentError(
                f"media message is {len(data)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit; "
                "send a smaller thumbnail or leave out the sidecar"
            )
        return data

    @classmethod
    def from_bytes(cls, data: bytes) -> MediaMessage:
        """Parse and validate a serialized media message."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise InvalidMediaArgumentError(
                f"media message is {len(data)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"
            )
        try:
            fields = json.loads(data)
        except (UnicodeDecodeError, ValueError) as error:
            raise InvalidMediaArgumentError(f"media message is not valid JSON: {error}") from error
        if not isinstance(fields, dict) or fields.get("kind") != MESSAGE_KIND:
            raise InvalidMediaArgumentError("payload is not a cipherpost media message")
        if fields.get("v") != MESSAGE_VERSION:
            raise InvalidMediaArgumentError(
                f"media message version {fields.get('v')!r} is not supported (expected "
                f"{MESSAGE_VERSION}); update cipherpost"
            )
        try:
            return cls(
                media_type=fields["media_type"],
                download_id=fields["download_id"],
                media_key=_unb64(fields["media_key"], "media_key"),
                file_sha256=_unb64(fields["file_sha256"], "file_sha256"),
                file_enc_sha256=_unb64(fields["file_enc_sha256"], "file_enc_sha256"),
                file_length=fields["file_length"],
                mime_type=fields["mime_type"],
                width=fields.get("width"),
                height=fields.get("height"),
                duration_ms=fields.get("duration_ms"),
                thumbnail=_unb64_optional(fields.get("thumbnail"), "thumbnail"),
                file_name=fields.get("file_name"),
                sidecar=_unb64_optional(fields.get("sidecar"), "sidecar"),
            )
        except KeyError as error:
            raise InvalidMediaArgumentError(f"media message lacks the field {error}") from error


def is_media_message(data: bytes) -> bool:
    """Tell whether a decrypted message body is a media message, without validating it."""
    return data.startswith(b"{") and f'"kind":"{MESSAGE_KIND}"'.encode() in data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidMediaArgumentError(f"media message field {name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise InvalidMediaArgumentError(f"media message field {name} is not base64") from error


def _unb64_optional(value: object, name: str) -> bytes | None:
    return None if value is None else _unb64(value, name)


def _check_int(name: str, value: object, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidMediaArgumentError(
            f"media message field {name} must be a non-negative integer, got {value!r}"
        )


def _validate(message: MediaMessage) -> None:
    if message.media_type not in MEDIA_TYPES:
        raise InvalidMediaArgumentError(
            f"unknown media type {message.media_type!r}; use one of {', '.join(MEDIA_TYPES)}"
        )
    if not isinstance(message.download_id, str) or not _DOWNLOAD_ID.match(message.download_id):
        raise InvalidMediaArgumentError("download_id must be 64 lowercase hex digits")
    for name, value, length in (
        ("media_key", message.media_key, MEDIA_KEY_LENGTH),
        ("file_sha256", message.file_sha256, SHA256_LENGTH),
        ("file_enc_sha256", message.file_enc_sha256, SHA256_LENGTH),
    ):
        if not isinstance(value, bytes) or len(value) != length:
            raise InvalidMediaArgumentError(f"{name} must be {length} bytes")
    _check_int("file_length", message.file_length, optional=False)
    for name in ("width", "height", "duration_ms"):
        _check_int(name, getattr(message, name), optional=True)
    if not isinstance(message.mime_type, str) or not _MIME_TYPE.match(message.mime_type):
        raise InvalidMediaArgumentError(f"mime_type {message.mime_type!r} is not a MIME type")
    if message.thumbnail is not None and len(message.thumbnail) > MAX_THUMBNAIL_BYTES:
        raise InvalidMediaArgumentError(
            f"thumbnail is {len(message.thumbnail)} bytes, over {MAX_THUMBNAIL_BYTES}"
        )
    if message.file_name is not None and (
        not isinstance(message.file_name, str)
        or len(message.file_name) > MAX_FILE_NAME_LENGTH
        or "/" in message.file_name
        or "\\" in message.file_name
        or "\x00" in message.file_name
        or message.file_name in ("", ".", "..")
    ):
        raise InvalidMediaArgumentError(
            "file_name must be a plain file name of at most "
            f"{MAX_FILE_NAME_LENGTH} characters without path separators"
        )
