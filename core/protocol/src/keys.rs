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
            [] => Err(Error::InvalidKey(
                "public key is empty; expected 33 bytes".into(),
            )),
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

    /// Returns the 33-byte serialized form.
    pub fn serialize(&self) -> [u8; PUBLIC_KEY_LENGTH] {
        let mut out = [0u8; PUBLIC_KEY_LENGTH];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// Returns the raw 32-byte u-coordinate.
    pub fn u_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Converts the key once for several agreements (see `PrivateKey::agree_prepared`).
    pub fn prepare(&self) -> PreparedPublicKey {
        PreparedPublicKey {
            u: self.0,
            edwards: MontgomeryPoint(self.0).to_edwards(0),
        }
    }
}

/// A public key converted to an Edwards point (None for a u-coordinate on the twist), so that
/// agreements with several private keys pay for the conversion (a field inversion and a
/// square root) once.
#[derive(Clone, Copy)]
pub struct PreparedPublicKey {
    u: [u8; 32],
    edwards: Option<EdwardsPoint>,
}

impl PreparedPublicKey {
    /// Wraps an Edwards point already computed for the u-coordinate `u` (of either sign).
    pub(crate) fn from_edwards(u: [u8; 32], point: EdwardsPoint) -> Self {
        PreparedPublicKey {
            u,
            edwards: Some(point),
        }
    }
}

impl fmt::Debug for PreparedPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PreparedPublicKey({:?})", PublicKey(self.u))
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

    /// Returns the clamped private key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Computes the matching public key with the Edwards basepoint table.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(
            EdwardsPoint::mul_base_clamped(self.0)
                .to_montgomery()
                .to_bytes(),
        )
    }

    /// X25519 key agreement. The 32-byte shared secret is zeroized when dropped.
    pub fn agree(&self, their_public: &PublicKey) -> Zeroizing<[u8; 32]> {
        self.agree_prepared(&their_public.prepare())
    }

    /// X25519 key agreement with a prepared public key.
    ///
    /// For a key on the curve this multiplies the equivalent Edwards point, which
    /// curve25519-dalek does with its AVX2 backend where the CPU has one (about 1.5 times
    /// faster than its Montgomery ladder), and maps the product back to its u-coordinate. The
    /// u-coordinate of `kP` does not depend on the sign chosen for `P`, and the unreduced
    /// clamped scalar keeps torsion components exactly as the ladder does, so the result
    /// equals RFC 7748 X25519. Keys on the twist take the ladder.
    pub fn agree_prepared(&self, their_public: &PreparedPublicKey) -> Zeroizing<[u8; 32]> {
        match their_public.edwards {
            Some(point) => {
                let mut product = point.mul_clamped(self.0);
                let shared = Zeroizing::new(product.to_montgomery().to_bytes());
                product.zeroize();
                shared
            }
            None => Zeroizing::new(
                MontgomeryPoint(their_public.u)
                    .mul_clamped(self.0)
                    .to_bytes(),
            ),
        }
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
        KeyPair {
            private_key,
            public_key,
        }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand_core::{RngCore, SeedableRng};

    use super::*;

    /// X25519 by the Montgomery ladder alone, the reference for the Edwards path.
    fn ladder(private: &PrivateKey, u: [u8; 32]) -> [u8; 32] {
        MontgomeryPoint(u)
            .mul_clamped(*private.as_bytes())
            .to_bytes()
    }

    #[test]
    fn edwards_agreement_matches_ladder() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
        let mut inputs: Vec<[u8; 32]> = Vec::new();
        // Edge cases: 0, 1, p - 1 (u = -1, no Edwards image), p, p + 1, top bit set.
        let mut p = [0xFFu8; 32];
        p[0] = 0xED;
        p[31] = 0x7F;
        let mut p_minus_one = p;
        p_minus_one[0] = 0xEC;
        let mut p_plus_one = p;
        p_plus_one[0] = 0xEE;
        let mut one = [0u8; 32];
        one[0] = 1;
        inputs.extend([[0u8; 32], one, p_minus_one, p, p_plus_one, [0xFF; 32]]);
        // Random u-coordinates: about half lie on the twist and take the ladder fallback.
        for _ in 0..200 {
            let mut u = [0u8; 32];
            rng.fill_bytes(&mut u);
            inputs.push(u);
        }
        let mut twist_count = 0;
        for u in inputs {
            let private = PrivateKey::generate(&mut rng);
            let prepared = PublicKey::from_u_bytes(u).prepare();
            if prepared.edwards.is_none() {
                twist_count += 1;
            }
            assert_eq!(
                *private.agree_prepared(&prepared),
                ladder(&private, u),
                "u = {u:02x?}"
            );
        }
        assert!(
            twist_count > 50,
            "the fallback path ran only {twist_count} times"
        );
    }

    #[test]
    fn public_key_rejects_bad_encodings() {
        assert!(PublicKey::deserialize(&[]).is_err());
        assert!(PublicKey::deserialize(&[0x05; 32]).is_err());
        assert!(PublicKey::deserialize(&[0x05; 34]).is_err());
        let mut wrong_type = [0u8; 33];
        wrong_type[0] = 0x06;
        assert!(PublicKey::deserialize(&wrong_type).is_err());
        assert!(PublicKey::from_raw_or_serialized(&[7u8; 32]).is_ok());
    }

    #[test]
    fn debug_hides_private_key() {
        let private = PrivateKey::from_bytes([0xAB; 32]);
        let shown = format!("{:?}", KeyPair::from_private(private));
        assert!(!shown.contains("abab"), "{shown}");
        assert!(!shown.contains("171, 171"), "{shown}");
    }
}
