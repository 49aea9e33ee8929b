//! One-pass streaming encryption and decryption over `Read` and `Write`, in constant memory.
//!
//! CBC encryption is serial, but the three hashes are independent of it, so the work runs as a
//! pipeline of threads joined by bounded channels of pooled chunk buffers:
//!
//! * encryption: the calling thread reads and encrypts; one worker computes `file_sha256`, the
//!   HMAC and `file_enc_sha256` (three SHA-256 runs interleaved on one core, see `sha256x2`)
//!   and writes the ciphertext; with a sidecar, one more worker computes the window MACs.
//! * decryption: the calling thread reads and decrypts; one worker computes `file_enc_sha256`
//!   and the HMAC over the blob; one worker hashes and writes the plaintext. Checks are decided
//!   in the order `file_enc_sha256`, MAC, padding, `file_sha256` once everything is read. The
//!   plaintext goes to the caller's writer before the MAC is known, so callers must write to a
//!   place nobody reads until this returns Ok; `decrypt_file` uses a temporary file.

use std::io::{self, Read, Write};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread;

use openssl::symm::{Cipher, Crypter, Mode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::MediaError;
use crate::keys::MediaKeys;
use crate::pool::{BufferPool, Chunk};
use crate::sha256x2::{update_lanes, update_pair, HmacSha256, Sha256State};
use crate::sidecar::SidecarBuilder;

/// AES block size in bytes.
pub const BLOCK_SIZE: usize = 16;
/// Bytes of HMAC-SHA256 appended to the ciphertext.
pub const MAC_LENGTH: usize = 10;
/// Default bytes per pipeline chunk. 256 KiB keeps the channels' per-chunk cost small while
/// all buffers of one operation stay near 3 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;
/// Smallest accepted chunk size: one AES block. Chunks this small are slow (channel hand-offs
/// dominate) but let tests put chunk boundaries everywhere.
pub const MIN_CHUNK_SIZE: usize = BLOCK_SIZE;
/// Largest accepted chunk size, so that all buffers of one operation stay under 16 MiB.
pub const MAX_CHUNK_SIZE: usize = 1024 * 1024;
/// Chunks that may wait in each channel. Enough to ride out scheduling hiccups on a loaded
/// 2-vCPU machine. NOTE: a guess, not tuned by measurement.
pub const PIPELINE_DEPTH: usize = 4;

/// Settings of one streaming operation.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Bytes per pipeline chunk: a multiple of 16 from `MIN_CHUNK_SIZE` to `MAX_CHUNK_SIZE`.
    pub chunk_size: usize,
    /// Whether encryption also produces the streaming sidecar.
    pub sidecar: bool,
}

impl Default for StreamOptions {
    fn default() -> StreamOptions {
        StreamOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            sidecar: false,
        }
    }
}

impl StreamOptions {
    fn validate(&self) -> Result<(), MediaError> {
        let size = self.chunk_size;
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) || size % BLOCK_SIZE != 0 {
            return Err(MediaError::InvalidArgument(format!(
                "chunk size {size} is invalid; use a multiple of 16 from {MIN_CHUNK_SIZE} to \
                 {MAX_CHUNK_SIZE}"
            )));
        }
        Ok(())
    }
}

/// Results of an encryption besides the blob.
#[derive(Clone, Debug)]
pub struct EncryptSummary {
    /// SHA-256 of the plaintext.
    pub file_sha256: [u8; 32],
    /// SHA-256 of the blob (ciphertext ‖ MAC).
    pub file_enc_sha256: [u8; 32],
    /// Plaintext length in bytes.
    pub file_length: u64,
    /// Blob length in bytes.
    pub enc_length: u64,
    pub mac: [u8; MAC_LENGTH],
    /// The streaming sidecar, if requested: 10 bytes per 64 KiB of blob.
    pub sidecar: Option<Vec<u8>>,
}

/// The hashes a decryption must match.
#[derive(Clone, Debug)]
pub struct Expected {
    pub file_enc_sha256: [u8; 32],
    pub file_sha256: Option<[u8; 32]>,
}

/// Results of a successful decryption.
#[derive(Clone, Debug)]
pub struct DecryptSummary {
    pub file_sha256: [u8; 32],
    pub file_length: u64,
}

/// Feed `data` to the HMAC and to the blob hash, the two SHA-256 runs interleaved.
fn update_both(hmac: &mut HmacSha256, sha: &mut Sha256State, data: &[u8]) {
    update_pair(hmac.state_mut(), sha, data, data);
}

/// Read until `buffer` is full or the input ends; return the bytes read.
fn read_full<R: Read>(input: &mut R, buffer: &mut [u8]) -> Result<usize, MediaError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(MediaError::io("cannot read the input", error)),
        }
    }
    Ok(filled)
}

fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> Result<T, MediaError> {
    handle.join().map_err(|_| MediaError::WorkerPanicked)
}

fn take(pool: &BufferPool) -> Result<Vec<u8>, MediaError> {
    pool.take().ok_or(MediaError::WorkerPanicked)
}

/// Encrypt `input` to `output` (ciphertext ‖ MAC) with keys expanded from the media key.
pub fn encrypt<R: Read, W: Write + Send>(
    keys: &MediaKeys,
    mut input: R,
    output: W,
    options: &StreamOptions,
) -> Result<EncryptSummary, MediaError> {
    options.validate()?;
    let chunk_size = options.chunk_size;
    // Plaintext buffers need room for a padding block; OpenSSL wants one block of slack in
    // the output beyond the input length.
    let plain_pool = BufferPool::new(PIPELINE_DEPTH + 2, chunk_size + BLOCK_SIZE);
    let cipher_pool = BufferPool::new(PIPELINE_DEPTH + 2, chunk_size + 2 * BLOCK_SIZE);

    let mut crypter = Crypter::new(
        Cipher::aes_256_cbc(),
        Mode::Encrypt,
        &keys.cipher_key,
        Some(&keys.iv),
    )?;
    crypter.pad(false);
    let mut hmac = HmacSha256::new(&keys.mac_key);
    hmac.update(&keys.iv);
    let sidecar = if options.sidecar {
        let mut builder = SidecarBuilder::new(&keys.mac_key)?;
        builder.update(&keys.iv);
        Some(builder)
    } else {
        None
    };

    thread::scope(|scope| {
        // Each message pairs a plaintext chunk with its ciphertext.
        let (cipher_tx, cipher_rx) = sync_channel::<(Arc<Chunk>, Arc<Chunk>)>(PIPELINE_DEPTH);
        let (mac_tx, mac_rx) = sync_channel::<[u8; MAC_LENGTH]>(1);

        let cipher_worker = scope.spawn(move || -> Result<_, MediaError> {
            let mut output = output;
            let mut hmac = hmac;
            let mut plain_sha = Sha256State::new();
            let mut blob_sha = Sha256State::new();
            for (plain, cipher) in cipher_rx {
                let ciphertext = cipher.bytes();
                update_lanes(
                    [&mut plain_sha, hmac.state_mut(), &mut blob_sha],
                    [plain.bytes(), ciphertext, ciphertext],
                );
                drop(plain);
                output
                    .write_all(ciphertext)
                    .map_err(|error| MediaError::io("cannot write the encrypted output", error))?;
            }
            let mut mac = [0u8; MAC_LENGTH];
            mac.copy_from_slice(&hmac.finalize()[..MAC_LENGTH]);
            blob_sha.update(&mac);
            output
                .write_all(&mac)
                .and_then(|()| output.flush())
                .map_err(|error| MediaError::io("cannot write the encrypted output", error))?;
            let _ = mac_tx.send(mac);
            Ok((mac, blob_sha.finalize(), plain_sha.finalize()))
        });

        let (sidecar_tx, sidecar_worker) = match sidecar {
            Some(mut builder) => {
                let (tx, rx) = sync_channel::<Arc<Chunk>>(PIPELINE_DEPTH);
                let worker = scope.spawn(move || {
                    for chunk in rx {
                        builder.update(chunk.bytes());
                    }
                    // The MAC arrives only if the cipher worker finished without error.
                    mac_rx.recv().ok().map(|mac| {
                        builder.update(&mac);
                        builder.finish()
                    })
                });
                (Some(tx), Some(worker))
            }
            None => (None, None),
        };

        // Read and encrypt on this thread. Ok(None) means a worker stopped early; its own error
        // is reported when it is joined below.
        let mut produce = || -> Result<Option<u64>, MediaError> {
            let mut total: u64 = 0;
            loop {
                let mut plain = take(&plain_pool)?;
                let filled = read_full(&mut input, &mut plain[..chunk_size])?;
                total += filled as u64;
                let last = filled < chunk_size;
                let mut length = filled;
                if last {
                    // PKCS#7: a full block of padding when the plaintext is block-aligned.
                    let padding = BLOCK_SIZE - filled % BLOCK_SIZE;
                    plain[filled..filled + padding].fill(padding as u8);
                    length += padding;
                }
                let mut cipher = take(&cipher_pool)?;
                let written = crypter.update(&plain[..length], &mut cipher)?;
                let cipher_chunk = cipher_pool.wrap(cipher, written);
                if let Some(tx) = &sidecar_tx {
                    if tx.send(Arc::clone(&cipher_chunk)).is_err() {
                        return Ok(None);
                    }
                }
                if cipher_tx
                    .send((plain_pool.wrap(plain, filled), cipher_chunk))
                    .is_err()
                {
                    return Ok(None);
                }
                if last {
                    return Ok(Some(total));
                }
            }
        };
        let produced = produce();
        drop((cipher_tx, sidecar_tx));

        let written = join(cipher_worker)?;
        let sidecar = match sidecar_worker {
            Some(worker) => join(worker)?,
            None => None,
        };
        let file_length = produced?.ok_or(MediaError::WorkerPanicked)?;
        let (mac, file_enc_sha256, file_sha256) = written?;
        if options.sidecar && sidecar.is_none() {
            return Err(MediaError::WorkerPanicked);
        }
        let padded = (file_length / BLOCK_SIZE as u64 + 1) * BLOCK_SIZE as u64;
        Ok(EncryptSummary {
            file_sha256,
            file_enc_sha256,
            file_length,
            enc_length: padded + MAC_LENGTH as u64,
            mac,
            sidecar,
        })
    })
}

/// Return whether a blob length fits whole cipher blocks (at least one) plus the MAC.
fn is_well_formed_length(blob_length: u64) -> bool {
    blob_length >= (BLOCK_SIZE + MAC_LENGTH) as u64
        && (blob_length - MAC_LENGTH as u64) % BLOCK_SIZE as u64 == 0
}

/// Return the PKCS#7 padding length of the final block, or None if the padding is invalid.
fn padding_length(last_block: &[u8]) -> Option<usize> {
    let padding = usize::from(*last_block.last()?);
    if padding == 0 || padding > BLOCK_SIZE || padding > last_block.len() {
        return None;
    }
    let valid = last_block[last_block.len() - padding..]
        .iter()
        .all(|&byte| usize::from(byte) == padding);
    valid.then_some(padding)
}

/// Decrypt a blob of `blob_length` bytes from `input` to `output` and check it against
/// `expected`. On any error, what was written to `output` must be discarded.
pub fn decrypt<R: Read, W: Write + Send>(
    keys: &MediaKeys,
    mut input: R,
    blob_length: u64,
    output: W,
    expected: &Expected,
    options: &StreamOptions,
) -> Result<DecryptSummary, MediaError> {
    options.validate()?;
    let chunk_size = options.chunk_size;
    let well_formed = is_well_formed_length(blob_length);
    let ciphertext_length = if well_formed {
        blob_length - MAC_LENGTH as u64
    } else {
        0
    };

    let blob_pool = BufferPool::new(PIPELINE_DEPTH + 2, chunk_size);
    let plain_pool = BufferPool::new(PIPELINE_DEPTH + 2, chunk_size + 2 * BLOCK_SIZE);
    let mut crypter = Crypter::new(
        Cipher::aes_256_cbc(),
        Mode::Decrypt,
        &keys.cipher_key,
        Some(&keys.iv),
    )?;
    crypter.pad(false);
    let mut hmac = HmacSha256::new(&keys.mac_key);
    hmac.update(&keys.iv);

    thread::scope(|scope| {
        // Each blob chunk travels with the number of its leading bytes that are ciphertext;
        // the rest, in the last one or two chunks, is the MAC.
        let (blob_tx, blob_rx) = sync_channel::<(Arc<Chunk>, usize)>(PIPELINE_DEPTH);
        let (plain_tx, plain_rx) = sync_channel::<Arc<Chunk>>(PIPELINE_DEPTH);

        let verifier = scope.spawn(move || {
            let mut hmac = hmac;
            let mut sha = Sha256State::new();
            let mut mac = [0u8; MAC_LENGTH];
            let mut mac_filled = 0;
            for (chunk, ciphertext_bytes) in blob_rx {
                let (ciphertext, tail) = chunk.bytes().split_at(ciphertext_bytes);
                update_both(&mut hmac, &mut sha, ciphertext);
                sha.update(tail);
                let copy = tail.len().min(MAC_LENGTH - mac_filled);
                mac[mac_filled..mac_filled + copy].copy_from_slice(&tail[..copy]);
                mac_filled += copy;
            }
            let computed = hmac.finalize();
            let mac_ok = mac_filled == MAC_LENGTH && bool::from(computed[..MAC_LENGTH].ct_eq(&mac));
            (sha.finalize(), mac_ok)
        });

        let writer = scope.spawn(move || -> Result<_, MediaError> {
            let mut output = output;
            let mut sha = Sha256::new();
            let mut length: u64 = 0;
            for chunk in plain_rx {
                sha.update(chunk.bytes());
                length += chunk.bytes().len() as u64;
                output
                    .write_all(chunk.bytes())
                    .map_err(|error| MediaError::io("cannot write the decrypted output", error))?;
            }
            output
                .flush()
                .map_err(|error| MediaError::io("cannot write the decrypted output", error))?;
            Ok((<[u8; 32]>::from(sha.finalize()), length))
        });

        // Read and decrypt on this thread. Returns whether the padding was valid, or None if a
        // worker stopped early (its error is reported when it is joined).
        let mut produce = || -> Result<Option<bool>, MediaError> {
            let mut padding_ok = !well_formed;
            let mut offset: u64 = 0;
            while offset < blob_length {
                let remaining = blob_length - offset;
                let size = usize::try_from(remaining)
                    .unwrap_or(chunk_size)
                    .min(chunk_size);
                let mut blob = take(&blob_pool)?;
                let read = read_full(&mut input, &mut blob[..size])?;
                if read < size {
                    return Err(MediaError::io(
                        format!(
                            "encrypted input ended after {} of {blob_length} bytes",
                            offset + read as u64
                        ),
                        io::Error::from(io::ErrorKind::UnexpectedEof),
                    ));
                }
                let ciphertext_bytes = usize::try_from(ciphertext_length.saturating_sub(offset))
                    .unwrap_or(size)
                    .min(size);
                let plain = if ciphertext_bytes > 0 {
                    let mut plain = take(&plain_pool)?;
                    let mut length = crypter.update(&blob[..ciphertext_bytes], &mut plain)?;
                    if offset + ciphertext_bytes as u64 == ciphertext_length {
                        let last_block = &plain[length.saturating_sub(BLOCK_SIZE)..length];
                        match padding_length(last_block) {
                            Some(padding) => {
                                padding_ok = true;
                                length -= padding;
                            }
                            None => padding_ok = false,
                        }
                    }
                    Some(plain_pool.wrap(plain, length))
                } else {
                    None
                };
                if blob_tx
                    .send((blob_pool.wrap(blob, size), ciphertext_bytes))
                    .is_err()
                {
                    return Ok(None);
                }
                if let Some(plain) = plain {
                    if plain_tx.send(plain).is_err() {
                        return Ok(None);
                    }
                }
                offset += size as u64;
            }
            Ok(Some(padding_ok))
        };
        let produced = produce();
        drop((blob_tx, plain_tx));

        let (enc_sha256, mac_ok) = join(verifier)?;
        let written = join(writer)?;
        let padding_ok = produced?;
        let (file_sha256, file_length) = written?;
        let padding_ok = padding_ok.ok_or(MediaError::WorkerPanicked)?;

        if !bool::from(enc_sha256.ct_eq(&expected.file_enc_sha256)) {
            return Err(MediaError::EncHashMismatch);
        }
        if !well_formed {
            return Err(MediaError::MalformedBlob(format!(
                "length {blob_length} is not 16·k + 10 bytes with k ≥ 1"
            )));
        }
        if !mac_ok {
            return Err(MediaError::MacMismatch);
        }
        if !padding_ok {
            return Err(MediaError::MalformedBlob("invalid PKCS#7 padding".into()));
        }
        if let Some(expected_sha256) = expected.file_sha256 {
            if !bool::from(file_sha256.ct_eq(&expected_sha256)) {
                return Err(MediaError::PlaintextHashMismatch);
            }
        }
        Ok(DecryptSummary {
            file_sha256,
            file_length,
        })
    })
}
