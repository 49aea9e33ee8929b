//! The media key and the keys expanded from it.

use std::fmt;

use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::MediaError;
use crate::MediaType;

/// Length of a media key in bytes.
pub const MEDIA_KEY_LENGTH: usize = 32;
/// Length of the HKDF output: IV (16), cipher key (32), MAC key (32), ref key (32).
pub const EXPANDED_KEY_LENGTH: usize = 112;

/// A 32-byte media key, chosen fresh for every file. Zeroized on drop; `Debug` hides it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MediaKey(Box<[u8; MEDIA_KEY_LENGTH]>);

impl MediaKey {
    /// Draw a fresh key from the operating system.
    pub fn generate() -> MediaKey {
        let mut bytes = Box::new([0u8; MEDIA_KEY_LENGTH]);
        OsRng.fill_bytes(bytes.as_mut_slice());
        MediaKey(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<MediaKey, MediaError> {
        let array: [u8; MEDIA_KEY_LENGTH] =
            bytes.try_into().map_err(|_| MediaError::InvalidMediaKey {
                length: bytes.len(),
            })?;
        Ok(MediaKey(Box::new(array)))
    }

    pub fn as_bytes(&self) -> &[u8; MEDIA_KEY_LENGTH] {
        &self.0
    }

    /// Expand the key for `media_type`: HKDF-SHA256 with no salt and the type's info string.
    pub fn expand(&self, media_type: MediaType) -> MediaKeys {
        let mut okm = [0u8; EXPANDED_KEY_LENGTH];
        // A 112-byte output is far below HKDF-SHA256's limit of 255 * 32 bytes, so expand
        // cannot fail. Were it to fail, the output would stay zero and every MAC check fail.
        let _ = Hkdf::<Sha256>::new(None, self.0.as_slice())
            .expand(media_type.info().as_bytes(), &mut okm);
        let keys = MediaKeys::from_expanded(&okm);
        okm.zeroize();
        keys
    }
}

impl fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKey(<redacted>)")
    }
}

/// The four values HKDF expands a media key into. Zeroized on drop; `Debug` hides them.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MediaKeys {
    pub iv: [u8; 16],
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
    /// Unused by the cipher; WhatsApp derives it for media reference checks.
    pub ref_key: [u8; 32],
}

impl MediaKeys {
    fn from_expanded(okm: &[u8; EXPANDED_KEY_LENGTH]) -> MediaKeys {
        let mut keys = MediaKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
            ref_key: [0; 32],
        };
        keys.iv.copy_from_slice(&okm[0..16]);
        keys.cipher_key.copy_from_slice(&okm[16..48]);
        keys.mac_key.copy_from_slice(&okm[48..80]);
        keys.ref_key.copy_from_slice(&okm[80..112]);
        keys
    }
}

impl fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKeys(<redacted>)")
    }
}
