"""In-memory reference implementation of the gateway store, used by tests and the demo.

It follows the same rules as the SQLite store and keeps nothing across restarts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from cipherpost.exceptions import GatewayError
from cipherpost.protocol.frames import (
    MAX_DEVICES_PER_ACCOUNT,
    ErrorCode,
    Kind,
    SendBody,
    SendFlag,
    Status,
)
from cipherpost.storage.interfaces import (
    LINK_CODE_TTL_MS,
    DeviceRecord,
    OneTimePreKey,
    PreKeyBundleRecord,
    QueuedItem,
    SendOutcome,
    SignedPreKey,
    check_device_list,
)


@dataclass(slots=True)
class _Message:
    sender: str
    recipient: str
    status: Status


class MemoryGatewayStore:
    def __init__(self) -> None:
        self._next_device: dict[str, int] = {}
        self._devices: dict[tuple[str, int], DeviceRecord] = {}
        self._device_ids: dict[str, list[int]] = {}  # sorted device ids by user
        self._by_key: dict[bytes, DeviceRecord] = {}
        self._tokens: set[str] = set()
        self._link_codes: dict[str, tuple[str, int]] = {}
        self._signed: dict[tuple[str, int], SignedPreKey] = {}
        self._one_time: dict[tuple[str, int], dict[int, OneTimePreKey]] = {}
        self._messages: dict[tuple[str, int, bytes, str], _Message] = {}
        self._message_by_id: dict[tuple[str, bytes, str], _Message] = {}
        self._queues: dict[tuple[str, int], dict[int, tuple[QueuedItem, _Message | None]]] = {}
        self._seq = 0
        self._marks: list[tuple[int, int]] = []  # (queue seq, time ms) for expiry

    durable = False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass

    # --- accounts ------------------------------------------------------------------------

    def create_account(self, device: DeviceRecord, token: str | None) -> None:
        if device.user in self._next_device:
            raise GatewayError(
                ErrorCode.ALREADY_REGISTERED, f"user {device.user!r} is already registered"
            )
        if token is not None and token not in self._tokens:
            raise GatewayError(ErrorCode.FORBIDDEN, "registration token is invalid or used")
        self._check_key_unused(device.transport_key)
        self._tokens.discard(token or "")
        self._next_device[device.user] = device.device_id + 1
        self._add(device)

    def add_registration_token(self, token: str) -> None:
        self._tokens.add(token)

    def create_link_code(self, user: str, now_ms: int) -> str:
        code = secrets.token_urlsafe(12)
        self._link_codes[code] = (user, now_ms + LINK_CODE_TTL_MS)
        return code

    def link_device(
        self,
        user: str,
        code: str,
        transport_key: bytes,
        identity_key: bytes,
        registration_id: int,
        now_ms: int,
    ) -> DeviceRecord:
        entry = self._link_codes.get(code)
        if entry is None or entry[0] != user or entry[1] < now_ms:
            raise GatewayError(ErrorCode.FORBIDDEN, f"link code for {user!r} is invalid or expired")
        if len(self.list_devices(user)) >= MAX_DEVICES_PER_ACCOUNT:
            raise GatewayError(
                ErrorCode.LIMIT_REACHED,
                f"user {user!r} already has {MAX_DEVICES_PER_ACCOUNT} devices; unlink one first",
            )
        self._check_key_unused(transport_key)
        del self._link_codes[code]
        device_id = self._next_device[user]
        self._next_device[user] = device_id + 1
        device = DeviceRecord(user, device_id, transport_key, identity_key, registration_id)
        self._add(device)
        return device

    def remove_device(self, user: str, device_id: int) -> None:
        device = self._devices.pop((user, device_id), None)
        if device is None:
            raise GatewayError(ErrorCode.NOT_FOUND, f"device {device_id} of {user!r} not found")
        del self._by_key[device.transport_key]
        self._device_ids[user].remove(device_id)
        self._signed.pop((user, device_id), None)
        self._one_time.pop((user, device_id), None)
        self._queues.pop((user, device_id), None)

    def find_device(self, transport_key: bytes) -> DeviceRecord | None:
        return self._by_key.get(transport_key)

    def get_device(self, user: str, device_id: int) -> DeviceRecord | None:
        return self._devices.get((user, device_id))

    def list_devices(self, user: str) -> list[int]:
        return list(self._device_ids.get(user, ()))

    def _add(self, device: DeviceRecord) -> None:
        self._devices[(device.user, device.device_id)] = device
        ids = self._device_ids.setdefault(device.user, [])
        ids.append(device.device_id)
        ids.sort()
        self._by_key[device.transport_key] = device

    def _check_key_unused(self, transport_key: bytes) -> None:
        if transport_key in self._by_key:
            raise GatewayError(ErrorCode.ALREADY_REGISTERED, "transport key is already registered")

    # --- prekeys -------------------------------------------------------------------------

    def store_prekeys(
        self,
        user: str,
        device_id: int,
        signed_prekey: SignedPreKey | None,
        one_time_prekeys: Sequence[OneTimePreKey],
    ) -> int:
        key = (user, device_id)
        if signed_prekey is not None:
            self._signed[key] = signed_prekey
        stored = self._one_time.setdefault(key, {})
        for prekey in one_time_prekeys:
            stored[prekey.key_id] = prekey
        return len(stored)

    def count_prekeys(self, user: str, device_id: int) -> int:
        return len(self._one_time.get((user, device_id), {}))

    def claim_bundles(self, user: str, device_id: int | None) -> list[PreKeyBundleRecord]:
        devices = self.list_devices(user) if device_id is None else [device_id]
        bundles = []
        for current in devices:
            device = self._devices.get((user, current))
            signed = self._signed.get((user, current))
            if device is None or signed is None:
                continue
            stored = self._one_time.get((user, current), {})
            one_time = stored.pop(min(stored)) if stored else None
            bundles.append(
                PreKeyBundleRecord(
                    current, device.registration_id, device.identity_key, signed, one_time
                )
            )
        return bundles

    # --- messages ------------------------------------------------------------------------

    def store_send(
        self, sender: str, sender_device: int, message_id: bytes, send: SendBody
    ) -> SendOutcome:
        check_device_list(self.list_devices(send.recipient), send, sender, sender_device)
        dedup_key = (sender, sender_device, message_id, send.recipient)
        if dedup_key in self._messages:
            return SendOutcome((), True)
        message = _Message(sender, send.recipient, Status.SENT)
        self._messages[dedup_key] = message
        self._message_by_id[(sender, message_id, send.recipient)] = message
        items = []
        for envelope in send.envelopes:
            item = self._enqueue(
                send.recipient,
                envelope.device_id,
                Kind.DELIVER,
                0,
                message_id,
                sender,
                sender_device,
                envelope.type,
                send.timestamp_ms,
                envelope.ciphertext,
                message,
            )
            items.append(item)
        return SendOutcome(tuple(items), False)

    def list_queue(self, user: str, device_id: int, after_seq: int, limit: int) -> list[QueuedItem]:
        queue = self._queues.get((user, device_id), {})
        return [item for seq, (item, _) in sorted(queue.items()) if seq > after_seq][:limit]

    def acknowledge(self, user: str, device_id: int, seq: int) -> list[QueuedItem]:
        entry = self._queues.get((user, device_id), {}).pop(seq, None)
        if entry is None:
            return []
        item, message = entry
        if message is None or message.sender == user or message.status >= Status.DELIVERED:
            return []
        message.status = Status.DELIVERED
        return self._queue_status(message, item.message_id, Status.DELIVERED, user)

    def record_read(self, reader: str, sender: str, message_id: bytes) -> list[QueuedItem]:
        message = self._message_by_id.get((sender, message_id, reader))
        if message is None or message.status >= Status.READ:
            return []
        message.status = Status.READ
        return self._queue_status(message, message_id, Status.READ, reader)

    def _queue_status(
        self, message: _Message, message_id: bytes, status: Status, peer: str
    ) -> list[QueuedItem]:
        return [
            self._enqueue(
                message.sender, device, Kind.STATUS, status, message_id, peer, 0, 0, 0, b"", None
            )
            for device in self.list_devices(message.sender)
        ]

    def _enqueue(
        self,
        user: str,
        device_id: int,
        kind: int,
        flags: int,
        message_id: bytes,
        peer: str,
        peer_device: int,
        type_: int,
        timestamp_ms: int,
        body: bytes,
        message: _Message | None,
    ) -> QueuedItem:
        self._seq += 1
        item = QueuedItem(
            self._seq,
            user,
            device_id,
            kind,
            flags,
            message_id,
            peer,
            peer_device,
            type_,
            timestamp_ms,
            body,
        )
        self._queues.setdefault((user, device_id), {})[self._seq] = (item, message)
        return item

    # --- queue limits and expiry ---------------------------------------------------------

    def count_queue(self, user: str, device_id: int, limit: int) -> int:
        queue = self._queues.get((user, device_id), {})
        count = sum(
            1
            for item, _ in queue.values()
            if item.kind == Kind.DELIVER and not item.flags & SendFlag.EPHEMERAL
        )
        return min(count, limit)

    def has_message(
        self, sender: str, sender_device: int, message_id: bytes, recipient: str
    ) -> bool:
        return (sender, sender_device, message_id, recipient) in self._messages

    def last_queue_seq(self) -> int:
        return self._seq

    def load_queue_marks(self) -> list[tuple[int, int]]:
        return list(self._marks)

    def add_queue_mark(self, seq: int, time_ms: int) -> None:
        self._marks = [mark for mark in self._marks if mark[0] != seq] + [(seq, time_ms)]
        self._marks.sort()

    def delete_queue_marks(self, below_seq: int, above_seq: int) -> None:
        self._marks = [mark for mark in self._marks if below_seq <= mark[0] <= above_seq]

    def expire_queue(
        self, cutoff_seq: int, ephemeral_cutoff_seq: int, limit: int
    ) -> tuple[int, list[QueuedItem]]:
        deleted = 0
        items: list[QueuedItem] = []
        # A list, because queueing an EXPIRED status may add the sender's queue meanwhile.
        for queue in list(self._queues.values()):
            for seq in sorted(queue):
                if deleted >= limit:
                    break
                item, message = queue[seq]
                ephemeral = item.kind == Kind.DELIVER and item.flags & SendFlag.EPHEMERAL
                if seq > cutoff_seq and not (ephemeral and seq <= ephemeral_cutoff_seq):
                    continue
                del queue[seq]
                deleted += 1
                if (
                    message is not None
                    and message.status == Status.SENT
                    and message.sender != message.recipient
                ):
                    message.status = Status.EXPIRED
                    items.extend(
                        self._queue_status(
                            message, item.message_id, Status.EXPIRED, message.recipient
                        )
                    )
        return deleted, items

    def store_ephemeral(
        self, sender: str, sender_device: int, message_id: bytes, send: SendBody
    ) -> SendOutcome:
        check_device_list(self.list_devices(send.recipient), send, sender, sender_device)
        items = [
            self._enqueue(
                send.recipient,
                envelope.device_id,
                Kind.DELIVER,
                SendFlag.EPHEMERAL,
                message_id,
                sender,
                sender_device,
                envelope.type,
                send.timestamp_ms,
                envelope.ciphertext,
                None,
            )
            for envelope in send.envelopes
        ]
        return SendOutcome(tuple(items), False)

    def queue_stats(self, low_water: int) -> tuple[int, int, int]:
        depths = [
            sum(1 for item, _ in queue.values() if item.kind == Kind.DELIVER)
            for queue in self._queues.values()
        ]
        low = sum(1 for key in self._devices if self.count_prekeys(*key) < low_water)
        return sum(depths), max(depths, default=0), low


__all__ = ["MemoryGatewayStore"]
