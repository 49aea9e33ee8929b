# cython: language_level=3
"""Frame splitting and header coding for the gateway protocol.

A frame is a 32-byte header followed by an opaque body (layout in docs/protocol.md):

    length u32 | kind u8 | flags u8 | reserved u16 (zero) | seq u64 | message_id 16 bytes | body

All integers are big-endian, and `length` counts the bytes after the length field. The
splitter checks every length against the connection's maximum before it buffers anything, so
a peer cannot make the gateway hold more than one maximum-size frame per connection.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from libc.string cimport memcpy, memset

from cipherpost.exceptions import ProtocolError

# Close reasons raised from here; the full table lives in cipherpost.protocol.frames.
REASON_MALFORMED_FRAME = 2
REASON_FRAME_TOO_LARGE = 3

FRAME_HEADER_SIZE = HEADER_SIZE
FRAME_MESSAGE_ID_SIZE = MESSAGE_ID_SIZE

cdef bytes ZERO_HEADER = bytes(HEADER_SIZE)


cdef class Frame:
    """One decoded frame; `body` is the opaque payload after the header."""

    def __cinit__(self, int kind, int flags, unsigned long long seq, bytes message_id,
                  bytes body):
        self.kind = kind
        self.flags = flags
        self.seq = seq
        self.message_id = message_id
        self.body = body

    def __repr__(self):
        return (f"Frame(kind={self.kind}, flags={self.flags}, seq={self.seq}, "
                f"message_id={self.message_id.hex()}, body={len(self.body)} bytes)")


cdef inline unsigned long long read_u64(const unsigned char[:] view, Py_ssize_t at):
    cdef unsigned long long value = 0
    cdef int i
    for i in range(8):
        value = (value << 8) | view[at + i]
    return value


cdef inline unsigned int read_u32(const unsigned char[:] view, Py_ssize_t at):
    return ((<unsigned int>view[at] << 24) | (<unsigned int>view[at + 1] << 16)
            | (<unsigned int>view[at + 2] << 8) | <unsigned int>view[at + 3])


cdef class FrameSplitter:
    """Split a byte stream into frames, keeping an incomplete tail for the next call."""

    def __cinit__(self, Py_ssize_t max_frame):
        if max_frame < HEADER_SIZE:
            raise ValueError(f"max_frame {max_frame} is smaller than the {HEADER_SIZE}-byte header")
        # Allocated on the first incomplete frame: most connections never need it.
        self._pending = None
        self._max_frame = max_frame

    @property
    def pending(self):
        """Number of buffered bytes of an incomplete frame."""
        return 0 if self._pending is None else len(self._pending)

    cpdef list feed(self, bytes data):
        """Return the frames completed by `data`; raise ProtocolError on a bad frame."""
        cdef list out = []
        cdef Py_ssize_t consumed
        if not self._pending:
            # Fast path: parse straight from the received bytes, buffer only the tail.
            consumed = self._split(data, len(data), out)
            if consumed < len(data):
                self._pending = bytearray(data[consumed:])
            return out
        self._pending += data
        consumed = self._split(self._pending, len(self._pending), out)
        if consumed == len(self._pending):
            self._pending = None
        elif consumed:
            del self._pending[:consumed]
        return out

    cdef Py_ssize_t _split(self, const unsigned char[:] view, Py_ssize_t length,
                           list out) except -1:
        cdef Py_ssize_t offset = 0
        cdef Py_ssize_t frame_length
        cdef const unsigned char* base
        while length - offset >= LENGTH_SIZE:
            frame_length = <Py_ssize_t>read_u32(view, offset) + LENGTH_SIZE
            if frame_length < HEADER_SIZE:
                raise ProtocolError(
                    REASON_MALFORMED_FRAME,
                    f"frame length {frame_length} is shorter than the {HEADER_SIZE}-byte header")
            if frame_length > self._max_frame:
                raise ProtocolError(
                    REASON_FRAME_TOO_LARGE,
                    f"frame of {frame_length} bytes exceeds the maximum of {self._max_frame}")
            if length - offset < frame_length:
                break
            if view[offset + 6] != 0 or view[offset + 7] != 0:
                raise ProtocolError(REASON_MALFORMED_FRAME, "reserved header bytes are not zero")
            base = &view[offset]
            out.append(Frame(
                view[offset + 4],
                view[offset + 5],
                read_u64(view, offset + 8),
                PyBytes_FromStringAndSize(<const char*>base + 16, MESSAGE_ID_SIZE),
                PyBytes_FromStringAndSize(<const char*>base + HEADER_SIZE,
                                          frame_length - HEADER_SIZE),
            ))
            offset += frame_length
        return offset


cdef inline void write_header(unsigned char* out, Py_ssize_t body_length, int kind, int flags,
                              unsigned long long seq, bytes message_id):
    cdef unsigned int length = <unsigned int>(body_length + HEADER_SIZE - LENGTH_SIZE)
    cdef int i
    out[0] = (length >> 24) & 0xFF
    out[1] = (length >> 16) & 0xFF
    out[2] = (length >> 8) & 0xFF
    out[3] = length & 0xFF
    out[4] = kind
    out[5] = flags
    out[6] = 0
    out[7] = 0
    for i in range(8):
        out[15 - i] = (seq >> (8 * i)) & 0xFF
    memcpy(out + 16, PyBytes_AS_STRING(message_id), MESSAGE_ID_SIZE)


cdef inline check_fields(int kind, int flags, bytes message_id):
    if not 0 <= kind <= 255:
        raise ValueError(f"frame kind {kind} is outside 0..255")
    if not 0 <= flags <= 255:
        raise ValueError(f"frame flags {flags} are outside 0..255")
    if message_id is None or len(message_id) != MESSAGE_ID_SIZE:
        raise ValueError(f"message id must be {MESSAGE_ID_SIZE} bytes")


cpdef void append_frame(bytearray out, int kind, int flags, unsigned long long seq,
                        bytes message_id, bytes body) except *:
    """Append one encoded frame to `out` (a connection's outgoing buffer)."""
    check_fields(kind, flags, message_id)
    cdef Py_ssize_t start = len(out)
    out += ZERO_HEADER
    out += body
    cdef unsigned char[:] target = out
    write_header(&target[start], len(body), kind, flags, seq, message_id)


cpdef bytes encode_frame(int kind, int flags, unsigned long long seq, bytes message_id,
                         const unsigned char[:] body):
    """Return one encoded frame."""
    check_fields(kind, flags, message_id)
    cdef Py_ssize_t body_length = body.shape[0]
    cdef bytes result = PyBytes_FromStringAndSize(NULL, HEADER_SIZE + body_length)
    cdef unsigned char* out = <unsigned char*>PyBytes_AS_STRING(result)
    write_header(out, body_length, kind, flags, seq, message_id)
    if body_length:
        memcpy(out + HEADER_SIZE, <const void*>&body[0], body_length)
    return result
