//! Signal protocol in the libsignal v3 wire format: Curve25519 keys, XEdDSA, X3DH, the Double
//! Ratchet, Sender Keys and safety numbers. No I/O, no logging, no Python: the PyO3 binding in
//! `core/python` wraps this crate.
//!
//! Every operation that needs randomness takes `&mut (impl RngCore + CryptoRng)`.
#![forbid(unsafe_code)]

pub mod error;
pub mod fingerprint;
pub mod kdf;
pub mod keys;
pub mod proto;
pub mod rng;
pub mod sender_keys;
pub mod session;
mod storage;
pub mod wire;
pub mod xeddsa;

pub use error::{Error, Result};
pub use keys::{KeyPair, PrivateKey, PublicKey};
pub use rng::ProtocolRng;
pub use sender_keys::SenderKeyRecord;
pub use session::{parse_prekey_message, PreKeyBundle, SessionRecord, SessionState};
pub use wire::PreKeySignalMessage;

/// Message type of a `PreKeySignalMessage` (libsignal's `CiphertextMessage.PREKEY_TYPE`).
pub const PREKEY_MESSAGE_TYPE: u8 = 3;
/// Message type of a `SignalMessage` (libsignal's `CiphertextMessage.WHISPER_TYPE`).
pub const SIGNAL_MESSAGE_TYPE: u8 = 2;
/// Message type of a `SenderKeyMessage` (libsignal's `CiphertextMessage.SENDERKEY_TYPE`).
pub const SENDER_KEY_MESSAGE_TYPE: u8 = 4;
/// Message type of a `SenderKeyDistributionMessage`.
pub const SENDER_KEY_DISTRIBUTION_TYPE: u8 = 5;

/// How far one message may jump ahead of its chain's next counter. v3-era peers
/// (libsignal-protocol-java 2.8.1, python-axolotl 0.2.3) reject jumps over 2,000, so a larger
/// value would accept messages those peers never would. It also bounds the HMAC work that one
/// message can cause.
pub const MAX_FORWARD_JUMP: u32 = 2000;
/// Skipped message keys kept per receiving chain (and per Sender Key state); the oldest is
/// evicted first. 2,000 as in libsignal's `MAX_MESSAGE_KEYS`, so that one full forward jump
/// keeps every key it skipped.
pub const MAX_SKIPPED_KEYS_PER_CHAIN: usize = 2000;
/// Receiving chains kept per session state (libsignal's `MAX_RECEIVER_CHAINS`).
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// Archived session states kept per record (libsignal's `ARCHIVED_STATES_MAX_LENGTH`), so that
/// late messages on an older session and simultaneous session starts still decrypt.
pub const MAX_ARCHIVED_STATES: usize = 40;
/// Sender Key states kept per (group, sender) (libsignal's `MAX_STATES` of `SenderKeyRecord`).
pub const MAX_SENDER_KEY_STATES: usize = 5;
