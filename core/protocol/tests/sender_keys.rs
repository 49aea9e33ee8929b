//! Sender Keys: distribution, encryption, reordering, duplicates, limits, and unchanged state
//! on every failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use cipherpost_protocol::wire::VERSION_BYTE;
use cipherpost_protocol::{
    Error, SenderKeyRecord, MAX_FORWARD_JUMP, MAX_SENDER_KEY_STATES, MAX_SKIPPED_KEYS_PER_CHAIN,
};

/// Creates a sender's own record and a member's record that has processed its distribution
/// message.
fn group() -> (
    SenderKeyRecord,
    SenderKeyRecord,
    cipherpost_protocol::ProtocolRng,
) {
    let mut rng = common::rng(5);
    let mut sender = SenderKeyRecord::new();
    let distribution = sender.create_distribution_message(&mut rng);
    assert_eq!(distribution[0], VERSION_BYTE);
    let mut member = SenderKeyRecord::new();
    member.process_distribution_message(&distribution).unwrap();
    (sender, member, rng)
}

fn expect_failure_unchanged(record: &mut SenderKeyRecord, message: &[u8]) -> Error {
    let before = record.serialize();
    let error = record.decrypt(message).unwrap_err();
    assert_eq!(record.serialize(), before, "record changed after {error:?}");
    error
}

#[test]
fn round_trip() {
    let (mut sender, mut member, mut rng) = group();
    for length in [0usize, 1, 15, 16, 17, 100, 1000] {
        let text = vec![0x3Cu8; length];
        let message = sender.encrypt(&text, &mut rng).unwrap();
        assert_eq!(member.decrypt(&message).unwrap(), text);
    }
}

#[test]
fn distribution_at_later_iteration() {
    let (mut sender, _, mut rng) = group();
    let early = sender.encrypt(b"before joining", &mut rng).unwrap();
    // A member who joins later gets the chain at the current iteration.
    let mut late_member = SenderKeyRecord::new();
    late_member
        .process_distribution_message(&sender.create_distribution_message(&mut rng))
        .unwrap();
    let message = sender.encrypt(b"after joining", &mut rng).unwrap();
    assert_eq!(late_member.decrypt(&message).unwrap(), b"after joining");
    let error = expect_failure_unchanged(&mut late_member, &early);
    assert!(matches!(error, Error::DuplicateMessage { .. }), "{error:?}");
}

#[test]
fn reordered_skipped_and_duplicate() {
    let (mut sender, mut member, mut rng) = group();
    let messages: Vec<_> = (0..8u8)
        .map(|index| sender.encrypt(&[index], &mut rng).unwrap())
        .collect();
    for index in [7usize, 2, 0, 6, 1, 3, 5, 4] {
        assert_eq!(member.decrypt(&messages[index]).unwrap(), [index as u8]);
    }
    for message in &messages {
        let error = expect_failure_unchanged(&mut member, message);
        assert!(matches!(error, Error::DuplicateMessage { .. }), "{error:?}");
    }
}

#[test]
fn forward_jump_limit_and_skipped_cap() {
    let (mut sender, mut member, mut rng) = group();
    let count = MAX_SKIPPED_KEYS_PER_CHAIN + 10;
    let messages: Vec<_> = (0..=count)
        .map(|_| sender.encrypt(b"z", &mut rng).unwrap())
        .collect();
    let jump = MAX_FORWARD_JUMP as usize;
    let error = expect_failure_unchanged(&mut member, &messages[jump + 1]);
    assert!(
        matches!(error, Error::MessageTooFarInFuture { .. }),
        "{error:?}"
    );
    assert_eq!(member.decrypt(&messages[jump]).unwrap(), b"z");
    assert_eq!(member.decrypt(&messages[count]).unwrap(), b"z");
    // Keys beyond the cap were evicted oldest first.
    let error = expect_failure_unchanged(&mut member, &messages[3]);
    assert!(matches!(error, Error::DuplicateMessage { .. }), "{error:?}");
    assert_eq!(member.decrypt(&messages[count - 1]).unwrap(), b"z");
}

#[test]
fn failures_leave_record_unchanged() {
    let (mut sender, mut member, mut rng) = group();
    let good = sender.encrypt(b"good", &mut rng).unwrap();

    let mut bad_signature = good.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last - 3] ^= 1;
    assert_eq!(
        expect_failure_unchanged(&mut member, &bad_signature),
        Error::InvalidMessage
    );

    let mut bad_body = good.clone();
    bad_body[good.len() - 70] ^= 1;
    assert_eq!(
        expect_failure_unchanged(&mut member, &bad_body),
        Error::InvalidMessage
    );

    let mut wrong_version = good.clone();
    wrong_version[0] = 0x22;
    assert!(matches!(
        expect_failure_unchanged(&mut member, &wrong_version),
        Error::UnsupportedVersion(0x22)
    ));
    for length in [0usize, 1, 30, 64, 65] {
        let error = expect_failure_unchanged(&mut member, &good[..length]);
        assert!(
            matches!(error, Error::MalformedMessage(_) | Error::InvalidMessage),
            "{error:?}"
        );
    }

    // A message from another sender names a key id this record lacks.
    let (mut stranger, _, mut stranger_rng) = {
        let mut rng = common::rng(77);
        let mut record = SenderKeyRecord::new();
        record.create_distribution_message(&mut rng);
        (record, (), rng)
    };
    let foreign = stranger.encrypt(b"foreign", &mut stranger_rng).unwrap();
    assert!(matches!(
        expect_failure_unchanged(&mut member, &foreign),
        Error::NoSenderKey(_)
    ));

    assert_eq!(member.decrypt(&good).unwrap(), b"good");
}

#[test]
fn member_cannot_send() {
    let (_, mut member, mut rng) = group();
    assert!(matches!(
        member.encrypt(b"x", &mut rng),
        Err(Error::NoSenderKey(_))
    ));
    assert!(matches!(
        SenderKeyRecord::new().encrypt(b"x", &mut rng),
        Err(Error::NoSenderKey(_))
    ));
}

#[test]
fn repeated_distribution_does_not_rewind() {
    let (mut sender, mut member, mut rng) = group();
    let first_distribution = SenderKeyRecord::deserialize(&sender.serialize()).unwrap();
    let message = sender.encrypt(b"one", &mut rng).unwrap();
    member.decrypt(&message).unwrap();
    // Replaying the old distribution message must not make the used key usable again.
    let mut replay_source = first_distribution;
    let replay = replay_source.create_distribution_message(&mut rng);
    member.process_distribution_message(&replay).unwrap();
    let error = expect_failure_unchanged(&mut member, &message);
    assert!(matches!(error, Error::DuplicateMessage { .. }), "{error:?}");
}

#[test]
fn states_are_capped() {
    let mut rng = common::rng(6);
    let mut member = SenderKeyRecord::new();
    let mut senders = Vec::new();
    for _ in 0..MAX_SENDER_KEY_STATES + 2 {
        let mut sender = SenderKeyRecord::new();
        member
            .process_distribution_message(&sender.create_distribution_message(&mut rng))
            .unwrap();
        senders.push(sender);
    }
    assert_eq!(member.state_count(), MAX_SENDER_KEY_STATES);
    // The oldest state was dropped, the newest still decrypts.
    let oldest = senders[0].encrypt(b"old", &mut rng).unwrap();
    assert!(matches!(
        member.decrypt(&oldest),
        Err(Error::NoSenderKey(_))
    ));
    let newest = senders
        .last_mut()
        .unwrap()
        .encrypt(b"new", &mut rng)
        .unwrap();
    assert_eq!(member.decrypt(&newest).unwrap(), b"new");
}

#[test]
fn malformed_distribution_is_rejected() {
    let mut member = SenderKeyRecord::new();
    for message in [
        &b""[..],
        b"\x33",
        b"\x33\x08\x01",
        b"\x23\x08\x01",
        b"\x33\xff\xff",
    ] {
        assert!(
            member.process_distribution_message(message).is_err(),
            "{message:02x?}"
        );
    }
    assert!(member.is_empty());
}

#[test]
fn serialized_record_keeps_working() {
    let (mut sender, member, mut rng) = group();
    let messages: Vec<_> = (0..4u8)
        .map(|index| sender.encrypt(&[index], &mut rng).unwrap())
        .collect();
    let mut restored = SenderKeyRecord::deserialize(&member.serialize()).unwrap();
    for index in [3usize, 0, 2, 1] {
        assert_eq!(restored.decrypt(&messages[index]).unwrap(), [index as u8]);
    }
    let mut restored_sender = SenderKeyRecord::deserialize(&sender.serialize()).unwrap();
    let message = restored_sender.encrypt(b"after restore", &mut rng).unwrap();
    assert_eq!(restored.decrypt(&message).unwrap(), b"after restore");
}
