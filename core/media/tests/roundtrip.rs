//! Round trips, tampering, sidecar and range decryption over the public API.
// Tests may panic on a broken invariant: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;

use cipherpost_media::{
    decrypt, decrypt_bytes, decrypt_file, decrypt_range, encrypt, encrypt_bytes, encrypt_file,
    Expected, MediaError, MediaKey, MediaType, StreamOptions, SIDECAR_STEP, SIDECAR_WINDOW,
};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;

fn key() -> MediaKey {
    MediaKey::from_slice(&[7u8; 32]).unwrap()
}

fn pattern(length: usize) -> Vec<u8> {
    (0..length)
        .map(|index| (index * 31 + index / 251) as u8)
        .collect()
}

fn expected_for(summary: &cipherpost_media::EncryptSummary) -> Expected {
    Expected {
        file_enc_sha256: summary.file_enc_sha256,
        file_sha256: Some(summary.file_sha256),
    }
}

/// Sidecar computed the plain way: HMAC over each window of IV ‖ blob.
fn reference_sidecar(mac_key: &[u8], iv: &[u8], blob: &[u8]) -> Vec<u8> {
    let mut stream = iv.to_vec();
    stream.extend_from_slice(blob);
    let mut sidecar = Vec::new();
    let mut start = 0usize;
    while start < stream.len() {
        let end = (start + SIDECAR_WINDOW as usize).min(stream.len());
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key).unwrap();
        mac.update(&stream[start..end]);
        sidecar.extend_from_slice(&mac.finalize().into_bytes()[..10]);
        start += SIDECAR_STEP as usize;
    }
    sidecar
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn roundtrip_any_size_and_chunk(
        length in prop_oneof![0usize..80, 4000usize..5000, Just(65_536usize), Just(65_530usize)],
        chunk_blocks in 1usize..300,
        type_index in 0usize..16,
    ) {
        let media_type = MediaType::all().nth(type_index).unwrap();
        let options = StreamOptions { chunk_size: chunk_blocks * 16, sidecar: true };
        let plaintext = pattern(length);
        let (blob, summary) = encrypt_bytes(&key(), media_type, &plaintext, &options).unwrap();
        prop_assert_eq!(blob.len(), (length / 16 + 1) * 16 + 10);
        prop_assert_eq!(summary.enc_length, blob.len() as u64);
        let keys = key().expand(media_type);
        prop_assert_eq!(
            summary.sidecar.clone().unwrap(),
            reference_sidecar(&keys.mac_key, &keys.iv, &blob)
        );
        let decrypted =
            decrypt_bytes(&key(), media_type, &blob, &expected_for(&summary), &options).unwrap();
        prop_assert_eq!(decrypted, plaintext);
    }
}

#[test]
fn tampering_is_rejected_in_check_order() {
    let options = StreamOptions::default();
    let plaintext = pattern(1000);
    let (blob, summary) = encrypt_bytes(&key(), MediaType::Image, &plaintext, &options).unwrap();

    let mut flipped = blob.clone();
    flipped[5] ^= 1;
    let result = decrypt_bytes(
        &key(),
        MediaType::Image,
        &flipped,
        &expected_for(&summary),
        &options,
    );
    assert!(
        matches!(result, Err(MediaError::EncHashMismatch)),
        "{result:?}"
    );

    // With the hash updated to the tampered blob, the MAC catches a changed ciphertext or MAC.
    for position in [0, 500, blob.len() - 11, blob.len() - 1] {
        let mut tampered = blob.clone();
        tampered[position] ^= 0x80;
        let expected = Expected {
            file_enc_sha256: sha256(&tampered),
            file_sha256: Some(summary.file_sha256),
        };
        let result = decrypt_bytes(&key(), MediaType::Image, &tampered, &expected, &options);
        assert!(
            matches!(result, Err(MediaError::MacMismatch)),
            "byte {position}: {result:?}"
        );
    }

    let wrong_plain = Expected {
        file_enc_sha256: summary.file_enc_sha256,
        file_sha256: Some([0; 32]),
    };
    let result = decrypt_bytes(&key(), MediaType::Image, &blob, &wrong_plain, &options);
    assert!(
        matches!(result, Err(MediaError::PlaintextHashMismatch)),
        "{result:?}"
    );

    let result = decrypt_bytes(
        &key(),
        MediaType::Sticker,
        &blob,
        &expected_for(&summary),
        &options,
    );
    assert!(result.is_ok(), "sticker shares the image info string");
    let result = decrypt_bytes(
        &key(),
        MediaType::Document,
        &blob,
        &expected_for(&summary),
        &options,
    );
    assert!(matches!(result, Err(MediaError::MacMismatch)), "{result:?}");

    let truncated = &blob[..blob.len() - 3];
    let expected = Expected {
        file_enc_sha256: sha256(truncated),
        file_sha256: None,
    };
    let result = decrypt_bytes(&key(), MediaType::Image, truncated, &expected, &options);
    assert!(
        matches!(result, Err(MediaError::MalformedBlob(_))),
        "{result:?}"
    );
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(data).into()
}

#[test]
fn bad_padding_after_valid_mac_is_malformed() {
    // Build a blob whose MAC is valid but whose last block has invalid padding.
    let media_type = MediaType::Document;
    let keys = key().expand(media_type);
    let mut crypter = openssl::symm::Crypter::new(
        openssl::symm::Cipher::aes_256_cbc(),
        openssl::symm::Mode::Encrypt,
        &keys.cipher_key,
        Some(&keys.iv),
    )
    .unwrap();
    crypter.pad(false);
    let plaintext = [0x41u8; 32]; // last byte 0x41 is not valid PKCS#7 padding
    let mut ciphertext = vec![0u8; 64];
    let written = crypter.update(&plaintext, &mut ciphertext).unwrap();
    ciphertext.truncate(written);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&keys.mac_key).unwrap();
    mac.update(&keys.iv);
    mac.update(&ciphertext);
    let mut blob = ciphertext.clone();
    blob.extend_from_slice(&mac.finalize().into_bytes()[..10]);
    let expected = Expected {
        file_enc_sha256: sha256(&blob),
        file_sha256: None,
    };
    let result = decrypt_bytes(
        &key(),
        media_type,
        &blob,
        &expected,
        &StreamOptions::default(),
    );
    assert!(
        matches!(result, Err(MediaError::MalformedBlob(_))),
        "{result:?}"
    );
}

#[test]
fn decrypt_file_writes_nothing_on_failure() {
    let directory = std::env::temp_dir().join(format!("cipherpost-media-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let input = directory.join("plain.bin");
    let blob_path = directory.join("blob.enc");
    let output = directory.join("out.bin");
    std::fs::write(&input, pattern(300_000)).unwrap();
    let options = StreamOptions::default();
    let summary = encrypt_file(&key(), MediaType::Video, &input, &blob_path, &options).unwrap();

    let result = decrypt_file(
        &key(),
        MediaType::Audio,
        &blob_path,
        &output,
        &expected_for(&summary),
        &options,
    );
    assert!(matches!(result, Err(MediaError::MacMismatch)), "{result:?}");
    assert!(!output.exists());
    let leftovers: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "temporary file left behind: {leftovers:?}"
    );

    decrypt_file(
        &key(),
        MediaType::Video,
        &blob_path,
        &output,
        &expected_for(&summary),
        &options,
    )
    .unwrap();
    assert_eq!(std::fs::read(&output).unwrap(), pattern(300_000));
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn range_decrypt_matches_slices() {
    let media_type = MediaType::Video;
    let plaintext = pattern(3 * 65_536 + 1234);
    let options = StreamOptions {
        sidecar: true,
        ..StreamOptions::default()
    };
    let (blob, summary) = encrypt_bytes(&key(), media_type, &plaintext, &options).unwrap();
    let sidecar = summary.sidecar.unwrap();
    let keys = key().expand(media_type);
    let length = plaintext.len() as u64;
    for (offset, count) in [
        (0u64, 1u64),
        (0, 16),
        (15, 2),
        (65_530, 40),
        (65_536, 65_536),
        (100_000, 200_000),
        (length - 5, 100),
        (length, 10),
    ] {
        let got =
            decrypt_range(&keys, Cursor::new(&blob), length, &sidecar, offset, count).unwrap();
        let start = offset as usize;
        let end = ((offset + count) as usize).min(plaintext.len());
        assert_eq!(got, plaintext[start..end], "range {offset}+{count}");
    }

    let mut tampered = blob.clone();
    tampered[70_000] ^= 1;
    let result = decrypt_range(&keys, Cursor::new(&tampered), length, &sidecar, 69_000, 10);
    assert!(
        matches!(result, Err(MediaError::SidecarMismatch { window: 1 })),
        "{result:?}"
    );
    // A range far from the change still decrypts.
    assert!(decrypt_range(&keys, Cursor::new(&tampered), length, &sidecar, 0, 100).is_ok());
}

#[test]
fn short_input_is_an_io_error() {
    let keys = key().expand(MediaType::Image);
    let expected = Expected {
        file_enc_sha256: [0; 32],
        file_sha256: None,
    };
    let mut sink = Vec::new();
    let result = decrypt(
        &keys,
        Cursor::new(vec![0u8; 20]),
        42,
        &mut sink,
        &expected,
        &StreamOptions::default(),
    );
    assert!(matches!(result, Err(MediaError::Io { .. })), "{result:?}");
}

#[test]
fn invalid_chunk_size_is_rejected() {
    let keys = key().expand(MediaType::Image);
    let options = StreamOptions {
        chunk_size: 100,
        sidecar: false,
    };
    let result = encrypt(&keys, &b"x"[..], Vec::new(), &options);
    assert!(
        matches!(result, Err(MediaError::InvalidArgument(_))),
        "{result:?}"
    );
}
