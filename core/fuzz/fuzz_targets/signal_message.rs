//! Fuzzes `SignalMessage` parsing and decryption. A failed decrypt must leave the record as it
//! was.
#![no_main]

mod fixtures;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fixtures = fixtures::fixtures();
    let message = fixtures::mutate(&fixtures.signal_message, data);
    let _ = cipherpost_protocol::wire::SignalMessage::parse(&message);

    let mut record = fixtures.bob_record.clone();
    let before = record.serialize();
    let result = record.decrypt_signal_message(
        &fixtures.bob_identity.public_key,
        &message,
        &mut fixtures::rng(),
    );
    if result.is_err() {
        assert_eq!(record.serialize(), before, "a failed decrypt changed the record");
    }
});
