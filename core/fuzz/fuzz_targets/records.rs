//! Fuzzes the storage decoders and the other byte-level entry points: a record that loads must
//! serialize to bytes that load to the same record, and nothing may panic.
#![no_main]

mod fixtures;

use cipherpost_protocol::fingerprint::scannable_fingerprints_match;
use cipherpost_protocol::{xeddsa, PublicKey, SenderKeyRecord, SessionRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fixtures = fixtures::fixtures();

    let session_bytes = fixtures::mutate(&fixtures.bob_record.serialize(), data);
    if let Ok(record) = SessionRecord::deserialize(&session_bytes) {
        let serialized = record.serialize();
        let reloaded = SessionRecord::deserialize(&serialized);
        assert_eq!(reloaded.map(|again| again.serialize()).ok(), Some(serialized));
    }

    let sender_bytes = fixtures::mutate(&fixtures.member_record.serialize(), data);
    if let Ok(record) = SenderKeyRecord::deserialize(&sender_bytes) {
        let serialized = record.serialize();
        let reloaded = SenderKeyRecord::deserialize(&serialized);
        assert_eq!(reloaded.map(|again| again.serialize()).ok(), Some(serialized));
    }

    let _ = scannable_fingerprints_match(data, data);
    let _ = PublicKey::deserialize(data);
    if data.len() >= 96 {
        let key = PublicKey::from_u_bytes(data[..32].try_into().unwrap_or([0; 32]));
        let _ = xeddsa::verify(&key, &[&data[96..]], &data[32..96]);
    }
});
