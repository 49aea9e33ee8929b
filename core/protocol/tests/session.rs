//! Pairwise sessions: round trips, reordering, limits, duplicates, and the guarantee that a
//! failed decrypt leaves the record byte-identical.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use cipherpost_protocol::{
    Error, SessionRecord, MAX_ARCHIVED_STATES, MAX_FORWARD_JUMP, MAX_RECEIVER_CHAINS,
    MAX_SKIPPED_KEYS_PER_CHAIN, PREKEY_MESSAGE_TYPE, SIGNAL_MESSAGE_TYPE,
};
use common::{start_session, Party};

/// Alice and Bob with an established session (one message each way).
fn established(with_one_time_prekey: bool) -> (Party, SessionRecord, Party, SessionRecord) {
    let mut alice = Party::new(1);
    let mut bob = Party::new(2);
    let (mut alice_record, mut bob_record) = start_session(&mut alice, &bob, with_one_time_prekey);
    let (kind, message) = alice_record
        .encrypt(&alice.identity_public(), b"first")
        .unwrap();
    assert_eq!(
        bob.decrypt(&mut bob_record, kind, &message).unwrap(),
        b"first"
    );
    let (kind, message) = bob_record
        .encrypt(&bob.identity_public(), b"reply")
        .unwrap();
    assert_eq!(
        alice.decrypt(&mut alice_record, kind, &message).unwrap(),
        b"reply"
    );
    (alice, alice_record, bob, bob_record)
}

fn send(party: &Party, record: &mut SessionRecord, text: &[u8]) -> (u8, Vec<u8>) {
    record.encrypt(&party.identity_public(), text).unwrap()
}

/// Decrypts `message`, expecting failure, and checks that the record did not change.
fn expect_failure_unchanged(
    party: &mut Party,
    record: &mut SessionRecord,
    kind: u8,
    message: &[u8],
) -> Error {
    let before = record.serialize();
    let error = party.decrypt(record, kind, message).unwrap_err();
    assert_eq!(record.serialize(), before, "record changed after {error:?}");
    error
}

#[test]
fn round_trip_with_one_time_prekey() {
    let mut alice = Party::new(1);
    let mut bob = Party::new(2);
    let (mut alice_record, mut bob_record) = start_session(&mut alice, &bob, true);

    let (kind, message) = send(&alice, &mut alice_record, b"hello bob");
    assert_eq!(kind, PREKEY_MESSAGE_TYPE);
    let header = cipherpost_protocol::parse_prekey_message(&message).unwrap();
    assert_eq!(header.prekey_id, Some(bob.one_time_prekey_id));
    assert_eq!(header.signed_prekey_id, bob.signed_prekey_id);
    assert_eq!(header.registration_id, alice.registration_id);
    assert_eq!(header.identity_key, alice.identity_public());
    assert_eq!(
        bob.decrypt(&mut bob_record, kind, &message).unwrap(),
        b"hello bob"
    );
    assert_eq!(
        bob_record.remote_identity_key(),
        Some(alice.identity_public())
    );
    assert_eq!(
        bob_record.remote_registration_id(),
        Some(alice.registration_id)
    );
    assert!(bob_record.has_session_with_base_key(&header.base_key));

    let (kind, reply) = send(&bob, &mut bob_record, b"hi alice");
    assert_eq!(kind, SIGNAL_MESSAGE_TYPE);
    assert_eq!(
        alice.decrypt(&mut alice_record, kind, &reply).unwrap(),
        b"hi alice"
    );

    // The reply acknowledged the session, so Alice stops sending prekey messages.
    let (kind, _) = send(&alice, &mut alice_record, b"again");
    assert_eq!(kind, SIGNAL_MESSAGE_TYPE);
}

#[test]
fn round_trip_without_one_time_prekey() {
    let mut alice = Party::new(3);
    let mut bob = Party::new(4);
    let (mut alice_record, mut bob_record) = start_session(&mut alice, &bob, false);
    let (kind, message) = send(&alice, &mut alice_record, b"no one-time prekey");
    assert_eq!(
        cipherpost_protocol::parse_prekey_message(&message)
            .unwrap()
            .prekey_id,
        None
    );
    let identity = bob.identity.clone();
    let registration_id = bob.registration_id;
    let signed_prekey = bob.signed_prekey.clone();
    let plaintext = bob_record
        .decrypt_prekey_message(
            &identity,
            registration_id,
            &message,
            Some(&signed_prekey),
            None,
            &mut bob.rng,
        )
        .unwrap();
    assert_eq!(plaintext, b"no one-time prekey");
    assert_eq!(kind, PREKEY_MESSAGE_TYPE);
}

#[test]
fn every_plaintext_length_round_trips() {
    let (alice, mut alice_record, mut bob, mut bob_record) = established(true);
    for length in 0..70 {
        let text = vec![0xA5u8; length];
        let (kind, message) = send(&alice, &mut alice_record, &text);
        assert_eq!(bob.decrypt(&mut bob_record, kind, &message).unwrap(), text);
    }
}

#[test]
fn ping_pong_ratchets_every_message() {
    let (mut alice, mut alice_record, mut bob, mut bob_record) = established(true);
    for round in 0..20u8 {
        let (kind, message) = send(&alice, &mut alice_record, &[round]);
        assert_eq!(
            bob.decrypt(&mut bob_record, kind, &message).unwrap(),
            [round]
        );
        let (kind, message) = send(&bob, &mut bob_record, &[round, round]);
        assert_eq!(
            alice.decrypt(&mut alice_record, kind, &message).unwrap(),
            [round, round]
        );
    }
}

#[test]
fn out_of_order_and_skipped_messages() {
    let (alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let messages: Vec<_> = (0..10u8)
        .map(|index| send(&alice, &mut alice_record, &[index]))
        .collect();
    // Deliver in the order 9, 0, 5, 1, 8, 2, 7, 3, 6, 4.
    for index in [9usize, 0, 5, 1, 8, 2, 7, 3, 6, 4] {
        let (kind, message) = &messages[index];
        assert_eq!(
            bob.decrypt(&mut bob_record, *kind, message).unwrap(),
            [index as u8]
        );
    }
    // Each key was used once; every repeat is a duplicate.
    for (kind, message) in &messages {
        let error = expect_failure_unchanged(&mut bob, &mut bob_record, *kind, message);
        assert!(matches!(error, Error::DuplicateMessage { .. }), "{error:?}");
    }
}

#[test]
fn late_message_from_previous_chain() {
    let (mut alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let (late_kind, late) = send(&alice, &mut alice_record, b"late");
    let (kind, message) = send(&alice, &mut alice_record, b"on time");
    assert_eq!(
        bob.decrypt(&mut bob_record, kind, &message).unwrap(),
        b"on time"
    );
    // Two DH ratchet steps later, the skipped key on Alice's old chain still works.
    let (kind, message) = send(&bob, &mut bob_record, b"ratchet");
    alice.decrypt(&mut alice_record, kind, &message).unwrap();
    let (kind, message) = send(&alice, &mut alice_record, b"new chain");
    bob.decrypt(&mut bob_record, kind, &message).unwrap();
    assert_eq!(
        bob.decrypt(&mut bob_record, late_kind, &late).unwrap(),
        b"late"
    );
}

#[test]
fn forward_jump_limit() {
    let (alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let jump = MAX_FORWARD_JUMP as usize;
    let messages: Vec<_> = (0..=jump + 1)
        .map(|_| send(&alice, &mut alice_record, b"x"))
        .collect();
    // Alice's sending chain is fresh after Bob's reply, so message k jumps k ahead.
    let (kind, too_far) = &messages[jump + 1];
    let error = expect_failure_unchanged(&mut bob, &mut bob_record, *kind, too_far);
    assert!(
        matches!(error, Error::MessageTooFarInFuture { .. }),
        "{error:?}"
    );

    let (kind, at_limit) = &messages[jump];
    assert_eq!(bob.decrypt(&mut bob_record, *kind, at_limit).unwrap(), b"x");
    // Every skipped message is still readable, and the one past the limit now is too.
    let (kind, first) = &messages[0];
    assert_eq!(bob.decrypt(&mut bob_record, *kind, first).unwrap(), b"x");
    assert_eq!(bob.decrypt(&mut bob_record, *kind, too_far).unwrap(), b"x");
}

#[test]
fn skipped_key_cap_evicts_oldest() {
    let (alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let jumps = MAX_SKIPPED_KEYS_PER_CHAIN + 10;
    let messages: Vec<_> = (0..=jumps)
        .map(|_| send(&alice, &mut alice_record, b"y"))
        .collect();
    // Two jumps within the forward limit together skip more keys than the cap.
    let (kind, middle) = &messages[MAX_FORWARD_JUMP as usize];
    bob.decrypt(&mut bob_record, *kind, middle).unwrap();
    let (kind, last) = &messages[jumps];
    bob.decrypt(&mut bob_record, *kind, last).unwrap();

    // The oldest skipped keys were evicted: such a message reads as already used.
    let (kind, evicted) = &messages[5];
    let error = expect_failure_unchanged(&mut bob, &mut bob_record, *kind, evicted);
    assert!(matches!(error, Error::DuplicateMessage { .. }), "{error:?}");
    // The newest skipped keys remain.
    let (kind, kept) = &messages[jumps - 1];
    assert_eq!(bob.decrypt(&mut bob_record, *kind, kept).unwrap(), b"y");
}

#[test]
fn receiver_chains_are_capped() {
    let (mut alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let (old_kind, old) = send(&alice, &mut alice_record, b"old chain");
    let (kind, message) = send(&alice, &mut alice_record, b"skips the one before");
    bob.decrypt(&mut bob_record, kind, &message).unwrap();
    // Each round trip gives Bob one more receiving chain.
    for _ in 0..MAX_RECEIVER_CHAINS {
        let (kind, message) = send(&bob, &mut bob_record, b"ping");
        alice.decrypt(&mut alice_record, kind, &message).unwrap();
        let (kind, message) = send(&alice, &mut alice_record, b"pong");
        bob.decrypt(&mut bob_record, kind, &message).unwrap();
    }
    // The chain of the old message was dropped, so no state can decrypt it.
    let error = expect_failure_unchanged(&mut bob, &mut bob_record, old_kind, &old);
    assert_eq!(error, Error::InvalidMessage);
}

#[test]
fn failures_leave_record_unchanged() {
    let (alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let (kind, good) = send(&alice, &mut alice_record, b"good");

    let mut bad_mac = good.clone();
    let last = bad_mac.len() - 1;
    bad_mac[last] ^= 1;
    assert_eq!(
        expect_failure_unchanged(&mut bob, &mut bob_record, kind, &bad_mac),
        Error::InvalidMessage
    );

    let mut bad_ciphertext = good.clone();
    bad_ciphertext[last - 10] ^= 1;
    assert_eq!(
        expect_failure_unchanged(&mut bob, &mut bob_record, kind, &bad_ciphertext),
        Error::InvalidMessage
    );

    let mut wrong_version = good.clone();
    wrong_version[0] = 0x23;
    assert!(matches!(
        expect_failure_unchanged(&mut bob, &mut bob_record, kind, &wrong_version),
        Error::UnsupportedVersion(0x23)
    ));
    wrong_version[0] = 0x43;
    assert!(matches!(
        expect_failure_unchanged(&mut bob, &mut bob_record, kind, &wrong_version),
        Error::UnsupportedVersion(0x43)
    ));

    for length in [0, 1, 5, 9, good.len() / 2] {
        let error = expect_failure_unchanged(&mut bob, &mut bob_record, kind, &good[..length]);
        assert!(
            matches!(error, Error::MalformedMessage(_) | Error::InvalidMessage),
            "length {length}: {error:?}"
        );
    }
    let mut garbage = vec![0x33u8];
    garbage.extend_from_slice(&[0xFF; 40]);
    assert!(matches!(
        expect_failure_unchanged(&mut bob, &mut bob_record, kind, &garbage),
        Error::MalformedMessage(_)
    ));

    // A message from an unrelated session fails as undecryptable.
    let (stranger, mut stranger_record, _, _) = {
        let mut carol = Party::new(9);
        let dave = Party::new(10);
        let (mut carol_record, dave_record) = start_session(&mut carol, &dave, true);
        send(&carol, &mut carol_record, b"warm up");
        (carol, carol_record, dave, dave_record)
    };
    let (_, foreign) = send(&stranger, &mut stranger_record, b"foreign");
    let foreign_inner = cipherpost_protocol::PreKeySignalMessage::parse(&foreign)
        .unwrap()
        .message;
    assert_eq!(
        expect_failure_unchanged(
            &mut bob,
            &mut bob_record,
            SIGNAL_MESSAGE_TYPE,
            &foreign_inner
        ),
        Error::InvalidMessage
    );

    assert_eq!(bob.decrypt(&mut bob_record, kind, &good).unwrap(), b"good");
}

#[test]
fn prekey_message_failures_leave_record_unchanged() {
    let mut alice = Party::new(5);
    let mut bob = Party::new(2);
    let (mut alice_record, _) = start_session(&mut alice, &bob, true);
    let (kind, message) = send(&alice, &mut alice_record, b"first");

    // Bob already has a session with someone else, which must survive every failure.
    let (_, _, _, mut bob_record) = established(true);
    let identity = bob.identity.clone();
    let registration_id = bob.registration_id;
    let signed_prekey = bob.signed_prekey.clone();
    let one_time_prekey = bob.one_time_prekey.clone();
    let before = bob_record.serialize();

    let error = bob_record
        .decrypt_prekey_message(
            &identity,
            registration_id,
            &message,
            Some(&signed_prekey),
            None,
            &mut bob.rng,
        )
        .unwrap_err();
    assert!(matches!(error, Error::UnknownPreKey(_)), "{error:?}");
    let error = bob_record
        .decrypt_prekey_message(
            &identity,
            registration_id,
            &message,
            None,
            Some(&one_time_prekey),
            &mut bob.rng,
        )
        .unwrap_err();
    assert!(matches!(error, Error::UnknownPreKey(_)), "{error:?}");
    // The wrong one-time prekey derives other keys, so the MAC fails.
    let wrong = cipherpost_protocol::KeyPair::generate(&mut bob.rng);
    let error = bob_record
        .decrypt_prekey_message(
            &identity,
            registration_id,
            &message,
            Some(&signed_prekey),
            Some(&wrong),
            &mut bob.rng,
        )
        .unwrap_err();
    assert_eq!(error, Error::InvalidMessage);
    // A flipped MAC bit in the embedded SignalMessage.
    let mut header = cipherpost_protocol::PreKeySignalMessage::parse(&message).unwrap();
    let last = header.message.len() - 1;
    header.message[last] ^= 1;
    let error = bob
        .decrypt(&mut bob_record, kind, &header.encode())
        .unwrap_err();
    assert_eq!(error, Error::InvalidMessage);
    assert_eq!(bob_record.serialize(), before);

    assert_eq!(
        bob.decrypt(&mut bob_record, kind, &message).unwrap(),
        b"first"
    );
    // A repeated prekey message is a duplicate and needs no prekeys.
    let before = bob_record.serialize();
    let error = bob_record
        .decrypt_prekey_message(
            &identity,
            registration_id,
            &message,
            None,
            None,
            &mut bob.rng,
        )
        .unwrap_err();
    assert!(matches!(error, Error::DuplicateMessage { .. }), "{error:?}");
    assert_eq!(bob_record.serialize(), before);
}

#[test]
fn second_prekey_message_reuses_session() {
    let mut alice = Party::new(1);
    let mut bob = Party::new(2);
    let (mut alice_record, mut bob_record) = start_session(&mut alice, &bob, true);
    let (kind, first) = send(&alice, &mut alice_record, b"one");
    let (_, second) = send(&alice, &mut alice_record, b"two");
    assert_eq!(bob.decrypt(&mut bob_record, kind, &first).unwrap(), b"one");
    // The one-time prekey may be deleted by now: the session with this base key exists.
    let identity = bob.identity.clone();
    let plaintext = bob_record
        .decrypt_prekey_message(
            &identity,
            bob.registration_id,
            &second,
            None,
            None,
            &mut bob.rng,
        )
        .unwrap();
    assert_eq!(plaintext, b"two");
    assert_eq!(bob_record.archived_state_count(), 0);
}

#[test]
fn simultaneous_initiation() {
    let mut alice = Party::new(1);
    let mut bob = Party::new(2);
    let mut alice_record = SessionRecord::new();
    let mut bob_record = SessionRecord::new();
    alice_record
        .initialize_from_bundle(
            &alice.identity,
            alice.registration_id,
            &bob.bundle(true),
            &mut alice.rng,
        )
        .unwrap();
    bob_record
        .initialize_from_bundle(
            &bob.identity,
            bob.registration_id,
            &alice.bundle(true),
            &mut bob.rng,
        )
        .unwrap();
    let (alice_kind, from_alice) = send(&alice, &mut alice_record, b"from alice");
    let (bob_kind, from_bob) = send(&bob, &mut bob_record, b"from bob");

    // Each processes the other's prekey message: the new state becomes current and each
    // side's own initiator state is archived.
    assert_eq!(
        bob.decrypt(&mut bob_record, alice_kind, &from_alice)
            .unwrap(),
        b"from alice"
    );
    assert_eq!(
        alice
            .decrypt(&mut alice_record, bob_kind, &from_bob)
            .unwrap(),
        b"from bob"
    );
    assert_eq!(alice_record.archived_state_count(), 1);
    assert_eq!(bob_record.archived_state_count(), 1);

    // Messages on either session keep decrypting. A reply on a state makes that state
    // current for the other side.
    let (kind, message) = send(&alice, &mut alice_record, b"alice again");
    assert_eq!(
        bob.decrypt(&mut bob_record, kind, &message).unwrap(),
        b"alice again"
    );
    let (kind, message) = send(&bob, &mut bob_record, b"bob again");
    assert_eq!(
        alice.decrypt(&mut alice_record, kind, &message).unwrap(),
        b"bob again"
    );
    for round in 0..3u8 {
        let (kind, message) = send(&alice, &mut alice_record, &[round]);
        assert_eq!(
            bob.decrypt(&mut bob_record, kind, &message).unwrap(),
            [round]
        );
        let (kind, message) = send(&bob, &mut bob_record, &[round]);
        assert_eq!(
            alice.decrypt(&mut alice_record, kind, &message).unwrap(),
            [round]
        );
    }
}

#[test]
fn late_message_on_archived_session() {
    let (mut alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let (late_kind, late) = send(&alice, &mut alice_record, b"late on old session");

    // Alice starts a second session from a fresh bundle.
    let bundle = bob.bundle(false);
    alice_record
        .initialize_from_bundle(
            &alice.identity,
            alice.registration_id,
            &bundle,
            &mut alice.rng,
        )
        .unwrap();
    let (kind, message) = send(&alice, &mut alice_record, b"new session");
    assert_eq!(
        bob.decrypt(&mut bob_record, kind, &message).unwrap(),
        b"new session"
    );
    assert_eq!(bob_record.archived_state_count(), 1);

    assert_eq!(
        bob.decrypt(&mut bob_record, late_kind, &late).unwrap(),
        b"late on old session"
    );
}

#[test]
fn archived_states_are_capped() {
    let mut alice = Party::new(1);
    let bob = Party::new(2);
    let mut record = SessionRecord::new();
    for _ in 0..MAX_ARCHIVED_STATES + 5 {
        record
            .initialize_from_bundle(
                &alice.identity,
                alice.registration_id,
                &bob.bundle(false),
                &mut alice.rng,
            )
            .unwrap();
    }
    assert_eq!(record.archived_state_count(), MAX_ARCHIVED_STATES);
    let copy = SessionRecord::deserialize(&record.serialize()).unwrap();
    assert_eq!(copy.archived_state_count(), MAX_ARCHIVED_STATES);
}

#[test]
fn bundle_with_bad_signature_is_rejected() {
    let mut alice = Party::new(1);
    let bob = Party::new(2);
    let mut bundle = bob.bundle(true);
    bundle.signed_prekey_signature[10] ^= 1;
    let mut record = SessionRecord::new();
    let error = record
        .initialize_from_bundle(
            &alice.identity,
            alice.registration_id,
            &bundle,
            &mut alice.rng,
        )
        .unwrap_err();
    assert_eq!(error, Error::InvalidSignature);
    assert!(!record.has_current_state());
}

#[test]
fn empty_record_has_no_session() {
    let (alice, mut alice_record, mut bob, _) = established(true);
    let mut record = SessionRecord::new();
    assert_eq!(
        record.encrypt(&alice.identity_public(), b"x").unwrap_err(),
        Error::NoSession
    );

    let (_, message) = send(&alice, &mut alice_record, b"y");
    let error = bob
        .decrypt(&mut record, SIGNAL_MESSAGE_TYPE, &message)
        .unwrap_err();
    assert_eq!(error, Error::NoSession);
}

#[test]
fn serialized_record_keeps_working() {
    let (alice, mut alice_record, mut bob, bob_record) = established(true);
    let pending: Vec<_> = (0..5u8)
        .map(|index| send(&alice, &mut alice_record, &[index]))
        .collect();
    let mut restored = SessionRecord::deserialize(&bob_record.serialize()).unwrap();
    assert_eq!(restored.serialize(), bob_record.serialize());
    for index in [4usize, 1, 3, 0, 2] {
        let (kind, message) = &pending[index];
        assert_eq!(
            bob.decrypt(&mut restored, *kind, message).unwrap(),
            [index as u8]
        );
        let again = SessionRecord::deserialize(&restored.serialize()).unwrap();
        assert_eq!(again.serialize(), restored.serialize());
    }
    assert!(SessionRecord::deserialize(b"\xff\xff").is_err());
}

#[test]
fn session_with_wrong_identity_key_fails_mac() {
    let (alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let (kind, message) = send(&alice, &mut alice_record, b"for bob");
    // Decrypting as if Bob had another identity key changes the MAC input.
    let other = cipherpost_protocol::KeyPair::generate(&mut bob.rng);
    let before = bob_record.serialize();
    let error = bob_record
        .decrypt_signal_message(&other.public_key, &message, &mut bob.rng)
        .unwrap_err();
    assert_eq!(error, Error::InvalidMessage);
    assert_eq!(bob_record.serialize(), before);
    assert_eq!(
        bob.decrypt(&mut bob_record, kind, &message).unwrap(),
        b"for bob"
    );
}

#[test]
fn deferred_sending_chain_survives_storage() {
    let (mut alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let (mut bob_kind, mut reply) = (0, Vec::new());
    for round in 0..3u8 {
        let first = send(&alice, &mut alice_record, &[round, 1]);
        let second = send(&alice, &mut alice_record, &[round, 2]);
        // Bob's DH ratchet step on `first` leaves his sending chain pending across storage.
        assert_eq!(
            bob.decrypt(&mut bob_record, first.0, &first.1).unwrap(),
            [round, 1]
        );
        let mut restored = SessionRecord::deserialize(&bob_record.serialize()).unwrap();
        assert_eq!(restored.serialize(), bob_record.serialize());
        assert_eq!(
            bob.decrypt(&mut restored, second.0, &second.1).unwrap(),
            [round, 2]
        );
        (bob_kind, reply) = send(&bob, &mut restored, &[round, 3]);
        assert_eq!(
            alice.decrypt(&mut alice_record, bob_kind, &reply).unwrap(),
            [round, 3]
        );
        bob_record = restored;
    }
    assert_eq!(bob_kind, SIGNAL_MESSAGE_TYPE);
    assert!(!reply.is_empty());
}

#[test]
fn new_chain_while_sending_chain_deferred() {
    let (mut alice, mut alice_record, mut bob, mut bob_record) = established(true);
    let (kind, message) = send(&alice, &mut alice_record, b"ratchet to a new key");
    bob.decrypt(&mut bob_record, kind, &message).unwrap();

    // A copy of Bob's record replies, so Alice ratchets onto a key that Bob's original record,
    // whose sending chain is still deferred, has never sent from.
    let mut copy = bob_record.clone();
    let (kind, reply) = send(&bob, &mut copy, b"from the copy");
    assert_eq!(
        alice.decrypt(&mut alice_record, kind, &reply).unwrap(),
        b"from the copy"
    );
    let (kind, message) = send(&alice, &mut alice_record, b"on Alice's next key");

    // The original completes the deferred chain inside the key schedule and decrypts.
    assert_eq!(
        bob.decrypt(&mut bob_record, kind, &message).unwrap(),
        b"on Alice's next key"
    );
    assert_eq!(
        bob.decrypt(&mut copy, kind, &message).unwrap(),
        b"on Alice's next key"
    );
    let (kind, reply) = send(&bob, &mut bob_record, b"back to Alice");
    assert_eq!(
        alice.decrypt(&mut alice_record, kind, &reply).unwrap(),
        b"back to Alice"
    );
}
