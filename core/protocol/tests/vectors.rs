//! Known-answer tests from `tests/vectors/signal-v3.json` (values from libsignal, libsignal-
//! protocol-java 2.8.1 and python-axolotl).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use cipherpost_protocol::fingerprint::{display_digits, fingerprint_hash, safety_number};
use cipherpost_protocol::kdf::{ChainKey, MessageKeys};
use cipherpost_protocol::{xeddsa, KeyPair, PrivateKey, PublicKey};
use common::{hex_field, vectors};

fn u_key(bytes: &[u8]) -> PublicKey {
    PublicKey::from_u_bytes(bytes.try_into().unwrap())
}

#[test]
fn x25519_agreement_vector() {
    let all = vectors();
    let vector = &all["x25519_agreement"];
    let alice = KeyPair::from_private(
        PrivateKey::deserialize(&hex_field(vector, "alice_private")).unwrap(),
    );
    let bob =
        KeyPair::from_private(PrivateKey::deserialize(&hex_field(vector, "bob_private")).unwrap());
    assert_eq!(
        alice.public_key.u_bytes().to_vec(),
        hex_field(vector, "alice_public")
    );
    assert_eq!(
        bob.public_key.u_bytes().to_vec(),
        hex_field(vector, "bob_public")
    );

    let shared = hex_field(vector, "shared");
    let bob_public = u_key(&hex_field(vector, "bob_public"));
    let alice_public = u_key(&hex_field(vector, "alice_public"));
    assert_eq!(alice.private_key.agree(&bob_public).to_vec(), shared);
    assert_eq!(bob.private_key.agree(&alice_public).to_vec(), shared);
}

#[test]
fn xeddsa_signature_vector() {
    let all = vectors();
    let vector = &all["xeddsa_signature"];
    let public_u = hex_field(vector, "identity_public_u");
    let message = hex_field(vector, "message");
    let signature = hex_field(vector, "signature");
    let private = PrivateKey::deserialize(&hex_field(vector, "identity_private")).unwrap();
    assert_eq!(private.public_key().u_bytes().to_vec(), public_u);

    let public = u_key(&public_u);
    assert!(xeddsa::verify(&public, &[&message], &signature));
    let serialized = PublicKey::from_raw_or_serialized(&public.serialize()).unwrap();
    assert!(xeddsa::verify(&serialized, &[&message], &signature));

    // Any flipped bit of message or signature (the sign bit included) must fail.
    for byte in 0..signature.len() {
        for bit in [0x01u8, 0x80] {
            let mut altered = signature.clone();
            altered[byte] ^= bit;
            assert!(
                !xeddsa::verify(&public, &[&message], &altered),
                "byte {byte} bit {bit:#x}"
            );
        }
    }
    let mut altered_message = message.clone();
    altered_message[0] ^= 1;
    assert!(!xeddsa::verify(&public, &[&altered_message], &signature));
    assert!(!xeddsa::verify(&public, &[&message], &signature[..63]));
}

#[test]
fn xeddsa_sign_verify_both_signs() {
    // Keys whose Edwards public key has sign 1 are the ones a sign-forcing verifier rejects;
    // this loop meets both signs.
    let mut rng = common::rng(9);
    let mut signs_seen = [false; 2];
    for _ in 0..32 {
        let key = KeyPair::generate(&mut rng);
        let signature = xeddsa::sign(&key.private_key, &[b"message"], &mut rng);
        signs_seen[usize::from(xeddsa::signature_sign_bit(&signature))] = true;
        assert!(xeddsa::verify(&key.public_key, &[b"message"], &signature));
        assert!(!xeddsa::verify(&key.public_key, &[b"messagf"], &signature));
    }
    assert_eq!(signs_seen, [true, true]);
}

#[test]
fn chain_key_step_vector() {
    let all = vectors();
    let vector = &all["chain_key_step_v3"];
    let chain = ChainKey {
        key: hex_field(vector, "chain_key").try_into().unwrap(),
        index: 0,
    };
    let (seed, next) = chain.step();
    let keys = MessageKeys::derive(&seed);
    assert_eq!(keys.cipher_key.to_vec(), hex_field(vector, "cipher_key"));
    assert_eq!(keys.mac_key.to_vec(), hex_field(vector, "mac_key"));
    assert_eq!(keys.iv.to_vec(), hex_field(vector, "iv"));
    assert_eq!(next.key.to_vec(), hex_field(vector, "next_chain_key"));
    assert_eq!(next.index, 1);
}

#[test]
fn safety_number_vector() {
    let all = vectors();
    let vector = &all["safety_number"];
    let iterations = u32::try_from(vector["iterations"].as_u64().unwrap()).unwrap();
    let local_id = vector["local_id"].as_str().unwrap().as_bytes();
    let remote_id = vector["remote_id"].as_str().unwrap().as_bytes();
    let local_key = PublicKey::deserialize(&hex_field(vector, "local_identity_key")).unwrap();
    let remote_key = PublicKey::deserialize(&hex_field(vector, "remote_identity_key")).unwrap();

    let local_half = display_digits(&fingerprint_hash(iterations, local_id, &local_key).unwrap());
    let remote_half =
        display_digits(&fingerprint_hash(iterations, remote_id, &remote_key).unwrap());
    assert_eq!(local_half, vector["local_half"].as_str().unwrap());
    assert_eq!(remote_half, vector["remote_half"].as_str().unwrap());

    let display = vector["display"].as_str().unwrap();
    assert_eq!(
        safety_number(local_id, &local_key, remote_id, &remote_key, iterations).unwrap(),
        display
    );
    // Both sides compute the same number.
    assert_eq!(
        safety_number(remote_id, &remote_key, local_id, &local_key, iterations).unwrap(),
        display
    );
}
