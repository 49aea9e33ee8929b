"""The delivery-tick state machine of one sent message.

A message moves PENDING → SENT (✓, stored by the gateway) → DELIVERED (✓✓, a first recipient
device acknowledged it) → READ. Updates can arrive late, twice or out of order (a READ
receipt may overtake the DELIVERED notice, and retries repeat SENT), so the machine only ever
moves forward: an update to a status at or behind the current one is ignored. Jumps are
allowed because a later status implies the earlier ones.
"""

from __future__ import annotations

from cipherpost.protocol.frames import Status

# Allowed transitions: every strictly later status. READ is final.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    status: frozenset(later for later in Status if later > status) for status in Status
}

TICK_MARKS: dict[Status, str] = {
    Status.PENDING: "…",
    Status.SENT: "✓",
    Status.DELIVERED: "✓✓",
    Status.READ: "read",
    Status.EXPIRED: "expired",
}


def advance(current: Status, update: Status) -> Status:
    """Return the status after `update`; unchanged when `update` is not later than `current`."""
    return update if update in TRANSITIONS[current] else current


class TickTracker:
    """Current tick of every message this device sent, by message id."""

    __slots__ = ("_statuses",)

    def __init__(self) -> None:
        self._statuses: dict[bytes, Status] = {}

    def start(self, message_id: bytes) -> None:
        self._statuses.setdefault(message_id, Status.PENDING)

    def apply(self, message_id: bytes, update: Status) -> bool:
        """Apply an update; return True when the status moved forward."""
        current = self._statuses.get(message_id, Status.PENDING)
        new = advance(current, update)
        if new is current:
            return False
        self._statuses[message_id] = new
        return True

    def status(self, message_id: bytes) -> Status:
        return self._statuses.get(message_id, Status.PENDING)
