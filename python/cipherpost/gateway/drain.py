"""Flow control and batching for a reconnecting device's queue.

A draining connection reads its queue in pages and sends each page as DELIVER_BATCH frames
of several envelopes. At most DRAIN_WINDOW envelopes may be unacknowledged. The next page is
read only when acknowledgements bring that number down to half the window, and only while the
socket's write buffer is below its high-water mark (asyncio's pause_writing and
resume_writing). A slow device therefore holds at most one window of envelopes in the
gateway's memory. Ephemeral
envelopes found on the way are held back and sent after DRAINED, so they never delay the
real backlog.
"""

from __future__ import annotations

from cipherpost.protocol.frames import Kind, encode_deliver, encode_user
from cipherpost.storage.interfaces import QueuedItem

# Unacknowledged envelopes per draining connection, as Signal-Server allows 256 in flight.
DRAIN_WINDOW = 256
# Envelopes per DELIVER_BATCH frame: enough to amortize the per-frame cost, small enough that
# a client can start on the first ones soon.
DRAIN_BATCH_ENVELOPES = 64
# Body bytes per DELIVER_BATCH frame. With 64 entry headers of 30 bytes it stays below the
# 640 KiB frame limit, and one envelope (at most 96 KiB) always fits.
DRAIN_BATCH_BYTES = 512 * 1024


class DrainState:
    """Progress of one draining connection, kept only while it drains."""

    __slots__ = ("ephemeral", "in_flight", "paused", "reading")

    def __init__(self) -> None:
        self.in_flight = 0  # envelopes sent in this drain and not yet acknowledged
        self.reading = False  # a page read is queued in the storage worker
        self.paused = False  # the transport's write buffer is above its high-water mark
        self.ephemeral: list[QueuedItem] = []  # held back until the backlog is sent

    def may_read(self) -> bool:
        return not self.reading and not self.paused and self.in_flight <= DRAIN_WINDOW // 2

    def page_size(self) -> int:
        return DRAIN_WINDOW - self.in_flight


def batch_entries(items: list[QueuedItem]) -> list[list[tuple[int, int, int, bytes, bytes]]]:
    """Group queued items into DELIVER_BATCH entry lists within the size limits."""
    batches: list[list[tuple[int, int, int, bytes, bytes]]] = []
    current: list[tuple[int, int, int, bytes, bytes]] = []
    size = 0
    for item in items:
        if item.kind == Kind.DELIVER:
            body = encode_deliver(
                item.peer, item.peer_device, item.type, item.timestamp_ms, item.body
            )
        else:
            body = encode_user(item.peer)
        full = len(current) >= DRAIN_BATCH_ENVELOPES or size + len(body) > DRAIN_BATCH_BYTES
        if current and full:
            batches.append(current)
            current = []
            size = 0
        current.append((item.kind, item.flags, item.seq, item.message_id, body))
        size += len(body)
    if current:
        batches.append(current)
    return batches
