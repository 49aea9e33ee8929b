//! The random number generator that callers hand to every operation needing randomness.

use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsRng, RngCore, SeedableRng};

/// Operating-system randomness, or a seeded ChaCha20 stream that makes tests deterministic.
pub enum ProtocolRng {
    Os(OsRng),
    Seeded(Box<ChaCha20Rng>),
}

impl ProtocolRng {
    /// Creates a generator that reads the operating system's randomness.
    pub fn os() -> Self {
        ProtocolRng::Os(OsRng)
    }

    /// Creates a deterministic ChaCha20 stream from a 32-byte seed, for tests only.
    pub fn seeded(seed: [u8; 32]) -> Self {
        ProtocolRng::Seeded(Box::new(ChaCha20Rng::from_seed(seed)))
    }
}

impl fmt::Debug for ProtocolRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolRng::Os(_) => write!(f, "ProtocolRng::Os"),
            ProtocolRng::Seeded(_) => write!(f, "ProtocolRng::Seeded(..)"),
        }
    }
}

impl RngCore for ProtocolRng {
    fn next_u32(&mut self) -> u32 {
        match self {
            ProtocolRng::Os(rng) => rng.next_u32(),
            ProtocolRng::Seeded(rng) => rng.next_u32(),
        }
    }

    fn next_u64(&mut self) -> u64 {
        match self {
            ProtocolRng::Os(rng) => rng.next_u64(),
            ProtocolRng::Seeded(rng) => rng.next_u64(),
        }
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match self {
            ProtocolRng::Os(rng) => rng.fill_bytes(dest),
            ProtocolRng::Seeded(rng) => rng.fill_bytes(dest),
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        match self {
            ProtocolRng::Os(rng) => rng.try_fill_bytes(dest),
            ProtocolRng::Seeded(rng) => rng.try_fill_bytes(dest),
        }
    }
}

impl CryptoRng for ProtocolRng {}

/// Fills `buffer` from `rng`; lets crates without a rand_core dependency draw bytes.
pub fn fill_bytes(rng: &mut ProtocolRng, buffer: &mut [u8]) {
    rng.fill_bytes(buffer);
}
