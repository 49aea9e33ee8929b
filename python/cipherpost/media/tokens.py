"""Short-lived upload tokens for the media service.

The gateway mints a token for a device that is authenticated on its connection and asks to
upload; the media service checks it without any shared state beyond the secret. A token is
`v1.<payload>.<tag>`: the payload is base64url JSON (user, device, size limit, expiry, random
id) and the tag is HMAC-SHA256 over `v1.<payload>` with the shared secret, base64url.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from cipherpost.exceptions import InvalidMediaArgumentError, UploadTokenError
from cipherpost.protocol.frames import MAX_DEVICE_ID

TOKEN_VERSION = "v1"
#: Lifetime of an upload token. NOTE: a guess; long enough to start an upload after asking,
#: short enough that a leaked token is soon useless. A resumed upload after expiry needs a new one.
UPLOAD_TOKEN_TTL_SECONDS = 300
#: Minimum secret length: HMAC-SHA256 gains nothing from keys longer than its block, and keys
#: shorter than the 32-byte output weaken it.
MIN_SECRET_LENGTH = 32
#: Upper bound on a token's length, so that a huge header is rejected before any parsing.
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """Permission carried by a valid token: uploads by this device of blobs up to `max_bytes`."""

    user_id: str
    device_id: int
    max_bytes: int
    expires_at: int
    token_id: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_LENGTH:
        raise InvalidMediaArgumentError(
            f"upload token secret has {len(secret)} bytes; use at least {MIN_SECRET_LENGTH} "
            "random bytes (for example `secrets.token_bytes(32)`)"
        )


def _tag(secret: bytes, signed_part: str) -> bytes:
    return hmac.new(secret, signed_part.encode("ascii"), hashlib.sha256).digest()


def mint_upload_token(
    secret: bytes,
    user_id: str,
    device_id: int,
    *,
    max_bytes: int,
    ttl_seconds: int = UPLOAD_TOKEN_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """Mint a token that lets `user_id`/`device_id` upload blobs of up to `max_bytes` bytes.

    The gateway calls this when an authenticated device asks for an upload token; the caller
    is responsible for that authentication.
    """
    _check_secret(secret)
    if not user_id:
        raise InvalidMediaArgumentError("user id is empty; give the user the token is issued to")
    if not 1 <= device_id <= MAX_DEVICE_ID:
        raise InvalidMediaArgumentError(
            f"device id {device_id} is outside 1..{MAX_DEVICE_ID}; give a registered device's id"
        )
    if max_bytes <= 0 or ttl_seconds <= 0:
        raise InvalidMediaArgumentError(
            f"max_bytes ({max_bytes}) and ttl_seconds ({ttl_seconds}) must be positive"
        )
    issued = time.time() if now is None else now
    payload = {
        "u": user_id,
        "d": device_id,
        "m": max_bytes,
        "e": int(issued) + ttl_seconds,
        "i": secrets.token_hex(8),
    }
    body = _b64encode(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    signed_part = f"{TOKEN_VERSION}.{body}"
    return f"{signed_part}.{_b64encode(_tag(secret, signed_part))}"


def token_max_bytes(token: str) -> int | None:
    """Return the blob size limit a token states, or None if it cannot be read.

    The signature is not checked: a client uses this only to fail early on a blob that the
    service would reject anyway, and the service still verifies the token.
    """
    parts = token.split(".")
    if len(token) > MAX_TOKEN_LENGTH or len(parts) != 3:
        return None
    try:
        return int(json.loads(_b64decode(parts[1]))["m"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def verify_upload_token(secret: bytes, token: str, *, now: float | None = None) -> UploadGrant:
    """Check a token's signature and expiry; return what it grants or raise UploadTokenError."""
    _check_secret(secret)

    if len(token) > MAX_TOKEN_LENGTH:
        raise UploadTokenError(f"upload token is longer than {MAX_TOKEN_LENGTH} characters", 401)
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        raise UploadTokenError("upload token is malformed; ask the gateway for a new one", 401)

    signed_part = f"{parts[0]}.{parts[1]}"
    try:
        tag = _b64decode(parts[2])
        payload = json.loads(_b64decode(parts[1]))
    except (binascii.Error, ValueError) as error:
        raise UploadTokenError(f"upload token is malformed: {error}", 401) from error
    if not hmac.compare_digest(tag, _tag(secret, signed_part)):
        raise UploadTokenError("upload token signature is invalid", 401)

    try:
        grant = UploadGrant(
            user_id=str(payload["u"]),
            device_id=int(payload["d"]),
            max_bytes=int(payload["m"]),
            expires_at=int(payload["e"]),
            token_id=str(payload["i"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise UploadTokenError(f"upload token payload is incomplete: {error}", 401) from error
    current = time.time() if now is None else now
    if current >= grant.expires_at:
        raise UploadTokenError(
            "upload token has expired; ask the gateway for a new one and resume the upload", 401
        )
    return grant
