"""Storage interfaces of the gateway and the records they exchange.

Every method is synchronous. The gateway calls them from its event loop between `begin()` and
`commit()`, and never runs two calls at once, so a store may assume no concurrent calls. A method that raises leaves
the store as it was before the call (the SQLite store wraps each call in a savepoint, the
memory store validates before it mutates). Rule violations raise `GatewayError` with the code
that the gateway forwards to the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from cipherpost.exceptions import DeviceListMismatchError, GatewayError
from cipherpost.protocol.frames import ErrorCode, SendBody

# A link code is valid for ten minutes: long enough to type it on the new device.
LINK_CODE_TTL_MS = 10 * 60 * 1000


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    user: str
    device_id: int
    transport_key: bytes  # 32-byte Noise static public key
    identity_key: bytes  # 33-byte Signal identity public key
    registration_id: int


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    key_id: int
    public_key: bytes
    signature: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class OneTimePreKey:
    key_id: int
    public_key: bytes


@dataclass(frozen=True, slots=True)
class PreKeyBundleRecord:
    device_id: int
    registration_id: int
    identity_key: bytes
    signed_prekey: SignedPreKey
    one_time_prekey: OneTimePreKey | None


@dataclass(frozen=True, slots=True)
class QueuedItem:
    """One queued frame for a device: a DELIVER (an envelope) or a STATUS (a tick).

    For DELIVER, `peer`/`peer_device` are the sender; for STATUS, `peer` is the user whose
    device delivered or read the message and `flags` carries the status.
    """

    seq: int  # arrival order, unique across the store
    user: str
    device_id: int
    kind: int  # frames.Kind.DELIVER or frames.Kind.STATUS
    flags: int
    message_id: bytes
    peer: str
    peer_device: int
    type: int
    timestamp_ms: int
    body: bytes


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """Result of storing a SEND: the queued items, or `duplicate` for a retried message id."""

    items: tuple[QueuedItem, ...]
    duplicate: bool


class AccountStore(Protocol):
    def create_account(self, device: DeviceRecord, token: str | None) -> None:
        """Create `device.user` with `device` as its primary; consume `token` if given."""

    def add_registration_token(self, token: str) -> None: ...

    def create_link_code(self, user: str, now_ms: int) -> str: ...

    def link_device(
        self,
        user: str,
        code: str,
        transport_key: bytes,
        identity_key: bytes,
        registration_id: int,
        now_ms: int,
    ) -> DeviceRecord:
        """Consume `code` and add a device with the next unused device id."""

    def remove_device(self, user: str, device_id: int) -> None:
        """Delete the device with its queue and prekeys; its id is never reused."""

    def find_device(self, transport_key: bytes) -> DeviceRecord | None: ...

    def get_device(self, user: str, device_id: int) -> DeviceRecord | None: ...

    def list_devices(self, user: str) -> list[int]:
        """Return the user's device ids in ascending order (empty for an unknown user)."""


class PreKeyStore(Protocol):
    def store_prekeys(
        self,
        user: str,
        device_id: int,
        signed_prekey: SignedPreKey | None,
        one_time_prekeys: Sequence[OneTimePreKey],
    ) -> int:
        """Replace the signed prekey (if given), add one-time prekeys; return how many remain."""

    def count_prekeys(self, user: str, device_id: int) -> int: ...

    def claim_bundles(self, user: str, device_id: int | None) -> list[PreKeyBundleRecord]:
        """Return a bundle per device (or for one), each taking and deleting at most one
        one-time prekey. Devices without a signed prekey are left out."""


class MessageStore(Protocol):
    def store_send(
        self, sender: str, sender_device: int, message_id: bytes, send: SendBody
    ) -> SendOutcome:
        """Queue one envelope per device after checking the device list; raise
        DeviceListMismatchError when `send` leaves out a device or names an unknown one."""

    def list_queue(
        self, user: str, device_id: int, after_seq: int, limit: int
    ) -> list[QueuedItem]: ...

    def acknowledge(self, user: str, device_id: int, seq: int) -> list[QueuedItem]:
        """Delete the device's own item `seq`; return the STATUS items this queued (DELIVERED
        for the sender's devices on the first acknowledgement by a recipient device)."""

    def record_read(self, reader: str, sender: str, message_id: bytes) -> list[QueuedItem]:
        """Move the message to READ; return the STATUS items queued for the sender."""


class QueueMaintenanceStore(Protocol):
    """Calls behind the queue limits and expiry (cipherpost.gateway.queues) and metrics."""

    def store_ephemeral(
        self, sender: str, sender_device: int, message_id: bytes, send: SendBody
    ) -> SendOutcome:
        """Queue an ephemeral envelope per device (flags EPHEMERAL, no dedup, no ticks)."""

    def count_queue(self, user: str, device_id: int, limit: int) -> int:
        """Count the device's real (non-ephemeral) queued envelopes, at most `limit`."""

    def has_message(
        self, sender: str, sender_device: int, message_id: bytes, recipient: str
    ) -> bool: ...

    def last_queue_seq(self) -> int: ...

    def load_queue_marks(self) -> list[tuple[int, int]]: ...

    def add_queue_mark(self, seq: int, time_ms: int) -> None: ...

    def delete_queue_marks(self, below_seq: int, above_seq: int) -> None: ...

    def expire_queue(
        self, cutoff_seq: int, ephemeral_cutoff_seq: int, limit: int
    ) -> tuple[int, list[QueuedItem]]: ...

    def queue_stats(self, low_water: int) -> tuple[int, int, int]: ...


class GatewayStore(AccountStore, PreKeyStore, MessageStore, QueueMaintenanceStore, Protocol):
    # True when commit() writes to disk (and may block); the gateway then commits in a thread.
    durable: bool

    def transaction(self) -> AbstractContextManager[None]:
        """Group several calls into one durable commit."""

    def begin(self) -> None:
        """Open a transaction for a batch of calls (group commit)."""

    def commit(self) -> None:
        """Commit the open transaction; may be called from another thread."""

    def rollback(self) -> None: ...

    def close(self) -> None: ...


def required_devices(
    devices: Sequence[int], recipient: str, sender: str, sender_device: int
) -> set[int]:
    """Devices a SEND to `recipient` must name: all of them, less the sending device itself."""
    required = set(devices)
    if recipient == sender:
        required.discard(sender_device)
    return required


def check_device_list(
    devices: Sequence[int], send: SendBody, sender: str, sender_device: int
) -> None:
    """Raise DeviceListMismatchError unless `send` names exactly the required devices."""
    required = required_devices(devices, send.recipient, sender, sender_device)
    named = {envelope.device_id for envelope in send.envelopes}
    if named == required and required:
        return
    if not devices:
        raise GatewayError(ErrorCode.NOT_FOUND, f"user {send.recipient!r} is not registered")
    missing = sorted(required - named)
    extra = sorted(named - required)
    raise DeviceListMismatchError(
        ErrorCode.DEVICE_MISMATCH,
        f"send to {send.recipient!r} names devices {sorted(named)}, but it has {sorted(required)} "
        f"(missing {missing}, removed or unknown {extra}); update sessions and resend",
        send.recipient,
        sorted(devices),
    )
