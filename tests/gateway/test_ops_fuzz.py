"""Bounded property-based fuzzing of the frame and envelope decoders: any input either
decodes or raises ProtocolError, never another exception."""

from __future__ import annotations

from cipherpost._framing import FrameSplitter, encode_frame
from cipherpost.exceptions import ProtocolError
from cipherpost.protocol.frames import (
    MAX_FRAME_SIZE,
    Kind,
    decode_deliver,
    decode_deliver_batch,
    decode_json,
    decode_send,
    decode_user,
    encode_deliver_batch,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# Examples per decoder; enough to reach the length and count branches, small enough that the
# whole file runs in seconds.
FUZZ_EXAMPLES = 400
DECODERS = (decode_send, decode_deliver, decode_deliver_batch, decode_json, decode_user)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.binary(max_size=2048))
def test_body_decoders_raise_only_protocol_error(data: bytes) -> None:
    for decoder in DECODERS:
        try:
            decoder(data)
        except ProtocolError:
            pass


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.lists(st.binary(max_size=512), max_size=8))
def test_frame_splitter_raises_only_protocol_error(chunks: list[bytes]) -> None:
    splitter = FrameSplitter(MAX_FRAME_SIZE)
    try:
        for chunk in chunks:
            for frame in splitter.feed(chunk):
                assert len(frame.message_id) == 16
    except ProtocolError:
        pass


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([int(Kind.DELIVER), int(Kind.STATUS)]),
            st.integers(0, 255),
            st.integers(0, 2**64 - 1),
            st.binary(min_size=16, max_size=16),
            st.binary(max_size=300),
        ),
        max_size=10,
    ),
    st.integers(0, 4096),
)
def test_deliver_batch_round_trip_and_truncation(
    entries: list[tuple[int, int, int, bytes, bytes]], cut: int
) -> None:
    data = encode_deliver_batch(entries)
    frames = decode_deliver_batch(data)
    assert [(f.kind, f.flags, f.seq, f.message_id, f.body) for f in frames] == entries
    if cut < len(data):
        try:
            decode_deliver_batch(data[:cut])
        except ProtocolError:
            pass


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=1024), st.integers(1, 64))
def test_frame_split_across_chunks(kind: int, flags: int, body: bytes, step: int) -> None:
    data = encode_frame(kind, flags, 7, bytes(16), body)
    splitter = FrameSplitter(MAX_FRAME_SIZE)
    frames = []
    for offset in range(0, len(data), step):
        frames.extend(splitter.feed(data[offset : offset + step]))
    assert [(f.kind, f.flags, f.seq, f.body) for f in frames] == [(kind, flags, 7, body)]
