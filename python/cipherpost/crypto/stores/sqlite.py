"""SQLite protocol store: every record of one device in one file.

Records are serialized on every store and parsed on every load, so a loaded record is a fresh
object that the caller may mutate freely. The file contains private keys: it is created with mode
0600, and the caller should keep it on an encrypted disk. The database runs in WAL mode so that
a reader never blocks the writer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from cipherpost._core import KeyPair, Rng, SenderKeyRecord, SessionRecord
from cipherpost.crypto.keys import (
    Address,
    PreKeyRecord,
    SignedPreKeyRecord,
    generate_identity_key_pair,
    generate_registration_id,
)
from cipherpost.exceptions import ProtocolStoreError

logger = logging.getLogger(__name__)

# Bumped when the tables change; a file with another version is rejected instead of misread.
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_identity (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    private_key BLOB NOT NULL,
    registration_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    name TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    identity_key BLOB NOT NULL,
    saved_ms INTEGER NOT NULL,
    PRIMARY KEY (name, device_id)
);
CREATE TABLE IF NOT EXISTS prekeys (
    prekey_id INTEGER PRIMARY KEY,
    private_key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS signed_prekeys (
    signed_prekey_id INTEGER PRIMARY KEY,
    private_key BLOB NOT NULL,
    signature BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    name TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    record BLOB NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (name, device_id)
);
CREATE TABLE IF NOT EXISTS sender_keys (
    group_id TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    sender_device_id INTEGER NOT NULL,
    record BLOB NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, sender_name, sender_device_id)
);
"""


def wall_clock_ms() -> int:
    """Return the current Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


class SqliteProtocolStore:
    """All five protocol stores in one SQLite file, for one local device.

    Opening a new file stores `identity_key_pair` and `registration_id`, or generates both with
    `rng` when they are None. Opening an existing file loads them; passing a different identity
    then raises ProtocolStoreError rather than mixing two devices' keys in one file. `now_ms`
    supplies the timestamps written next to identities, sessions and sender keys.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        identity_key_pair: KeyPair | None = None,
        registration_id: int | None = None,
        *,
        rng: Rng | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.path = Path(path)
        self._now_ms = now_ms
        self._depth = 0
        if str(path) != ":memory:" and not self.path.exists():
            # Create the file ourselves so that it is never readable by other users, not even
            # for the moment between creation and a chmod.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._check_schema()
        self._identity_key_pair, self._registration_id = self._load_or_create_identity(
            identity_key_pair, registration_id, rng
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_schema(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version == 0:
            with self.transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            raise ProtocolStoreError(
                f"store {self.path} has schema version {version}, this cipherpost reads "
                f"version {SCHEMA_VERSION}; open it with a matching cipherpost version"
            )

    def _load_or_create_identity(
        self, identity_key_pair: KeyPair | None, registration_id: int | None, rng: Rng | None
    ) -> tuple[KeyPair, int]:
        row = self._db.execute(
            "SELECT private_key, registration_id FROM local_identity WHERE singleton = 1"
        ).fetchone()
        if row is not None:
            stored = KeyPair.from_private(row[0])
            if identity_key_pair is not None and (
                identity_key_pair.public_key != stored.public_key
            ):
                raise ProtocolStoreError(
                    f"store {self.path} belongs to another identity key; open it without an "
                    "identity or use a new file for this identity"
                )
            if registration_id is not None and registration_id != row[1]:
                raise ProtocolStoreError(
                    f"store {self.path} has registration id {row[1]}, not {registration_id}; "
                    "open it without a registration id or use a new file"
                )
            return stored, int(row[1])

        rng = rng if rng is not None else Rng()
        if identity_key_pair is None:
            identity_key_pair = generate_identity_key_pair(rng)
        if registration_id is None:
            registration_id = generate_registration_id(rng)
        with self.transaction():
            self._db.execute(
                "INSERT INTO local_identity (singleton, private_key, registration_id) "
                "VALUES (1, ?, ?)",
                (identity_key_pair.private_key, registration_id),
            )
        logger.info("created protocol store %s with registration id %d", self.path, registration_id)
        return identity_key_pair, registration_id

    # --- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one SQLite transaction; nested blocks join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return

        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    def _write(self, sql: str, parameters: tuple[object, ...]) -> None:
        with self.transaction():
            self._db.execute(sql, parameters)

    # --- identities --------------------------------------------------------------------------

    def identity_key_pair(self) -> KeyPair:
        return self._identity_key_pair

    def local_registration_id(self) -> int:
        return self._registration_id

    def load_identity(self, address: Address) -> bytes | None:
        row = self._db.execute(
            "SELECT identity_key FROM identities WHERE name = ? AND device_id = ?",
            (address.name, address.device_id),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def save_identity(self, address: Address, identity_key: bytes) -> bool:
        with self.transaction():
            previous = self.load_identity(address)
            self._db.execute(
                "INSERT OR REPLACE INTO identities (name, device_id, identity_key, saved_ms) "
                "VALUES (?, ?, ?, ?)",
                (address.name, address.device_id, bytes(identity_key), self._now_ms()),
            )
        return previous is not None and previous != identity_key

    def is_trusted_identity(self, address: Address, identity_key: bytes) -> bool:
        stored = self.load_identity(address)
        return stored is None or stored == identity_key

    # --- one-time prekeys --------------------------------------------------------------------

    def load_prekey(self, prekey_id: int) -> PreKeyRecord | None:
        row = self._db.execute(
            "SELECT private_key FROM prekeys WHERE prekey_id = ?", (prekey_id,)
        ).fetchone()
        return None if row is None else PreKeyRecord(prekey_id, KeyPair.from_private(row[0]))

    def store_prekey(self, record: PreKeyRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO prekeys (prekey_id, private_key) VALUES (?, ?)",
            (record.prekey_id, record.key_pair.private_key),
        )

    def remove_prekey(self, prekey_id: int) -> None:
        self._write("DELETE FROM prekeys WHERE prekey_id = ?", (prekey_id,))

    def count_prekeys(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM prekeys").fetchone()
        return int(count)

    # --- signed prekeys ----------------------------------------------------------------------

    def load_signed_prekey(self, signed_prekey_id: int) -> SignedPreKeyRecord | None:
        row = self._db.execute(
            "SELECT private_key, signature, timestamp_ms FROM signed_prekeys "
            "WHERE signed_prekey_id = ?",
            (signed_prekey_id,),
        ).fetchone()
        if row is None:
            return None
        return SignedPreKeyRecord(
            signed_prekey_id, KeyPair.from_private(row[0]), bytes(row[1]), int(row[2])
        )

    def store_signed_prekey(self, record: SignedPreKeyRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO signed_prekeys "
            "(signed_prekey_id, private_key, signature, timestamp_ms) VALUES (?, ?, ?, ?)",
            (
                record.signed_prekey_id,
                record.key_pair.private_key,
                record.signature,
                record.timestamp_ms,
            ),
        )

    def remove_signed_prekey(self, signed_prekey_id: int) -> None:
        self._write("DELETE FROM signed_prekeys WHERE signed_prekey_id = ?", (signed_prekey_id,))

    def list_signed_prekeys(self) -> list[SignedPreKeyRecord]:
        rows = self._db.execute(
            "SELECT signed_prekey_id, private_key, signature, timestamp_ms FROM signed_prekeys "
            "ORDER BY timestamp_ms, signed_prekey_id"
        ).fetchall()
        return [
            SignedPreKeyRecord(
                int(row[0]), KeyPair.from_private(row[1]), bytes(row[2]), int(row[3])
            )
            for row in rows
        ]

    # --- sessions ----------------------------------------------------------------------------

    def load_session(self, address: Address) -> SessionRecord | None:
        row = self._db.execute(
            "SELECT record FROM sessions WHERE name = ? AND device_id = ?",
            (address.name, address.device_id),
        ).fetchone()
        return None if row is None else SessionRecord.deserialize(row[0])

    def store_session(self, address: Address, record: SessionRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO sessions (name, device_id, record, updated_ms) "
            "VALUES (?, ?, ?, ?)",
            (address.name, address.device_id, record.serialize(), self._now_ms()),
        )

    def delete_session(self, address: Address) -> None:
        self._write(
            "DELETE FROM sessions WHERE name = ? AND device_id = ?",
            (address.name, address.device_id),
        )

    def list_device_ids(self, name: str) -> list[int]:
        rows = self._db.execute(
            "SELECT device_id FROM sessions WHERE name = ? ORDER BY device_id", (name,)
        ).fetchall()
        return [int(row[0]) for row in rows]

    # --- sender keys -------------------------------------------------------------------------

    def load_sender_key(self, group_id: str, sender: Address) -> SenderKeyRecord | None:
        row = self._db.execute(
            "SELECT record FROM sender_keys "
            "WHERE group_id = ? AND sender_name = ? AND sender_device_id = ?",
            (group_id, sender.name, sender.device_id),
        ).fetchone()
        return None if row is None else SenderKeyRecord.deserialize(row[0])

    def store_sender_key(self, group_id: str, sender: Address, record: SenderKeyRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO sender_keys "
            "(group_id, sender_name, sender_device_id, record, updated_ms) VALUES (?, ?, ?, ?, ?)",
            (group_id, sender.name, sender.device_id, record.serialize(), self._now_ms()),
        )
