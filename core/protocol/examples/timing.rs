//! Per-operation timings of the protocol crate's primitives, for finding where time goes.
//! Run with `cargo run --release --example timing -p cipherpost-protocol` (in `core/`).
//! Not a test: the figures depend on the machine. Each figure is the fastest of five batches.
//! The radix and precomputation lines record options that were measured and not taken.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Instant;

use cipherpost_protocol::kdf::{ChainKey, MessageKeys};
use cipherpost_protocol::xeddsa::{self, SigningKey, VerifyingKey};
use cipherpost_protocol::{KeyPair, ProtocolRng, SenderKeyRecord};

fn time<F: FnMut()>(name: &str, iterations: u32, mut operation: F) {
    for _ in 0..iterations / 10 {
        operation();
    }
    // The minimum over five batches filters out time lost to other processes.
    let mut per_call = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iterations / 5 {
            operation();
        }
        per_call = per_call.min(start.elapsed().as_secs_f64() / f64::from(iterations / 5));
    }
    println!("{name:<40} {:>9.2} µs", per_call * 1e6);
}

fn main() {
    let mut rng = ProtocolRng::seeded([7; 32]);
    let alice = KeyPair::generate(&mut rng);
    let bob = KeyPair::generate(&mut rng);
    let message = [0x55u8; 140];

    let their_u = *bob.public_key.u_bytes();
    let ours = *alice.private_key.as_bytes();
    time("x25519 agree (this crate, Edwards path)", 2000, || {
        black_box(alice.private_key.agree(black_box(&bob.public_key)));
    });
    time("x25519 Montgomery ladder (x25519-dalek)", 2000, || {
        black_box(
            curve25519_dalek::montgomery::MontgomeryPoint(black_box(their_u)).mul_clamped(ours),
        );
    });
    time("  to_edwards (one inversion, one sqrt)", 2000, || {
        black_box(
            curve25519_dalek::montgomery::MontgomeryPoint(black_box(their_u))
                .to_edwards(0)
                .unwrap(),
        );
    });
    let point = curve25519_dalek::montgomery::MontgomeryPoint(their_u)
        .to_edwards(0)
        .unwrap();
    time("  Edwards mul_clamped (AVX2)", 2000, || {
        black_box(black_box(point).mul_clamped(ours));
    });
    {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, ED25519_BASEPOINT_TABLE};
        use curve25519_dalek::edwards::{
            EdwardsBasepointTableRadix128, EdwardsBasepointTableRadix256,
            EdwardsBasepointTableRadix32, EdwardsBasepointTableRadix64,
        };
        use curve25519_dalek::scalar::Scalar;
        use curve25519_dalek::traits::BasepointTable;
        let scalar = Scalar::from_bytes_mod_order(ours);
        time("basepoint mul radix 16 (constant table)", 4000, || {
            black_box(black_box(&scalar) * ED25519_BASEPOINT_TABLE);
        });
        let t32 = EdwardsBasepointTableRadix32::create(&ED25519_BASEPOINT_POINT);
        time("basepoint mul radix 32", 4000, || {
            black_box(black_box(&scalar) * &t32);
        });
        let t64 = EdwardsBasepointTableRadix64::create(&ED25519_BASEPOINT_POINT);
        time("basepoint mul radix 64", 4000, || {
            black_box(black_box(&scalar) * &t64);
        });
        let t128 = EdwardsBasepointTableRadix128::create(&ED25519_BASEPOINT_POINT);
        time("basepoint mul radix 128", 4000, || {
            black_box(black_box(&scalar) * &t128);
        });
        let t256 = EdwardsBasepointTableRadix256::create(&ED25519_BASEPOINT_POINT);
        time("basepoint mul radix 256", 4000, || {
            black_box(black_box(&scalar) * &t256);
        });
        let point = black_box(&scalar) * ED25519_BASEPOINT_TABLE;
        time("to_montgomery", 4000, || {
            black_box(black_box(point).to_montgomery());
        });
        time("compress", 4000, || {
            black_box(black_box(point).compress());
        });
        {
            use curve25519_dalek::edwards::{EdwardsBasepointTable, VartimeEdwardsPrecomputation};
            use curve25519_dalek::traits::VartimePrecomputedMultiscalarMul;
            let minus_a = -point;
            time("  build VartimeEdwardsPrecomputation [B, -A]", 200, || {
                black_box(VartimeEdwardsPrecomputation::new([
                    ED25519_BASEPOINT_POINT,
                    minus_a,
                ]));
            });
            let precomputation =
                VartimeEdwardsPrecomputation::new([ED25519_BASEPOINT_POINT, minus_a]);
            time("precomputed vartime s*B + h*(-A)", 4000, || {
                black_box(precomputation.vartime_multiscalar_mul([scalar, scalar]));
            });
            time("  build EdwardsBasepointTable(-A)", 50, || {
                black_box(EdwardsBasepointTable::create(&minus_a));
            });
            let table = EdwardsBasepointTable::create(&minus_a);
            time("two table muls s*B + h*(-A)", 4000, || {
                black_box(&scalar * ED25519_BASEPOINT_TABLE + &scalar * &table);
            });
        }
        time("vartime double scalar", 4000, || {
            black_box(
                curve25519_dalek::edwards::EdwardsPoint::vartime_double_scalar_mul_basepoint(
                    &scalar, &point, &scalar,
                ),
            );
        });
    }
    time("key pair generate", 2000, || {
        black_box(KeyPair::generate(&mut rng));
    });
    let signing = SigningKey::new(&alice.private_key);
    time("xeddsa sign (prepared key)", 2000, || {
        black_box(signing.sign(&[&message], &mut rng));
    });
    let signature = signing.sign(&[&message], &mut rng);
    time("xeddsa verify (uncached)", 2000, || {
        assert!(xeddsa::verify(&alice.public_key, &[&message], &signature));
    });
    let verifying =
        VerifyingKey::new(&alice.public_key, xeddsa::signature_sign_bit(&signature)).unwrap();
    time("xeddsa verify (prepared key)", 2000, || {
        assert!(verifying.verify(&[&message], &signature));
    });
    let chain = ChainKey {
        key: [3; 32],
        index: 0,
    };
    time("chain step", 100_000, || {
        black_box(black_box(&chain).step());
    });
    let seed = [9u8; 32];
    time("message keys (HKDF 80)", 100_000, || {
        black_box(MessageKeys::derive(black_box(&seed)));
    });

    {
        use cipherpost_protocol::{PreKeyBundle, SessionRecord};
        let bob_identity = KeyPair::generate(&mut rng);
        let signed_prekey = KeyPair::generate(&mut rng);
        let one_time_prekey = KeyPair::generate(&mut rng);
        let signature = xeddsa::sign(
            &bob_identity.private_key,
            &[&signed_prekey.public_key.serialize()],
            &mut rng,
        );
        let bundle = PreKeyBundle {
            registration_id: 2,
            device_id: 1,
            prekey: Some((9, one_time_prekey.public_key)),
            signed_prekey_id: 3,
            signed_prekey_public: signed_prekey.public_key,
            signed_prekey_signature: signature.to_vec(),
            identity_key: bob_identity.public_key,
        };
        time("setup: initialize_from_bundle", 1000, || {
            let mut record = SessionRecord::new();
            record
                .initialize_from_bundle(&alice, 1, &bundle, &mut rng)
                .unwrap();
            black_box(record);
        });
        let mut record = SessionRecord::new();
        record
            .initialize_from_bundle(&alice, 1, &bundle, &mut rng)
            .unwrap();
        let (_, first) = record.encrypt(&alice.public_key, &[0u8; 100]).unwrap();
        time("setup: first encrypt", 1000, || {
            black_box(
                record
                    .clone()
                    .encrypt(&alice.public_key, &[0u8; 100])
                    .unwrap(),
            );
        });
        time("setup: decrypt_prekey_message", 1000, || {
            let mut bob_record = SessionRecord::new();
            bob_record
                .decrypt_prekey_message(
                    &bob_identity,
                    2,
                    &first,
                    Some(&signed_prekey),
                    Some(&one_time_prekey),
                    &mut rng,
                )
                .unwrap();
            black_box(bob_record);
        });
    }

    let mut sender = SenderKeyRecord::new();
    let mut receiver = SenderKeyRecord::new();
    receiver
        .process_distribution_message(&sender.create_distribution_message(&mut rng))
        .unwrap();
    let plaintext = [0x41u8; 100];
    time("sender key encrypt + decrypt", 2000, || {
        let message = sender.encrypt(&plaintext, &mut rng).unwrap();
        black_box(receiver.decrypt(&message).unwrap());
    });
}
