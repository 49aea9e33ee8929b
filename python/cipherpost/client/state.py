"""Local client state next to the protocol store: device identity, transport key, received
message ids (duplicate suppression) and the ticks of sent messages."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from cipherpost._core import TransportKeyPair
from cipherpost.protocol.frames import Status

DEVICE_FILE = "device.json"
TRANSPORT_KEY_FILE = "transport.key"
PROTOCOL_STORE_FILE = "protocol.sqlite3"
MESSAGES_FILE = "messages.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    sender TEXT NOT NULL,
    message_id BLOB NOT NULL,
    PRIMARY KEY (sender, message_id)
);
CREATE TABLE IF NOT EXISTS sent (
    message_id BLOB PRIMARY KEY,
    recipient TEXT NOT NULL,
    status INTEGER NOT NULL
);
"""


@dataclass
class DeviceInfo:
    """Public facts about this device, kept in device.json."""

    user: str
    device: int
    host: str
    port: int
    gateway_key: str  # hex of the gateway's Noise static key, pinned at registration
    next_prekey_id: int = 1

    def save(self, state_dir: Path) -> None:
        temporary = state_dir / (DEVICE_FILE + ".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(state_dir / DEVICE_FILE)

    @classmethod
    def load(cls, state_dir: Path) -> DeviceInfo:
        path = state_dir / DEVICE_FILE
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"{path} not found; run `cipherpost register` with this --state-dir first"
            ) from error


def create_transport_key(state_dir: Path) -> TransportKeyPair:
    key = TransportKeyPair.generate()
    descriptor = os.open(
        state_dir / TRANSPORT_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
    )
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_key)
    return key


def load_transport_key(state_dir: Path) -> TransportKeyPair:
    return TransportKeyPair.from_private((state_dir / TRANSPORT_KEY_FILE).read_bytes())


class MessageLog:
    """Received message ids and sent-message ticks, in SQLite so they survive restarts."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def remember_received(self, sender: str, message_id: bytes) -> bool:
        """Record a received message; return False when it was seen before (a duplicate)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO received VALUES (?, ?)", (sender, message_id)
        )
        return cursor.rowcount == 1

    def was_received(self, sender: str, message_id: bytes) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM received WHERE sender = ? AND message_id = ?", (sender, message_id)
        ).fetchone()
        return row is not None

    def save_status(self, message_id: bytes, recipient: str, status: Status) -> None:
        self._db.execute(
            "INSERT INTO sent VALUES (?, ?, ?) ON CONFLICT (message_id) DO UPDATE "
            "SET status = MAX(status, excluded.status)",
            (message_id, recipient, int(status)),
        )

    def load_statuses(self) -> dict[bytes, Status]:
        rows = self._db.execute("SELECT message_id, status FROM sent").fetchall()
        return {row[0]: Status(row[1]) for row in rows}
