//! Shared helpers of the integration tests: deterministic parties and the vectors file.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cipherpost_protocol::xeddsa;
use cipherpost_protocol::{KeyPair, PreKeyBundle, ProtocolRng, PublicKey, SessionRecord};

/// Loads `tests/vectors/signal-v3.json` from the repository root.
pub fn vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/signal-v3.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors file is readable");
    serde_json::from_str(&text).expect("vectors file is JSON")
}

/// Hex field `key` of `section`.
pub fn hex_field(section: &serde_json::Value, key: &str) -> Vec<u8> {
    hex::decode(section[key].as_str().expect("field is a string")).expect("field is hex")
}

pub fn rng(seed: u8) -> ProtocolRng {
    ProtocolRng::seeded([seed; 32])
}

/// A device with an identity, a signed prekey and one one-time prekey.
pub struct Party {
    pub identity: KeyPair,
    pub registration_id: u32,
    pub signed_prekey: KeyPair,
    pub signed_prekey_id: u32,
    pub signature: Vec<u8>,
    pub one_time_prekey: KeyPair,
    pub one_time_prekey_id: u32,
    pub rng: ProtocolRng,
}

impl Party {
    pub fn new(seed: u8) -> Self {
        let mut rng = rng(seed);
        let identity = KeyPair::generate(&mut rng);
        let signed_prekey = KeyPair::generate(&mut rng);
        let signature = xeddsa::sign(
            &identity.private_key,
            &[&signed_prekey.public_key.serialize()],
            &mut rng,
        )
        .to_vec();
        let one_time_prekey = KeyPair::generate(&mut rng);
        Party {
            identity,
            registration_id: 1000 + u32::from(seed),
            signed_prekey,
            signed_prekey_id: 7,
            signature,
            one_time_prekey,
            one_time_prekey_id: 42,
            rng,
        }
    }

    pub fn identity_public(&self) -> PublicKey {
        self.identity.public_key
    }

    pub fn bundle(&self, with_one_time_prekey: bool) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            device_id: 1,
            prekey: with_one_time_prekey
                .then_some((self.one_time_prekey_id, self.one_time_prekey.public_key)),
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey_public: self.signed_prekey.public_key,
            signed_prekey_signature: self.signature.clone(),
            identity_key: self.identity.public_key,
        }
    }

    /// Decrypts a message of either type, passing this party's prekeys.
    pub fn decrypt(
        &mut self,
        record: &mut SessionRecord,
        message_type: u8,
        message: &[u8],
    ) -> cipherpost_protocol::Result<Vec<u8>> {
        if message_type == cipherpost_protocol::PREKEY_MESSAGE_TYPE {
            record.decrypt_prekey_message(
                &self.identity,
                self.registration_id,
                message,
                Some(&self.signed_prekey),
                Some(&self.one_time_prekey),
                &mut self.rng,
            )
        } else {
            let identity = self.identity.public_key;
            record.decrypt_signal_message(&identity, message, &mut self.rng)
        }
    }
}

/// Alice starts a session with Bob's bundle; returns both records, Bob's still empty.
pub fn start_session(
    alice: &mut Party,
    bob: &Party,
    with_one_time_prekey: bool,
) -> (SessionRecord, SessionRecord) {
    let mut alice_record = SessionRecord::new();
    alice_record
        .initialize_from_bundle(
            &alice.identity,
            alice.registration_id,
            &bob.bundle(with_one_time_prekey),
            &mut alice.rng,
        )
        .unwrap();
    (alice_record, SessionRecord::new())
}
