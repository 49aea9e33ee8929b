//! The one error type of the media crate.

use std::fmt;
use std::io;

/// Reason a media operation failed. The binding maps each variant to one Python exception class.
#[derive(Debug)]
pub enum MediaError {
    /// A media key is not 32 bytes long.
    InvalidMediaKey { length: usize },
    /// A media type name is not one of `MediaType::all()` or its aliases.
    UnknownMediaType(String),
    /// An expected hash or other argument is malformed; the message names it.
    InvalidArgument(String),
    /// SHA-256 of the encrypted blob differs from the expected `file_enc_sha256`.
    EncHashMismatch,
    /// The HMAC over IV and ciphertext does not match: wrong key, wrong media type or a changed
    /// blob.
    MacMismatch,
    /// The blob passed its hash and MAC checks but is not valid AES-CBC with PKCS#7 padding, or
    /// is shorter than one block plus the MAC. Only a broken sender produces this.
    MalformedBlob(String),
    /// SHA-256 of the decrypted plaintext differs from the expected `file_sha256`.
    PlaintextHashMismatch,
    /// A sidecar window MAC does not match during a range decryption.
    SidecarMismatch { window: u64 },
    /// Reading or writing a file failed; `context` names the operation and path.
    Io { context: String, source: io::Error },
    /// OpenSSL reported an error in the cipher.
    Cipher(String),
    /// A worker thread of the streaming pipeline panicked; this is a bug in cipherpost.
    WorkerPanicked,
}

impl MediaError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> MediaError {
        MediaError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::InvalidMediaKey { length } => {
                write!(f, "media key must be 32 bytes, got {length}")
            }
            MediaError::UnknownMediaType(name) => write!(
                f,
                "unknown media type {name:?}; use one of: {}",
                crate::MediaType::all()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            MediaError::InvalidArgument(message) => f.write_str(message),
            MediaError::EncHashMismatch => f.write_str(
                "SHA-256 of the encrypted file does not match file_enc_sha256: the download is \
                 corrupt or is not the announced file",
            ),
            MediaError::MacMismatch => f.write_str(
                "media MAC check failed: wrong media key or media type, or the file was changed",
            ),
            MediaError::MalformedBlob(detail) => write!(f, "malformed encrypted media: {detail}"),
            MediaError::PlaintextHashMismatch => f.write_str(
                "SHA-256 of the decrypted file does not match file_sha256: the sender announced \
                 a different file",
            ),
            MediaError::SidecarMismatch { window } => write!(
                f,
                "sidecar MAC of streaming window {window} does not match: wrong key, media type \
                 or sidecar, or the file was changed"
            ),
            MediaError::Io { context, source } => write!(f, "{context}: {source}"),
            MediaError::Cipher(detail) => write!(f, "AES-256-CBC failed: {detail}"),
            MediaError::WorkerPanicked => f.write_str(
                "a media worker thread panicked (a bug in cipherpost; please report it)",
            ),
        }
    }
}

impl std::error::Error for MediaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MediaError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<openssl::error::ErrorStack> for MediaError {
    fn from(error: openssl::error::ErrorStack) -> MediaError {
        MediaError::Cipher(error.to_string())
    }
}
