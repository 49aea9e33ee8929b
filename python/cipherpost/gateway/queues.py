"""Offline queue limits: a time to live per envelope and a maximum length per device queue.

Expiry without a timestamp column: queue sequence numbers grow in arrival order, so the
gateway records marks, pairs (last seq, time) taken at each expiry sweep. A mark (S, T) means
that every item with seq <= S was stored at or before T. Once T is older than the time to
live, every item up to S has expired. Reads of a queue skip expired items at once, and the
sweep deletes them and queues an EXPIRED status for each sender whose message no recipient
device acknowledged. An item therefore expires between its time to live and one sweep
interval after it.

Length limit: a SEND that would make any recipient device's queue longer than the maximum is
rejected as a whole, before anything is stored; nothing already queued is dropped. Only real
envelopes count: ephemeral envelopes and ticks do not. Queue lengths are cached per device
and recounted after the device acknowledges, so a send to a long queue costs no count query.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable
from typing import Any

from cipherpost.exceptions import GatewayError
from cipherpost.protocol.frames import ErrorCode, Kind, SendBody, SendFlag
from cipherpost.storage.interfaces import QueuedItem, SendOutcome

log = logging.getLogger("cipherpost.gateway.queues")

# Items deleted per expiry call, so that one call cannot stall the event loop for long. The
# gateway repeats the call, each in its own storage batch, while it deletes a full batch.
EXPIRY_BATCH = 5000


def is_ephemeral(item: QueuedItem) -> bool:
    return item.kind == Kind.DELIVER and bool(item.flags & SendFlag.EPHEMERAL)


class QueuePolicy:
    """Store calls with the queue limits applied; run them through the storage worker."""

    def __init__(
        self,
        store: Any,
        ttl_s: int,
        max_length: int,
        ephemeral_ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl_ms = ttl_s * 1000
        self.max_length = max_length
        self.ephemeral_ttl_ms = ephemeral_ttl_s * 1000
        self._clock = clock
        self._depths: dict[tuple[str, int], int] = {}
        self._mark_seqs: list[int] = []
        self._mark_times: list[int] = []
        self.expired = 0  # items deleted by expiry since start
        self.rejected_full = 0  # sends rejected because a queue was full

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def load(self) -> None:
        """Read the marks. Call once, before the storage worker runs.

        After a restart the store assigns sequence numbers again from its largest queued seq.
        A mark above that seq would then cover future items, so such marks shrink to it.
        """
        last_seq = self.store.last_queue_seq()
        marks = self.store.load_queue_marks()
        kept = [mark for mark in marks if mark[0] <= last_seq]
        above = [mark for mark in marks if mark[0] > last_seq]
        if above:
            self.store.delete_queue_marks(0, last_seq)
            kept.append((last_seq, above[0][1]))
            self.store.add_queue_mark(last_seq, above[0][1])
        kept.sort()
        self._mark_seqs = [seq for seq, _ in kept]
        self._mark_times = [time_ms for _, time_ms in kept]

    def cutoff(self, ttl_ms: int) -> int:
        """Return the largest seq known to be stored more than `ttl_ms` ago (0 if none)."""
        index = bisect.bisect_right(self._mark_times, self._now_ms() - ttl_ms)
        return self._mark_seqs[index - 1] if index else 0

    def is_expired(self, item: QueuedItem) -> bool:
        ttl = self.ephemeral_ttl_ms if is_ephemeral(item) else self.ttl_ms
        return item.seq <= self.cutoff(ttl)

    # --- store calls (storage worker only) -------------------------------------------------

    def store_send(
        self, sender: str, sender_device: int, message_id: bytes, send: SendBody, ephemeral: bool
    ) -> SendOutcome:
        store = self.store
        if ephemeral:
            ephemeral_outcome: SendOutcome = store.store_ephemeral(
                sender, sender_device, message_id, send
            )
            return ephemeral_outcome
        full = [
            envelope.device_id
            for envelope in send.envelopes
            if self._depth(send.recipient, envelope.device_id) >= self.max_length
        ]
        if full:
            if store.has_message(sender, sender_device, message_id, send.recipient):
                return SendOutcome((), True)
            self.rejected_full += 1
            raise GatewayError(
                ErrorCode.QUEUE_FULL,
                f"the queue of {send.recipient!r} device {full[0]} is full "
                f"({self.max_length} messages); nothing was stored, retry later",
            )
        outcome: SendOutcome = store.store_send(sender, sender_device, message_id, send)
        if not outcome.duplicate:
            for envelope in send.envelopes:
                key = (send.recipient, envelope.device_id)
                if key in self._depths:
                    self._depths[key] += 1
        return outcome

    def _depth(self, user: str, device_id: int) -> int:
        key = (user, device_id)
        depth = self._depths.get(key)
        if depth is None:
            depth = self.store.count_queue(user, device_id, self.max_length)
            self._depths[key] = depth
        return depth

    def read_page(
        self, user: str, device_id: int, after_seq: int, limit: int
    ) -> tuple[list[QueuedItem], int, bool]:
        """Read up to `limit` items after `after_seq`.

        Return the unexpired items, the last seq read and whether the queue ended within this
        page. The last seq counts expired items too, so they are not read again.
        """
        items: list[QueuedItem] = self.store.list_queue(user, device_id, after_seq, limit)
        last_seq = items[-1].seq if items else after_seq
        cutoff = self.cutoff(self.ttl_ms)
        ephemeral_cutoff = self.cutoff(self.ephemeral_ttl_ms)
        live = [
            item
            for item in items
            if item.seq > cutoff and not (is_ephemeral(item) and item.seq <= ephemeral_cutoff)
        ]
        return live, last_seq, len(items) < limit

    def acknowledge(self, user: str, device_id: int, seq: int) -> list[QueuedItem]:
        self._depths.pop((user, device_id), None)
        return self.store.acknowledge(user, device_id, seq)  # type: ignore[no-any-return]

    def forget_depths(self) -> None:
        """Drop the cached lengths, after a failed commit or a removed device."""
        self._depths.clear()

    def sweep(self) -> tuple[list[QueuedItem], bool]:
        """Record a mark and delete one batch of expired items.

        Return the EXPIRED status items to push, and whether a full batch was deleted, in
        which case the caller sweeps again soon, in a new storage batch.
        """
        store = self.store
        now_ms = self._now_ms()
        last_seq = store.last_queue_seq()
        if not self._mark_seqs or last_seq > self._mark_seqs[-1]:
            store.add_queue_mark(last_seq, now_ms)
            self._mark_seqs.append(last_seq)
            self._mark_times.append(now_ms)
        cutoff = self.cutoff(self.ttl_ms)
        ephemeral_cutoff = self.cutoff(self.ephemeral_ttl_ms)
        deleted, statuses = store.expire_queue(cutoff, ephemeral_cutoff, EXPIRY_BATCH)
        self.expired += deleted
        if deleted:
            self._depths.clear()
        self._prune_marks(cutoff)
        return statuses, deleted == EXPIRY_BATCH

    def _prune_marks(self, cutoff: int) -> None:
        """Keep the marks still needed: the newest one at or below the oldest cutoff and all
        later ones."""
        oldest = min(cutoff, self.cutoff(self.ephemeral_ttl_ms))
        index = bisect.bisect_left(self._mark_seqs, oldest)
        if index > 0:
            self.store.delete_queue_marks(self._mark_seqs[index - 1], self._mark_seqs[-1])
            del self._mark_seqs[: index - 1]
            del self._mark_times[: index - 1]
