"""atheris fuzz target for every decoder of untrusted bytes reachable from `cipherpost.crypto`.

    python tests/fuzz/crypto_decoders.py -max_total_time=20 CORPUS_DIR

The first input byte picks the decoder, the rest is its input. A decoder may raise a
`CipherpostError` (or ValueError for argument checks); any other exception, a crash of the Rust
core, or a failed decrypt that changes stored state is a finding. An empty corpus directory is
seeded with valid messages of every kind, so that mutations start from well-formed input; the
Rust core is not coverage-instrumented, so these seeds matter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from cipherpost import _core
    from cipherpost.crypto import Address, CiphertextMessage, Rng
    from cipherpost.exceptions import CipherpostError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from peers.cipherpost_device import Device, connect

GROUP = "fuzz"
SEED = b"crypto-decoders-fuzz-seed-32bytes"[:32]


class Fixture:
    """Established sessions and sender keys that the decrypt targets run against."""

    def __init__(self) -> None:
        rng = Rng(SEED)
        self.alice = Device("alice", rng=rng)
        self.bob = Device("bob", rng=rng)
        connect(self.alice, self.bob)
        # A second initiator whose prekey message Bob has not seen yet.
        self.carol = Device("carol", rng=rng)
        self.carol.start_session(self.bob.address, self.bob.publish_bundle(2, 2))
        self.bob.group_accept(GROUP, self.alice.address, self.alice.group_distribution(GROUP))

    def seeds(self) -> list[bytes]:
        alice, bob, carol = self.alice, self.bob, self.carol
        signal = alice.encrypt(bob.address, b"seed signal message").body
        prekey = carol.encrypt(bob.address, b"seed prekey message").body
        group = alice.group_cipher(GROUP, alice.address).encrypt(b"seed group message")
        record = bob.store.load_session(alice.address)
        sender_key = bob.store.load_sender_key(GROUP, alice.address)
        assert record is not None and sender_key is not None
        distribution = alice.group_distribution(GROUP)
        return [
            bytes([0]) + prekey,
            bytes([1]) + record.serialize(),
            bytes([2]) + sender_key.serialize(),
            bytes([3]) + signal,
            bytes([4]) + prekey,
            bytes([5]) + group,
            bytes([6]) + distribution,
        ]

    def bob_state(self) -> tuple[bytes | None, bytes | None, bytes | None, int]:
        bob = self.bob
        sender_key = bob.store.load_sender_key(GROUP, self.alice.address)
        return (
            bob.session_bytes(self.alice.address),
            bob.session_bytes(self.carol.address),
            None if sender_key is None else sender_key.serialize(),
            bob.store.count_prekeys(),
        )


FIXTURE = Fixture()
ALICE = Address("alice", 1)
CAROL = Address("carol", 1)


def run_decoder(selector: int, body: bytes) -> None:
    bob = FIXTURE.bob
    if selector == 0:
        _core.parse_prekey_message(body)
    elif selector == 1:
        record = _core.SessionRecord.deserialize(body)
        _core.SessionRecord.deserialize(record.serialize())
    elif selector == 2:
        sender_key = _core.SenderKeyRecord.deserialize(body)
        _core.SenderKeyRecord.deserialize(sender_key.serialize())
    elif selector == 3:
        bob.decrypt(ALICE, CiphertextMessage(_core.SIGNAL_MESSAGE_TYPE, body))
    elif selector == 4:
        bob.decrypt(CAROL, CiphertextMessage(_core.PREKEY_MESSAGE_TYPE, body))
    elif selector == 5:
        bob.group_cipher(GROUP, ALICE).decrypt(body)
    else:
        _core.SenderKeyRecord().process_distribution_message(body)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    selector, body = data[0] % 7, data[1:]
    before = FIXTURE.bob_state()
    try:
        run_decoder(selector, body)
    except (CipherpostError, ValueError):
        after = FIXTURE.bob_state()
        if after != before:
            raise AssertionError(f"decoder {selector} changed stored state on a failed input")
        return
    # A success of the decrypt targets changes state legitimately; rebuild the fixture so that
    # later inputs start from the same sessions.
    if selector in (3, 4, 5):
        globals()["FIXTURE"] = Fixture()


def seed_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        return
    for index, seed in enumerate(FIXTURE.seeds()):
        (directory / f"seed-{index}").write_bytes(seed)
    globals()["FIXTURE"] = Fixture()


def main() -> None:
    corpus = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if corpus:
        seed_corpus(Path(corpus[0]))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
