//! XEdDSA signatures over Curve25519 keys, in libsignal's variant.
//!
//! The signer uses its clamped X25519 scalar `a` directly as the Ed25519 secret scalar, so the
//! Edwards public key `A = aB` may have either sign. libsignal carries the sign bit of `A` in the
//! top bit of signature byte 63 (that bit is always zero in a reduced scalar `s`), and the
//! verifier rebuilds `A` from the Montgomery u-coordinate with that sign. A verifier that forces
//! the sign to zero rejects the signatures of about half of all keys.

use std::fmt;

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::keys::{PreparedPublicKey, PrivateKey, PublicKey};

/// Length of an XEdDSA signature: compressed `R` then `s` with the sign bit of `A` on top.
pub const SIGNATURE_LENGTH: usize = 64;

/// Domain-separation prefix of the nonce hash: 0xFE followed by 31 bytes of 0xFF, as in
/// libsignal's `calculate_signature`.
const NONCE_HASH_PREFIX: [u8; 32] = {
    let mut prefix = [0xFFu8; 32];
    prefix[0] = 0xFE;
    prefix
};

/// A private key prepared for signing: the scalar and the compressed Edwards public key,
/// computed once so that repeated signatures (Sender Keys) skip one basepoint multiplication.
pub struct SigningKey {
    clamped: Zeroizing<[u8; 32]>,
    scalar: Scalar,
    edwards_public: [u8; 32],
}

impl SigningKey {
    /// Prepares `private_key` for signing.
    pub fn new(private_key: &PrivateKey) -> Self {
        let clamped = Zeroizing::new(*private_key.as_bytes());
        let scalar = Scalar::from_bytes_mod_order(*clamped);
        let edwards_public = (&scalar * ED25519_BASEPOINT_TABLE).compress().to_bytes();
        SigningKey {
            clamped,
            scalar,
            edwards_public,
        }
    }

    /// Signs the concatenation of `message_parts` with fresh randomness from `rng`.
    pub fn sign<R: RngCore + CryptoRng>(
        &self,
        message_parts: &[&[u8]],
        rng: &mut R,
    ) -> [u8; SIGNATURE_LENGTH] {
        let mut random = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(random.as_mut());

        let mut nonce_hash = Sha512::new();
        nonce_hash.update(NONCE_HASH_PREFIX);
        nonce_hash.update(self.clamped.as_ref());
        for part in message_parts {
            nonce_hash.update(part);
        }
        nonce_hash.update(random.as_ref());
        let mut r = scalar_from_hash(nonce_hash);
        let cap_r = (&r * ED25519_BASEPOINT_TABLE).compress();

        let mut challenge_hash = Sha512::new();
        challenge_hash.update(cap_r.as_bytes());
        challenge_hash.update(self.edwards_public);
        for part in message_parts {
            challenge_hash.update(part);
        }
        let h = scalar_from_hash(challenge_hash);
        let s = h * self.scalar + r;
        r.zeroize();

        let mut signature = [0u8; SIGNATURE_LENGTH];
        signature[..32].copy_from_slice(cap_r.as_bytes());
        signature[32..].copy_from_slice(s.as_bytes());
        signature[63] &= 0x7F;
        signature[63] |= self.edwards_public[31] & 0x80;
        signature
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.scalar.zeroize();
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(..)")
    }
}

/// A public key prepared for verification with one sign: the negated Edwards point and its
/// compressed form. Building it costs a field inversion and a square root, so Sender Key
/// states keep one per signer.
#[derive(Clone)]
pub struct VerifyingKey {
    sign_bit: u8,
    minus_a: EdwardsPoint,
    compressed_a: CompressedEdwardsY,
}

impl VerifyingKey {
    /// Converts the Montgomery key to the Edwards point with the given sign (0 or 1); returns
    /// None when the u-coordinate is not on the curve (u = -1).
    pub fn new(public_key: &PublicKey, sign_bit: u8) -> Option<Self> {
        let a = MontgomeryPoint(*public_key.u_bytes()).to_edwards(sign_bit)?;
        Some(VerifyingKey {
            sign_bit,
            minus_a: -a,
            compressed_a: a.compress(),
        })
    }

    /// Returns the key prepared for X25519 agreement, reusing the Edwards point, because the
    /// u-coordinate of a product does not depend on the sign of the point.
    pub fn prepared_public_key(&self, public_key: &PublicKey) -> PreparedPublicKey {
        PreparedPublicKey::from_edwards(*public_key.u_bytes(), -self.minus_a)
    }

    /// Returns the sign bit that this key was built for.
    pub fn sign_bit(&self) -> u8 {
        self.sign_bit
    }

    /// Verifies `signature` over the concatenation of `message_parts`. The caller must pass a
    /// key built for the signature's sign bit (`signature_sign_bit`).
    pub fn verify(&self, message_parts: &[&[u8]], signature: &[u8; SIGNATURE_LENGTH]) -> bool {
        if signature_sign_bit(signature) != self.sign_bit {
            return false;
        }
        let mut cap_r = [0u8; 32];
        cap_r.copy_from_slice(&signature[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&signature[32..]);
        s_bytes[31] &= 0x7F;
        // Like libsignal, reject an s with any of the top three bits set (s >= 2^253), which
        // cannot be a reduced scalar; this keeps signatures from being malleable in s.
        if s_bytes[31] & 0xE0 != 0 {
            return false;
        }
        // libsignal reduces s mod l rather than rejecting an unreduced s below 2^253, and so
        // does this verifier, to accept exactly the signatures libsignal accepts.
        let s = Scalar::from_bytes_mod_order(s_bytes);

        let mut challenge_hash = Sha512::new();
        challenge_hash.update(cap_r);
        challenge_hash.update(self.compressed_a.as_bytes());
        for part in message_parts {
            challenge_hash.update(part);
        }
        let h = scalar_from_hash(challenge_hash);
        let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &self.minus_a, &s);
        check.compress().as_bytes().ct_eq(&cap_r).into()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("sign_bit", &self.sign_bit)
            .finish_non_exhaustive()
    }
}

/// Reduces a SHA-512 digest modulo the group order, little-endian (as Ed25519 does).
fn scalar_from_hash(hash: Sha512) -> Scalar {
    let mut digest = [0u8; 64];
    digest.copy_from_slice(&hash.finalize());
    let scalar = Scalar::from_bytes_mod_order_wide(&digest);
    digest.zeroize();
    scalar
}

/// Returns the sign bit of the signer's Edwards public key from the top bit of byte 63.
pub fn signature_sign_bit(signature: &[u8; SIGNATURE_LENGTH]) -> u8 {
    signature[63] >> 7
}

/// Signs the concatenation of `message_parts` with `private_key`.
pub fn sign<R: RngCore + CryptoRng>(
    private_key: &PrivateKey,
    message_parts: &[&[u8]],
    rng: &mut R,
) -> [u8; SIGNATURE_LENGTH] {
    SigningKey::new(private_key).sign(message_parts, rng)
}

/// Verifies an XEdDSA signature; false for a wrong length, an off-curve key or a bad signature.
pub fn verify(public_key: &PublicKey, message_parts: &[&[u8]], signature: &[u8]) -> bool {
    let Ok(signature) = <&[u8; SIGNATURE_LENGTH]>::try_from(signature) else {
        return false;
    };
    match VerifyingKey::new(public_key, signature_sign_bit(signature)) {
        Some(key) => key.verify(message_parts, signature),
        None => false,
    }
}
