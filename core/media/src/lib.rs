//! Streaming media encryption in the WhatsApp media format.
//!
//! A fresh 32-byte media key is expanded with HKDF-SHA256 (no salt, info `WhatsApp <Type> Keys`)
//! to 112 bytes: IV, AES-256 key, HMAC key and ref key. The blob is AES-256-CBC with PKCS#7
//! padding followed by the first 10 bytes of HMAC-SHA256(MAC key, IV ‖ ciphertext); the media
//! message carries SHA-256 of the plaintext (`file_sha256`) and of the blob
//! (`file_enc_sha256`).
//!
//! Security property: `decrypt_file` never leaves plaintext at the destination unless the blob
//! hash, the MAC, the padding and (when given) the plaintext hash all check out; `decrypt_range`
//! returns nothing unless every sidecar window it used checks out.
#![deny(unsafe_code)]

mod error;
mod file;
mod keys;
mod media_type;
mod pool;
mod range;
mod sidecar;
// The only unsafe code: SHA-NI intrinsics, behind a runtime CPU feature check.
#[allow(unsafe_code)]
mod sha256x2;
mod stream;

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

pub use error::MediaError;
pub use keys::{MediaKey, MediaKeys, EXPANDED_KEY_LENGTH, MEDIA_KEY_LENGTH};
pub use media_type::MediaType;
pub use range::{decrypt_range, MAX_RANGE_LENGTH};
pub use sidecar::{
    sidecar_window_count, SidecarBuilder, SIDECAR_MAC_LENGTH, SIDECAR_STEP, SIDECAR_WINDOW,
};
pub use stream::{
    decrypt, encrypt, DecryptSummary, EncryptSummary, Expected, StreamOptions, BLOCK_SIZE,
    DEFAULT_CHUNK_SIZE, MAC_LENGTH, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, PIPELINE_DEPTH,
};

use file::AtomicFile;

fn open_input(path: &Path) -> Result<File, MediaError> {
    File::open(path)
        .map_err(|error| MediaError::io(format!("cannot open {}", path.display()), error))
}

/// Encrypt the file at `input` to `output`. The output appears only when complete.
pub fn encrypt_file(
    key: &MediaKey,
    media_type: MediaType,
    input: &Path,
    output: &Path,
    options: &StreamOptions,
) -> Result<EncryptSummary, MediaError> {
    let keys = key.expand(media_type);
    let source = open_input(input)?;
    let target = AtomicFile::create(output)?;
    let summary = encrypt(&keys, &source, target.file(), options)?;
    target.commit()?;
    Ok(summary)
}

/// Decrypt the blob at `input` to `output`. The output appears only if every check passes;
/// otherwise nothing is written there and the temporary file is removed.
pub fn decrypt_file(
    key: &MediaKey,
    media_type: MediaType,
    input: &Path,
    output: &Path,
    expected: &Expected,
    options: &StreamOptions,
) -> Result<DecryptSummary, MediaError> {
    let keys = key.expand(media_type);
    let source = open_input(input)?;
    let blob_length = source
        .metadata()
        .map_err(|error| MediaError::io(format!("cannot stat {}", input.display()), error))?
        .len();
    let target = AtomicFile::create(output)?;
    let summary = decrypt(
        &keys,
        &source,
        blob_length,
        target.file(),
        expected,
        options,
    )?;
    target.commit()?;
    Ok(summary)
}

/// Decrypt plaintext bytes `offset .. offset + length` of the blob at `input`, checked against
/// the sidecar.
pub fn decrypt_range_file(
    key: &MediaKey,
    media_type: MediaType,
    input: &Path,
    file_length: u64,
    sidecar: &[u8],
    offset: u64,
    length: u64,
) -> Result<Vec<u8>, MediaError> {
    let keys = key.expand(media_type);
    decrypt_range(
        &keys,
        open_input(input)?,
        file_length,
        sidecar,
        offset,
        length,
    )
}

/// Encrypt a buffer; returns the blob and the summary. For small media such as thumbnails.
pub fn encrypt_bytes(
    key: &MediaKey,
    media_type: MediaType,
    plaintext: &[u8],
    options: &StreamOptions,
) -> Result<(Vec<u8>, EncryptSummary), MediaError> {
    let mut blob = Vec::with_capacity(plaintext.len() + BLOCK_SIZE + MAC_LENGTH);
    let summary = encrypt(&key.expand(media_type), plaintext, &mut blob, options)?;
    Ok((blob, summary))
}

/// Decrypt a blob held in memory.
pub fn decrypt_bytes(
    key: &MediaKey,
    media_type: MediaType,
    blob: &[u8],
    expected: &Expected,
    options: &StreamOptions,
) -> Result<Vec<u8>, MediaError> {
    let mut plaintext = Vec::with_capacity(blob.len());
    decrypt(
        &key.expand(media_type),
        Cursor::new(blob),
        blob.len() as u64,
        &mut plaintext,
        expected,
        options,
    )?;
    Ok(plaintext)
}
