"""Property tests: random interleavings of send, drop, duplicate, reorder and tamper.

Two devices exchange messages over a model network. Hypothesis picks the order of events; the
model predicts the outcome of each delivery:

- a message delivered for the first time decrypts to its plaintext, unless its sending chain
  was evicted from the receiver's MAX_RECEIVER_CHAINS newest chains (then it is lost);
- a message delivered again raises DuplicateMessageError (InvalidMessageError once its chain
  was evicted, because the receiver then no longer recognizes the chain);
- a tampered signal message raises a cipherpost error (usually InvalidMessageError for the bad
  MAC; a flipped counter can also read as a duplicate);
- every failure leaves the receiver's stored state byte-identical.

A sending chain is named by its ratchet public key, which the model reads from the protobuf.
Each receiver learns chains in the order it first decrypts from them. The initiator starts out
knowing the responder's signed prekey, because v3 uses it as the responder's first ratchet key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from cipherpost import _core
from cipherpost.crypto import CiphertextMessage, Rng
from cipherpost.exceptions import CipherpostError, DuplicateMessageError, InvalidMessageError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from peers.cipherpost_device import Device
from peers.wire import ratchet_key

PREKEY = _core.PREKEY_MESSAGE_TYPE

# Bounded so that one run of this file takes seconds on a 2-vCPU machine.
MAX_EXAMPLES = 150
MIN_EVENTS = 40
MAX_EVENTS = 160


@dataclass
class Side:
    device: Device
    peer: Device
    known_chains: list[bytes] = field(default_factory=list)
    in_flight: list[tuple[CiphertextMessage, bytes]] = field(default_factory=list)
    delivered: list[CiphertextMessage] = field(default_factory=list)

    def chain_is_live(self, key: bytes) -> bool:
        if key not in self.known_chains:
            return True  # a new chain: the receiver ratchets forward onto it
        return key in self.known_chains[-_core.MAX_RECEIVER_CHAINS :]

    def learn_chain(self, key: bytes) -> None:
        if key not in self.known_chains:
            self.known_chains.append(key)


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(
            ["send", "send", "send", "deliver", "deliver", "deliver", "duplicate", "tamper", "drop"]
        ),
        st.booleans(),
        st.integers(min_value=0, max_value=10_000),
        st.integers(min_value=0, max_value=10_000),
    ),
    min_size=MIN_EVENTS,
    max_size=MAX_EVENTS,
)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.binary(min_size=32, max_size=32), events=EVENTS)
def test_interleavings(seed: bytes, events: list[tuple[str, bool, int, int]]) -> None:
    rng = Rng(seed)
    alice, bob = Device("alice", rng=rng), Device("bob", rng=rng)
    bundle = bob.publish_bundle()
    alice.start_session(bob.address, bundle)

    # `receivers[True]` receives Alice's messages (Bob's side), `receivers[False]` Bob's.
    receivers = {True: Side(bob, alice), False: Side(alice, bob)}
    receivers[False].known_chains.append(bundle.signed_prekey_public)
    sent = 0

    for action, alice_sends, pick, position in events:
        receiver = receivers[alice_sends]
        sender = receiver.peer
        if action == "send":
            # Bob cannot send before Alice's first message has reached him.
            if sender is bob and bob.store.load_session(alice.address) is None:
                continue
            plaintext = f"message {sent}".encode()
            sent += 1
            receiver.in_flight.append(
                (sender.encrypt(receiver.device.address, plaintext), plaintext)
            )
        elif action == "deliver" and receiver.in_flight:
            message, plaintext = receiver.in_flight.pop(pick % len(receiver.in_flight))
            deliver(receiver, message, plaintext)
        elif action == "duplicate" and receiver.delivered:
            message = receiver.delivered[pick % len(receiver.delivered)]
            live = receiver.chain_is_live(ratchet_key(message))
            event("duplicate delivery" if live else "duplicate after its chain was evicted")
            expect_failure(
                receiver, message, DuplicateMessageError if live else InvalidMessageError
            )
        elif action == "tamper":
            candidates = [m for m, _ in receiver.in_flight] + receiver.delivered
            candidates = [m for m in candidates if m.type != PREKEY]
            if candidates:
                message = candidates[pick % len(candidates)]
                body = bytearray(message.body)
                body[position % len(body)] ^= 1 << (position % 8)
                event("tampered message")
                expect_failure(
                    receiver, CiphertextMessage(message.type, bytes(body)), CipherpostError
                )
        elif action == "drop" and receiver.in_flight:
            receiver.in_flight.pop(pick % len(receiver.in_flight))

    event(f"receiving chains at Bob: {min(len(receivers[True].known_chains), 8)}")
    # Everything still in flight arrives at the end, in order, and decrypts unless its chain
    # was evicted.
    for receiver in receivers.values():
        for message, plaintext in list(receiver.in_flight):
            deliver(receiver, message, plaintext)


def deliver(receiver: Side, message: CiphertextMessage, plaintext: bytes) -> None:
    key = ratchet_key(message)
    if receiver.chain_is_live(key):
        assert receiver.device.decrypt(receiver.peer.address, message) == plaintext
        receiver.learn_chain(key)
        receiver.delivered.append(message)
    else:
        event("delivery after its chain was evicted")
        expect_failure(receiver, message, InvalidMessageError)


def expect_failure(
    receiver: Side, message: CiphertextMessage, expected: type[CipherpostError]
) -> None:
    before = receiver.device.snapshot(receiver.peer.address)
    with pytest.raises(expected):
        receiver.device.decrypt(receiver.peer.address, message)
    assert receiver.device.snapshot(receiver.peer.address) == before
