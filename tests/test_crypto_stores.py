"""One test suite for every protocol store: in-memory and SQLite behave the same."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cipherpost.crypto import (
    Address,
    KeyPair,
    Rng,
    generate_identity_key_pair,
    generate_prekeys,
    generate_registration_id,
    generate_signed_prekey,
)
from cipherpost.crypto.stores import MemoryProtocolStore, ProtocolStore, SqliteProtocolStore
from cipherpost.exceptions import CipherpostError, DuplicateMessageError, ProtocolStoreError
from peers.cipherpost_device import Device, connect, seeded_rng

BOB = Address("bob", 1)
BOB_TABLET = Address("bob", 2)
CAROL = Address("carol", 7)

StoreFactory = Callable[[], ProtocolStore]


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Return a factory of empty stores of one kind, each with a new identity."""
    opened: list[SqliteProtocolStore] = []
    rng = seeded_rng(f"store-suite-{request.param}")

    def factory() -> ProtocolStore:
        identity = generate_identity_key_pair(rng)
        registration_id = generate_registration_id(rng)
        if request.param == "memory":
            return MemoryProtocolStore(identity, registration_id)
        store = SqliteProtocolStore(tmp_path / f"store{len(opened)}.db", identity, registration_id)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> ProtocolStore:
    return make_store()


# --- identities ---------------------------------------------------------------------------------


def test_identity_key_pair_round_trip(store: ProtocolStore) -> None:
    key_pair = store.identity_key_pair()
    assert len(key_pair.public_key) == 33
    assert KeyPair.from_private(key_pair.private_key).public_key == key_pair.public_key
    assert 1 <= store.local_registration_id() <= 16380


def test_identity_unknown_is_trusted(store: ProtocolStore) -> None:
    key = KeyPair.generate(Rng()).public_key
    assert store.load_identity(BOB) is None
    assert store.is_trusted_identity(BOB, key)


def test_identity_save_then_trust(store: ProtocolStore) -> None:
    rng = Rng()
    first = KeyPair.generate(rng).public_key
    second = KeyPair.generate(rng).public_key

    assert store.save_identity(BOB, first) is False
    assert store.load_identity(BOB) == first
    assert store.is_trusted_identity(BOB, first)
    assert not store.is_trusted_identity(BOB, second)
    assert store.save_identity(BOB, first) is False


def test_identity_replace_reports_change(store: ProtocolStore) -> None:
    rng = Rng()
    first = KeyPair.generate(rng).public_key
    second = KeyPair.generate(rng).public_key
    store.save_identity(BOB, first)

    assert store.save_identity(BOB, second) is True
    assert store.load_identity(BOB) == second
    assert store.is_trusted_identity(BOB, second)


def test_identity_is_per_device(store: ProtocolStore) -> None:
    rng = Rng()
    store.save_identity(BOB, KeyPair.generate(rng).public_key)
    assert store.load_identity(BOB_TABLET) is None


# --- one-time prekeys ---------------------------------------------------------------------------


def test_prekeys_store_load_remove(store: ProtocolStore) -> None:
    records = generate_prekeys(10, 3, Rng())
    for record in records:
        store.store_prekey(record)
    assert store.count_prekeys() == 3

    loaded = store.load_prekey(11)
    assert loaded is not None
    assert loaded.prekey_id == 11
    assert loaded.key_pair.public_key == records[1].key_pair.public_key
    assert loaded.key_pair.private_key == records[1].key_pair.private_key

    store.remove_prekey(11)
    assert store.load_prekey(11) is None
    assert store.count_prekeys() == 2


def test_prekeys_missing(store: ProtocolStore) -> None:
    assert store.load_prekey(99) is None
    store.remove_prekey(99)
    assert store.count_prekeys() == 0


# --- signed prekeys -----------------------------------------------------------------------------


def test_signed_prekeys_store_load(store: ProtocolStore) -> None:
    rng = Rng()
    record = generate_signed_prekey(store.identity_key_pair(), 5, rng, now_ms=1234)
    store.store_signed_prekey(record)

    loaded = store.load_signed_prekey(5)
    assert loaded is not None
    assert loaded.signed_prekey_id == 5
    assert loaded.key_pair.private_key == record.key_pair.private_key
    assert loaded.signature == record.signature
    assert loaded.timestamp_ms == 1234
    assert store.load_signed_prekey(6) is None


def test_signed_prekeys_list_oldest_first(store: ProtocolStore) -> None:
    rng = Rng()
    identity = store.identity_key_pair()
    for signed_prekey_id, now_ms in [(1, 300), (2, 100), (3, 200)]:
        store.store_signed_prekey(generate_signed_prekey(identity, signed_prekey_id, rng, now_ms))

    assert [record.signed_prekey_id for record in store.list_signed_prekeys()] == [2, 3, 1]

    store.remove_signed_prekey(3)
    assert [record.signed_prekey_id for record in store.list_signed_prekeys()] == [2, 1]


# --- sessions -----------------------------------------------------------------------------------


def test_sessions_round_trip(store: ProtocolStore) -> None:
    alice = Device("alice", store=store)
    bob = Device("bob")
    connect(alice, bob)

    record = store.load_session(bob.address)
    assert record is not None
    assert record.has_current_state()
    assert record.remote_identity_key() == bob.identity_key
    assert store.load_session(CAROL) is None

    # A stored record keeps working: both directions continue after a reload.
    message = alice.encrypt(bob.address, b"after reload")
    assert bob.decrypt(alice.address, message) == b"after reload"
    reply = bob.encrypt(alice.address, b"reply")
    assert alice.decrypt(bob.address, reply) == b"reply"


def test_sessions_store_serialized_equal(store: ProtocolStore) -> None:
    alice = Device("alice", store=store)
    bob = Device("bob")
    connect(alice, bob)
    record = store.load_session(bob.address)
    assert record is not None
    before = record.serialize()

    store.store_session(CAROL, record)
    copy = store.load_session(CAROL)
    assert copy is not None
    assert copy.serialize() == before


def test_sessions_delete_and_list(store: ProtocolStore) -> None:
    alice = Device("alice", store=store)
    phone, tablet = Device("bob", 1), Device("bob", 2)
    connect(alice, phone)
    connect(alice, tablet)
    connect(alice, Device("carol", 7))

    assert store.list_device_ids("bob") == [1, 2]
    assert store.list_device_ids("carol") == [7]
    assert store.list_device_ids("dave") == []

    store.delete_session(BOB)
    assert store.load_session(BOB) is None
    assert store.list_device_ids("bob") == [2]
    store.delete_session(BOB)


# --- sender keys --------------------------------------------------------------------------------


def test_sender_keys_round_trip(store: ProtocolStore) -> None:
    alice = Device("alice", store=store)
    distribution = alice.group_distribution("group-1")
    assert distribution

    record = store.load_sender_key("group-1", alice.address)
    assert record is not None
    assert not record.is_empty()
    assert store.load_sender_key("group-2", alice.address) is None
    assert store.load_sender_key("group-1", BOB) is None

    bob = Device("bob")
    bob.group_accept("group-1", alice.address, distribution)
    body = alice.group_cipher("group-1", alice.address).encrypt(b"to the group")
    assert bob.group_cipher("group-1", alice.address).decrypt(body) == b"to the group"


# --- transactions -------------------------------------------------------------------------------


def test_transaction_commits_together(store: ProtocolStore) -> None:
    (record,) = generate_prekeys(1, 1, Rng())
    key = KeyPair.generate(Rng()).public_key
    with store.transaction():
        store.store_prekey(record)
        with store.transaction():
            store.save_identity(BOB, key)
    assert store.load_prekey(1) is not None
    assert store.load_identity(BOB) == key


def test_sqlite_transaction_rolls_back(tmp_path: Path) -> None:
    store = SqliteProtocolStore(tmp_path / "store.db")
    (record,) = generate_prekeys(1, 1, Rng())
    with pytest.raises(RuntimeError, match="abort"), store.transaction():
        store.store_prekey(record)
        store.save_identity(BOB, KeyPair.generate(Rng()).public_key)
        raise RuntimeError("abort")
    assert store.load_prekey(1) is None
    assert store.load_identity(BOB) is None
    store.close()


# --- SQLite file handling -----------------------------------------------------------------------


def test_sqlite_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "alice.db"
    store = SqliteProtocolStore(path)
    alice = Device("alice", store=store)
    bob = Device("bob")
    connect(alice, bob)
    identity = store.identity_key_pair().public_key
    registration_id = store.local_registration_id()
    store.close()

    reopened = SqliteProtocolStore(path)
    assert reopened.identity_key_pair().public_key == identity
    assert reopened.local_registration_id() == registration_id
    assert reopened.load_identity(bob.address) == bob.identity_key

    alice_again = Device("alice", store=reopened)
    message = alice_again.encrypt(bob.address, b"after restart")
    assert bob.decrypt(alice.address, message) == b"after restart"
    reopened.close()


def test_sqlite_rejects_other_identity(tmp_path: Path) -> None:
    path = tmp_path / "alice.db"
    SqliteProtocolStore(path).close()
    with pytest.raises(ProtocolStoreError, match="another identity key"):
        SqliteProtocolStore(path, generate_identity_key_pair(Rng()))


def test_sqlite_rejects_other_schema(tmp_path: Path) -> None:
    path = tmp_path / "alice.db"
    SqliteProtocolStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(ProtocolStoreError, match="schema version 99"):
        SqliteProtocolStore(path)


def test_sqlite_file_private_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "alice.db"
    store = SqliteProtocolStore(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with sqlite3.connect(path) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
    store.close()


def test_sqlite_uses_injected_clock(tmp_path: Path) -> None:
    store = SqliteProtocolStore(tmp_path / "alice.db", now_ms=lambda: 42)
    store.save_identity(BOB, KeyPair.generate(Rng()).public_key)
    store.close()
    with sqlite3.connect(tmp_path / "alice.db") as db:
        (saved_ms,) = db.execute("SELECT saved_ms FROM identities").fetchone()
    assert saved_ms == 42


def test_sqlite_seeded_identity_is_deterministic(tmp_path: Path) -> None:
    first = SqliteProtocolStore(tmp_path / "one.db", rng=seeded_rng("same seed"))
    second = SqliteProtocolStore(tmp_path / "two.db", rng=seeded_rng("same seed"))
    assert first.identity_key_pair().public_key == second.identity_key_pair().public_key
    assert first.local_registration_id() == second.local_registration_id()
    first.close()
    second.close()


def test_sqlite_batch_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "bob.db"
    alice, bob = Device("alice"), Device("bob", store=SqliteProtocolStore(path))
    connect(alice, bob)
    messages = [alice.encrypt(bob.address, f"queued {index}".encode()) for index in range(5)]

    with bob.store.transaction():
        for index, message in enumerate(messages):
            assert bob.decrypt(alice.address, message) == f"queued {index}".encode()
    assert isinstance(bob.store, SqliteProtocolStore)
    bob.store.close()

    restarted = Device("bob", store=SqliteProtocolStore(path))
    with pytest.raises(DuplicateMessageError):
        restarted.decrypt(alice.address, messages[0])
    later = alice.encrypt(bob.address, b"after the batch")
    assert restarted.decrypt(alice.address, later) == b"after the batch"


def test_sqlite_corrupt_record_raises_cipherpost_error(tmp_path: Path) -> None:
    path = tmp_path / "alice.db"
    alice, bob = Device("alice", store=SqliteProtocolStore(path)), Device("bob")
    connect(alice, bob)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessions SET record = x'ffff'")

    with pytest.raises(CipherpostError):
        alice.store.load_session(bob.address)
