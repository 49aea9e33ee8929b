"""Run one benchmark work of cipherpost in a loop, for a profiler to attach to.

    perf record -g -o /tmp/perf.data .venv/bin/python bench/crypto/profile_work.py ping_pong 3
    perf report -i /tmp/perf.data --sort dso,symbol

Also prints the split between Python and the Rust core: the same work through the public API
and through the `_core` record methods directly, timed with time.perf_counter.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from cipherpost.crypto import (
    Address,
    GroupCipher,
    GroupSessionBuilder,
    SessionBuilder,
    SessionCipher,
    build_prekey_bundle,
    generate_prekeys,
)
from cipherpost.crypto.stores import SqliteProtocolStore
from peers.cipherpost_device import Device, connect

PLAINTEXT = bytes(range(100))


def one_direction() -> tuple[Callable[[], None], Callable[[], None]]:
    alice, bob = Device("alice"), Device("bob")
    connect(alice, bob)
    sending = SessionCipher(alice.store, bob.address, alice.rng)
    receiving = SessionCipher(bob.store, alice.address, bob.rng)
    record_a = alice.store.load_session(bob.address)
    record_b = bob.store.load_session(alice.address)
    assert record_a is not None and record_b is not None
    key_a, key_b, rng = alice.identity_key, bob.identity_key, bob.rng

    def api() -> None:
        receiving.decrypt(sending.encrypt(PLAINTEXT))

    def core() -> None:
        record_b.decrypt_signal_message(key_b, record_a.encrypt(key_a, PLAINTEXT)[1], rng)

    return api, core


def one_direction_sqlite() -> tuple[Callable[[], None], Callable[[], None]]:
    """One direction with both devices on SqliteProtocolStore files (one commit per message)."""
    directory = Path(tempfile.mkdtemp(prefix="cipherpost-bench-"))
    alice = Device("alice", store=SqliteProtocolStore(directory / "alice.db"))
    bob = Device("bob", store=SqliteProtocolStore(directory / "bob.db"))
    connect(alice, bob)
    sending = SessionCipher(alice.store, bob.address, alice.rng)
    receiving = SessionCipher(bob.store, alice.address, bob.rng)
    record_a = alice.store.load_session(bob.address)
    record_b = bob.store.load_session(alice.address)
    assert record_a is not None and record_b is not None
    key_a, key_b, rng = alice.identity_key, bob.identity_key, bob.rng

    def api() -> None:
        receiving.decrypt(sending.encrypt(PLAINTEXT))

    def core() -> None:
        record_b.decrypt_signal_message(key_b, record_a.encrypt(key_a, PLAINTEXT)[1], rng)

    return api, core


def ping_pong() -> tuple[Callable[[], None], Callable[[], None]]:
    alice, bob = Device("alice"), Device("bob")
    connect(alice, bob)
    to_bob = (
        SessionCipher(alice.store, bob.address, alice.rng),
        SessionCipher(bob.store, alice.address, bob.rng),
    )
    record_a = alice.store.load_session(bob.address)
    record_b = bob.store.load_session(alice.address)
    assert record_a is not None and record_b is not None
    key_a, key_b, rng = alice.identity_key, bob.identity_key, bob.rng

    def api() -> None:
        to_bob[1].decrypt(to_bob[0].encrypt(PLAINTEXT))
        to_bob[0].decrypt(to_bob[1].encrypt(PLAINTEXT))

    def core() -> None:
        record_b.decrypt_signal_message(key_b, record_a.encrypt(key_a, PLAINTEXT)[1], rng)
        record_a.decrypt_signal_message(key_a, record_b.encrypt(key_b, PLAINTEXT)[1], rng)

    return api, core


def group() -> tuple[Callable[[], None], Callable[[], None]]:
    alice, bob = Device("alice"), Device("bob")
    distribution = GroupSessionBuilder(alice.store).create_distribution_message("g", alice.address)
    GroupSessionBuilder(bob.store).process_distribution_message("g", alice.address, distribution)
    sending = GroupCipher(alice.store, "g", alice.address, alice.rng)
    receiving = GroupCipher(bob.store, "g", alice.address, bob.rng)
    record_a = alice.store.load_sender_key("g", alice.address)
    record_b = bob.store.load_sender_key("g", alice.address)
    assert record_a is not None and record_b is not None
    rng = alice.rng

    def api() -> None:
        receiving.decrypt(sending.encrypt(PLAINTEXT))

    def core() -> None:
        record_b.decrypt(record_a.encrypt(PLAINTEXT, rng))

    return api, core


def setup() -> tuple[Callable[[], None], Callable[[], None]]:
    alice, bob = Device("alice"), Device("bob")
    bob.publish_bundle(signed_prekey_id=1, prekey_id=None)
    signed = bob.store.load_signed_prekey(1)
    assert signed is not None
    counter = iter(range(1, 10**7))

    def api() -> None:
        index = next(counter)
        (prekey,) = generate_prekeys(index, 1, bob.rng)
        bob.store.store_prekey(prekey)
        bundle = build_prekey_bundle(
            bob.identity_key, bob.store.local_registration_id(), 1, signed, prekey
        )
        bob_address, alice_address = Address(f"bob{index}", 1), Address(f"alice{index}", 1)
        SessionBuilder(alice.store, bob_address, alice.rng).process_prekey_bundle(bundle)
        message = SessionCipher(alice.store, bob_address, alice.rng).encrypt(PLAINTEXT)
        SessionCipher(bob.store, alice_address, bob.rng).decrypt(message)

    return api, api


WORKS = {
    "one_direction": one_direction,
    "one_direction_sqlite": one_direction_sqlite,
    "ping_pong": ping_pong,
    "group": group,
    "setup": setup,
}


def best_rate(function: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return calls / (time.perf_counter() - start)


def main() -> int:
    work = sys.argv[1] if len(sys.argv) > 1 else "one_direction"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    api, core = WORKS[work]()
    # Alternate short bursts of both variants and keep each one's best burst, so that load from
    # other processes on a shared machine hits both alike and mostly drops out.
    calls = max(1, int(0.05 * best_rate(api, 20)))
    api_rate = core_rate = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        api_rate = max(api_rate, best_rate(api, calls))
        core_rate = max(core_rate, best_rate(core, calls))
    print(
        f"{work}: API {api_rate:,.0f} calls/s ({1e6 / api_rate:.2f} us), "
        f"core only {core_rate:,.0f} calls/s ({1e6 / core_rate:.2f} us), "
        f"Python share {100 * (1 - api_rate / core_rate):.0f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
