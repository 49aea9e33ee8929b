//! Decryption of a byte range, checked against the streaming sidecar.
//!
//! In CBC mode, ciphertext block `i` decrypts with block `i - 1` as its IV (the derived IV for
//! block 0), so any range can be decrypted without the blocks before it. The whole-file MAC
//! cannot be checked without reading the whole blob, so every sidecar window that overlaps the
//! bytes used is checked instead, before anything is decrypted.

use std::io::{Read, Seek, SeekFrom};

use hmac::{Hmac, Mac};
use openssl::symm::{Cipher, Crypter, Mode};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::MediaError;
use crate::keys::MediaKeys;
use crate::sidecar::{sidecar_window_count, SIDECAR_MAC_LENGTH, SIDECAR_STEP, SIDECAR_WINDOW};
use crate::stream::{BLOCK_SIZE, MAC_LENGTH};

/// Largest range one call decrypts, so that memory stays bounded: the call keeps the range plus
/// at most two sidecar windows in memory.
pub const MAX_RANGE_LENGTH: u64 = 16 * 1024 * 1024;

/// Decrypt plaintext bytes `offset .. offset + length` (cut at `file_length`) of a blob.
///
/// `blob` is the whole blob (ciphertext ‖ MAC), `file_length` the plaintext length from the
/// media message and `sidecar` the sidecar produced at encryption.
pub fn decrypt_range<R: Read + Seek>(
    keys: &MediaKeys,
    mut blob: R,
    file_length: u64,
    sidecar: &[u8],
    offset: u64,
    length: u64,
) -> Result<Vec<u8>, MediaError> {
    if length > MAX_RANGE_LENGTH {
        return Err(MediaError::InvalidArgument(format!(
            "range length {length} exceeds the maximum of {MAX_RANGE_LENGTH} bytes; split the request"
        )));
    }
    let block = BLOCK_SIZE as u64;
    let ciphertext_length = (file_length / block + 1) * block;
    let blob_length = blob
        .seek(SeekFrom::End(0))
        .map_err(|error| MediaError::io("cannot seek in the encrypted file", error))?;
    if blob_length != ciphertext_length + MAC_LENGTH as u64 {
        return Err(MediaError::InvalidArgument(format!(
            "encrypted file has {blob_length} bytes, but a {file_length}-byte file encrypts to {}",
            ciphertext_length + MAC_LENGTH as u64
        )));
    }
    // S = IV ‖ ciphertext ‖ MAC, the stream the sidecar covers.
    let stream_length = block + blob_length;
    let windows = sidecar_window_count(stream_length);
    if sidecar.len() as u64 != windows * SIDECAR_MAC_LENGTH as u64 {
        return Err(MediaError::InvalidArgument(format!(
            "sidecar has {} bytes, expected {} for this file",
            sidecar.len(),
            windows * SIDECAR_MAC_LENGTH as u64
        )));
    }
    let end = offset.saturating_add(length).min(file_length);
    if end <= offset {
        return Ok(Vec::new());
    }

    // Ciphertext blocks first..=last hold the range; block i sits at S offset 16 + 16·i, and
    // the block before it (the IV for block i) at S offset 16·i.
    let first = offset / block;
    let last = (end - 1) / block;
    let needed_start = first * block;
    let needed_end = block + (last + 1) * block;
    let first_window = needed_start / SIDECAR_STEP;
    let last_window = (needed_end - 1) / SIDECAR_STEP;
    let region_start = first_window * SIDECAR_STEP;
    let region_end = (last_window * SIDECAR_STEP + SIDECAR_WINDOW).min(stream_length);
    let region = read_stream(keys, &mut blob, region_start, region_end)?;

    for window in first_window..=last_window {
        let start = usize::try_from(window * SIDECAR_STEP - region_start).unwrap_or(usize::MAX);
        let stop = usize::try_from(
            (window * SIDECAR_STEP + SIDECAR_WINDOW).min(stream_length) - region_start,
        )
        .unwrap_or(usize::MAX);
        let data = region.get(start..stop).ok_or(MediaError::WorkerPanicked)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&keys.mac_key)
            .map_err(|_| MediaError::InvalidArgument("MAC key must be 32 bytes".into()))?;
        mac.update(data);
        let tag = mac.finalize().into_bytes();
        let index = usize::try_from(window).unwrap_or(usize::MAX) * SIDECAR_MAC_LENGTH;
        let expected =
            sidecar
                .get(index..index + SIDECAR_MAC_LENGTH)
                .ok_or(MediaError::InvalidArgument(
                    "sidecar is shorter than the file needs".into(),
                ))?;
        if !bool::from(tag[..SIDECAR_MAC_LENGTH].ct_eq(expected)) {
            return Err(MediaError::SidecarMismatch { window });
        }
    }

    let local = |position: u64| usize::try_from(position - region_start).unwrap_or(usize::MAX);
    let iv = region
        .get(local(needed_start)..local(needed_start + block))
        .ok_or(MediaError::WorkerPanicked)?;
    let ciphertext = region
        .get(local(needed_start + block)..local(needed_end))
        .ok_or(MediaError::WorkerPanicked)?;
    let mut crypter = Crypter::new(
        Cipher::aes_256_cbc(),
        Mode::Decrypt,
        &keys.cipher_key,
        Some(iv),
    )?;
    crypter.pad(false);
    let mut plain = vec![0u8; ciphertext.len() + BLOCK_SIZE];
    let written = crypter.update(ciphertext, &mut plain)?;
    plain.truncate(written);
    let skip = usize::try_from(offset - first * block).unwrap_or(0);
    let keep = usize::try_from(end - offset).unwrap_or(0);
    Ok(plain
        .get(skip..skip + keep)
        .ok_or(MediaError::WorkerPanicked)?
        .to_vec())
}

/// Read bytes `start .. end` of S = IV ‖ blob.
fn read_stream<R: Read + Seek>(
    keys: &MediaKeys,
    blob: &mut R,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, MediaError> {
    let block = BLOCK_SIZE as u64;
    let mut region = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
    if start < block {
        let stop = usize::try_from(end.min(block)).unwrap_or(BLOCK_SIZE);
        region.extend_from_slice(&keys.iv[usize::try_from(start).unwrap_or(0)..stop]);
    }
    let blob_start = start.max(block) - block;
    let blob_end = end - block;
    if blob_end > blob_start {
        blob.seek(SeekFrom::Start(blob_start))
            .map_err(|error| MediaError::io("cannot seek in the encrypted file", error))?;
        let mut part = vec![0u8; usize::try_from(blob_end - blob_start).unwrap_or(0)];
        blob.read_exact(&mut part)
            .map_err(|error| MediaError::io("cannot read the encrypted file", error))?;
        region.extend_from_slice(&part);
    }
    Ok(region)
}
