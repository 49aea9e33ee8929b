"""An asyncio connection to the gateway: Noise handshake, requests with replies, events.

This layer moves opaque ciphertexts; the Signal sessions live in `cipherpost.client.client`.
Tests use it directly as a raw client of the real daemon.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
from dataclasses import dataclass
from typing import Any

from cipherpost._core import TransportKeyPair
from cipherpost._framing import Frame
from cipherpost.exceptions import (
    ConnectionRejectedError,
    DeviceListMismatchError,
    GatewayError,
    ProtocolError,
    RateLimitedError,
    TransportError,
)
from cipherpost.protocol.connection import NoiseConnection
from cipherpost.protocol.frames import (
    NO_MESSAGE_ID,
    ErrorCode,
    Kind,
    Reason,
    SendBody,
    decode_deliver_batch,
    decode_json,
    encode_json,
    encode_send,
    encode_user,
)

log = logging.getLogger("cipherpost.client")

# Bytes read from the socket per call.
READ_SIZE = 256 * 1024

# Seconds to wait for a reply before a request fails.
REQUEST_TIMEOUT = 30.0

# Close reasons that blame a frame this client sent: resending it would be closed again.
REJECTED_FRAME_REASONS = frozenset(
    {Reason.MALFORMED_FRAME, Reason.FRAME_TOO_LARGE, Reason.UNEXPECTED_FRAME}
)


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The gateway closed the connection (`reason` from DISCONNECT, or None without one)."""

    reason: Reason | None
    message: str
    retry_after_ms: int = 0  # with reason RATE_LIMITED: wait this long before reconnecting

    @property
    def may_reconnect(self) -> bool:
        from cipherpost.protocol.frames import NO_RECONNECT_REASONS

        return self.reason not in NO_RECONNECT_REASONS


class GatewayConnection:
    """One Noise-encrypted connection to the gateway.

    Incoming DELIVER, STATUS, NOTICE and DRAINED frames, and a final `Disconnected`, are put
    on `events` in arrival order.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, noise: NoiseConnection
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._noise = noise
        self._request_ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Frame]] = {}
        self.events: asyncio.Queue[Frame | Disconnected] = asyncio.Queue()
        self.closed: Disconnected | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._flush_scheduled = False

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        key: TransportKeyPair,
        gateway_key: bytes | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> GatewayConnection:
        """Connect and run the Noise handshake; with `gateway_key`, raise TransportError
        unless the gateway proves that static key."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        noise = NoiseConnection(True, key)
        writer.write(noise.start())
        try:
            while not noise.established:
                data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
                if not data:
                    raise TransportError(f"gateway {host}:{port} closed during the handshake")
                _, reply = noise.receive(data)
                if reply:
                    writer.write(reply)
            remote = noise.remote_static
            if gateway_key is not None and (
                remote is None or not hmac.compare_digest(remote, gateway_key)
            ):
                raise TransportError(
                    f"gateway {host}:{port} presented key {(remote or b'').hex()[:16]}…, "
                    f"expected {gateway_key.hex()[:16]}…; check the gateway address"
                )
        except BaseException:
            writer.close()
            raise
        connection = cls(reader, writer, noise)
        connection._reader_task = asyncio.create_task(connection._read_loop())
        return connection

    @property
    def gateway_key(self) -> bytes | None:
        return self._noise.remote_static

    # --- sending -------------------------------------------------------------------------

    def send_frame(
        self,
        kind: int,
        flags: int = 0,
        seq: int = 0,
        message_id: bytes = NO_MESSAGE_ID,
        body: bytes = b"",
    ) -> None:
        """Queue a frame; frames queued in one event-loop iteration leave in one write."""
        if self.closed is not None:
            raise TransportError(f"connection is closed: {self.closed.message}")
        self._noise.queue_frame(kind, flags, seq, message_id, body)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.closed is None and self._noise.has_output:
            self._writer.write(self._noise.take_output())

    async def request_frame(
        self, kind: int, body: bytes = b"", message_id: bytes = NO_MESSAGE_ID, flags: int = 0
    ) -> Frame:
        """Send a request and return its reply frame (RESULT or SENT); raise GatewayError on
        ERROR."""
        request_id = next(self._request_ids)
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self.send_frame(kind, flags, request_id, message_id, body)
            frame = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        finally:
            self._waiting.pop(request_id, None)
        if frame.kind == Kind.ERROR:
            raise _error_from(frame)
        return frame

    async def request(self, kind: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
        frame = await self.request_frame(kind, encode_json(body or {}))
        return decode_json(frame.body)

    async def send_envelopes(self, message_id: bytes, send: SendBody) -> None:
        """Send one SEND frame and wait for SENT (✓)."""
        await self.request_frame(Kind.SEND, encode_send(send), message_id)

    def ack(self, seq: int) -> None:
        self.send_frame(Kind.ACK, seq=seq)

    def receipt(self, sender: str, message_id: bytes) -> None:
        self.send_frame(Kind.RECEIPT, message_id=message_id, body=encode_user(sender))

    async def next_event(self, timeout: float = REQUEST_TIMEOUT) -> Frame | Disconnected:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def close(self) -> None:
        self._flush()
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)

    # --- receiving -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        disconnect: Disconnected | None = None
        try:
            while disconnect is None:
                data = await self._reader.read(READ_SIZE)
                if not data:
                    break
                frames, _ = self._noise.receive(data)
                for frame in frames:
                    disconnect = self._dispatch(frame)
                    if disconnect is not None:
                        break
        except (ProtocolError, TransportError) as error:
            disconnect = Disconnected(None, f"invalid data from the gateway: {error}")
        except (ConnectionError, OSError) as error:
            disconnect = Disconnected(None, f"connection failed: {error}")
        finally:
            self.closed = disconnect or Disconnected(None, "gateway closed the connection")
            closed = self.closed
            for future in self._waiting.values():
                if future.done():
                    continue
                if closed.reason == Reason.RATE_LIMITED:
                    future.set_exception(
                        RateLimitedError(
                            ErrorCode.RATE_LIMITED, closed.message, closed.retry_after_ms
                        )
                    )
                elif closed.reason in REJECTED_FRAME_REASONS:
                    future.set_exception(
                        ConnectionRejectedError(
                            closed.reason,
                            f"gateway closed the connection ({closed.reason.name}): "
                            f"{closed.message}",
                        )
                    )
                else:
                    future.set_exception(TransportError(closed.message))
            self.events.put_nowait(self.closed)
            self._writer.close()

    def _dispatch(self, frame: Frame) -> Disconnected | None:
        kind = frame.kind
        if kind in (Kind.RESULT, Kind.ERROR, Kind.SENT):
            future = self._waiting.get(frame.seq)
            if future is not None and not future.done():
                future.set_result(frame)
            return None
        if kind == Kind.PING:
            self.send_frame(Kind.PONG, seq=frame.seq)
            return None
        if kind == Kind.DELIVER_BATCH:
            for delivered in decode_deliver_batch(frame.body):
                self.events.put_nowait(delivered)
            return None
        if kind == Kind.DISCONNECT:
            try:
                reason: Reason | None = Reason(frame.flags)
            except ValueError:
                reason = None
            retry_after_ms = frame.seq if reason == Reason.RATE_LIMITED else 0
            return Disconnected(reason, frame.body.decode(errors="replace"), retry_after_ms)
        self.events.put_nowait(frame)
        return None


def _error_from(frame: Frame) -> GatewayError:
    body = decode_json(frame.body)
    code = body.get("code", int(ErrorCode.INTERNAL))
    message = str(body.get("message", "gateway error"))
    retry_after_ms = body.get("retry_after_ms")
    if isinstance(retry_after_ms, int) and not isinstance(retry_after_ms, bool):
        return RateLimitedError(code, message, retry_after_ms)
    if code == ErrorCode.DEVICE_MISMATCH:
        return DeviceListMismatchError(
            code, message, str(body.get("user", "")), list(body.get("devices", []))
        )
    return GatewayError(code, message)
