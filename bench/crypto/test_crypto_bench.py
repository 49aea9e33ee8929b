"""Signal-protocol libraries side by side on the same work, with 100-byte plaintexts.

    bench/crypto/run.sh          # runs this file and prints the table for BENCHMARKS.md

Work, per library:

- setup: the initiator verifies the responder's signed prekey (or signed one-time key), runs the
  key agreement and encrypts the first message. The responder creates its session from that
  message and decrypts it. Key generation by the responder happens before the clock starts, as
  a server hands out prekeys generated earlier.
- one_direction: encrypt and decrypt one message on an established session, always the same
  direction (symmetric ratchet only).
- ping_pong: messages alternate direction, so every message carries a DH ratchet step.
- group: Sender Keys (cipherpost, python-axolotl) or Megolm (vodozemac, python-olm) encrypt and
  decrypt one message.

Every benchmark stores how many messages (or setups) one round performs in
`extra_info["messages"]`; python-axolotl and x3dh + doubleratchet run a batch per round. For
python-axolotl the loop runs inside its own virtual environment and reports the time it
measured in `extra_info["peer_seconds"]`, which excludes the pipe to this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import olm as olm_module
import pytest
import vodozemac
from cipherpost.crypto import (
    Address,
    GroupCipher,
    GroupSessionBuilder,
    SessionBuilder,
    SessionCipher,
    build_prekey_bundle,
    generate_prekeys,
)
from peers.axolotl_client import AxolotlPeer
from peers.cipherpost_device import Device, connect

PLAINTEXT = bytes(range(100))

# python-olm re-exports its classes without __all__, which strict type checkers reject.
olm: Any = olm_module

# Batch sizes of the libraries that run a batch per round. Each batch takes about a second or
# less on a 2-vCPU machine, so three rounds give a usable mean in a few seconds.
AXOLOTL_BATCH = {"setup": 100, "one_direction": 600, "ping_pong": 300, "group": 600}
X3DH_BATCH = {"one_direction": 300, "ping_pong": 200}
BATCH_ROUNDS = 3
SETUP_ROUNDS = 200


def mark(benchmark: Any, library: str, messages: int) -> None:
    benchmark.extra_info["library"] = library
    benchmark.extra_info["messages"] = messages


# --- cipherpost -----------------------------------------------------------------------------------


@pytest.fixture
def cipherpost_pair() -> tuple[SessionCipher, SessionCipher]:
    alice, bob = Device("alice"), Device("bob")
    connect(alice, bob)
    return (
        SessionCipher(alice.store, bob.address, alice.rng),
        SessionCipher(bob.store, alice.address, bob.rng),
    )


@pytest.mark.benchmark(group="one_direction")
def test_cipherpost_one_direction(
    benchmark: Any, cipherpost_pair: tuple[SessionCipher, SessionCipher]
) -> None:
    alice, bob = cipherpost_pair
    encrypt, decrypt = alice.encrypt, bob.decrypt

    def one() -> None:
        decrypt(encrypt(PLAINTEXT))

    mark(benchmark, "cipherpost", 1)
    benchmark(one)


@pytest.mark.benchmark(group="ping_pong")
def test_cipherpost_ping_pong(
    benchmark: Any, cipherpost_pair: tuple[SessionCipher, SessionCipher]
) -> None:
    alice, bob = cipherpost_pair

    def round_trip() -> None:
        bob.decrypt(alice.encrypt(PLAINTEXT))
        alice.decrypt(bob.encrypt(PLAINTEXT))

    mark(benchmark, "cipherpost", 2)
    benchmark(round_trip)


@pytest.mark.benchmark(group="setup")
def test_cipherpost_setup(benchmark: Any) -> None:
    alice, bob = Device("alice"), Device("bob")
    signed = bob.publish_bundle(signed_prekey_id=1, prekey_id=None)
    signed_record = bob.store.load_signed_prekey(signed.signed_prekey_id)
    assert signed_record is not None
    ids = count(1)

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        index = next(ids)
        (prekey,) = generate_prekeys(index, 1, bob.rng)
        bob.store.store_prekey(prekey)
        bundle = build_prekey_bundle(
            bob.identity_key, bob.store.local_registration_id(), 1, signed_record, prekey
        )
        return (bundle, Address(f"bob{index}", 1), Address(f"alice{index}", 1)), {}

    def setup(bundle: Any, bob_address: Address, alice_address: Address) -> None:
        SessionBuilder(alice.store, bob_address, alice.rng).process_prekey_bundle(bundle)
        message = SessionCipher(alice.store, bob_address, alice.rng).encrypt(PLAINTEXT)
        SessionCipher(bob.store, alice_address, bob.rng).decrypt(message)

    mark(benchmark, "cipherpost", 1)
    benchmark.pedantic(setup, setup=prepare, rounds=SETUP_ROUNDS, iterations=1, warmup_rounds=5)


@pytest.mark.benchmark(group="group")
def test_cipherpost_group(benchmark: Any) -> None:
    alice, bob = Device("alice"), Device("bob")
    distribution = GroupSessionBuilder(alice.store).create_distribution_message("g", alice.address)
    GroupSessionBuilder(bob.store).process_distribution_message("g", alice.address, distribution)
    sending = GroupCipher(alice.store, "g", alice.address, alice.rng)
    receiving = GroupCipher(bob.store, "g", alice.address, bob.rng)
    encrypt, decrypt = sending.encrypt, receiving.decrypt

    def one() -> None:
        decrypt(encrypt(PLAINTEXT))

    mark(benchmark, "cipherpost", 1)
    benchmark(one)


# --- vodozemac 0.10 (Olm and Megolm) --------------------------------------------------------------


def vodozemac_pair() -> tuple[Any, Any]:
    alice, bob = vodozemac.Account(), vodozemac.Account()
    bob.generate_one_time_keys(1)
    one_time_key = next(iter(bob.one_time_keys.values()))
    bob.mark_keys_as_published()
    outbound = alice.create_outbound_session(bob.curve25519_key, one_time_key)
    first = outbound.encrypt(PLAINTEXT).to_pre_key()
    assert first is not None
    inbound, _ = bob.create_inbound_session(alice.curve25519_key, first)
    outbound.decrypt(inbound.encrypt(PLAINTEXT))
    return outbound, inbound


@pytest.mark.benchmark(group="one_direction")
def test_vodozemac_one_direction(benchmark: Any) -> None:
    alice, bob = vodozemac_pair()
    encrypt, decrypt = alice.encrypt, bob.decrypt

    def one() -> None:
        decrypt(encrypt(PLAINTEXT))

    mark(benchmark, "vodozemac", 1)
    benchmark(one)


@pytest.mark.benchmark(group="ping_pong")
def test_vodozemac_ping_pong(benchmark: Any) -> None:
    alice, bob = vodozemac_pair()

    def round_trip() -> None:
        bob.decrypt(alice.encrypt(PLAINTEXT))
        alice.decrypt(bob.encrypt(PLAINTEXT))

    mark(benchmark, "vodozemac", 2)
    benchmark(round_trip)


@pytest.mark.benchmark(group="setup")
def test_vodozemac_setup(benchmark: Any) -> None:
    alice, bob = vodozemac.Account(), vodozemac.Account()
    bob_signing_key = bob.ed25519_key

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        bob.generate_one_time_keys(1)
        one_time_key = next(iter(bob.one_time_keys.values()))
        bob.mark_keys_as_published()
        return (one_time_key, bob.sign(one_time_key.to_bytes())), {}

    def setup(one_time_key: Any, signature: Any) -> None:
        bob_signing_key.verify_signature(one_time_key.to_bytes(), signature)
        session = alice.create_outbound_session(bob.curve25519_key, one_time_key)
        first = session.encrypt(PLAINTEXT).to_pre_key()
        assert first is not None
        bob.create_inbound_session(alice.curve25519_key, first)

    mark(benchmark, "vodozemac", 1)
    benchmark.pedantic(setup, setup=prepare, rounds=SETUP_ROUNDS, iterations=1, warmup_rounds=5)


@pytest.mark.benchmark(group="group")
def test_vodozemac_megolm(benchmark: Any) -> None:
    outbound = vodozemac.GroupSession()
    inbound = vodozemac.InboundGroupSession(outbound.session_key)
    encrypt, decrypt = outbound.encrypt, inbound.decrypt

    def one() -> None:
        decrypt(encrypt(PLAINTEXT))

    mark(benchmark, "vodozemac", 1)
    benchmark(one)


# --- python-olm 3.2 (libolm, C) -------------------------------------------------------------------


def olm_pair() -> tuple[Any, Any]:
    alice, bob = olm.Account(), olm.Account()
    bob.generate_one_time_keys(1)
    one_time_key = next(iter(bob.one_time_keys["curve25519"].values()))
    bob.mark_keys_as_published()
    outbound = olm.OutboundSession(alice, bob.identity_keys["curve25519"], one_time_key)
    first = outbound.encrypt(PLAINTEXT)
    inbound = olm.InboundSession(bob, first, alice.identity_keys["curve25519"])
    bob.remove_one_time_keys(inbound)
    inbound.decrypt(first)
    outbound.decrypt(inbound.encrypt(PLAINTEXT))
    return outbound, inbound


@pytest.mark.benchmark(group="one_direction")
def test_olm_one_direction(benchmark: Any) -> None:
    alice, bob = olm_pair()

    def one() -> None:
        bob.decrypt(alice.encrypt(PLAINTEXT), unicode_errors="ignore")

    mark(benchmark, "python-olm", 1)
    benchmark(one)


@pytest.mark.benchmark(group="ping_pong")
def test_olm_ping_pong(benchmark: Any) -> None:
    alice, bob = olm_pair()

    def round_trip() -> None:
        bob.decrypt(alice.encrypt(PLAINTEXT), unicode_errors="ignore")
        alice.decrypt(bob.encrypt(PLAINTEXT), unicode_errors="ignore")

    mark(benchmark, "python-olm", 2)
    benchmark(round_trip)


@pytest.mark.benchmark(group="setup")
def test_olm_setup(benchmark: Any) -> None:
    alice, bob = olm.Account(), olm.Account()
    bob_curve_key = bob.identity_keys["curve25519"]
    bob_signing_key = bob.identity_keys["ed25519"]
    alice_curve_key = alice.identity_keys["curve25519"]

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        bob.generate_one_time_keys(1)
        one_time_key = next(iter(bob.one_time_keys["curve25519"].values()))
        bob.mark_keys_as_published()
        return (one_time_key, bob.sign(one_time_key)), {}

    def setup(one_time_key: str, signature: str) -> None:
        olm.ed25519_verify(bob_signing_key, one_time_key, signature)
        session = olm.OutboundSession(alice, bob_curve_key, one_time_key)
        first = session.encrypt(PLAINTEXT)
        inbound = olm.InboundSession(bob, first, alice_curve_key)
        bob.remove_one_time_keys(inbound)
        inbound.decrypt(first, unicode_errors="ignore")

    mark(benchmark, "python-olm", 1)
    benchmark.pedantic(setup, setup=prepare, rounds=SETUP_ROUNDS, iterations=1, warmup_rounds=5)


@pytest.mark.benchmark(group="group")
def test_olm_megolm(benchmark: Any) -> None:
    outbound = olm.OutboundGroupSession()
    inbound = olm.InboundGroupSession(outbound.session_key)

    def one() -> None:
        inbound.decrypt(outbound.encrypt(PLAINTEXT), unicode_errors="ignore")

    mark(benchmark, "python-olm", 1)
    benchmark(one)


# --- x3dh 1.3 + doubleratchet 1.3 (pure Python, async) --------------------------------------------


@pytest.fixture
def event_loop_runner() -> Iterator[Callable[[Any], Any]]:
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


@pytest.fixture
def x3dh_pair(event_loop_runner: Callable[[Any], Any]) -> tuple[Any, Any]:
    import x3dh_doubleratchet as xd

    alice, bob = xd.create_state(), xd.create_state()
    bob.generate_pre_keys(1)
    alice_ratchet, bob_ratchet = event_loop_runner(xd.setup(alice, bob, bob.bundle, PLAINTEXT))
    event_loop_runner(xd.transfer(bob_ratchet, alice_ratchet, PLAINTEXT))
    return alice_ratchet, bob_ratchet


@pytest.mark.benchmark(group="one_direction")
def test_x3dh_doubleratchet_one_direction(
    benchmark: Any, event_loop_runner: Callable[[Any], Any], x3dh_pair: tuple[Any, Any]
) -> None:
    import x3dh_doubleratchet as xd

    alice, bob = x3dh_pair
    batch = X3DH_BATCH["one_direction"]

    async def run() -> None:
        for _ in range(batch):
            await xd.transfer(alice, bob, PLAINTEXT)

    mark(benchmark, "x3dh+doubleratchet", batch)
    benchmark.pedantic(lambda: event_loop_runner(run()), rounds=BATCH_ROUNDS, iterations=1)


@pytest.mark.benchmark(group="ping_pong")
def test_x3dh_doubleratchet_ping_pong(
    benchmark: Any, event_loop_runner: Callable[[Any], Any], x3dh_pair: tuple[Any, Any]
) -> None:
    import x3dh_doubleratchet as xd

    alice, bob = x3dh_pair
    batch = X3DH_BATCH["ping_pong"]

    async def run() -> None:
        for _ in range(batch // 2):
            await xd.transfer(alice, bob, PLAINTEXT)
            await xd.transfer(bob, alice, PLAINTEXT)

    mark(benchmark, "x3dh+doubleratchet", batch)
    benchmark.pedantic(lambda: event_loop_runner(run()), rounds=BATCH_ROUNDS, iterations=1)


@pytest.mark.benchmark(group="setup")
def test_x3dh_doubleratchet_setup(benchmark: Any, event_loop_runner: Callable[[Any], Any]) -> None:
    import x3dh_doubleratchet as xd

    alice, bob = xd.create_state(), xd.create_state()

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        for pre_key in list(bob.bundle.pre_keys):
            bob.delete_pre_key(pre_key)
        bob.generate_pre_keys(1)
        return (bob.bundle,), {}

    def setup(bundle: Any) -> None:
        event_loop_runner(xd.setup(alice, bob, bundle, PLAINTEXT))

    mark(benchmark, "x3dh+doubleratchet", 1)
    benchmark.pedantic(setup, setup=prepare, rounds=SETUP_ROUNDS // 2, iterations=1)


# --- python-axolotl 0.2.3 (own virtual environment, timed inside it) ------------------------------


@pytest.fixture(scope="module")
def axolotl_peer() -> Iterator[AxolotlPeer]:
    with AxolotlPeer() as peer:
        yield peer


@pytest.mark.parametrize("work", ["setup", "one_direction", "ping_pong", "group"])
def test_axolotl(benchmark: Any, axolotl_peer: AxolotlPeer, work: str) -> None:
    batch = AXOLOTL_BATCH[work]
    peer_seconds: list[float] = []

    def run() -> None:
        peer_seconds.append(axolotl_peer.bench(work, batch, len(PLAINTEXT)))

    benchmark.group = work
    mark(benchmark, "python-axolotl", batch)
    benchmark.pedantic(run, rounds=BATCH_ROUNDS, iterations=1)
    benchmark.extra_info["peer_seconds"] = peer_seconds
