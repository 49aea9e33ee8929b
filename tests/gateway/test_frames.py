"""Malformed, truncated and oversized input closes only the connection that sent it."""

from __future__ import annotations

import asyncio
import struct

import pytest
from cipherpost._core import NoiseHandshake, NoiseTransport, TransportKeyPair
from cipherpost._framing import FrameSplitter, encode_frame
from cipherpost.protocol.frames import (
    MAX_FRAME_SIZE,
    NO_MESSAGE_ID,
    Kind,
    Reason,
    encode_json,
)

from .conftest import GatewayProcess, identity_body, register
from .helpers import EVENT_TIMEOUT, envelope_to, new_message_id, receive_texts


class RawSocket:
    """A Noise session over a plain socket, so a test can send any plaintext bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.transport: NoiseTransport | None = None
        self.received = b""

    @classmethod
    async def open(cls, gateway: GatewayProcess) -> RawSocket:
        reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
        raw = cls(reader, writer)
        handshake = NoiseHandshake(True, TransportKeyPair.generate())
        raw.write_record(handshake.write_message())
        handshake.read_message(await raw.read_record())
        raw.write_record(handshake.write_message())
        raw.transport = handshake.into_transport()
        return raw

    def write_record(self, message: bytes) -> None:
        self.writer.write(struct.pack(">H", len(message)) + message)

    async def read_record(self) -> bytes:
        (length,) = struct.unpack(">H", await self.reader.readexactly(2))
        return await self.reader.readexactly(length)

    def send_plaintext(self, data: bytes) -> None:
        assert self.transport is not None
        self.writer.write(self.transport.seal(data))

    async def read_until_closed(self) -> bytes:
        """Return the decrypted bytes the gateway sent until it closed the socket."""
        assert self.transport is not None
        data = await asyncio.wait_for(self.reader.read(), EVENT_TIMEOUT)
        plaintext, _ = self.transport.open(data)
        return plaintext


def disconnect_reason(plaintext: bytes) -> int:
    frames = FrameSplitter(MAX_FRAME_SIZE).feed(plaintext)
    disconnects = [frame for frame in frames if frame.kind == Kind.DISCONNECT]
    assert disconnects, f"no DISCONNECT among {frames}"
    return disconnects[-1].flags


def hello_frame() -> bytes:
    return encode_frame(Kind.HELLO, 0, 1, NO_MESSAGE_ID, b"")


CASES = {
    "reserved bytes set": (
        encode_frame(Kind.HELLO, 0, 1, NO_MESSAGE_ID, b"")[:6]
        + b"\x01\x00"
        + encode_frame(Kind.HELLO, 0, 1, NO_MESSAGE_ID, b"")[8:],
        Reason.MALFORMED_FRAME,
    ),
    "length below header": (struct.pack(">I", 3) + b"abc", Reason.MALFORMED_FRAME),
    "oversized frame": (struct.pack(">I", MAX_FRAME_SIZE) + bytes(28), Reason.FRAME_TOO_LARGE),
    "unknown kind": (encode_frame(0x7F, 0, 1, NO_MESSAGE_ID, b""), Reason.UNEXPECTED_FRAME),
    "send before hello": (
        encode_frame(Kind.SEND, 0, 1, NO_MESSAGE_ID, b"\x03bob"),
        Reason.UNEXPECTED_FRAME,
    ),
    "register body not json": (
        encode_frame(Kind.REGISTER, 0, 1, NO_MESSAGE_ID, b"{not json"),
        Reason.MALFORMED_FRAME,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bad_frame_closes_only_its_connection(gateway: GatewayProcess, case: str) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    raw = await RawSocket.open(gateway)
    data, reason = CASES[case]

    raw.send_plaintext(data)

    assert disconnect_reason(await raw.read_until_closed()) == reason
    await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"still up"))
    assert await receive_texts(bob.connection, 1) == [b"still up"]
    await alice.connection.close()
    await bob.connection.close()


async def test_truncated_send_body_closes_connection(gateway: GatewayProcess) -> None:
    raw = await RawSocket.open(gateway)
    raw.send_plaintext(
        encode_frame(Kind.REGISTER, 0, 1, NO_MESSAGE_ID, encode_json(identity_body("carol")))
    )
    await asyncio.sleep(0)
    bob = await register(gateway, "bob")
    # A SEND whose body stops in the middle of the device entry.
    truncated = b"\x03bob" + struct.pack(">QB", 1, 1) + struct.pack(">HBI", 1, 2, 100) + b"short"
    raw.send_plaintext(encode_frame(Kind.SEND, 0, 2, new_message_id(), truncated))

    assert disconnect_reason(await raw.read_until_closed()) == Reason.MALFORMED_FRAME
    assert (await bob.connection.request(Kind.DEVICES, {"user": "carol"}))["devices"] == [1]
    await bob.connection.close()


async def test_truncated_frame_then_eof(gateway: GatewayProcess) -> None:
    bob = await register(gateway, "bob")
    raw = await RawSocket.open(gateway)
    raw.send_plaintext(hello_frame()[:20])
    raw.writer.write_eof()
    assert await asyncio.wait_for(raw.reader.read(), EVENT_TIMEOUT) == b""
    assert (await bob.connection.request(Kind.PREKEY_COUNT))["count"] == 0
    await bob.connection.close()


async def test_tampered_record_closes_connection(gateway: GatewayProcess) -> None:
    bob = await register(gateway, "bob")
    raw = await RawSocket.open(gateway)
    assert raw.transport is not None
    sealed = bytearray(raw.transport.seal(hello_frame()))
    sealed[-1] ^= 0x01
    raw.writer.write(bytes(sealed))
    # The gateway can still encrypt toward the client, so it sends the reason before closing.
    assert disconnect_reason(await raw.read_until_closed()) == Reason.TRANSPORT_FAILED
    assert (await bob.connection.request(Kind.PREKEY_COUNT))["count"] == 0
    await bob.connection.close()


async def test_garbage_handshake_closes_connection(gateway: GatewayProcess) -> None:
    bob = await register(gateway, "bob")
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    # Any 32 bytes pass as the first XX message (an ephemeral key); the next record claims
    # 65535 bytes, far beyond any handshake message.
    writer.write(b"\x00\x20" + bytes(range(32)) + b"\xff\xff" + bytes(100))
    # The gateway closes without a reply: read() returns b"" only at EOF and times out
    # if the socket stays open.
    assert await asyncio.wait_for(reader.read(), EVENT_TIMEOUT) == b""
    writer.close()
    assert (await bob.connection.request(Kind.PREKEY_COUNT))["count"] == 0
    await bob.connection.close()
