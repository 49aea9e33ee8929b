# Frame splitting and header coding for the gateway protocol (see docs/protocol.md).
#
# Call flow: a connection feeds decrypted transport plaintext to FrameSplitter.feed, which
# returns complete Frame objects; outgoing frames are appended to one bytearray per connection
# with append_frame and sealed once per event-loop iteration.

cdef enum:
    # Bytes in the fixed header, the 4-byte length field included.
    HEADER_SIZE = 32
    # Bytes of the length field itself; the length counts the bytes after it.
    LENGTH_SIZE = 4
    MESSAGE_ID_SIZE = 16

cdef class Frame:
    cdef readonly int kind
    cdef readonly int flags
    cdef readonly unsigned long long seq
    cdef readonly bytes message_id
    cdef readonly bytes body

cdef class FrameSplitter:
    cdef bytearray _pending      # bytes of an incomplete frame carried to the next feed
    cdef Py_ssize_t _max_frame   # largest accepted frame, header included

    cpdef list feed(self, bytes data)
    cdef Py_ssize_t _split(self, const unsigned char[:] view, Py_ssize_t length, list out) except -1

cpdef void append_frame(bytearray out, int kind, int flags, unsigned long long seq,
                        bytes message_id, bytes body) except *
cpdef bytes encode_frame(int kind, int flags, unsigned long long seq, bytes message_id,
                         const unsigned char[:] body)
