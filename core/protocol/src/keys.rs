//! Curve25519 keys in libsignal's encoding and X25519 key agreement.

use std::fmt;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Type byte that prefixes a serialized Curve25519 public key (libsignal's `DJB_TYPE`).
pub const DJB_TYPE: u8 = 0x05;
/// Length of a serialized public key: type byte plus the 32-byte u-coordinate.
pub const PUBLIC_KEY_LENGTH: usize = 33;
/// Length of a Curve25519 private key.
pub const PRIVATE_KEY_LENGTH: usize = 32;

/// A Curve25519 public key (the Montgomery u-coordinate).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses the 33-byte serialized form (type byte 0x05, then the u-coordinate).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        match bytes {
            [DJB_TYPE, rest @ ..] if rest.len() == 32 => {
                let mut u = [0u8; 32];
                u.copy_from_slice(rest);
                Ok(PublicKey(u))
            }
            [DJB_TYPE, ..] => Err(Error::InvalidKey(format!(
                "public key must be {PUBLIC_KEY_LENGTH} bytes (0x05 followed by 32), got {}",
                bytes.len()
            ))),
            [other, ..] => Err(Error::InvalidKey(format!(
                "public key type byte is 0x{other:02x}; expected 0x05 (Curve25519)"
            ))),
            [] => Err(Error::InvalidKey("public key is empty; expected 33 bytes".into())),
        }
    }

    /// Parses either 32 raw bytes or the 33-byte serialized form.
    pub fn from_raw_or_serialized(bytes: &[u8]) -> Result<Self> {
        if bytes.len() == 32 {
            let mut u = [0u8; 32];
            u.copy_from_slice(bytes);
            Ok(PublicKey(u))
        } else {
            Self::deserialize(bytes)
        }
    }

    /// Wraps a raw u-coordinate.
    pub fn from_u_bytes(u: [u8; 32]) -> Self {
        PublicKey(u)
    }

    /// The 33-byte serialized form.
    pub fn serialize(&self) -> [u8; PUBLIC_KEY_LENGTH] {
        let mut out = [0u8; PUBLIC_KEY_LENGTH];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// The raw 32-byte u-coordinate.
    pub fn u_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(05")?;
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

/// A Curve25519 private key, stored clamped as libsignal does. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey([u8; 32]);

impl PrivateKey {
    /// Imports 32 private key bytes (clamped on import, as libsignal does).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != PRIVATE_KEY_LENGTH {
            return Err(Error::InvalidKey(format!(
                "private key must be {PRIVATE_KEY_LENGTH} bytes, got {}",
                bytes.len()
            )));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(bytes);
        Ok(Self::from_bytes(key))
    }

    /// Takes ownership of 32 private key bytes and clamps them.
    pub fn from_bytes(mut key: [u8; 32]) -> Self {
        key[0] &= 248;
        key[31] &= 127;
        key[31] |= 64;
        let private = PrivateKey(key);
        key.zeroize();
        private
    }

    /// Draws a fresh private key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    /// The clamped private key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Computes the matching public key with the Edwards basepoint table.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(EdwardsPoint::mul_base_clamped(self.0).to_montgomery().to_bytes())
    }

    /// X25519 key agreement. The 32-byte shared secret is zeroized when dropped.
    pub fn agree(&self, their_public: &PublicKey) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(MontgomeryPoint(their_public.0).mul_clamped(self.0).to_bytes())
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(..)")
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for PrivateKey {}

/// A private key together with its public key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub private_key: PrivateKey,
    pub public_key: PublicKey,
}

impl KeyPair {
    /// Draws a fresh key pair.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_private(PrivateKey::generate(rng))
    }

    /// Completes a key pair from its private half.
    pub fn from_private(private_key: PrivateKey) -> Self {
        let public_key = private_key.public_key();
        KeyPair { private_key, public_key }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair").field("public_key", &self.public_key).finish_non_exhaustive()
    }
}
