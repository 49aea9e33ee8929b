//! Deterministic sessions and valid messages that the fuzz targets mutate, so that inputs reach
//! past the parsers into MAC checks, chain stepping and state updates.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use cipherpost_protocol::{xeddsa, KeyPair, PreKeyBundle, ProtocolRng, SenderKeyRecord, SessionRecord};

pub struct Fixtures {
    pub bob_identity: KeyPair,
    pub bob_signed_prekey: KeyPair,
    pub bob_one_time_prekey: KeyPair,
    /// Bob's record after Alice's first message; `signal_message` decrypts on it.
    pub bob_record: SessionRecord,
    /// Alice's second message, a `SignalMessage` once the prekey wrapper is removed.
    pub signal_message: Vec<u8>,
    /// Alice's first message, a `PreKeySignalMessage` for an empty record of Bob's.
    pub prekey_message: Vec<u8>,
    pub member_record: SenderKeyRecord,
    pub sender_key_message: Vec<u8>,
    pub distribution_message: Vec<u8>,
}

pub fn rng() -> ProtocolRng {
    ProtocolRng::seeded([0x5A; 32])
}

pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(build)
}

fn build() -> Fixtures {
    let mut rng = rng();
    let alice_identity = KeyPair::generate(&mut rng);
    let bob_identity = KeyPair::generate(&mut rng);
    let bob_signed_prekey = KeyPair::generate(&mut rng);
    let bob_one_time_prekey = KeyPair::generate(&mut rng);
    let signature = xeddsa::sign(
        &bob_identity.private_key,
        &[&bob_signed_prekey.public_key.serialize()],
        &mut rng,
    );
    let bundle = PreKeyBundle {
        registration_id: 2,
        device_id: 1,
        prekey: Some((9, bob_one_time_prekey.public_key)),
        signed_prekey_id: 3,
        signed_prekey_public: bob_signed_prekey.public_key,
        signed_prekey_signature: signature.to_vec(),
        identity_key: bob_identity.public_key,
    };
    let mut alice_record = SessionRecord::new();
    alice_record.initialize_from_bundle(&alice_identity, 1, &bundle, &mut rng).unwrap();
    let (_, prekey_message) = alice_record.encrypt(&alice_identity.public_key, b"first").unwrap();
    let (_, second) = alice_record.encrypt(&alice_identity.public_key, b"second").unwrap();
    let signal_message = cipherpost_protocol::PreKeySignalMessage::parse(&second).unwrap().message;

    let mut bob_record = SessionRecord::new();
    bob_record
        .decrypt_prekey_message(
            &bob_identity,
            2,
            &prekey_message,
            Some(&bob_signed_prekey),
            Some(&bob_one_time_prekey),
            &mut rng,
        )
        .unwrap();

    let mut sender = SenderKeyRecord::new();
    let distribution_message = sender.create_distribution_message(&mut rng);
    let mut member_record = SenderKeyRecord::new();
    member_record.process_distribution_message(&distribution_message).unwrap();
    sender.encrypt(b"skipped", &mut rng).unwrap();
    let sender_key_message = sender.encrypt(b"group", &mut rng).unwrap();

    Fixtures {
        bob_identity,
        bob_signed_prekey,
        bob_one_time_prekey,
        bob_record,
        signal_message,
        prekey_message,
        member_record,
        sender_key_message,
        distribution_message,
    }
}

/// Builds the bytes to decode from the fuzz input: the input itself (first byte % 3 == 0), a
/// valid message XORed with the input (== 1), or a valid message cut at a position chosen by
/// the input and continued with the rest of it (== 2).
pub fn mutate(valid: &[u8], data: &[u8]) -> Vec<u8> {
    let Some((&mode, rest)) = data.split_first() else {
        return Vec::new();
    };
    match mode % 3 {
        0 => rest.to_vec(),
        1 => {
            let mut out = valid.to_vec();
            for (byte, mask) in out.iter_mut().zip(rest) {
                *byte ^= mask;
            }
            out
        }
        _ => {
            let Some((&cut, tail)) = rest.split_first() else {
                return valid.to_vec();
            };
            let mut out = valid[..usize::from(cut) % (valid.len() + 1)].to_vec();
            out.extend_from_slice(tail);
            out
        }
    }
}
