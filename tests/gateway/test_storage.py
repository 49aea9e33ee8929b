"""The same checks against the in-memory reference store and the SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cipherpost.exceptions import DeviceListMismatchError, GatewayError
from cipherpost.protocol.frames import DeviceEnvelope, ErrorCode, Kind, SendBody, Status
from cipherpost.storage import (
    DeviceRecord,
    GatewayStore,
    MemoryGatewayStore,
    OneTimePreKey,
    SignedPreKey,
    SqliteGatewayStore,
)

NOW_MS = 1_700_000_000_000


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayStore]:
    created: GatewayStore
    if request.param == "memory":
        created = MemoryGatewayStore()
    else:
        created = SqliteGatewayStore(tmp_path / "store.sqlite3")
    yield created
    created.close()


def device(user: str, device_id: int = 1) -> DeviceRecord:
    return DeviceRecord(
        user, device_id, f"{user}/{device_id}".encode().ljust(32, b"k"), b"\x05" + bytes(32), 7
    )


def send_to(recipient: str, devices: list[int], text: bytes = b"x") -> SendBody:
    return SendBody(recipient, 5, tuple(DeviceEnvelope(d, 2, text) for d in devices))


def add_device(store: GatewayStore, user: str, index: int) -> DeviceRecord:
    code = store.create_link_code(user, NOW_MS)
    key = f"{user}/linked{index}".encode().ljust(32, b"k")
    return store.link_device(user, code, key, b"\x05" + bytes(32), 9, NOW_MS)


def test_account_and_link(store: GatewayStore) -> None:
    store.create_account(device("alice"), None)
    linked = add_device(store, "alice", 1)
    assert linked.device_id == 2
    assert store.list_devices("alice") == [1, 2]
    assert store.find_device(linked.transport_key) == linked
    store.remove_device("alice", 2)
    assert store.list_devices("alice") == [1]
    # Device ids are never reused after an unlink.
    assert add_device(store, "alice", 2).device_id == 3


def test_duplicate_user_and_key_rejected(store: GatewayStore) -> None:
    store.create_account(device("alice"), None)
    with pytest.raises(GatewayError) as taken:
        store.create_account(device("alice"), None)
    assert taken.value.code == ErrorCode.ALREADY_REGISTERED
    with pytest.raises(GatewayError):
        store.create_account(DeviceRecord("bob", 1, device("alice").transport_key, b"", 1), None)
    assert store.list_devices("bob") == []


def test_expired_link_code_rejected(store: GatewayStore) -> None:
    store.create_account(device("alice"), None)
    code = store.create_link_code("alice", NOW_MS)
    with pytest.raises(GatewayError) as expired:
        store.link_device("alice", code, b"n" * 32, b"\x05" + bytes(32), 1, NOW_MS + 11 * 60_000)
    assert expired.value.code == ErrorCode.FORBIDDEN


def test_tokens_single_use(store: GatewayStore) -> None:
    store.add_registration_token("t1")
    with pytest.raises(GatewayError):
        store.create_account(device("alice"), "wrong")
    store.create_account(device("alice"), "t1")
    with pytest.raises(GatewayError):
        store.create_account(device("bob"), "t1")
    assert store.list_devices("bob") == []


def test_send_queue_ack_and_ticks(store: GatewayStore) -> None:
    store.create_account(device("alice"), None)
    store.create_account(device("bob"), None)
    add_device(store, "bob", 1)
    outcome = store.store_send("alice", 1, b"m" * 16, send_to("bob", [1, 2]))
    assert not outcome.duplicate
    assert [item.device_id for item in outcome.items] == [1, 2]
    assert store.store_send("alice", 1, b"m" * 16, send_to("bob", [1, 2])).duplicate

    queued = store.list_queue("bob", 2, 0, 10)
    assert [item.kind for item in queued] == [Kind.DELIVER]
    statuses = store.acknowledge("bob", 2, queued[0].seq)
    assert [(s.user, s.device_id, s.flags) for s in statuses] == [("alice", 1, Status.DELIVERED)]
    assert store.list_queue("bob", 2, 0, 10) == []
    # The second device's acknowledgement changes nothing for the sender.
    assert store.acknowledge("bob", 1, store.list_queue("bob", 1, 0, 10)[0].seq) == []
    read = store.record_read("bob", "alice", b"m" * 16)
    assert [s.flags for s in read] == [Status.READ]
    assert store.record_read("bob", "alice", b"m" * 16) == []


def test_ack_of_other_device_ignored(store: GatewayStore) -> None:
    store.create_account(device("alice"), None)
    store.create_account(device("bob"), None)
    (item,) = store.store_send("alice", 1, b"m" * 16, send_to("bob", [1])).items
    assert store.acknowledge("alice", 1, item.seq) == []
    assert store.list_queue("bob", 1, 0, 10) == [item]


def test_device_mismatch_lists_devices(store: GatewayStore) -> None:
    store.create_account(device("alice"), None)
    add_device(store, "alice", 1)
    store.create_account(device("bob"), None)
    with pytest.raises(DeviceListMismatchError) as mismatch:
        store.store_send("bob", 1, b"m" * 16, send_to("alice", [2]))
    assert mismatch.value.devices == [1, 2]
    # A send to the own account leaves out the sending device.
    store.store_send("alice", 1, b"n" * 16, send_to("alice", [2]))
    with pytest.raises(DeviceListMismatchError):
        store.store_send("alice", 1, b"o" * 16, send_to("alice", [1, 2]))
    with pytest.raises(GatewayError) as unknown:
        store.store_send("alice", 1, b"p" * 16, send_to("nobody", [1]))
    assert unknown.value.code == ErrorCode.NOT_FOUND


def test_prekeys_claimed_once(store: GatewayStore) -> None:
    store.create_account(device("bob"), None)
    signed = SignedPreKey(1, b"\x05" + bytes(32), bytes(64), NOW_MS)
    prekeys = [OneTimePreKey(i, b"\x05" + bytes([i]) * 32) for i in range(1, 4)]
    assert store.store_prekeys("bob", 1, signed, prekeys) == 3
    claimed = [store.claim_bundles("bob", None)[0].one_time_prekey for _ in range(4)]
    assert [prekey.key_id if prekey else None for prekey in claimed] == [1, 2, 3, None]
    assert store.count_prekeys("bob", 1) == 0


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    first = SqliteGatewayStore(path)
    with first.transaction():
        first.create_account(device("alice"), None)
        first.create_account(device("bob"), None)
        (item,) = first.store_send("alice", 1, b"m" * 16, send_to("bob", [1])).items
    first.close()

    second = SqliteGatewayStore(path)
    assert second.list_queue("bob", 1, 0, 10) == [item]
    with second.transaction():
        (later,) = second.store_send("alice", 1, b"n" * 16, send_to("bob", [1])).items
    assert later.seq > item.seq
    second.close()


def test_sqlite_failed_call_rolls_back_alone(tmp_path: Path) -> None:
    store = SqliteGatewayStore(tmp_path / "store.sqlite3")
    with store.transaction():
        store.create_account(device("alice"), None)
        with pytest.raises(GatewayError):
            store.create_account(device("alice"), None)
        store.create_account(device("bob"), None)
    assert store.list_devices("alice") == [1]
    assert store.list_devices("bob") == [1]
    store.close()


def test_sqlite_rejects_unknown_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="OFF"):
        SqliteGatewayStore(tmp_path / "store.sqlite3", "OFF")
