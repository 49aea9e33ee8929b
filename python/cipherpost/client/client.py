"""The async client: one device of one user, talking to the gateway.

It registers or links the device, keeps one-time prekeys topped up and starts sessions from
claimed bundles. It sends a text to every device of a user, with a copy to the sender's own
other devices. It receives with duplicate suppression, acknowledges, sends read receipts and
follows the ticks of what it sent. Events come out of `next_event()`.

Reconnects: after a dropped connection the client reconnects with exponential backoff and
jitter, a bounded number of times, and resends unacknowledged sends with the same message id.
It never reconnects after a DISCONNECT whose reason is that another client took the device over
(or the device was removed), so two clients of one device cannot fight in a loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cipherpost._framing import Frame
from cipherpost.client.connection import Disconnected, GatewayConnection
from cipherpost.client.sessions import Content, DeviceCrypto
from cipherpost.client.state import (
    DEVICE_FILE,
    MESSAGES_FILE,
    PROTOCOL_STORE_FILE,
    TRANSPORT_KEY_FILE,
    DeviceInfo,
    MessageLog,
    create_transport_key,
    load_transport_key,
)
from cipherpost.crypto import KeyPair
from cipherpost.exceptions import (
    ConnectionRejectedError,
    CryptoError,
    DeviceListMismatchError,
    DuplicateMessageError,
    GatewayError,
    MessageTooLargeError,
    RateLimitedError,
    TransportError,
)
from cipherpost.protocol.frames import (
    MAX_CIPHERTEXT_SIZE,
    DeviceEnvelope,
    ErrorCode,
    Kind,
    NoticeType,
    SendBody,
    Status,
    b64encode,
    decode_deliver,
    decode_json,
    decode_user,
)
from cipherpost.protocol.ticks import TickTracker

log = logging.getLogger("cipherpost.client")

# Reconnect attempts after a dropped connection, and the backoff between them in seconds.
MAX_RECONNECT_ATTEMPTS = 8
RECONNECT_BASE_DELAY = 0.1
RECONNECT_MAX_DELAY = 5.0

# Waits after a rate-limited send before it fails, and the longest single wait in seconds: a
# send that the gateway keeps limiting for longer is the caller's to reschedule.
MAX_RATE_LIMITED_RETRIES = 3
MAX_RATE_LIMIT_WAIT = 60.0

# Rounds of fixing sessions after a device-list mismatch before a send gives up. Each round
# adds or removes devices, so more than a few means the list keeps changing meanwhile.
MAX_SEND_ATTEMPTS = 3

# Resends of one message after the gateway closed the connection for a frame it rejected
# (malformed or oversized). The close does not say which frame was at fault, so a send that
# was merely pending on that connection gets one more try; a second such close fails it.
MAX_REJECTED_RESENDS = 1


@dataclass(frozen=True, slots=True)
class MessageReceived:
    sender: str
    sender_device: int
    message_id: bytes
    text: str
    conversation: str  # the other user of the conversation
    timestamp_ms: int
    outgoing: bool  # a copy of a message this user sent from another device


@dataclass(frozen=True, slots=True)
class TickChanged:
    message_id: bytes
    status: Status
    peer: str  # the recipient user


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Every message queued while this device was offline has been received."""


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    reason: str
    will_reconnect: bool


ClientEvent = MessageReceived | TickChanged | CaughtUp | ConnectionLost


def new_message_id() -> bytes:
    """Return a 16-byte message id: 6 bytes of milliseconds, then 10 random bytes.

    The time prefix makes ids of one sender grow, so the gateway's dedup index mostly
    appends. The random part keeps ids unique without coordination.
    """
    return int(time.time() * 1000).to_bytes(6, "big") + os.urandom(10)


def conversation_order(message: MessageReceived) -> tuple[int, bytes]:
    """Sort key of a conversation: client timestamp, then message id."""
    return (message.timestamp_ms, message.message_id)


class Client:
    def __init__(self, state_dir: Path, info: DeviceInfo, crypto: DeviceCrypto) -> None:
        self.state_dir = state_dir
        self.info = info
        self.crypto = crypto
        self._transport_key = load_transport_key(state_dir)
        self._messages = MessageLog(state_dir / MESSAGES_FILE)
        self._ticks = TickTracker()
        for message_id, status in self._messages.load_statuses().items():
            self._ticks.apply(message_id, status)
        self._events: asyncio.Queue[ClientEvent] = asyncio.Queue()
        self._connection: GatewayConnection | None = None
        self._pump: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._own_devices: list[int] = [info.device]
        # Serializes top-ups: a PREKEYS_LOW notice may arrive while one is running.
        self._top_up_lock = asyncio.Lock()
        self._rejected_resend_lock = asyncio.Lock()
        self.auto_reconnect = True
        self._tasks: set[asyncio.Task[None]] = set()

    # --- creation ------------------------------------------------------------------------

    @classmethod
    async def register(
        cls,
        state_dir: Path,
        host: str,
        port: int,
        user: str,
        token: str | None = None,
        gateway_key: bytes | None = None,
    ) -> Client:
        """Create the device's state in `state_dir`, register `user` and connect.

        If the gateway does not accept the registration, the files this call created are
        removed again, so the same call can be retried with the same `state_dir`."""
        state_dir, created = _new_state_dir(state_dir)
        try:
            key = create_transport_key(state_dir)
            crypto = DeviceCrypto(state_dir / PROTOCOL_STORE_FILE)
            body: dict[str, Any] = {
                "user": user,
                "registration_id": crypto.registration_id,
                "identity_key": b64encode(crypto.identity_key),
            }
            if token is not None:
                body["token"] = token
            return await cls._enroll(
                state_dir, host, port, key, crypto, Kind.REGISTER, body, gateway_key
            )
        except BaseException:
            _remove_unfinished_state(state_dir, created)
            raise

    @classmethod
    async def link(
        cls,
        state_dir: Path,
        host: str,
        port: int,
        user: str,
        code: str,
        identity: KeyPair,
        gateway_key: bytes | None = None,
    ) -> Client:
        """Add this device to `user` with a link code from one of its devices.

        The new device uses the account's identity key pair, so both users' safety numbers
        stay the same on every device. It must reach the new device over a channel the user
        trusts (in Signal, a QR code scanned in person), so this library takes it as an
        argument. A link the gateway does not accept leaves no files behind, as in `register`.
        """
        state_dir, created = _new_state_dir(state_dir)
        try:
            key = create_transport_key(state_dir)
            crypto = DeviceCrypto(state_dir / PROTOCOL_STORE_FILE, identity)
            body = {
                "user": user,
                "code": code,
                "registration_id": crypto.registration_id,
                "identity_key": b64encode(crypto.identity_key),
            }
            return await cls._enroll(
                state_dir, host, port, key, crypto, Kind.LINK, body, gateway_key
            )
        except BaseException:
            _remove_unfinished_state(state_dir, created)
            raise

    @classmethod
    async def _enroll(
        cls,
        state_dir: Path,
        host: str,
        port: int,
        key: Any,
        crypto: DeviceCrypto,
        kind: Kind,
        body: dict[str, Any],
        gateway_key: bytes | None,
    ) -> Client:
        try:
            connection = await GatewayConnection.connect(host, port, key, gateway_key)
        except BaseException:
            crypto.close()
            raise
        try:
            result = await connection.request(kind, body)
        except BaseException:
            await connection.close()
            crypto.close()
            raise
        pinned = connection.gateway_key or b""
        info = DeviceInfo(result["user"], result["device"], host, port, pinned.hex())
        # From here on the gateway has the device, so its state stays even if a later step
        # fails: `open` can connect it again.
        info.save(state_dir)
        client = cls(state_dir, info, crypto)
        client._attach(connection)
        try:
            await client._after_connect()
        except BaseException:
            await client.close()
            raise
        return client

    @classmethod
    async def open(cls, state_dir: Path) -> Client:
        """Load a registered device from `state_dir` and connect it."""
        info = DeviceInfo.load(state_dir)
        client = cls(state_dir, info, DeviceCrypto(state_dir / PROTOCOL_STORE_FILE))
        await client.connect()
        return client

    # --- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        connection = await GatewayConnection.connect(
            self.info.host,
            self.info.port,
            self._transport_key,
            bytes.fromhex(self.info.gateway_key),
        )
        try:
            await connection.request(Kind.HELLO)
        except BaseException:
            await connection.close()
            raise
        self._attach(connection)
        await self._after_connect()

    def _attach(self, connection: GatewayConnection) -> None:
        self._connection = connection
        self._connected.set()
        self._pump = asyncio.create_task(self._pump_events(connection))

    async def _after_connect(self) -> None:
        await self._refresh_own_devices()
        await self.top_up_prekeys()

    def _require_connection(self) -> GatewayConnection:
        if self._connection is None or self._connection.closed is not None:
            raise TransportError("not connected to the gateway; call connect() first")
        return self._connection

    async def close(self) -> None:
        self._closing = True
        if self._connection is not None:
            await self._connection.close()
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)
        self._messages.close()
        self.crypto.close()

    # --- account -------------------------------------------------------------------------

    @property
    def user(self) -> str:
        return self.info.user

    @property
    def device_id(self) -> int:
        return self.info.device

    async def media_upload_token(self) -> str:
        """Return a short-lived media upload token for this device, minted by the gateway."""
        result = await self._require_connection().request(Kind.MEDIA_TOKEN)
        return str(result["token"])

    async def create_link_code(self) -> str:
        result = await self._require_connection().request(Kind.LINK_CODE)
        return str(result["code"])

    async def top_up_prekeys(self) -> int:
        """Upload a signed prekey and enough one-time prekeys to have 100; return the count."""
        async with self._top_up_lock:
            connection = self._require_connection()
            count = int((await connection.request(Kind.PREKEY_COUNT))["count"])
            body, next_id = self.crypto.prekey_upload(count, self.info.next_prekey_id)
            if body["prekeys"] or count == 0:
                result = await connection.request(Kind.PREKEYS_UPLOAD, body)
                count = int(result["count"])
                self.info.next_prekey_id = next_id
                self.info.save(self.state_dir)
            return count

    async def _refresh_own_devices(self) -> None:
        result = await self._require_connection().request(Kind.DEVICES, {"user": self.user})
        self._own_devices = list(result["devices"])

    def safety_number(self, user: str) -> str | None:
        return self.crypto.safety_number(self.user, user)

    def tick(self, message_id: bytes) -> Status:
        return self._ticks.status(message_id)

    # --- sending -------------------------------------------------------------------------

    async def send_text(self, user: str, text: str) -> bytes:
        """Encrypt `text` for every device of `user`, and a copy for this user's other
        devices; return the message id once the gateway stored it (✓)."""
        content = Content(text, user)
        # The ciphertext is never shorter than the encoded content, so a content over the limit
        # fails here, before any session state advances.
        _check_message_size(len(self.crypto.encode(content)), user)
        message_id = new_message_id()
        timestamp_ms = int(time.time() * 1000)
        self._ticks.start(message_id)
        await self._send_to_user(user, message_id, timestamp_ms, content)
        self._set_tick(message_id, Status.SENT, user)
        if user != self.user and len(self._own_devices) > 1:
            await self._send_to_user(self.user, message_id, timestamp_ms, content)
        return message_id

    async def _send_to_user(
        self, user: str, message_id: bytes, timestamp_ms: int, content: Content
    ) -> None:
        devices = self._known_devices(user)
        for _ in range(MAX_SEND_ATTEMPTS):
            if not devices:
                devices = await self._start_sessions(user, None)
            envelopes = []
            for device_id in devices:
                message = self.crypto.encrypt(user, device_id, content)
                _check_message_size(len(message.body), f"{user}/{device_id}")
                envelopes.append(DeviceEnvelope(device_id, message.type, message.body))
            send = SendBody(user, timestamp_ms, tuple(envelopes))
            try:
                await self._send_reliably(message_id, send)
                return
            except DeviceListMismatchError as mismatch:
                devices = await self._fix_sessions(user, set(devices), mismatch.devices)
        raise GatewayError(
            ErrorCode.DEVICE_MISMATCH,
            f"device list of {user!r} kept changing over {MAX_SEND_ATTEMPTS} attempts; try again",
        )

    def _known_devices(self, user: str) -> list[int]:
        devices = self.crypto.session_devices(user)
        if user == self.user:
            devices = [device for device in devices if device != self.device_id]
        return sorted(devices)

    async def _fix_sessions(self, user: str, named: set[int], current: list[int]) -> list[int]:
        required = set(current)
        if user == self.user:
            required.discard(self.device_id)
            self._own_devices = list(current)
        for removed in named - required:
            self.crypto.forget_device(user, removed)
        for missing in sorted(required - named):
            await self._start_sessions(user, missing)
        return sorted(required)

    async def _start_sessions(self, user: str, device_id: int | None) -> list[int]:
        body: dict[str, Any] = {"user": user}
        if device_id is not None:
            body["device"] = device_id
        result = await self._require_connection().request(Kind.PREKEY_CLAIM, body)
        started = []
        for bundle in result["bundles"]:
            if user == self.user and int(bundle["device"]) == self.device_id:
                continue
            started.append(self.crypto.start_session(user, bundle))
        return sorted(started)

    async def _send_reliably(self, message_id: bytes, send: SendBody) -> None:
        """Send until the gateway returns SENT, resending the same envelopes with the same
        message id after a reconnect (the gateway stores a retried message once)."""
        rate_limited = 0
        rejected = 0
        while True:
            try:
                if rejected:
                    # Resent one at a time, so that a frame the gateway rejects again cannot
                    # take a send that was only pending beside it down with it.
                    async with self._rejected_resend_lock:
                        await self._send_once(message_id, send)
                else:
                    await self._send_once(message_id, send)
                return
            except RateLimitedError as error:
                # Nothing was stored; wait as long as the gateway asked, a bounded number of
                # times, then let the caller see the error.
                rate_limited += 1
                if rate_limited > MAX_RATE_LIMITED_RETRIES or self._closing:
                    raise
                delay = min(error.retry_after_ms / 1000, MAX_RATE_LIMIT_WAIT)
                log.warning("send %s rate limited; retrying in %.1f s", message_id.hex(), delay)
                await asyncio.sleep(delay * random.uniform(1.0, 1.2))
            except ConnectionRejectedError as error:
                rejected += 1
                if rejected > MAX_REJECTED_RESENDS or not self.auto_reconnect or self._closing:
                    raise ConnectionRejectedError(
                        error.reason, f"send {message_id.hex()} was not stored: {error}"
                    ) from error
                log.warning(
                    "send %s was pending when the gateway rejected a frame; resending it alone",
                    message_id.hex(),
                )
                await self._wait_connected()
            except TransportError:
                if not self.auto_reconnect or self._closing:
                    raise
                await self._wait_connected()

    async def _send_once(self, message_id: bytes, send: SendBody) -> None:
        connection = self._require_connection_or_none()
        if connection is None:
            await self._wait_connected()
            connection = self._require_connection()
        await connection.send_envelopes(message_id, send)

    def _require_connection_or_none(self) -> GatewayConnection | None:
        connection = self._connection
        if connection is None or connection.closed is not None:
            return None
        return connection

    async def _wait_connected(self) -> None:
        self._connected.clear()
        if self._require_connection_or_none() is not None:
            return
        try:
            await asyncio.wait_for(
                self._connected.wait(), RECONNECT_MAX_DELAY * MAX_RECONNECT_ATTEMPTS
            )
        except TimeoutError as error:
            raise TransportError("gateway unreachable; the send was not stored") from error

    async def mark_read(self, message: MessageReceived) -> None:
        """Send a read receipt for a message from another user."""
        if message.outgoing:
            return
        self._require_connection().receipt(message.sender, message.message_id)

    # --- receiving -----------------------------------------------------------------------

    async def next_event(self, timeout: float | None = None) -> ClientEvent:
        return await asyncio.wait_for(self._events.get(), timeout)

    async def _pump_events(self, connection: GatewayConnection) -> None:
        while True:
            event = await connection.events.get()
            if isinstance(event, Disconnected):
                await self._on_disconnected(event)
                return
            try:
                self._handle_frame(connection, event)
            except Exception:
                log.exception("handling frame kind %#04x failed", event.kind)

    def _handle_frame(self, connection: GatewayConnection, frame: Frame) -> None:
        kind = frame.kind
        if kind == Kind.DELIVER:
            self._on_deliver(connection, frame)
        elif kind == Kind.STATUS:
            peer = decode_user(frame.body)
            self._set_tick(frame.message_id, Status(frame.flags), peer)
            connection.ack(frame.seq)
        elif kind == Kind.DRAINED:
            self._events.put_nowait(CaughtUp())
        elif kind == Kind.NOTICE and frame.flags == NoticeType.PREKEYS_LOW:
            self._background(self._top_up_quietly())
        elif kind == Kind.NOTICE and frame.flags == NoticeType.DEVICES_CHANGED:
            self._own_devices = [int(device) for device in decode_json(frame.body)["devices"]]

    def _on_deliver(self, connection: GatewayConnection, frame: Frame) -> None:
        body = decode_deliver(frame.body)
        if self._messages.was_received(body.sender, frame.message_id):
            connection.ack(frame.seq)  # a redelivery after a lost acknowledgement
            return
        try:
            content = self.crypto.decrypt(
                body.sender, body.sender_device, body.type, body.ciphertext
            )
        except DuplicateMessageError:
            connection.ack(frame.seq)
            return
        except CryptoError as error:
            # NOTE: Signal would ask the sender to resend; this client drops the envelope.
            log.warning(
                "dropping message %s from %s/%d: %s",
                frame.message_id.hex(),
                body.sender,
                body.sender_device,
                error,
            )
            connection.ack(frame.seq)
            return
        self._messages.remember_received(body.sender, frame.message_id)
        connection.ack(frame.seq)
        outgoing = body.sender == self.user
        self._events.put_nowait(
            MessageReceived(
                body.sender,
                body.sender_device,
                frame.message_id,
                content.text,
                content.to if outgoing else body.sender,
                body.timestamp_ms,
                outgoing,
            )
        )

    def _set_tick(self, message_id: bytes, status: Status, peer: str) -> None:
        if self._ticks.apply(message_id, status):
            self._messages.save_status(message_id, peer, self._ticks.status(message_id))
            self._events.put_nowait(TickChanged(message_id, self._ticks.status(message_id), peer))

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _top_up_quietly(self) -> None:
        try:
            await self.top_up_prekeys()
        except (GatewayError, TransportError) as error:
            log.warning("prekey top-up failed: %s", error)

    async def _on_disconnected(self, event: Disconnected) -> None:
        self._connected.clear()
        reconnect = self.auto_reconnect and not self._closing and event.may_reconnect
        self._events.put_nowait(ConnectionLost(event.message, reconnect))
        if not reconnect:
            if not self._closing:
                log.warning("disconnected without reconnecting: %s", event.message)
            return
        delay = RECONNECT_BASE_DELAY
        for attempt in range(1, MAX_RECONNECT_ATTEMPTS + 1):
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            try:
                await self.connect()
                log.info("reconnected after %d attempts", attempt)
                return
            except RateLimitedError as error:
                log.warning("reconnect attempt %d rate limited: %s", attempt, error)
                delay = min(max(delay * 2, error.retry_after_ms / 1000), MAX_RATE_LIMIT_WAIT)
            except (OSError, TransportError, GatewayError, TimeoutError) as error:
                log.warning("reconnect attempt %d failed: %s", attempt, error)
                delay = min(delay * 2, RECONNECT_MAX_DELAY)
        log.error("giving up after %d reconnect attempts", MAX_RECONNECT_ATTEMPTS)


def _check_message_size(size: int, recipient: str) -> None:
    """Raise MessageTooLargeError when a message for `recipient` exceeds what the gateway
    accepts per device (it closes the connection on a larger ciphertext)."""
    if size > MAX_CIPHERTEXT_SIZE:
        raise MessageTooLargeError(
            f"message to {recipient} is {size} bytes, the maximum is {MAX_CIPHERTEXT_SIZE}; "
            "shorten the text or send it as a file",
            size,
            MAX_CIPHERTEXT_SIZE,
        )


# Permissions of a state directory that register or link creates.
STATE_DIR_MODE = 0o700

# Files that registering or linking creates in the state directory, and SQLite's side files.
ENROLLMENT_FILES = (
    TRANSPORT_KEY_FILE,
    DEVICE_FILE + ".tmp",
    *(
        name + suffix
        for name in (PROTOCOL_STORE_FILE, MESSAGES_FILE)
        for suffix in ("", "-wal", "-shm", "-journal")
    ),
)


def _new_state_dir(state_dir: Path) -> tuple[Path, bool]:
    """Return `state_dir` ready for a new device, and whether this call created it."""
    state_dir = Path(state_dir)
    created = not state_dir.exists()
    state_dir.mkdir(parents=True, exist_ok=True)
    if created:
        # Owner only: the directory contains the device's private keys and message metadata.
        state_dir.chmod(STATE_DIR_MODE)
    if (state_dir / DEVICE_FILE).exists():
        raise FileExistsError(
            f"{state_dir} already contains a registered device; pick another --state-dir"
        )
    if (state_dir / TRANSPORT_KEY_FILE).exists():
        raise FileExistsError(
            f"{state_dir} contains {TRANSPORT_KEY_FILE} but no {DEVICE_FILE}, left by a "
            "registration that did not finish; delete the directory or pick another --state-dir"
        )
    return state_dir, created


def _remove_unfinished_state(state_dir: Path, created: bool) -> None:
    """Remove what a failed register or link created, unless the gateway accepted the device
    (device.json exists then, and the state is needed to use it)."""
    if (state_dir / DEVICE_FILE).exists():
        return
    for name in ENROLLMENT_FILES:
        (state_dir / name).unlink(missing_ok=True)
    if created:
        try:
            state_dir.rmdir()
        except OSError as error:
            log.warning("could not remove %s after a failed registration: %s", state_dir, error)
