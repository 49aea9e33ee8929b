//! Runs one X25519 implementation in a loop so that `perf stat -e cycles` can compare them
//! without the noise of wall-clock timing on a shared machine:
//!
//!     perf stat -e cycles,instructions target/release/examples/agreement_cost ladder 20000
//!     perf stat -e cycles,instructions target/release/examples/agreement_cost edwards 20000
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use cipherpost_protocol::{KeyPair, ProtocolRng};
use curve25519_dalek::montgomery::MontgomeryPoint;

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let variant = arguments.get(1).map(String::as_str).unwrap_or("edwards");
    let count: u32 = arguments
        .get(2)
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000);
    let mut rng = ProtocolRng::seeded([1; 32]);
    let ours = KeyPair::generate(&mut rng);
    let theirs = KeyPair::generate(&mut rng).public_key;
    for _ in 0..count {
        match variant {
            "ladder" => {
                black_box(
                    MontgomeryPoint(*theirs.u_bytes()).mul_clamped(*ours.private_key.as_bytes()),
                );
            }
            "edwards" => {
                black_box(ours.private_key.agree(black_box(&theirs)));
            }
            "keygen" => {
                black_box(KeyPair::generate(&mut rng));
            }
            other => panic!("unknown variant {other}; use ladder, edwards or keygen"),
        }
    }
}
