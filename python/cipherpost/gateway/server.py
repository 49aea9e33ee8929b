"""The gateway daemon: one asyncio Protocol object per device connection, no task each.

Wiring: bytes from a socket go through the sans-IO NoiseConnection (handshake, decryption,
frame splitting), and each frame is dispatched by kind. Store calls go to the StorageWorker
(group commit), whose callbacks queue frames. Connections with queued frames are flushed once
per event-loop iteration, so all frames for a connection in that iteration leave in one write.

Invariants:
- A connection reads and acknowledges only its own device's queue: the device is fixed by the
  Noise static key at authentication, and every queue call names that device.
- SENT is queued only in the callback of a committed store call.
- `presence` maps each device to its newest connection. A new connection replaces the old one
  in one step (the loop is single-threaded, so the read-and-replace cannot interleave), and a
  closing connection removes its entry only if it is still the one stored there.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from cipherpost._core import TransportKeyPair
from cipherpost._framing import Frame
from cipherpost.exceptions import (
    DeviceListMismatchError,
    GatewayError,
    ProtocolError,
    RateLimitedError,
    TransportError,
)
from cipherpost.gateway.config import GatewayConfig
from cipherpost.gateway.drain import DrainState, batch_entries
from cipherpost.gateway.keepalive import Keepalive
from cipherpost.gateway.keys import load_or_create_key
from cipherpost.gateway.metrics import GatewayStats, MetricsServer
from cipherpost.gateway.prekeys import PREKEY_LOW_WATER, parse_upload
from cipherpost.gateway.push import PushNotifier
from cipherpost.gateway.queues import QueuePolicy, is_ephemeral
from cipherpost.gateway.ratelimit import RateLimits
from cipherpost.gateway.worker import StorageWorker
from cipherpost.media.tokens import UPLOAD_TOKEN_TTL_SECONDS, mint_upload_token
from cipherpost.protocol.connection import NoiseConnection
from cipherpost.protocol.frames import (
    MAX_DEVICE_ID,
    ErrorCode,
    Kind,
    NoticeType,
    Reason,
    SendFlag,
    b64decode,
    b64encode,
    decode_json,
    decode_send,
    decode_user,
    encode_deliver,
    encode_deliver_batch,
    encode_json,
    encode_user,
    require_int,
    require_str,
    validate_user_id,
)
from cipherpost.storage import MemoryGatewayStore, SqliteGatewayStore
from cipherpost.storage.interfaces import DeviceRecord, GatewayStore, QueuedItem, SendOutcome

log = logging.getLogger("cipherpost.gateway")

# Registration ids are 14-bit in the Signal protocol (1..16380).
MAX_REGISTRATION_ID = 16380
IDENTITY_KEY_SIZE = 33
DB_FILE = "gateway.sqlite3"

# Connection states.
HANDSHAKE = 0  # Noise handshake in progress
UNAUTHENTICATED = 1  # encrypted, waiting for HELLO, REGISTER or LINK
AUTHENTICATING = 2  # a HELLO, REGISTER or LINK is being checked
DRAINING = 3  # authenticated, sending the queued backlog
LIVE = 4  # authenticated, backlog sent, new envelopes pushed as they are stored
CLOSED = 5

_UNAUTHENTICATED_KINDS = frozenset({Kind.HELLO, Kind.REGISTER, Kind.LINK})
_AUTHENTICATED_KINDS = frozenset(
    {
        Kind.LINK_CODE,
        Kind.UNLINK,
        Kind.DEVICES,
        Kind.PREKEYS_UPLOAD,
        Kind.PREKEY_COUNT,
        Kind.PREKEY_CLAIM,
        Kind.SEND,
        Kind.ACK,
        Kind.RECEIPT,
        Kind.MEDIA_TOKEN,
    }
)


def now_ms() -> int:
    return int(time.time() * 1000)


class GatewayConnection(asyncio.Protocol):
    """State of one device connection; kept small because idle connections dominate."""

    __slots__ = ("device", "dirty", "gateway", "high_water", "noise", "state", "transport")

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.noise = NoiseConnection(False, gateway.key)
        self.state = HANDSHAKE
        self.device: tuple[str, int] | None = None
        self.high_water = 0  # highest queue seq sent on this connection
        self.dirty = False  # queued in the gateway's flush list for this loop iteration

    # --- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport implements asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.gateway.unauthenticated.add(self)
        self.gateway.stats.connections_opened += 1
        retry_after_ms = self.gateway.limits.connections.try_take(self._peer_host())
        if retry_after_ms:
            # The retry-after travels in an encrypted DISCONNECT, so the connection is closed
            # right after the handshake; it never reaches HELLO or REGISTER.
            log.info("connection from %s rejected by the rate limit", self.peer)
            self.gateway.rate_limited[self] = retry_after_ms

    def data_received(self, data: bytes) -> None:
        if self.state == CLOSED:
            return
        self.gateway.keepalive.active.add(self)
        try:
            frames, reply = self.noise.receive(data)
            self.gateway.stats.frames_in += len(frames)
            if reply and self.transport is not None:
                self.transport.write(reply)
            if self.state == HANDSHAKE and self.noise.established:
                self.state = UNAUTHENTICATED
                if self.gateway.rate_limited:
                    self._reject_if_rate_limited()
            for frame in frames:
                if self.state == CLOSED:
                    break
                self.handle_frame(frame)
        except ProtocolError as error:
            log.warning("closing %s (%s): %s", self.name, Reason(error.reason).name, error)
            self.disconnect(Reason(error.reason), str(error))
        except TransportError as error:
            log.warning("closing %s: transport failed: %s", self.name, error)
            self.disconnect(Reason.TRANSPORT_FAILED, "transport failed")

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = CLOSED
        self.gateway.unauthenticated.discard(self)
        self.gateway.draining.pop(self, None)
        self.gateway.rate_limited.pop(self, None)
        self.gateway.keepalive.forget(self)
        if self.device is not None:
            self.gateway.remove_presence(self)
            log.info("device %s/%d disconnected", *self.device)

    # --- output --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        if self.device is not None:
            return f"device {self.device[0]}/{self.device[1]}"
        return f"connection from {self.peer}"

    @property
    def peer(self) -> str:
        """The remote address, looked up when logged rather than stored per connection."""
        address = self.transport.get_extra_info("peername") if self.transport else None
        return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)

    def _peer_host(self) -> str:
        """The remote IP address, the key of the per-address rate limits."""
        address = self.transport.get_extra_info("peername") if self.transport else None
        return str(address[0]) if isinstance(address, tuple) else str(address)

    def send_frame(
        self,
        kind: int,
        flags: int = 0,
        seq: int = 0,
        message_id: bytes | None = None,
        body: bytes = b"",
    ) -> None:
        """Queue a frame; it leaves with the connection's next flush this loop iteration."""
        if self.state == CLOSED:
            return
        if message_id is None:
            self.noise.queue_frame(kind, flags, seq, body=body)
        else:
            self.noise.queue_frame(kind, flags, seq, message_id, body)
        self.gateway.stats.frames_out += 1
        self.gateway.mark_dirty(self)

    def send_result(self, request_id: int, result: dict[str, Any]) -> None:
        self.send_frame(Kind.RESULT, seq=request_id, body=encode_json(result))

    def send_error(self, request_id: int, error: BaseException) -> None:
        if isinstance(error, RateLimitedError):
            body = {
                "code": error.code,
                "message": str(error),
                "retry_after_ms": error.retry_after_ms,
            }
        elif isinstance(error, DeviceListMismatchError):
            body = {
                "code": error.code,
                "message": str(error),
                "user": error.user,
                "devices": error.devices,
            }
        elif isinstance(error, GatewayError):
            body = {"code": error.code, "message": str(error)}
        else:
            body = {"code": int(ErrorCode.INTERNAL), "message": "internal gateway error"}
        self.send_frame(Kind.ERROR, seq=request_id, body=encode_json(body))

    def flush(self) -> None:
        transport = self.transport
        if transport is None or not self.noise.has_output:
            return
        if transport.is_closing():
            return
        transport.write(self.noise.take_output())

    def _reject_if_rate_limited(self) -> None:
        retry_after_ms = self.gateway.rate_limited.pop(self, 0)
        if retry_after_ms:
            self.disconnect(
                Reason.RATE_LIMITED,
                f"too many connections from this address; retry after {retry_after_ms} ms",
                retry_after_ms,
            )

    def disconnect(self, reason: Reason, text: str, retry_after_ms: int = 0) -> None:
        """Send DISCONNECT with `reason` (when the transport is up) and close. A rate-limited
        close carries `retry_after_ms` in the frame's seq."""
        if self.state == CLOSED:
            return
        if self.noise.established:
            self.send_frame(
                Kind.DISCONNECT, flags=int(reason), seq=retry_after_ms, body=text.encode()[:200]
            )
            self.flush()
        self.state = CLOSED
        if self.device is not None:
            self.gateway.remove_presence(self)
        if self.transport is not None:
            self.transport.close()

    def push(self, item: QueuedItem) -> None:
        """Send a queued item now if the connection is live and has not sent it yet."""
        if self.state != LIVE or item.seq <= self.high_water:
            return
        self._send_item(item)

    def _send_item(self, item: QueuedItem) -> None:
        self.high_water = max(self.high_water, item.seq)
        if item.kind == Kind.DELIVER:
            body = encode_deliver(
                item.peer, item.peer_device, item.type, item.timestamp_ms, item.body
            )
            self.send_frame(Kind.DELIVER, item.flags, item.seq, item.message_id, body)
        else:
            self.send_frame(
                Kind.STATUS, item.flags, item.seq, item.message_id, encode_user(item.peer)
            )

    # --- frame dispatch ------------------------------------------------------------------

    def handle_frame(self, frame: Frame) -> None:
        kind = frame.kind
        if kind == Kind.PONG:
            return  # any frame shows the peer is alive; data_received already noted it
        allowed = (
            _UNAUTHENTICATED_KINDS
            if self.state == UNAUTHENTICATED
            else _AUTHENTICATED_KINDS
            if self.state in (DRAINING, LIVE)
            else frozenset()
        )
        if kind not in allowed:
            raise ProtocolError(
                Reason.UNEXPECTED_FRAME,
                f"frame kind {kind:#04x} is not allowed in connection state {self.state}",
            )
        handler = _HANDLERS[kind]
        try:
            handler(self, frame)
        except GatewayError as error:
            self.send_error(frame.seq, error)

    def on_hello(self, frame: Frame) -> None:
        self.state = AUTHENTICATING
        key = self.noise.remote_static
        self.gateway.call(
            self.gateway.store.find_device,
            (key,),
            lambda device, error: self._authenticated(frame.seq, device, error, "hello"),
        )

    def on_register(self, frame: Frame) -> None:
        self.gateway.limits.registrations.take(self._peer_host(), "registrations from this address")
        body = decode_json(frame.body)
        user = validate_user_id(require_str(body, "user"))
        token = body.get("token")
        if self.gateway.config.registration == "token":
            if not isinstance(token, str) or not token:
                raise GatewayError(
                    ErrorCode.FORBIDDEN,
                    "this gateway registers only with a registration token; ask its operator",
                )
        else:
            token = None
        device = DeviceRecord(
            user,
            1,
            self._remote_key(),
            _identity_key(body),
            require_int(body, "registration_id", 1, MAX_REGISTRATION_ID),
        )
        self.state = AUTHENTICATING

        def create() -> DeviceRecord:
            self.gateway.store.create_account(device, token)
            return device

        self.gateway.call(
            create,
            (),
            lambda result, error: self._authenticated(frame.seq, result, error, "register"),
        )

    def on_link(self, frame: Frame) -> None:
        body = decode_json(frame.body)
        args = (
            validate_user_id(require_str(body, "user")),
            require_str(body, "code"),
            self._remote_key(),
            _identity_key(body),
            require_int(body, "registration_id", 1, MAX_REGISTRATION_ID),
            now_ms(),
        )
        self.state = AUTHENTICATING
        self.gateway.call(
            self.gateway.store.link_device,
            args,
            lambda result, error: self._authenticated(frame.seq, result, error, "link"),
        )

    def _remote_key(self) -> bytes:
        key = self.noise.remote_static
        assert key is not None, "frames arrive only after the handshake"
        return key

    def _authenticated(
        self,
        request_id: int,
        device: DeviceRecord | None,
        error: BaseException | None,
        action: str,
    ) -> None:
        if self.state == CLOSED:
            return
        if error is not None:
            self.state = UNAUTHENTICATED
            self.send_error(request_id, error)
            log.info("%s from %s rejected: %s", action, self.peer, error)
            return
        if device is None or not hmac.compare_digest(device.transport_key, self._remote_key()):
            self.send_error(
                request_id,
                GatewayError(
                    ErrorCode.UNAUTHENTICATED, "transport key is not registered for any device"
                ),
            )
            self.disconnect(Reason.AUTH_FAILED, "unknown transport key")
            log.info("hello from %s rejected: unknown transport key", self.peer)
            return
        self.device = (device.user, device.device_id)
        self.state = DRAINING
        self.gateway.unauthenticated.discard(self)
        self.gateway.take_presence(self)
        self.send_result(request_id, {"user": device.user, "device": device.device_id})
        log.info(
            "device %s/%d authenticated (%s) from %s",
            device.user,
            device.device_id,
            action,
            self.peer,
        )
        self._drain()
        self.gateway.call(self.gateway.store.count_prekeys, self.device, self._check_prekeys)
        if action == "link":
            self.gateway.notify_devices_changed(device.user)

    def _drain(self) -> None:
        """Read the next page of the queue unless flow control pauses the drain."""
        assert self.device is not None
        drain = self.gateway.draining.setdefault(self, DrainState())
        if not drain.may_read():
            return
        drain.reading = True
        user, device_id = self.device
        self.gateway.worker.submit_read(
            self.gateway.queues.read_page,
            (user, device_id, self.high_water, drain.page_size()),
            self._drained_page,
        )

    def _drained_page(
        self, page: tuple[list[QueuedItem], int, bool] | None, error: BaseException | None
    ) -> None:
        drain = self.gateway.draining.get(self)
        if self.state != DRAINING or drain is None:
            return
        if error is not None or page is None:
            log.error("reading the queue of %s failed: %s", self.name, error)
            self.disconnect(Reason.SHUTDOWN, "queue read failed; reconnect later")
            return
        items, last_seq, complete = page
        drain.reading = False
        self.high_water = max(self.high_water, last_seq)
        backlog = []
        for item in items:
            if is_ephemeral(item):
                drain.ephemeral.append(item)
            else:
                backlog.append(item)
        for entries in batch_entries(backlog):
            self.send_frame(Kind.DELIVER_BATCH, body=encode_deliver_batch(entries))
        drain.in_flight += len(backlog)
        if not complete:
            self._drain()
            return
        del self.gateway.draining[self]
        self.state = LIVE
        self.send_frame(Kind.DRAINED)
        for item in drain.ephemeral:
            self._send_item(item)

    def pause_writing(self) -> None:
        drain = self.gateway.draining.get(self)
        if drain is not None:
            drain.paused = True

    def resume_writing(self) -> None:
        drain = self.gateway.draining.get(self)
        if drain is not None:
            drain.paused = False
            self._drain()

    def _check_prekeys(self, count: int | None, error: BaseException | None) -> None:
        if error is None and count is not None and count < PREKEY_LOW_WATER:
            self.send_frame(
                Kind.NOTICE,
                int(NoticeType.PREKEYS_LOW),
                body=encode_json({"count": count, "low_water": PREKEY_LOW_WATER}),
            )

    def on_link_code(self, frame: Frame) -> None:
        user, _ = self._device()
        self.gateway.call(
            self.gateway.store.create_link_code,
            (user, now_ms()),
            self._reply(frame, lambda code: {"code": code}),
        )

    def on_unlink(self, frame: Frame) -> None:
        user, device_id = self._device()
        target = require_int(decode_json(frame.body), "device", 1, MAX_DEVICE_ID)
        if target == 1:
            raise GatewayError(ErrorCode.FORBIDDEN, "the primary device (1) cannot be unlinked")
        if device_id not in (1, target):
            raise GatewayError(
                ErrorCode.FORBIDDEN,
                f"device {device_id} may unlink only itself; use the primary device for others",
            )

        def done(result: object, error: BaseException | None) -> None:
            if error is not None:
                self.send_error(frame.seq, error)
                return
            self.send_result(frame.seq, {"device": target})
            log.info("device %s/%d unlinked by device %d", user, target, device_id)
            removed = self.gateway.presence.get((user, target))
            if removed is not None:
                removed.disconnect(Reason.DEVICE_REMOVED, "this device was unlinked")
            self.gateway.notify_devices_changed(user)

        self.gateway.call(self.gateway.store.remove_device, (user, target), done)

    def on_devices(self, frame: Frame) -> None:
        user = validate_user_id(require_str(decode_json(frame.body), "user"))
        self.gateway.call(
            self.gateway.store.list_devices,
            (user,),
            self._reply(frame, lambda devices: {"user": user, "devices": devices}),
        )

    def on_prekeys_upload(self, frame: Frame) -> None:
        user, device_id = self._device()
        signed, one_time = parse_upload(decode_json(frame.body), now_ms())
        store = self.gateway.store

        def upload() -> int:
            devices = store.list_devices(user)
            if device_id not in devices:
                raise GatewayError(ErrorCode.NOT_FOUND, "this device was unlinked")
            if signed is not None:
                identity = self.gateway.identity_key(user, device_id)
                signed.verify(identity)
            return store.store_prekeys(user, device_id, signed.record if signed else None, one_time)

        self.gateway.call(upload, (), self._reply(frame, lambda count: {"count": count}))

    def on_prekey_count(self, frame: Frame) -> None:
        self.gateway.call(
            self.gateway.store.count_prekeys,
            self._device(),
            self._reply(frame, lambda count: {"count": count}),
        )

    def on_prekey_claim(self, frame: Frame) -> None:
        self.gateway.limits.prekey_claims.take(self._device(), "prekey bundle claims")
        body = decode_json(frame.body)
        user = validate_user_id(require_str(body, "user"))
        device = body.get("device")
        if device is not None:
            device = require_int(body, "device", 1, MAX_DEVICE_ID)
        store = self.gateway.store

        def claim() -> tuple[list[Any], dict[int, int], bool]:
            bundles = store.claim_bundles(user, device)
            remaining = {b.device_id: store.count_prekeys(user, b.device_id) for b in bundles}
            registered = bool(bundles) or bool(store.list_devices(user))
            return bundles, remaining, registered

        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                self.send_error(frame.seq, error)
                return
            bundles, remaining, registered = result
            if not bundles:
                if registered:
                    message = f"user {user!r} has no device with a signed prekey"
                else:
                    message = f"user {user!r} is not registered; check the user id"
                self.send_error(frame.seq, GatewayError(ErrorCode.NOT_FOUND, message))
                return
            self.send_result(
                frame.seq, {"user": user, "bundles": [_bundle_json(b) for b in bundles]}
            )
            for claimed_device, count in remaining.items():
                if count < PREKEY_LOW_WATER:
                    target = self.gateway.presence.get((user, claimed_device))
                    if target is not None:
                        target._check_prekeys(count, None)

        self.gateway.call(claim, (), done)

    def on_send(self, frame: Frame) -> None:
        sender, sender_device = self._device()
        send = decode_send(frame.body)
        request_id = frame.seq
        message_id = frame.message_id
        ephemeral = bool(frame.flags & SendFlag.EPHEMERAL)
        try:
            self.gateway.limits.messages.take(
                (sender, send.recipient), f"messages to {send.recipient!r}"
            )
        except RateLimitedError:
            self.gateway.stats.messages_rejected += 1
            raise

        def done(outcome: SendOutcome | None, error: BaseException | None) -> None:
            if error is not None or outcome is None:
                self.gateway.stats.messages_rejected += 1
                if not isinstance(error, GatewayError):
                    self.gateway.queues.forget_depths()
                self.send_error(request_id, error or RuntimeError("no outcome"))
                if not isinstance(error, GatewayError):
                    log.error(
                        "send %s from %s/%d failed: %s",
                        message_id.hex(),
                        sender,
                        sender_device,
                        error,
                    )
                return
            self.send_frame(Kind.SENT, 0, request_id, message_id)
            self.gateway.stats.messages_stored += len(outcome.items)
            self.gateway.push_items(outcome.items)
            if not ephemeral:
                self.gateway.notify_offline(outcome.items)

        self.gateway.call(
            self.gateway.queues.store_send,
            (sender, sender_device, message_id, send, ephemeral),
            done,
        )

    def on_ack(self, frame: Frame) -> None:
        user, device_id = self._device()
        self.gateway.stats.messages_delivered += 1
        if self.state == DRAINING:
            drain = self.gateway.draining.get(self)
            if drain is not None and drain.in_flight:
                drain.in_flight -= 1
                self._drain()
        self.gateway.call(
            self.gateway.queues.acknowledge,
            (user, device_id, frame.seq),
            self.gateway.pushed_items_callback,
        )

    def on_receipt(self, frame: Frame) -> None:
        reader, _ = self._device()
        sender = decode_user(frame.body)
        self.gateway.call(
            self.gateway.store.record_read,
            (reader, sender, frame.message_id),
            self.gateway.pushed_items_callback,
        )

    def on_media_token(self, frame: Frame) -> None:
        """Mint a media upload token for this connection's own device."""
        user, device_id = self._device()
        secret = self.gateway.media_secret
        if secret is None:
            raise GatewayError(
                ErrorCode.NOT_FOUND,
                "this gateway issues no media upload tokens; its operator sets media_data_dir",
            )
        token = mint_upload_token(
            secret,
            user,
            device_id,
            max_bytes=self.gateway.config.media_max_upload_bytes,
            ttl_seconds=UPLOAD_TOKEN_TTL_SECONDS,
        )
        self.send_result(
            frame.seq,
            {
                "token": token,
                "max_bytes": self.gateway.config.media_max_upload_bytes,
                "ttl_s": UPLOAD_TOKEN_TTL_SECONDS,
            },
        )

    def _device(self) -> tuple[str, int]:
        assert self.device is not None, "authenticated states always have a device"
        return self.device

    def _reply(
        self, frame: Frame, shape: Callable[[Any], dict[str, Any]]
    ) -> Callable[[Any, BaseException | None], None]:
        def callback(result: Any, error: BaseException | None) -> None:
            if error is not None:
                self.send_error(frame.seq, error)
            else:
                self.send_result(frame.seq, shape(result))

        return callback


_HANDLERS: dict[int, Callable[[GatewayConnection, Frame], None]] = {
    Kind.HELLO: GatewayConnection.on_hello,
    Kind.REGISTER: GatewayConnection.on_register,
    Kind.LINK: GatewayConnection.on_link,
    Kind.LINK_CODE: GatewayConnection.on_link_code,
    Kind.UNLINK: GatewayConnection.on_unlink,
    Kind.DEVICES: GatewayConnection.on_devices,
    Kind.PREKEYS_UPLOAD: GatewayConnection.on_prekeys_upload,
    Kind.PREKEY_COUNT: GatewayConnection.on_prekey_count,
    Kind.PREKEY_CLAIM: GatewayConnection.on_prekey_claim,
    Kind.SEND: GatewayConnection.on_send,
    Kind.ACK: GatewayConnection.on_ack,
    Kind.RECEIPT: GatewayConnection.on_receipt,
    Kind.MEDIA_TOKEN: GatewayConnection.on_media_token,
}


def _identity_key(body: dict[str, Any]) -> bytes:
    key = b64decode(body.get("identity_key"), "identity_key")
    if len(key) != IDENTITY_KEY_SIZE or key[0] != 0x05:
        raise GatewayError(
            ErrorCode.BAD_REQUEST,
            f"identity_key must be {IDENTITY_KEY_SIZE} bytes starting with 0x05, got {len(key)}",
        )
    return key


def _bundle_json(bundle: Any) -> dict[str, Any]:
    signed = bundle.signed_prekey
    one_time = bundle.one_time_prekey
    return {
        "device": bundle.device_id,
        "registration_id": bundle.registration_id,
        "identity_key": b64encode(bundle.identity_key),
        "signed_prekey": {
            "id": signed.key_id,
            "public_key": b64encode(signed.public_key),
            "signature": b64encode(signed.signature),
            "timestamp_ms": signed.timestamp_ms,
        },
        "prekey": None
        if one_time is None
        else {"id": one_time.key_id, "public_key": b64encode(one_time.public_key)},
    }


class Gateway:
    """Listening socket, presence table, storage worker and the per-iteration flush."""

    def __init__(self, config: GatewayConfig, store: GatewayStore, key: TransportKeyPair) -> None:
        self.config = config
        self.store = store
        self.key = key
        self.presence: dict[tuple[str, int], GatewayConnection] = {}
        # Connections before authentication; authenticated ones are only in `presence`, so
        # an idle device costs one dictionary entry here.
        self.unauthenticated: set[GatewayConnection] = set()
        self._dirty: list[GatewayConnection] = []
        self._flush_scheduled = False
        self._loop = asyncio.get_running_loop()
        self.worker = StorageWorker(store, self._loop)
        self._server: asyncio.AbstractServer | None = None
        self._identity_cache: dict[tuple[str, int], bytes] = {}
        self.stats = GatewayStats()
        self.queues = QueuePolicy(
            store, config.queue_ttl_s, config.queue_max_length, config.ephemeral_ttl_s
        )
        self.queues.load()
        self.limits = RateLimits(
            config.rate_limits == "on",
            config.message_rate_limit,
            config.prekey_claim_rate_limit,
            config.registration_rate_limit,
            config.connection_rate_limit,
        )
        self.keepalive = Keepalive(self, config.keepalive_interval_s, config.keepalive_timeout_s)
        self.push: PushNotifier | None = None
        if config.push_url:
            self.push = PushNotifier(
                config.push_url,
                config.push_interval_s,
                config.push_retry_base_s,
                self._pending_count,
                self.presence.__contains__,
            )
        self.metrics: MetricsServer | None = None
        self._background: list[asyncio.Task[None]] = []
        self.draining: dict[GatewayConnection, DrainState] = {}
        # Connections over the per-address limit, with their retry-after in ms, until their
        # handshake ends and they are closed.
        self.rate_limited: dict[GatewayConnection, int] = {}
        self.media_secret: bytes | None = None
        if config.media_data_dir:
            from cipherpost.cli.media import load_or_create_secret

            self.media_secret = load_or_create_secret(Path(config.media_data_dir), create=False)

    async def start(self) -> tuple[str, int]:
        self._server = await self._loop.create_server(
            lambda: GatewayConnection(self), self.config.host, self.config.port, backlog=4096
        )
        address = self._server.sockets[0].getsockname()
        log.info("listening on %s:%d", address[0], address[1])
        if self.config.metrics_port:
            self.metrics = MetricsServer(self, self._queue_stats)
            await self.metrics.start(self.config.host, self.config.metrics_port)
        self._background = [
            self._loop.create_task(self.keepalive.run()),
            self._loop.create_task(self._sweep_queues()),
        ]
        return address[0], address[1]

    async def run_store(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a store call through the worker and return its result."""
        future: asyncio.Future[Any] = self._loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self.call(function, args, done)
        return await future

    async def _pending_count(self, user: str, device_id: int) -> int:
        count: int = await self.run_store(
            self.store.count_queue, user, device_id, self.config.queue_max_length
        )
        return count

    async def _queue_stats(self) -> tuple[int, int, int]:
        stats: tuple[int, int, int] = await self.run_store(self.store.queue_stats, PREKEY_LOW_WATER)
        return stats

    async def _sweep_queues(self) -> None:
        """Expire queued envelopes every `expiry_sweep_s` and tell their senders."""
        while True:
            more = False
            try:
                statuses, more = await self.run_store(self.queues.sweep)
            except Exception as error:  # noqa: BLE001 - the next sweep tries again
                log.error("expiring queued envelopes failed: %s", error)
            else:
                if statuses:
                    log.info("expired messages: %d EXPIRED statuses queued", len(statuses))
                    self.push_items(statuses)
            # A full batch means more expired items wait: continue after other store calls.
            await asyncio.sleep(0 if more else self.config.expiry_sweep_s)

    def notify_offline(self, items: tuple[QueuedItem, ...] | list[QueuedItem]) -> None:
        """Ask the push webhook to wake the offline devices among `items`' recipients."""
        push = self.push
        if push is None:
            return
        for item in items:
            key = (item.user, item.device_id)
            if key not in self.presence and not is_ephemeral(item):
                push.notify(*key)

    def call(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        callback: Callable[[Any, BaseException | None], None],
    ) -> None:
        self.worker.submit(function, args, callback)

    def identity_key(self, user: str, device_id: int) -> bytes:
        """Return the device's Signal identity key; call on the storage thread only."""
        device = self.store.get_device(user, device_id)
        if device is None:
            raise GatewayError(ErrorCode.NOT_FOUND, f"device {device_id} of {user!r} not found")
        return device.identity_key

    def mark_dirty(self, connection: GatewayConnection) -> None:
        if connection.dirty:
            return
        connection.dirty = True
        self._dirty.append(connection)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection.dirty = False
            connection.flush()

    def take_presence(self, connection: GatewayConnection) -> None:
        assert connection.device is not None
        previous = self.presence.get(connection.device)
        self.presence[connection.device] = connection
        if previous is not None and previous is not connection:
            log.info(
                "device %s/%d: new connection from %s takes over from %s",
                *connection.device,
                connection.peer,
                previous.peer,
            )
            previous.disconnect(Reason.TAKEOVER, "another connection of this device took over")

    def remove_presence(self, connection: GatewayConnection) -> None:
        if connection.device is not None and self.presence.get(connection.device) is connection:
            del self.presence[connection.device]

    def notify_devices_changed(self, user: str) -> None:
        """Tell the user's online devices its new device list, so they update their sync
        copies; offline devices read the list when they connect."""

        def notify(devices: list[int] | None, error: BaseException | None) -> None:
            if error is not None or devices is None:
                return
            body = encode_json({"devices": devices})
            for device_id in devices:
                connection = self.presence.get((user, device_id))
                if connection is not None:
                    connection.send_frame(Kind.NOTICE, int(NoticeType.DEVICES_CHANGED), body=body)

        self.call(self.store.list_devices, (user,), notify)

    def push_items(self, items: tuple[QueuedItem, ...] | list[QueuedItem]) -> None:
        presence = self.presence
        for item in items:
            connection = presence.get((item.user, item.device_id))
            if connection is not None:
                connection.push(item)

    def pushed_items_callback(self, items: Any, error: BaseException | None) -> None:
        if error is not None:
            log.error("acknowledgement or receipt failed: %s", error)
        elif items:
            self.push_items(items)

    def all_connections(self) -> list[GatewayConnection]:
        return [*self.unauthenticated, *self.presence.values()]

    async def shutdown(self) -> None:
        """Stop accepting, finish queued store calls, close every connection."""
        if self._server is not None:
            self._server.close()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.metrics is not None:
            await self.metrics.close()
        if self.push is not None:
            await self.push.close()
        for connection in self.all_connections():
            if connection.transport is not None:
                connection.transport.pause_reading()
        await self.worker.wait_idle()
        self._flush()
        for connection in self.all_connections():
            connection.disconnect(Reason.SHUTDOWN, "gateway is shutting down")
        await self.worker.close()
        self.store.close()
        log.info(
            "ran %d store calls in %d batches (group commits)",
            self.worker.calls,
            self.worker.batches,
        )
        if self._server is not None:
            await self._server.wait_closed()
        log.info("stopped")


def open_store(config: GatewayConfig) -> GatewayStore:
    if config.storage == "memory":
        return MemoryGatewayStore()
    config.data_path.mkdir(parents=True, exist_ok=True)
    return SqliteGatewayStore(config.data_path / DB_FILE, config.sqlite_synchronous)


async def serve(
    config: GatewayConfig,
    ready: Callable[[str, int, bytes], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the gateway until SIGTERM or SIGINT (or until `stop` is set)."""
    config.data_path.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(config.data_path)
    store = open_store(config)
    gateway = Gateway(config, store, key)
    host, port = await gateway.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread (embedded gateway): the caller sets `stop`
    if ready is not None:
        ready(host, port, key.public_key)
    await stop.wait()
    log.info("shutting down")
    await gateway.shutdown()


def run_gateway(config: GatewayConfig) -> int:
    """Run the daemon in this process with uvloop; print the bound address when ready."""
    import uvloop

    def ready(host: str, port: int, public_key: bytes) -> None:
        print(f"cipherpost gateway listening on {host}:{port} key {public_key.hex()}", flush=True)

    uvloop.run(serve(config, ready))
    return 0
