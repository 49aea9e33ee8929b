//! Safety numbers and scannable fingerprints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use cipherpost_protocol::fingerprint::{
    safety_number, scannable_fingerprint, scannable_fingerprints_match, DEFAULT_ITERATIONS,
};
use cipherpost_protocol::{KeyPair, PublicKey};

fn keys() -> (PublicKey, PublicKey, PublicKey) {
    let mut rng = common::rng(8);
    (
        KeyPair::generate(&mut rng).public_key,
        KeyPair::generate(&mut rng).public_key,
        KeyPair::generate(&mut rng).public_key,
    )
}

#[test]
fn safety_number_is_symmetric_and_60_digits() {
    let (alice, bob, _) = keys();
    let ours = safety_number(b"alice", &alice, b"bob", &bob, DEFAULT_ITERATIONS).unwrap();
    let theirs = safety_number(b"bob", &bob, b"alice", &alice, DEFAULT_ITERATIONS).unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 60);
    assert!(ours.bytes().all(|byte| byte.is_ascii_digit()));
}

#[test]
fn safety_number_changes_with_key() {
    let (alice, bob, mallory) = keys();
    let genuine = safety_number(b"alice", &alice, b"bob", &bob, DEFAULT_ITERATIONS).unwrap();
    let forged = safety_number(b"alice", &alice, b"bob", &mallory, DEFAULT_ITERATIONS).unwrap();
    assert_ne!(genuine, forged);
}

#[test]
fn iterations_out_of_range_are_rejected() {
    let (alice, bob, _) = keys();
    assert!(safety_number(b"a", &alice, b"b", &bob, 1).is_err());
    assert!(safety_number(b"a", &alice, b"b", &bob, 1_000_001).is_err());
}

#[test]
fn scannable_fingerprints_match_across_devices() {
    let (alice, bob, mallory) = keys();
    let on_alice =
        scannable_fingerprint(b"alice", &alice, b"bob", &bob, DEFAULT_ITERATIONS).unwrap();
    let on_bob = scannable_fingerprint(b"bob", &bob, b"alice", &alice, DEFAULT_ITERATIONS).unwrap();
    assert!(scannable_fingerprints_match(&on_alice, &on_bob).unwrap());
    assert!(scannable_fingerprints_match(&on_bob, &on_alice).unwrap());
    // Scanning our own screen is not a match: the halves are not swapped.
    assert!(!scannable_fingerprints_match(&on_alice, &on_alice).unwrap());

    let attacked =
        scannable_fingerprint(b"bob", &mallory, b"alice", &alice, DEFAULT_ITERATIONS).unwrap();
    assert!(!scannable_fingerprints_match(&on_alice, &attacked).unwrap());
    assert!(scannable_fingerprints_match(&on_alice, b"\xff\xff").is_err());
}

#[test]
fn scannable_payload_layout() {
    let (alice, bob, _) = keys();
    let payload =
        scannable_fingerprint(b"alice", &alice, b"bob", &bob, DEFAULT_ITERATIONS).unwrap();
    // version 0 (field 1), then two LogicalFingerprint messages of 32 content bytes each.
    assert_eq!(&payload[..2], &[0x08, 0x00]);
    assert_eq!(&payload[2..5], &[0x12, 34, 0x0A]);
    assert_eq!(payload[5], 32);
    assert_eq!(payload.len(), 2 + 2 * (2 + 2 + 32));
}
