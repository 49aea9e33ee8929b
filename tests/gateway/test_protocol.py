"""Sans-IO pieces: frame codec, body codecs, tick machine and configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from cipherpost._core import TransportKeyPair
from cipherpost._framing import FrameSplitter, append_frame, encode_frame
from cipherpost.exceptions import ProtocolError
from cipherpost.gateway.config import load_config
from cipherpost.protocol.connection import NoiseConnection
from cipherpost.protocol.frames import (
    MAX_FRAME_SIZE,
    DeviceEnvelope,
    Reason,
    SendBody,
    Status,
    decode_deliver,
    decode_send,
    encode_deliver,
    encode_send,
)
from cipherpost.protocol.ticks import TickTracker, advance
from hypothesis import given, settings
from hypothesis import strategies as st


@given(
    st.lists(
        st.tuples(
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 2**64 - 1),
            st.binary(min_size=16, max_size=16),
            st.binary(max_size=300),
        ),
        max_size=8,
    ),
    st.integers(1, 50),
)
@settings(max_examples=200, deadline=None)
def test_splitter_round_trip_any_chunking(frames: list, chunk: int) -> None:  # type: ignore[type-arg]
    stream = bytearray()
    for frame in frames:
        append_frame(stream, *frame)
    assert bytes(stream) == b"".join(encode_frame(*frame) for frame in frames)

    splitter = FrameSplitter(MAX_FRAME_SIZE)
    decoded = []
    for start in range(0, len(stream), chunk):
        decoded.extend(splitter.feed(bytes(stream[start : start + chunk])))
    assert [(f.kind, f.flags, f.seq, f.message_id, f.body) for f in decoded] == frames
    assert splitter.pending == 0


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_splitter_random_bytes_never_crash(data: bytes) -> None:
    splitter = FrameSplitter(4096)
    try:
        splitter.feed(data)
    except ProtocolError as error:
        assert error.reason in (Reason.MALFORMED_FRAME, Reason.FRAME_TOO_LARGE)


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_send_decoder_random_bytes(data: bytes) -> None:
    try:
        decode_send(data)
    except ProtocolError as error:
        assert error.reason == Reason.MALFORMED_FRAME


def test_oversized_frame_rejected_before_buffering() -> None:
    splitter = FrameSplitter(1000)
    with pytest.raises(ProtocolError) as too_large:
        splitter.feed((1000).to_bytes(4, "big"))
    assert too_large.value.reason == Reason.FRAME_TOO_LARGE
    assert splitter.pending == 0


def test_send_body_round_trip() -> None:
    body = SendBody("bob", 123, (DeviceEnvelope(1, 3, b"a"), DeviceEnvelope(2, 2, b"bc")))
    assert decode_send(encode_send(body)) == body


def test_send_body_duplicate_device_rejected() -> None:
    body = SendBody("bob", 1, (DeviceEnvelope(1, 3, b"a"), DeviceEnvelope(1, 2, b"b")))
    with pytest.raises(ProtocolError, match="twice"):
        decode_send(encode_send(body))


def test_deliver_body_round_trip() -> None:
    decoded = decode_deliver(encode_deliver("alice", 2, 3, 99, b"cipher"))
    assert (decoded.sender, decoded.sender_device, decoded.type) == ("alice", 2, 3)
    assert (decoded.timestamp_ms, decoded.ciphertext) == (99, b"cipher")


def test_ticks_only_move_forward() -> None:
    tracker = TickTracker()
    message_id = b"m" * 16
    tracker.start(message_id)
    updates = [Status.SENT, Status.READ, Status.DELIVERED, Status.SENT, Status.READ]
    moved = [tracker.apply(message_id, update) for update in updates]
    assert moved == [True, True, False, False, False]
    assert tracker.status(message_id) == Status.READ
    assert advance(Status.DELIVERED, Status.SENT) == Status.DELIVERED
    assert advance(Status.PENDING, Status.DELIVERED) == Status.DELIVERED


def test_noise_connection_pair_exchanges_frames() -> None:
    client = NoiseConnection(True, TransportKeyPair.generate())
    server_key = TransportKeyPair.generate()
    server = NoiseConnection(False, server_key)
    _, reply = server.receive(client.start())
    _, final = client.receive(reply)
    assert client.established
    client.queue_frame(0x01, body=b"first")
    # The last handshake message and the first frame arrive in one read.
    frames, _ = server.receive(final + client.take_output())
    assert server.established
    assert client.remote_static == server_key.public_key
    assert [frame.body for frame in frames] == [b"first"]

    big = bytes(200_000)
    server.queue_frame(0x82, body=big)
    (frame,), _ = client.receive(server.take_output())
    assert frame.body == big


def test_config_precedence(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('port = 1000\nhost = "127.0.0.2"\nregistration = "token"\n')
    config = load_config(path, {"CIPHERPOST_PORT": "2000"}, {"host": "127.0.0.3"})
    assert config.port == 2000
    assert config.host == "127.0.0.3"
    assert config.registration == "token"


def test_config_rejects_unknown_setting(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("prot = 1000\n")
    with pytest.raises(ValueError, match="prot"):
        load_config(path, {})
    with pytest.raises(ValueError, match="registration"):
        load_config(None, {"CIPHERPOST_REGISTRATION": "anyone"})
