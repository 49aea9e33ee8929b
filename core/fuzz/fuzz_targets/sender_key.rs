//! Fuzzes `SenderKeyMessage` and `SenderKeyDistributionMessage` handling. A failure must leave
//! the record as it was.
#![no_main]

mod fixtures;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fixtures = fixtures::fixtures();

    let message = fixtures::mutate(&fixtures.sender_key_message, data);
    let mut record = fixtures.member_record.clone();
    let before = record.serialize();
    if record.decrypt(&message).is_err() {
        assert_eq!(record.serialize(), before, "a failed decrypt changed the record");
    }

    let distribution = fixtures::mutate(&fixtures.distribution_message, data);
    let mut record = fixtures.member_record.clone();
    let before = record.serialize();
    if record.process_distribution_message(&distribution).is_err() {
        assert_eq!(record.serialize(), before, "a rejected distribution changed the record");
    }
});
