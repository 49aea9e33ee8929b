#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use cipherpost_protocol::{Error, PREKEY_MESSAGE_TYPE, SIGNAL_MESSAGE_TYPE};
use common::{start_session, Party};

#[test]
fn round_trip_with_one_time_prekey() {
    let mut alice = Party::new(1);
    let mut bob = Party::new(2);
    let (mut alice_record, mut bob_record) = start_session(&mut alice, &bob, true);

    let (message_type, message) = alice_record.encrypt(&alice.identity_public(), b"hello bob").unwrap();
    assert_eq!(message_type, PREKEY_MESSAGE_TYPE);
    assert_eq!(bob.decrypt(&mut bob_record, message_type, &message).unwrap(), b"hello bob");

    let (message_type, reply) = bob_record.encrypt(&bob.identity_public(), b"hi alice").unwrap();
    assert_eq!(message_type, SIGNAL_MESSAGE_TYPE);
    assert_eq!(alice.decrypt(&mut alice_record, message_type, &reply).unwrap(), b"hi alice");

    let (message_type, _) = alice_record.encrypt(&alice.identity_public(), b"again").unwrap();
    assert_eq!(message_type, SIGNAL_MESSAGE_TYPE);
}

#[test]
fn duplicate_is_reported() {
    let mut alice = Party::new(1);
    let mut bob = Party::new(2);
    let (mut alice_record, mut bob_record) = start_session(&mut alice, &bob, false);
    let (message_type, message) = alice_record.encrypt(&alice.identity_public(), b"once").unwrap();
    bob.decrypt(&mut bob_record, message_type, &message).unwrap();
    let before = bob_record.serialize();
    let error = bob.decrypt(&mut bob_record, message_type, &message).unwrap_err();
    assert!(matches!(error, Error::DuplicateMessage { .. }), "{error:?}");
    assert_eq!(bob_record.serialize(), before);
}
