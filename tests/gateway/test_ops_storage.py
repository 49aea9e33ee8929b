"""Queue limits and expiry in both stores and in the queue policy, without a daemon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cipherpost.exceptions import GatewayError
from cipherpost.gateway import queues
from cipherpost.gateway.queues import QueuePolicy
from cipherpost.protocol.frames import ErrorCode, Kind, SendFlag, Status
from cipherpost.storage import GatewayStore, MemoryGatewayStore, SqliteGatewayStore

from .test_storage import device, send_to

DAY_S = 24 * 3600


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayStore]:
    created: GatewayStore
    if request.param == "memory":
        created = MemoryGatewayStore()
    else:
        created = SqliteGatewayStore(tmp_path / "store.sqlite3")
    created.create_account(device("alice"), None)
    created.create_account(device("bob"), None)
    yield created
    created.close()


def test_expire_queue_reports_expired_once(store: GatewayStore) -> None:
    first = store.store_send("alice", 1, b"m" * 16, send_to("bob", [1], b"1"))
    store.store_send("alice", 1, b"n" * 16, send_to("bob", [1], b"2"))
    store.store_ephemeral("alice", 1, b"e" * 16, send_to("bob", [1], b"typing"))
    assert store.count_queue("bob", 1, 100) == 2
    assert store.count_queue("bob", 1, 1) == 1

    deleted, statuses = store.expire_queue(first.items[0].seq, 0, 100)
    assert deleted == 1
    assert [(s.user, s.kind, s.flags, s.message_id, s.peer) for s in statuses] == [
        ("alice", Kind.STATUS, Status.EXPIRED, b"m" * 16, "bob")
    ]
    # EXPIRED is final: a late read receipt queues nothing.
    assert store.record_read("bob", "alice", b"m" * 16) == []
    assert store.count_queue("bob", 1, 100) == 1

    # The ephemeral envelope expires by its own cutoff, with no status.
    last = store.last_queue_seq()
    deleted, statuses = store.expire_queue(0, last, 100)
    assert deleted == 1
    assert statuses == []
    remaining = store.list_queue("bob", 1, 0, 100)
    assert [item.body for item in remaining] == [b"2"]


def test_queue_marks_round_trip(store: GatewayStore) -> None:
    assert store.load_queue_marks() == []
    store.add_queue_mark(5, 1000)
    store.add_queue_mark(9, 2000)
    store.add_queue_mark(12, 3000)
    assert store.load_queue_marks() == [(5, 1000), (9, 2000), (12, 3000)]
    store.delete_queue_marks(9, 10)
    assert store.load_queue_marks() == [(9, 2000)]


def test_queue_stats_count_envelopes_and_prekeys(store: GatewayStore) -> None:
    store.store_send("alice", 1, b"m" * 16, send_to("bob", [1]))
    store.store_send("alice", 1, b"n" * 16, send_to("bob", [1]))
    assert store.queue_stats(20) == (2, 2, 2)


def test_policy_rejects_full_queue_and_expires(store: GatewayStore) -> None:
    clock = FakeClock()
    policy = QueuePolicy(store, 30 * DAY_S, 2, 60, clock)
    policy.load()
    policy.store_send("alice", 1, b"1" * 16, send_to("bob", [1], b"1"), False)
    policy.store_send("alice", 1, b"2" * 16, send_to("bob", [1], b"2"), False)
    policy.store_send("alice", 1, b"e" * 16, send_to("bob", [1], b"e"), True)
    with pytest.raises(GatewayError) as full:
        policy.store_send("alice", 1, b"3" * 16, send_to("bob", [1], b"3"), False)
    assert full.value.code == ErrorCode.QUEUE_FULL
    # A retry of a stored message is a duplicate, not a rejection.
    assert policy.store_send("alice", 1, b"2" * 16, send_to("bob", [1], b"2"), False).duplicate

    assert policy.sweep() == ([], False)  # records a mark; nothing is old enough
    clock.now += 61
    assert policy.sweep() == ([], False)  # the ephemeral envelope expired, silently
    items, _, complete = policy.read_page("bob", 1, 0, 10)
    assert [item.body for item in items] == [b"1", b"2"]
    assert complete

    clock.now += 30 * DAY_S
    statuses, more = policy.sweep()
    assert not more
    assert sorted(s.message_id for s in statuses) == [b"1" * 16, b"2" * 16]
    assert all(s.flags == Status.EXPIRED for s in statuses)
    assert policy.read_page("bob", 1, 0, 10)[0] == []
    # The emptied queue accepts sends again.
    policy.store_send("alice", 1, b"4" * 16, send_to("bob", [1], b"4"), False)


def test_policy_hides_expired_before_the_sweep_deletes(store: GatewayStore) -> None:
    clock = FakeClock()
    policy = QueuePolicy(store, 10, 100, 5, clock)
    policy.load()
    stored = policy.store_send("alice", 1, b"1" * 16, send_to("bob", [1], b"old"), False)
    policy.sweep()  # mark covering the envelope
    clock.now += 11
    items, last_seq, _ = policy.read_page("bob", 1, 0, 10)
    assert items == []
    assert last_seq == stored.items[0].seq
    assert store.count_queue("bob", 1, 100) == 1  # still stored until the next sweep


def test_marks_above_restarted_seq_shrink(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = SqliteGatewayStore(path)
    store.create_account(device("alice"), None)
    store.create_account(device("bob"), None)
    clock = FakeClock()
    policy = QueuePolicy(store, 10, 100, 5, clock)
    policy.load()
    kept = policy.store_send("alice", 1, b"1" * 16, send_to("bob", [1], b"kept"), False)
    acked = policy.store_send("alice", 1, b"2" * 16, send_to("bob", [1], b"acked"), False)
    policy.sweep()
    # Both acknowledgements delete the last rows, so the restarted store reuses their seqs.
    (delivered,) = store.acknowledge("bob", 1, acked.items[0].seq)
    store.acknowledge("alice", 1, delivered.seq)
    store.close()

    store = SqliteGatewayStore(path)
    policy = QueuePolicy(store, 10, 100, 5, clock)
    policy.load()
    assert store.load_queue_marks() == [(kept.items[0].seq, int(clock.now * 1000))]
    clock.now += 5
    fresh = policy.store_send("alice", 1, b"3" * 16, send_to("bob", [1], b"fresh"), False)
    clock.now += 6  # the first two are past their TTL, the fresh one is not
    items, _, _ = policy.read_page("bob", 1, 0, 10)
    assert [item.seq for item in items] == [fresh.items[0].seq]
    assert SendFlag.EPHEMERAL not in {item.flags for item in items}
    store.close()


def test_sweep_deletes_one_batch_per_call(
    store: GatewayStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queues, "EXPIRY_BATCH", 2)
    clock = FakeClock()
    policy = QueuePolicy(store, 10, 100, 5, clock)
    policy.load()
    for index in range(5):
        policy.store_send("alice", 1, bytes([index]) * 16, send_to("bob", [1]), False)
    policy.sweep()
    clock.now += 11

    rounds = []
    more = True
    while more:
        statuses, more = policy.sweep()
        rounds.append(len(statuses))
    assert rounds == [2, 2, 1]
    assert policy.expired == 5
