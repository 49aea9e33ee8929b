"""Sans-IO Noise XX session plus frame splitting for one connection, usable on either side.

Bytes from the socket go into `receive`, which returns complete frames and any handshake bytes
to send back. Outgoing frames are queued with `queue_frame` and sealed together by
`take_output`, so a caller that writes once per event-loop iteration sends all frames of that
iteration in one burst of records.

Security property: no frame is returned before the XX handshake has finished, so every frame a
caller sees was encrypted and authenticated under the peer's static key `remote_static`.
"""

from __future__ import annotations

from cipherpost._core import NoiseHandshake, NoiseTransport, TransportKeyPair
from cipherpost._framing import Frame, FrameSplitter, append_frame
from cipherpost.exceptions import ProtocolError, TransportError
from cipherpost.protocol.frames import MAX_FRAME_SIZE, NO_MESSAGE_ID, Reason

RECORD_PREFIX_SIZE = 2

# Maximum handshake record. XX messages without payload are 32, 96 and 64 bytes, so a longer
# record is not a handshake. The limit keeps an unauthenticated peer from making the gateway
# buffer a full 64 KiB record.
MAX_HANDSHAKE_RECORD = 1024

_EMPTY = b""


class NoiseConnection:
    """Noise XX handshake, transport records and frames of one connection."""

    __slots__ = ("_handshake", "_output", "_pending", "_splitter", "_transport")

    def __init__(
        self, initiator: bool, local_key: TransportKeyPair, max_frame: int = MAX_FRAME_SIZE
    ) -> None:
        self._handshake: NoiseHandshake | None = NoiseHandshake(initiator, local_key)
        self._transport: NoiseTransport | None = None
        self._pending = _EMPTY  # received bytes of an incomplete record
        self._splitter = FrameSplitter(max_frame)
        self._output: bytearray | None = None

    @property
    def established(self) -> bool:
        return self._transport is not None

    @property
    def remote_static(self) -> bytes | None:
        """The peer's static transport key, known once the handshake finished."""
        transport = self._transport
        return None if transport is None else transport.remote_static

    def start(self) -> bytes:
        """Return the first handshake record to send (empty for the responder)."""
        handshake = self._handshake
        if handshake is None or not handshake.is_my_turn():
            return _EMPTY
        return _record(handshake.write_message())

    def receive(self, data: bytes) -> tuple[list[Frame], bytes]:
        """Feed received bytes; return the completed frames and handshake bytes to send.

        Raises ProtocolError (with a close reason) on a malformed or oversized frame or
        record, and TransportError when the handshake or decryption fails.
        """
        if self._pending:
            data = self._pending + data
            self._pending = _EMPTY
        reply = _EMPTY
        if self._handshake is not None:
            data, reply = self._receive_handshake(data)
            if self._handshake is not None:
                return [], reply
        transport = self._transport
        if transport is None or not data:
            return [], reply
        plaintext, consumed = transport.open(data)
        if consumed < len(data):
            self._pending = data[consumed:]
        frames = self._splitter.feed(plaintext) if plaintext else []
        return frames, reply

    def _receive_handshake(self, data: bytes) -> tuple[bytes, bytes]:
        handshake = self._handshake
        assert handshake is not None
        replies = []
        offset = 0
        while handshake is not None and len(data) - offset >= RECORD_PREFIX_SIZE:
            length = int.from_bytes(data[offset : offset + RECORD_PREFIX_SIZE], "big")
            if length > MAX_HANDSHAKE_RECORD:
                raise ProtocolError(
                    Reason.TRANSPORT_FAILED,
                    f"handshake record of {length} bytes exceeds {MAX_HANDSHAKE_RECORD}",
                )
            end = offset + RECORD_PREFIX_SIZE + length
            if end > len(data):
                break
            handshake.read_message(data[offset + RECORD_PREFIX_SIZE : end])
            offset = end
            if handshake.is_my_turn() and not handshake.is_finished():
                replies.append(_record(handshake.write_message()))
            if handshake.is_finished():
                self._finish(handshake)
                handshake = None
        rest = data[offset:]
        if handshake is not None and rest:
            self._pending = rest
            rest = _EMPTY
        return rest, b"".join(replies)

    def _finish(self, handshake: NoiseHandshake) -> None:
        self._transport = handshake.into_transport()
        self._handshake = None

    def queue_frame(
        self,
        kind: int,
        flags: int = 0,
        seq: int = 0,
        message_id: bytes = NO_MESSAGE_ID,
        body: bytes = _EMPTY,
    ) -> None:
        """Queue one frame for the next `take_output`."""
        if self._output is None:
            self._output = bytearray()
        append_frame(self._output, kind, flags, seq, message_id, body)

    @property
    def has_output(self) -> bool:
        return bool(self._output)

    def take_output(self) -> bytes:
        """Seal every queued frame into transport records and return them."""
        output = self._output
        transport = self._transport
        if not output:
            return _EMPTY
        if transport is None:
            raise TransportError("frames were queued before the Noise handshake finished")
        self._output = None
        return transport.seal(bytes(output))


def _record(message: bytes) -> bytes:
    return len(message).to_bytes(RECORD_PREFIX_SIZE, "big") + message
