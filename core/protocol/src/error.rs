//! The one error type of the protocol crate.

use std::fmt;

/// Everything that can go wrong in this crate. The PyO3 binding maps each variant to one class
/// of `cipherpost.exceptions`.
///
/// MAC failures and decryption failures share the variant `InvalidMessage` on purpose, so that
/// no caller can build a padding or MAC oracle from the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A key has the wrong length or type byte, or is not a valid curve point.
    InvalidKey(String),
    /// A signature does not verify.
    InvalidSignature,
    /// A message failed authentication or decryption, or no session state could decrypt it.
    InvalidMessage,
    /// A message is not a well-formed protobuf, lacks a required field or is truncated.
    MalformedMessage(&'static str),
    /// A message carries a protocol version other than 3 (the high nibble of the version byte).
    UnsupportedVersion(u8),
    /// A message with this counter was already decrypted and its key deleted.
    DuplicateMessage { chain_index: u32, counter: u32 },
    /// A message jumps further ahead of its chain than `MAX_FORWARD_JUMP` allows.
    MessageTooFarInFuture { chain_index: u32, counter: u32 },
    /// The record has no session state that can be used for this operation.
    NoSession,
    /// A prekey message names a prekey that the caller did not supply.
    UnknownPreKey(String),
    /// The sender key record has no state with this key id, or none that can send.
    NoSenderKey(String),
    /// A serialized record or a caller argument is invalid.
    InvalidArgument(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidKey(reason) => write!(f, "invalid key: {reason}"),
            Error::InvalidSignature => write!(f, "signature does not verify"),
            Error::InvalidMessage => write!(f, "message failed to decrypt"),
            Error::MalformedMessage(reason) => write!(f, "malformed message: {reason}"),
            Error::UnsupportedVersion(byte) => write!(
                f,
                "unsupported message version byte 0x{byte:02x}; only version 3 (0x33) is supported"
            ),
            Error::DuplicateMessage {
                chain_index,
                counter,
            } => write!(
                f,
                "duplicate message: counter {counter} was already decrypted \
                 (chain is at {chain_index})"
            ),
            Error::MessageTooFarInFuture {
                chain_index,
                counter,
            } => write!(
                f,
                "message counter {counter} is more than {} ahead of the chain at {chain_index}",
                crate::MAX_FORWARD_JUMP
            ),
            Error::NoSession => write!(f, "no session state can handle this message"),
            Error::UnknownPreKey(what) => write!(f, "unknown prekey: {what}"),
            Error::NoSenderKey(what) => write!(f, "no sender key: {what}"),
            Error::InvalidArgument(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
