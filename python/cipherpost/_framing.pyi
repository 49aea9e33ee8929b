"""Type stubs for `cipherpost._framing`, the Cython frame splitter and header codec
(source: ext/framing.pyx)."""

REASON_MALFORMED_FRAME: int
REASON_FRAME_TOO_LARGE: int
FRAME_HEADER_SIZE: int  # 32
FRAME_MESSAGE_ID_SIZE: int  # 16

class Frame:
    def __init__(self, kind: int, flags: int, seq: int, message_id: bytes, body: bytes) -> None: ...
    @property
    def kind(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def message_id(self) -> bytes: ...
    @property
    def body(self) -> bytes: ...

class FrameSplitter:
    """Split decrypted transport plaintext into frames of at most `max_frame` bytes."""

    def __init__(self, max_frame: int) -> None: ...
    @property
    def pending(self) -> int: ...
    def feed(self, data: bytes) -> list[Frame]:
        """Return the frames completed by `data`; raise ProtocolError on a malformed frame."""

def append_frame(
    out: bytearray, kind: int, flags: int, seq: int, message_id: bytes, body: bytes
) -> None: ...
def encode_frame(kind: int, flags: int, seq: int, message_id: bytes, body: bytes) -> bytes: ...
