"""Frame kinds, flags, close reasons, error codes and body codecs of the gateway protocol.

The byte layout is specified in docs/protocol.md. The header (kind, flags, seq, message id) is
coded by the Cython module `cipherpost._framing`; this module codes the bodies. Data-plane
bodies (SEND, DELIVER, STATUS) are binary because they are on the hot path. Control-plane
bodies (registration, prekeys, results and errors) are UTF-8 JSON objects, with keys and other
byte strings in unpadded URL-safe base64.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cipherpost._framing import FRAME_HEADER_SIZE, FRAME_MESSAGE_ID_SIZE, Frame
from cipherpost.exceptions import ProtocolError

HEADER_SIZE = FRAME_HEADER_SIZE
MESSAGE_ID_SIZE = FRAME_MESSAGE_ID_SIZE
NO_MESSAGE_ID = bytes(MESSAGE_ID_SIZE)

# Largest ciphertext for one device. Signal-Server accepts messages up to 96 KiB.
MAX_CIPHERTEXT_SIZE = 96 * 1024

# Maximum devices per account: a primary plus five linked devices, as Signal allows.
MAX_DEVICES_PER_ACCOUNT = 6

# Largest frame, header included. A SEND to a full account carries one ciphertext for each of
# its six devices, so the limit is six maximum ciphertexts plus 64 KiB for headers and the
# per-device fields. The gateway buffers at most one such frame per connection.
MAX_FRAME_SIZE = MAX_DEVICES_PER_ACCOUNT * MAX_CIPHERTEXT_SIZE + 64 * 1024

# Maximum user id length in UTF-8 bytes, because SEND and DELIVER code it in one byte.
MAX_USER_ID_BYTES = 255

# Largest device id; frames code it in two bytes.
MAX_DEVICE_ID = 0xFFFF


class Kind(IntEnum):
    """Frame kinds. Values below 0x80 are sent by clients, 0x80 and above by the gateway."""

    HELLO = 0x01  # authenticate with the transport key of a registered device
    REGISTER = 0x02  # create an account with its primary device
    LINK = 0x03  # add a device to an account with a link code
    LINK_CODE = 0x04  # request a single-use link code (authenticated device)
    UNLINK = 0x05  # remove a device of the own account
    DEVICES = 0x06  # request a user's device list
    PREKEYS_UPLOAD = 0x10
    PREKEY_COUNT = 0x11
    PREKEY_CLAIM = 0x12
    SEND = 0x20  # envelopes for every device of one user
    ACK = 0x21  # acknowledge (and so delete) a queued DELIVER or STATUS by its seq
    RECEIPT = 0x22  # read receipt for a message received from another user
    PONG = 0x23  # reply to PING; any frame shows the peer is alive, PONG is the empty one
    MEDIA_TOKEN = 0x30  # request an upload token for the media service

    RESULT = 0x80  # successful response; seq is the request id
    ERROR = 0x81  # failed request; seq is the request id
    DELIVER = 0x82  # an envelope from the device's queue; seq is its queue sequence number
    STATUS = 0x83  # DELIVERED or READ for a message this user sent; seq is its queue sequence
    SENT = 0x84  # the envelopes of a SEND are durably stored; seq is the request id
    NOTICE = 0x85  # unsolicited notice, such as low one-time prekeys
    DISCONNECT = 0x86  # the gateway closes the connection; flags carry the reason
    DRAINED = 0x87  # every envelope queued before the connection was delivered
    PING = 0x88  # keepalive; the device replies with PONG (same seq)
    DELIVER_BATCH = 0x89  # several queued envelopes in one frame while a queue drains


CLIENT_KINDS = frozenset(kind for kind in Kind if kind < 0x80)


class Reason(IntEnum):
    """Close reasons, sent in the flags of a DISCONNECT frame."""

    NORMAL = 1
    MALFORMED_FRAME = 2  # the same value as cipherpost._framing.REASON_MALFORMED_FRAME
    FRAME_TOO_LARGE = 3  # the same value as cipherpost._framing.REASON_FRAME_TOO_LARGE
    TRANSPORT_FAILED = 4  # handshake failed or a record did not decrypt
    AUTH_FAILED = 5
    TAKEOVER = 6  # a newer connection of the same device replaced this one
    UNEXPECTED_FRAME = 7  # a frame kind that is not allowed in the connection's state
    DEVICE_REMOVED = 8
    SHUTDOWN = 9
    KEEPALIVE_TIMEOUT = 10  # no frame arrived within the keepalive timeout after a PING
    RATE_LIMITED = 11  # too many connections from this address; seq carries retry-after ms


# A client must not reconnect on its own after these reasons. A takeover means another client
# now uses the device, so reconnecting would make the two fight over it.
NO_RECONNECT_REASONS = frozenset({Reason.TAKEOVER, Reason.DEVICE_REMOVED, Reason.AUTH_FAILED})


class ErrorCode(IntEnum):
    """Codes in ERROR bodies, modelled on HTTP status codes."""

    BAD_REQUEST = 400
    UNAUTHENTICATED = 401
    FORBIDDEN = 403
    NOT_FOUND = 404
    DEVICE_MISMATCH = 409
    ALREADY_REGISTERED = 422  # user id or transport key already registered
    TOO_LARGE = 413
    LIMIT_REACHED = 429
    # Alias of LIMIT_REACHED: a rate limit rejected the request, and the ERROR body carries
    # `retry_after_ms`. HTTP uses 429 for both.
    RATE_LIMITED = 429
    INTERNAL = 500
    QUEUE_FULL = 507  # a recipient device's queue is full; nothing was stored


class Status(IntEnum):
    """Delivery ticks; STATUS frames carry the value in their flags."""

    PENDING = 0
    SENT = 1  # ✓ durably stored by the gateway
    DELIVERED = 2  # ✓✓ acknowledged by a first recipient device
    READ = 3
    # The message expired in the queue of every recipient device before any acknowledged it.
    # It is final: no DELIVERED or READ follows it.
    EXPIRED = 4


class SendFlag(IntEnum):
    """Bits in the flags of SEND and DELIVER."""

    # Typing indicators, call candidates and the like: a short time to live of their own,
    # no place in the queue length limit, no ticks, sent after the backlog while draining.
    EPHEMERAL = 0x01


class NoticeType(IntEnum):
    """NOTICE subtypes, carried in the flags."""

    PREKEYS_LOW = 1  # body {"count": n}: upload more one-time prekeys
    DEVICES_CHANGED = 2  # body {"devices": [...]}: the own account linked or unlinked a device


# --- control-plane bodies --------------------------------------------------------------------


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise ProtocolError(Reason.MALFORMED_FRAME, f"field {field!r} must be a base64 string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as error:
        raise ProtocolError(Reason.MALFORMED_FRAME, f"field {field!r} is not base64") from error


def encode_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def decode_json(body: bytes) -> dict[str, Any]:
    """Decode a control-plane body; raise ProtocolError unless it is a JSON object."""
    try:
        value = json.loads(body) if body else {}
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(Reason.MALFORMED_FRAME, "frame body is not valid JSON") from error
    if not isinstance(value, dict):
        raise ProtocolError(Reason.MALFORMED_FRAME, "frame body is not a JSON object")
    return value


def require_str(value: dict[str, Any], field: str) -> str:
    item = value.get(field)
    if not isinstance(item, str) or not item:
        raise ProtocolError(Reason.MALFORMED_FRAME, f"field {field!r} must be a non-empty string")
    return item


def require_int(value: dict[str, Any], field: str, low: int, high: int) -> int:
    item = value.get(field)
    if not isinstance(item, int) or isinstance(item, bool) or not low <= item <= high:
        raise ProtocolError(
            Reason.MALFORMED_FRAME, f"field {field!r} must be an integer in {low}..{high}"
        )
    return item


def validate_user_id(user: str) -> str:
    encoded = user.encode()
    if not encoded or len(encoded) > MAX_USER_ID_BYTES or not user.isprintable():
        raise ProtocolError(
            Reason.MALFORMED_FRAME,
            f"user id {user!r} must be 1..{MAX_USER_ID_BYTES} bytes of printable UTF-8",
        )
    return user


# --- data-plane bodies -----------------------------------------------------------------------

_SEND_FIXED = struct.Struct(">QB")  # client timestamp in ms, number of device envelopes
_SEND_DEVICE = struct.Struct(">HBI")  # device id, ciphertext type, ciphertext length
_DELIVER_FIXED = struct.Struct(">HBQ")  # sender device, ciphertext type, client timestamp


@dataclass(frozen=True, slots=True)
class DeviceEnvelope:
    device_id: int
    type: int  # Signal ciphertext type: 3 prekey message, 2 Signal message
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class SendBody:
    recipient: str
    timestamp_ms: int
    envelopes: tuple[DeviceEnvelope, ...]


def encode_send(body: SendBody) -> bytes:
    user = body.recipient.encode()
    parts = [bytes([len(user)]), user, _SEND_FIXED.pack(body.timestamp_ms, len(body.envelopes))]
    for envelope in body.envelopes:
        parts.append(_SEND_DEVICE.pack(envelope.device_id, envelope.type, len(envelope.ciphertext)))
        parts.append(envelope.ciphertext)
    return b"".join(parts)


def decode_send(data: bytes) -> SendBody:
    """Decode a SEND body; raise ProtocolError on any inconsistency."""
    try:
        user_length = data[0]
        offset = 1 + user_length
        recipient = data[1:offset].decode()
        timestamp_ms, count = _SEND_FIXED.unpack_from(data, offset)
        offset += _SEND_FIXED.size
        envelopes = []
        seen: set[int] = set()
        for _ in range(count):
            device_id, kind, length = _SEND_DEVICE.unpack_from(data, offset)
            offset += _SEND_DEVICE.size
            if length > MAX_CIPHERTEXT_SIZE or offset + length > len(data):
                raise ProtocolError(
                    Reason.MALFORMED_FRAME,
                    f"ciphertext for device {device_id} has length {length}, beyond the body "
                    f"or the {MAX_CIPHERTEXT_SIZE}-byte maximum",
                )
            if device_id in seen:
                raise ProtocolError(Reason.MALFORMED_FRAME, f"device {device_id} appears twice")
            seen.add(device_id)
            envelopes.append(DeviceEnvelope(device_id, kind, data[offset : offset + length]))
            offset += length
    except (IndexError, struct.error, UnicodeDecodeError) as error:
        raise ProtocolError(Reason.MALFORMED_FRAME, "SEND body is truncated") from error
    if offset != len(data):
        raise ProtocolError(Reason.MALFORMED_FRAME, "SEND body has trailing bytes")
    if not envelopes:
        raise ProtocolError(Reason.MALFORMED_FRAME, "SEND body names no device")
    return SendBody(validate_user_id(recipient), timestamp_ms, tuple(envelopes))


@dataclass(frozen=True, slots=True)
class DeliverBody:
    sender: str
    sender_device: int
    type: int
    timestamp_ms: int
    ciphertext: bytes


def encode_deliver(
    sender: str, sender_device: int, kind: int, timestamp_ms: int, ciphertext: bytes
) -> bytes:
    user = sender.encode()
    return b"".join(
        (
            bytes([len(user)]),
            user,
            _DELIVER_FIXED.pack(sender_device, kind, timestamp_ms),
            ciphertext,
        )
    )


def decode_deliver(data: bytes) -> DeliverBody:
    try:
        offset = 1 + data[0]
        sender = data[1:offset].decode()
        sender_device, kind, timestamp_ms = _DELIVER_FIXED.unpack_from(data, offset)
    except (IndexError, struct.error, UnicodeDecodeError) as error:
        raise ProtocolError(Reason.MALFORMED_FRAME, "DELIVER body is truncated") from error
    ciphertext = data[offset + _DELIVER_FIXED.size :]
    return DeliverBody(sender, sender_device, kind, timestamp_ms, ciphertext)


def encode_user(user: str) -> bytes:
    """Body of STATUS (the recipient) and RECEIPT (the original sender): the UTF-8 user id."""
    return user.encode()


def decode_user(data: bytes) -> str:
    try:
        user = data.decode()
    except UnicodeDecodeError as error:
        raise ProtocolError(Reason.MALFORMED_FRAME, "user id is not UTF-8") from error
    return validate_user_id(user)


# --- DELIVER_BATCH ---------------------------------------------------------------------------

# One entry: kind, flags, queue seq, message id, body length, then the body of the DELIVER or
# STATUS frame it stands for.
_BATCH_ENTRY = struct.Struct(">BBQ16sI")


def encode_deliver_batch(entries: list[tuple[int, int, int, bytes, bytes]]) -> bytes:
    """Code (kind, flags, seq, message id, body) entries as a DELIVER_BATCH body."""
    parts = []
    for kind, flags, seq, message_id, body in entries:
        parts.append(_BATCH_ENTRY.pack(kind, flags, seq, message_id, len(body)))
        parts.append(body)
    return b"".join(parts)


def decode_deliver_batch(data: bytes) -> list[Frame]:
    """Split a DELIVER_BATCH body into the DELIVER and STATUS frames it carries."""
    frames = []
    offset = 0
    try:
        while offset < len(data):
            kind, flags, seq, message_id, length = _BATCH_ENTRY.unpack_from(data, offset)
            offset += _BATCH_ENTRY.size
            if kind not in (Kind.DELIVER, Kind.STATUS) or offset + length > len(data):
                raise ProtocolError(
                    Reason.MALFORMED_FRAME,
                    f"DELIVER_BATCH entry of kind {kind:#04x} and length {length} is invalid",
                )
            frames.append(Frame(kind, flags, seq, message_id, data[offset : offset + length]))
            offset += length
    except struct.error as error:
        raise ProtocolError(Reason.MALFORMED_FRAME, "DELIVER_BATCH body is truncated") from error
    return frames
