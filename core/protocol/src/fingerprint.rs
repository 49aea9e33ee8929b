//! Safety numbers: Signal's numeric fingerprint (`NumericFingerprintGenerator`, hash version 0)
//! and its scannable (QR code) form.
//!
//! Each party's half is SHA-512 iterated over its identity key: the first round hashes
//! version (u16 big-endian 0) ‖ identity key ‖ stable identifier ‖ identity key, every further
//! round hashes previous output ‖ identity key. The first 30 bytes give 30 digits (six 5-byte
//! big-endian chunks, each mod 100000), the first 32 bytes are the scannable half.

use prost::Message;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::proto::{CombinedFingerprintsProto, LogicalFingerprintProto};

/// Hash rounds that Signal clients use.
pub const DEFAULT_ITERATIONS: u32 = 5200;
/// Largest accepted round count; libsignal rejects more than 1,000,000 (and fewer than 2) to
/// bound the work of one call.
pub const MAX_ITERATIONS: u32 = 1_000_000;
/// Version of the fingerprint hash input (the u16 that starts the first round).
const FINGERPRINT_HASH_VERSION: [u8; 2] = [0, 0];
/// Version of the `CombinedFingerprints` payload written by `scannable_fingerprint`.
pub const SCANNABLE_FINGERPRINT_VERSION: u32 = 0;
/// Length of one party's half in the scannable payload.
const SCANNABLE_HALF_LENGTH: usize = 32;

/// Computes one party's 64-byte fingerprint hash.
pub fn fingerprint_hash(
    iterations: u32,
    stable_identifier: &[u8],
    identity_key: &PublicKey,
) -> Result<[u8; 64]> {
    if !(2..=MAX_ITERATIONS).contains(&iterations) {
        return Err(Error::InvalidArgument(format!(
            "fingerprint iterations must be between 2 and {MAX_ITERATIONS}, got {iterations}"
        )));
    }
    let key = identity_key.serialize();
    let mut hasher = Sha512::new();
    hasher.update(FINGERPRINT_HASH_VERSION);
    hasher.update(key);
    hasher.update(stable_identifier);
    hasher.update(key);
    let mut hash = [0u8; 64];
    hash.copy_from_slice(&hasher.finalize_reset());
    for _ in 1..iterations {
        hasher.update(hash);
        hasher.update(key);
        hash.copy_from_slice(&hasher.finalize_reset());
    }
    Ok(hash)
}

/// Formats one party's 30 digits: six 5-byte big-endian chunks of the hash, each mod 100000.
pub fn display_digits(hash: &[u8; 64]) -> String {
    let mut digits = String::with_capacity(30);
    for chunk in hash[..30].chunks_exact(5) {
        let value = chunk
            .iter()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
        digits.push_str(&format!("{:05}", value % 100_000));
    }
    digits
}

/// Computes the 60-digit safety number: both parties' 30 digits, the lower string first, so
/// that both sides show the same number.
pub fn safety_number(
    local_id: &[u8],
    local_identity_key: &PublicKey,
    remote_id: &[u8],
    remote_identity_key: &PublicKey,
    iterations: u32,
) -> Result<String> {
    let local = display_digits(&fingerprint_hash(iterations, local_id, local_identity_key)?);
    let remote = display_digits(&fingerprint_hash(
        iterations,
        remote_id,
        remote_identity_key,
    )?);
    Ok(if local <= remote {
        local + &remote
    } else {
        remote + &local
    })
}

/// Builds the scannable payload: protobuf `CombinedFingerprints` with our half as the local one.
pub fn scannable_fingerprint(
    local_id: &[u8],
    local_identity_key: &PublicKey,
    remote_id: &[u8],
    remote_identity_key: &PublicKey,
    iterations: u32,
) -> Result<Vec<u8>> {
    let local = fingerprint_hash(iterations, local_id, local_identity_key)?;
    let remote = fingerprint_hash(iterations, remote_id, remote_identity_key)?;
    let proto = CombinedFingerprintsProto {
        version: Some(SCANNABLE_FINGERPRINT_VERSION),
        local_fingerprint: Some(LogicalFingerprintProto {
            content: Some(local[..SCANNABLE_HALF_LENGTH].to_vec()),
        }),
        remote_fingerprint: Some(LogicalFingerprintProto {
            content: Some(remote[..SCANNABLE_HALF_LENGTH].to_vec()),
        }),
    };
    Ok(proto.encode_to_vec())
}

/// Compares our scannable payload with one scanned from the peer's screen: same version, and
/// their local half equals our remote half and the reverse. Errors on a payload that is not a
/// `CombinedFingerprints` protobuf with both halves.
pub fn scannable_fingerprints_match(ours: &[u8], scanned: &[u8]) -> Result<bool> {
    let ours = parse_scannable(ours, "our fingerprint")?;
    let theirs = parse_scannable(scanned, "scanned fingerprint")?;
    if ours.0 != theirs.0 {
        return Ok(false);
    }
    let local_matches = ours.1.ct_eq(&theirs.2);
    let remote_matches = ours.2.ct_eq(&theirs.1);
    Ok((local_matches & remote_matches).into())
}

fn parse_scannable(payload: &[u8], what: &'static str) -> Result<(u32, Vec<u8>, Vec<u8>)> {
    let malformed = || {
        Error::MalformedMessage(match what {
            "our fingerprint" => "our fingerprint is not a CombinedFingerprints payload",
            _ => "scanned fingerprint is not a CombinedFingerprints payload",
        })
    };
    let proto = CombinedFingerprintsProto::decode(payload).map_err(|_| malformed())?;
    let version = proto.version.ok_or_else(malformed)?;
    let local = proto
        .local_fingerprint
        .and_then(|half| half.content)
        .ok_or_else(malformed)?;
    let remote = proto
        .remote_fingerprint
        .and_then(|half| half.content)
        .ok_or_else(malformed)?;
    Ok((version, local, remote))
}
