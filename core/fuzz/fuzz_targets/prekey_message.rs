//! Fuzzes `PreKeySignalMessage` parsing and the responder's X3DH plus first decrypt. A failed
//! decrypt must leave the record as it was.
#![no_main]

mod fixtures;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fixtures = fixtures::fixtures();
    let message = fixtures::mutate(&fixtures.prekey_message, data);
    let _ = cipherpost_protocol::parse_prekey_message(&message);

    // Once into an empty record, once into Bob's record that already has this session.
    for mut record in [cipherpost_protocol::SessionRecord::new(), fixtures.bob_record.clone()] {
        let before = record.serialize();
        let result = record.decrypt_prekey_message(
            &fixtures.bob_identity,
            2,
            &message,
            Some(&fixtures.bob_signed_prekey),
            Some(&fixtures.bob_one_time_prekey),
            &mut fixtures::rng(),
        );
        if result.is_err() {
            assert_eq!(record.serialize(), before, "a failed decrypt changed the record");
        }
    }
});
