//! Key derivation of the v3 protocol: HKDF-SHA256 with libsignal's info strings, the symmetric
//! chain step, and AES-256-CBC with PKCS#7 padding.

use std::fmt;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;
type Aes256CbcEncryptor = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDecryptor = cbc::Decryptor<aes::Aes256>;

/// HKDF info of the X3DH output (root key and first chain key).
pub const INFO_TEXT: &[u8] = b"WhisperText";
/// HKDF info of a root-key (DH ratchet) step.
pub const INFO_RATCHET: &[u8] = b"WhisperRatchet";
/// HKDF info of the per-message keys of a pairwise session.
pub const INFO_MESSAGE_KEYS: &[u8] = b"WhisperMessageKeys";
/// HKDF info of the per-message keys of a Sender Key chain.
pub const INFO_GROUP: &[u8] = b"WhisperGroup";

/// HMAC input that derives a message key seed from a chain key.
const MESSAGE_KEY_SEED: [u8; 1] = [0x01];
/// HMAC input that derives the next chain key.
const CHAIN_KEY_SEED: [u8; 1] = [0x02];

/// libsignal's v3 HKDF salt when none is given: 32 zero bytes.
const ZERO_SALT: [u8; 32] = [0u8; 32];

/// Runs HKDF-SHA256 with a 32-byte zero salt (libsignal's `HKDFv3.deriveSecrets`).
pub fn hkdf_zero_salt(input_key_material: &[u8], info: &[u8], output: &mut [u8]) {
    hkdf_with_salt(&ZERO_SALT, input_key_material, info, output);
}

/// Runs HKDF-SHA256 with an explicit salt.
pub fn hkdf_with_salt(salt: &[u8], input_key_material: &[u8], info: &[u8], output: &mut [u8]) {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), input_key_material);
    // expand fails only for outputs over 255 * 32 bytes, and the callers in this crate ask
    // for at most 80.
    if hkdf.expand(info, output).is_err() {
        output.zeroize();
    }
}

/// Root key plus chain key, the 64-byte output of X3DH and of every root step.
pub fn derive_root_and_chain(
    salt: &[u8],
    input_key_material: &[u8],
    info: &[u8],
) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let mut output = Zeroizing::new([0u8; 64]);
    hkdf_with_salt(salt, input_key_material, info, output.as_mut());
    let mut root = Zeroizing::new([0u8; 32]);
    let mut chain = Zeroizing::new([0u8; 32]);
    root.copy_from_slice(&output[..32]);
    chain.copy_from_slice(&output[32..]);
    (root, chain)
}

/// A symmetric-ratchet chain key and the index of the next message key it yields.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ChainKey {
    pub key: [u8; 32],
    pub index: u32,
}

impl ChainKey {
    /// Computes the message key seed for `self.index` (HMAC with 0x01) and the next chain key
    /// (HMAC with 0x02) with one keyed HMAC state.
    pub fn step(&self) -> (Zeroizing<[u8; 32]>, ChainKey) {
        let keyed = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            // HMAC accepts keys of every length, so this arm never runs.
            Err(_) => return (Zeroizing::new([0u8; 32]), self.clone()),
        };
        let mut seed_mac = keyed.clone();
        seed_mac.update(&MESSAGE_KEY_SEED);
        let mut next_mac = keyed;
        next_mac.update(&CHAIN_KEY_SEED);
        let seed = Zeroizing::new(seed_mac.finalize().into_bytes().into());
        let next = ChainKey {
            key: next_mac.finalize().into_bytes().into(),
            index: self.index.wrapping_add(1),
        };
        (seed, next)
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKey")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// The keys of one pairwise message: AES-256 key, HMAC-SHA256 key and CBC IV.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MessageKeys {
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
    pub iv: [u8; 16],
}

impl MessageKeys {
    /// Expands a message key seed with HKDF info "WhisperMessageKeys" to 80 bytes, split into
    /// cipher key (32), MAC key (32) and IV (16).
    pub fn derive(seed: &[u8; 32]) -> Self {
        let mut output = Zeroizing::new([0u8; 80]);
        hkdf_zero_salt(seed, INFO_MESSAGE_KEYS, output.as_mut());
        let mut keys = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        keys.cipher_key.copy_from_slice(&output[..32]);
        keys.mac_key.copy_from_slice(&output[32..64]);
        keys.iv.copy_from_slice(&output[64..]);
        keys
    }
}

/// The keys of one Sender Key message: CBC IV and AES-256 key.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SenderMessageKeys {
    pub iv: [u8; 16],
    pub cipher_key: [u8; 32],
}

impl SenderMessageKeys {
    /// Expands a seed with HKDF info "WhisperGroup" to 48 bytes: IV first, then the key.
    pub fn derive(seed: &[u8; 32]) -> Self {
        let mut output = Zeroizing::new([0u8; 48]);
        hkdf_zero_salt(seed, INFO_GROUP, output.as_mut());
        let mut keys = SenderMessageKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
        };
        keys.iv.copy_from_slice(&output[..16]);
        keys.cipher_key.copy_from_slice(&output[16..]);
        keys
    }
}

/// Encrypts with AES-256-CBC and PKCS#7 padding.
pub fn aes_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    Aes256CbcEncryptor::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// Decrypts AES-256-CBC and strips PKCS#7 padding. Every failure is the opaque
/// `InvalidMessage`, so that no padding oracle exists (callers check a MAC or signature first).
// `usize::is_multiple_of` needs Rust 1.87; the workspace supports 1.75.
#[allow(clippy::manual_is_multiple_of)]
pub fn aes_cbc_decrypt(key: &[u8; 32], iv: &[u8; 16], ciphertext: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(Error::InvalidMessage);
    }
    Aes256CbcDecryptor::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| Error::InvalidMessage)
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC accepts keys of every length, so this arm never runs.
        Err(_) => return [0u8; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}
