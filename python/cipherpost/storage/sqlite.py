"""SQLite gateway store: WAL journal, one connection, group commit by the caller.

Durability: the gateway sends SENT only after `transaction()` commits. With
`synchronous=FULL` in WAL mode SQLite fsyncs the write-ahead log on every commit, so a stored
envelope survives a power loss as well as a killed process; `NORMAL` survives a killed process
but may lose the last commits on power loss. FULL is the default because the gateway batches
many sends into one commit, which spreads the cost of each fsync over the whole batch.

The queue table's key `seq` is an INTEGER PRIMARY KEY (the rowid), so appends go to the end
of the B-tree in arrival order; a composite key would insert in random order, which measured
about ten times slower here.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

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

SYNCHRONOUS_MODES = ("FULL", "NORMAL")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    user TEXT PRIMARY KEY,
    next_device INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    user TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    transport_key BLOB NOT NULL UNIQUE,
    identity_key BLOB NOT NULL,
    registration_id INTEGER NOT NULL,
    PRIMARY KEY (user, device_id)
);
CREATE TABLE IF NOT EXISTS registration_tokens (token TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS link_codes (
    code TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS signed_prekeys (
    user TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    signature BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (user, device_id)
);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    user TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    PRIMARY KEY (user, device_id, key_id)
);
-- One row per SEND for deduplication and the sender's ticks.
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    sender TEXT NOT NULL,
    sender_device INTEGER NOT NULL,
    message_id BLOB NOT NULL,
    recipient TEXT NOT NULL,
    status INTEGER NOT NULL,
    UNIQUE (sender, message_id, recipient, sender_device)
);
-- Device queues; seq is the rowid, so rows are appended in arrival order.
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    message_ref INTEGER,
    message_id BLOB NOT NULL,
    peer TEXT NOT NULL,
    peer_device INTEGER NOT NULL,
    type INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_by_device ON queue (user, device_id, seq);
"""

_QUEUE_COLUMNS = (
    "seq, user, device_id, kind, flags, message_id, peer, peer_device, type, timestamp_ms, body"
)


class SqliteGatewayStore:
    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(
                f"sqlite synchronous mode {synchronous!r} is not one of {SYNCHRONOUS_MODES}"
            )
        # Autocommit mode: transactions are opened explicitly by transaction().
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.executescript(SCHEMA)
        self._in_transaction = False
        self._savepoints = 0
        # Device lists by user; every change goes through this object, so the cache is exact.
        self._device_cache: dict[str, list[int]] = {}
        # Queue sequence numbers are assigned here rather than by SQLite, because SQLite reuses
        # the rowid of a deleted last row and a gateway connection relies on seq only growing.
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM queue").fetchone()
        self._last_seq = int(row[0])

    durable = True

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the enclosed calls in one transaction and commit once (group commit)."""
        if self._in_transaction:
            yield
            return
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        else:
            self.commit()

    def begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._in_transaction = True

    def commit(self) -> None:
        """Commit (and fsync, with synchronous=FULL); safe to call from another thread while
        no other call uses the store."""
        try:
            self._db.execute("COMMIT")
        finally:
            self._in_transaction = self._db.in_transaction

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._in_transaction = False
        self._device_cache.clear()

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """Make one method all-or-nothing inside the surrounding transaction."""
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self._db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._db.execute(f"ROLLBACK TO {name}")
            self._db.execute(f"RELEASE {name}")
            self._device_cache.clear()
            raise
        else:
            self._db.execute(f"RELEASE {name}")
        finally:
            self._savepoints -= 1

    def close(self) -> None:
        self._db.close()

    def _next_seq(self) -> int:
        self._last_seq += 1
        return self._last_seq

    # --- accounts ------------------------------------------------------------------------

    def create_account(self, device: DeviceRecord, token: str | None) -> None:
        with self._atomic():
            if token is not None:
                deleted = self._db.execute(
                    "DELETE FROM registration_tokens WHERE token = ?", (token,)
                ).rowcount
                if not deleted:
                    raise GatewayError(ErrorCode.FORBIDDEN, "registration token is invalid or used")
            try:
                self._db.execute(
                    "INSERT INTO accounts (user, next_device) VALUES (?, ?)",
                    (device.user, device.device_id + 1),
                )
            except sqlite3.IntegrityError as error:
                raise GatewayError(
                    ErrorCode.ALREADY_REGISTERED, f"user {device.user!r} is already registered"
                ) from error
            self._insert_device(device)

    def add_registration_token(self, token: str) -> None:
        with self._atomic():
            self._db.execute("INSERT OR IGNORE INTO registration_tokens VALUES (?)", (token,))

    def create_link_code(self, user: str, now_ms: int) -> str:
        code = secrets.token_urlsafe(12)
        with self._atomic():
            self._db.execute("DELETE FROM link_codes WHERE expires_ms < ?", (now_ms,))
            self._db.execute(
                "INSERT INTO link_codes VALUES (?, ?, ?)", (code, user, now_ms + LINK_CODE_TTL_MS)
            )
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
        with self._atomic():
            deleted = self._db.execute(
                "DELETE FROM link_codes WHERE code = ? AND user = ? AND expires_ms >= ?",
                (code, user, now_ms),
            ).rowcount
            if not deleted:
                raise GatewayError(
                    ErrorCode.FORBIDDEN, f"link code for {user!r} is invalid or expired"
                )
            if len(self.list_devices(user)) >= MAX_DEVICES_PER_ACCOUNT:
                raise GatewayError(
                    ErrorCode.LIMIT_REACHED,
                    f"user {user!r} already has {MAX_DEVICES_PER_ACCOUNT} devices; "
                    "unlink one first",
                )
            row = self._db.execute(
                "UPDATE accounts SET next_device = next_device + 1 WHERE user = ? "
                "RETURNING next_device - 1",
                (user,),
            ).fetchone()
            device = DeviceRecord(user, row[0], transport_key, identity_key, registration_id)
            self._insert_device(device)
        return device

    def _insert_device(self, device: DeviceRecord) -> None:
        try:
            self._db.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?, ?)",
                (
                    device.user,
                    device.device_id,
                    device.transport_key,
                    device.identity_key,
                    device.registration_id,
                ),
            )
        except sqlite3.IntegrityError as error:
            raise GatewayError(
                ErrorCode.ALREADY_REGISTERED, "transport key is already registered"
            ) from error
        self._device_cache.pop(device.user, None)

    def remove_device(self, user: str, device_id: int) -> None:
        with self._atomic():
            key = (user, device_id)
            deleted = self._db.execute(
                "DELETE FROM devices WHERE user = ? AND device_id = ?", key
            ).rowcount
            if not deleted:
                raise GatewayError(ErrorCode.NOT_FOUND, f"device {device_id} of {user!r} not found")
            for table in ("signed_prekeys", "one_time_prekeys", "queue"):
                self._db.execute(f"DELETE FROM {table} WHERE user = ? AND device_id = ?", key)
            self._device_cache.pop(user, None)

    def find_device(self, transport_key: bytes) -> DeviceRecord | None:
        row = self._db.execute(
            "SELECT user, device_id, transport_key, identity_key, registration_id "
            "FROM devices WHERE transport_key = ?",
            (transport_key,),
        ).fetchone()
        return DeviceRecord(*row) if row else None

    def get_device(self, user: str, device_id: int) -> DeviceRecord | None:
        row = self._db.execute(
            "SELECT user, device_id, transport_key, identity_key, registration_id "
            "FROM devices WHERE user = ? AND device_id = ?",
            (user, device_id),
        ).fetchone()
        return DeviceRecord(*row) if row else None

    def list_devices(self, user: str) -> list[int]:
        cached = self._device_cache.get(user)
        if cached is None:
            rows = self._db.execute(
                "SELECT device_id FROM devices WHERE user = ? ORDER BY device_id", (user,)
            ).fetchall()
            cached = [row[0] for row in rows]
            self._device_cache[user] = cached
        return list(cached)

    # --- prekeys -------------------------------------------------------------------------

    def store_prekeys(
        self,
        user: str,
        device_id: int,
        signed_prekey: SignedPreKey | None,
        one_time_prekeys: Sequence[OneTimePreKey],
    ) -> int:
        with self._atomic():
            if signed_prekey is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO signed_prekeys VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        user,
                        device_id,
                        signed_prekey.key_id,
                        signed_prekey.public_key,
                        signed_prekey.signature,
                        signed_prekey.timestamp_ms,
                    ),
                )
            self._db.executemany(
                "INSERT OR REPLACE INTO one_time_prekeys VALUES (?, ?, ?, ?)",
                [(user, device_id, key.key_id, key.public_key) for key in one_time_prekeys],
            )
        return self.count_prekeys(user, device_id)

    def count_prekeys(self, user: str, device_id: int) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM one_time_prekeys WHERE user = ? AND device_id = ?",
            (user, device_id),
        ).fetchone()
        return int(row[0])

    def claim_bundles(self, user: str, device_id: int | None) -> list[PreKeyBundleRecord]:
        devices = self.list_devices(user) if device_id is None else [device_id]
        bundles = []
        with self._atomic():
            for current in devices:
                row = self._db.execute(
                    "SELECT d.registration_id, d.identity_key, s.key_id, s.public_key, "
                    "s.signature, s.timestamp_ms FROM devices d JOIN signed_prekeys s "
                    "ON s.user = d.user AND s.device_id = d.device_id "
                    "WHERE d.user = ? AND d.device_id = ?",
                    (user, current),
                ).fetchone()
                if row is None:
                    continue
                # Delete-and-return in one statement: the prekey goes to this claim only.
                claimed = self._db.execute(
                    "DELETE FROM one_time_prekeys WHERE rowid = (SELECT rowid FROM "
                    "one_time_prekeys WHERE user = ? AND device_id = ? ORDER BY key_id LIMIT 1) "
                    "RETURNING key_id, public_key",
                    (user, current),
                ).fetchone()
                bundles.append(
                    PreKeyBundleRecord(
                        current,
                        row[0],
                        row[1],
                        SignedPreKey(row[2], row[3], row[4], row[5]),
                        OneTimePreKey(claimed[0], claimed[1]) if claimed else None,
                    )
                )
        return bundles

    # --- messages ------------------------------------------------------------------------

    def store_send(
        self, sender: str, sender_device: int, message_id: bytes, send: SendBody
    ) -> SendOutcome:
        # Every check happens before the first write, so no savepoint is needed.
        check_device_list(self.list_devices(send.recipient), send, sender, sender_device)
        # A plain INSERT OR IGNORE with rowcount and lastrowid costs about half of RETURNING.
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages (sender, sender_device, message_id, recipient, status) "
            "VALUES (?, ?, ?, ?, ?)",
            (sender, sender_device, message_id, send.recipient, int(Status.SENT)),
        )
        if cursor.rowcount != 1:
            return SendOutcome((), True)
        message_ref = cursor.lastrowid
        items = []
        for envelope in send.envelopes:
            seq = self._next_seq()
            self._db.execute(
                "INSERT INTO queue (seq, user, device_id, kind, flags, message_ref, "
                "message_id, peer, peer_device, type, timestamp_ms, body) "
                "VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    send.recipient,
                    envelope.device_id,
                    int(Kind.DELIVER),
                    message_ref,
                    message_id,
                    sender,
                    sender_device,
                    envelope.type,
                    send.timestamp_ms,
                    envelope.ciphertext,
                ),
            )
            items.append(
                QueuedItem(
                    seq,
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
                )
            )
        return SendOutcome(tuple(items), False)

    def list_queue(self, user: str, device_id: int, after_seq: int, limit: int) -> list[QueuedItem]:
        rows = self._db.execute(
            f"SELECT {_QUEUE_COLUMNS} FROM queue WHERE user = ? AND device_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (user, device_id, after_seq, limit),
        ).fetchall()
        return [QueuedItem(*row) for row in rows]

    def acknowledge(self, user: str, device_id: int, seq: int) -> list[QueuedItem]:
        row = self._db.execute(
            "DELETE FROM queue WHERE seq = ? AND user = ? AND device_id = ? "
            "RETURNING message_ref, message_id, peer",
            (seq, user, device_id),
        ).fetchone()
        if row is None or row[0] is None:
            return []
        message_ref, message_id, sender = row
        if sender == user:
            return []  # a copy on the sender's own device: not a delivery
        updated = self._db.execute(
            "UPDATE messages SET status = ? WHERE id = ? AND status < ?",
            (int(Status.DELIVERED), message_ref, int(Status.DELIVERED)),
        ).rowcount
        if not updated:
            return []
        return self._queue_status(sender, message_id, Status.DELIVERED, user)

    def record_read(self, reader: str, sender: str, message_id: bytes) -> list[QueuedItem]:
        updated = self._db.execute(
            "UPDATE messages SET status = ? WHERE sender = ? AND message_id = ? "
            "AND recipient = ? AND status < ? RETURNING id",
            (int(Status.READ), sender, message_id, reader, int(Status.READ)),
        ).fetchall()
        if not updated:
            return []
        return self._queue_status(sender, message_id, Status.READ, reader)

    def _queue_status(
        self, sender: str, message_id: bytes, status: Status, peer: str
    ) -> list[QueuedItem]:
        items = []
        for device in self.list_devices(sender):
            seq = self._next_seq()
            self._db.execute(
                "INSERT INTO queue (seq, user, device_id, kind, flags, message_ref, message_id, "
                "peer, peer_device, type, timestamp_ms, body) "
                "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 0, 0, 0, ?)",
                (seq, sender, device, int(Kind.STATUS), int(status), message_id, peer, b""),
            )
            items.append(
                QueuedItem(seq, sender, device, Kind.STATUS, status, message_id, peer, 0, 0, 0, b"")
            )
        return items

    # --- queue limits and expiry ---------------------------------------------------------

    def count_queue(self, user: str, device_id: int, limit: int) -> int:
        """Count the device's queued envelopes that are neither ephemeral nor ticks, up to
        `limit` (the count stops there, so a long queue costs at most `limit` row reads)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM queue WHERE user = ? AND device_id = ? "
            "AND kind = ? AND (flags & ?) = 0 LIMIT ?)",
            (user, device_id, int(Kind.DELIVER), int(SendFlag.EPHEMERAL), limit),
        ).fetchone()
        return int(row[0])

    def has_message(
        self, sender: str, sender_device: int, message_id: bytes, recipient: str
    ) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM messages WHERE sender = ? AND message_id = ? AND recipient = ? "
            "AND sender_device = ?",
            (sender, message_id, recipient, sender_device),
        ).fetchone()
        return row is not None

    def last_queue_seq(self) -> int:
        return self._last_seq

    def load_queue_marks(self) -> list[tuple[int, int]]:
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue_marks (seq INTEGER PRIMARY KEY, time_ms INTEGER)"
        )
        rows = self._db.execute("SELECT seq, time_ms FROM queue_marks ORDER BY seq").fetchall()
        return [(int(seq), int(time_ms)) for seq, time_ms in rows]

    def add_queue_mark(self, seq: int, time_ms: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO queue_marks VALUES (?, ?)", (seq, time_ms))

    def delete_queue_marks(self, below_seq: int, above_seq: int) -> None:
        """Delete the marks with seq < `below_seq` or seq > `above_seq`."""
        self._db.execute(
            "DELETE FROM queue_marks WHERE seq < ? OR seq > ?", (below_seq, above_seq)
        )

    def expire_queue(
        self, cutoff_seq: int, ephemeral_cutoff_seq: int, limit: int
    ) -> tuple[int, list[QueuedItem]]:
        """Delete up to `limit` queue items with seq <= `cutoff_seq`, and ephemeral envelopes
        with seq <= `ephemeral_cutoff_seq`. Return how many were deleted and the EXPIRED
        STATUS items queued for senders whose message no recipient device acknowledged."""
        with self._atomic():
            rows = self._db.execute(
                "DELETE FROM queue WHERE seq IN (SELECT seq FROM queue WHERE seq <= ? "
                "UNION SELECT seq FROM queue WHERE seq <= ? AND kind = ? AND (flags & ?) != 0 "
                "LIMIT ?) RETURNING message_ref",
                (
                    cutoff_seq,
                    ephemeral_cutoff_seq,
                    int(Kind.DELIVER),
                    int(SendFlag.EPHEMERAL),
                    limit,
                ),
            ).fetchall()
            items: list[QueuedItem] = []
            for message_ref in sorted({row[0] for row in rows if row[0] is not None}):
                expired = self._db.execute(
                    "UPDATE messages SET status = ? WHERE id = ? AND status = ? "
                    "AND sender != recipient RETURNING sender, message_id, recipient",
                    (int(Status.EXPIRED), message_ref, int(Status.SENT)),
                ).fetchone()
                if expired is not None:
                    sender, message_id, recipient = expired
                    items.extend(self._queue_status(sender, message_id, Status.EXPIRED, recipient))
        return len(rows), items

    def queue_stats(self, low_water: int) -> tuple[int, int, int]:
        """Return the queued envelopes, the longest device queue and the devices with fewer
        than `low_water` one-time prekeys."""
        total, longest = self._db.execute(
            "SELECT COALESCE(SUM(n), 0), COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n "
            "FROM queue WHERE kind = ? GROUP BY user, device_id)",
            (int(Kind.DELIVER),),
        ).fetchone()
        low = self._db.execute(
            "SELECT COUNT(*) FROM devices d WHERE (SELECT COUNT(*) FROM one_time_prekeys p "
            "WHERE p.user = d.user AND p.device_id = d.device_id) < ?",
            (low_water,),
        ).fetchone()[0]
        return int(total), int(longest), int(low)

    def store_ephemeral(
        self, sender: str, sender_device: int, message_id: bytes, send: SendBody
    ) -> SendOutcome:
        """Queue an ephemeral envelope per device: no dedup row, no ticks, its own TTL."""
        check_device_list(self.list_devices(send.recipient), send, sender, sender_device)
        flags = int(SendFlag.EPHEMERAL)
        items = []
        for envelope in send.envelopes:
            item = QueuedItem(
                self._next_seq(),
                send.recipient,
                envelope.device_id,
                Kind.DELIVER,
                flags,
                message_id,
                sender,
                sender_device,
                envelope.type,
                send.timestamp_ms,
                envelope.ciphertext,
            )
            self._db.execute(
                "INSERT INTO queue (seq, user, device_id, kind, flags, message_ref, "
                "message_id, peer, peer_device, type, timestamp_ms, body) "
                "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
                (
                    item.seq,
                    item.user,
                    item.device_id,
                    int(Kind.DELIVER),
                    flags,
                    message_id,
                    sender,
                    sender_device,
                    item.type,
                    item.timestamp_ms,
                    item.body,
                ),
            )
            items.append(item)
        return SendOutcome(tuple(items), False)
