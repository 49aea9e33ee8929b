//! Known-answer test with the WhatsApp media vector in `tests/vectors/media-whatsapp.json`.
// Tests may panic on a broken invariant: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cipherpost_media::{
    decrypt_bytes, encrypt, Expected, MediaError, MediaKey, MediaType, StreamOptions,
};
use serde_json::Value;

fn load() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/media-whatsapp.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_field(vector: &Value, name: &str) -> Vec<u8> {
    hex::decode(vector[name].as_str().unwrap()).unwrap()
}

#[test]
fn info_strings_match_vector_file() {
    let data = load();
    for (name, info) in data["info_strings"].as_object().unwrap() {
        assert_eq!(
            MediaType::from_name(name).unwrap().info(),
            info.as_str().unwrap()
        );
    }
}

#[test]
fn vector_keys_blob_and_hashes() {
    let data = load();
    for vector in data["vectors"].as_array().unwrap() {
        let media_type = MediaType::from_name(vector["media_type"].as_str().unwrap()).unwrap();
        let key = MediaKey::from_slice(&hex_field(vector, "media_key")).unwrap();
        let keys = key.expand(media_type);
        assert_eq!(keys.iv.to_vec(), hex_field(vector, "iv"));
        assert_eq!(keys.cipher_key.to_vec(), hex_field(vector, "cipher_key"));
        assert_eq!(keys.mac_key.to_vec(), hex_field(vector, "mac_key"));
        assert_eq!(keys.ref_key.to_vec(), hex_field(vector, "ref_key"));

        let plaintext = hex_field(vector, "plaintext");
        for chunk_size in [16, 64, 4096, 256 * 1024] {
            let options = StreamOptions {
                chunk_size,
                sidecar: false,
            };
            let mut blob = Vec::new();
            let summary = encrypt(&keys, plaintext.as_slice(), &mut blob, &options).unwrap();
            assert_eq!(blob, hex_field(vector, "blob"), "chunk size {chunk_size}");
            assert_eq!(summary.mac.to_vec(), hex_field(vector, "mac"));
            assert_eq!(
                summary.file_sha256.to_vec(),
                hex_field(vector, "file_sha256")
            );
            assert_eq!(
                summary.file_enc_sha256.to_vec(),
                hex_field(vector, "file_enc_sha256")
            );
            assert_eq!(summary.file_length, plaintext.len() as u64);
            assert_eq!(summary.enc_length, blob.len() as u64);

            let expected = Expected {
                file_enc_sha256: summary.file_enc_sha256,
                file_sha256: Some(summary.file_sha256),
            };
            let decrypted = decrypt_bytes(&key, media_type, &blob, &expected, &options).unwrap();
            assert_eq!(decrypted, plaintext);
        }
    }
}

#[test]
fn vector_with_wrong_type_fails_mac() {
    let data = load();
    let vector = &data["vectors"][0];
    let key = MediaKey::from_slice(&hex_field(vector, "media_key")).unwrap();
    let mut file_enc_sha256 = [0u8; 32];
    file_enc_sha256.copy_from_slice(&hex_field(vector, "file_enc_sha256"));
    let expected = Expected {
        file_enc_sha256,
        file_sha256: None,
    };
    let result = decrypt_bytes(
        &key,
        MediaType::Video,
        &hex_field(vector, "blob"),
        &expected,
        &StreamOptions::default(),
    );
    assert!(matches!(result, Err(MediaError::MacMismatch)), "{result:?}");
}
