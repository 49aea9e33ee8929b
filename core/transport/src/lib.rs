//! Noise XX transport sessions between a cipherpost device and the gateway.
//!
//! The handshake is `Noise_XX_25519_ChaChaPoly_SHA256` (Noise spec revision 34, run by the
//! `snow` crate). XX authenticates both static keys, so after the third handshake message each
//! side has the other's transport public key and every later byte is AEAD-encrypted.
//!
//! On the wire every Noise message is a *record*: a 2-byte big-endian length followed by that
//! many bytes. A transport record's plaintext is at most [`MAX_RECORD_PLAINTEXT`] bytes, so
//! [`Transport::seal`] splits longer plaintext into several records, and [`Transport::open`]
//! concatenates what it decrypts. The layer above treats the plaintext as one byte stream and
//! splits its own frames out of it, so a frame may span records and a record may carry several
//! frames.
#![forbid(unsafe_code)]

use std::fmt;

use snow::{Builder, HandshakeState, TransportState};
use zeroize::{Zeroize, Zeroizing};

/// The Noise protocol name. ChaCha20-Poly1305 is constant-time without AES hardware, which
/// matters for phones and small devices that connect to the gateway.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_SHA256";

/// Maximum Noise message length, fixed by the Noise spec (section 3): 65535 bytes.
pub const MAX_NOISE_MESSAGE: usize = 65535;

/// Length of the AEAD tag that every encrypted Noise message carries.
pub const TAG_LENGTH: usize = 16;

/// Maximum plaintext in one transport record: a Noise message minus its tag.
pub const MAX_RECORD_PLAINTEXT: usize = MAX_NOISE_MESSAGE - TAG_LENGTH;

/// Size of the big-endian length prefix in front of each record.
pub const RECORD_PREFIX: usize = 2;

/// Length of X25519 keys, public and private.
pub const KEY_LENGTH: usize = 32;

/// Errors of the transport layer. None of them carries key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// A key has the wrong length.
    InvalidKey(String),
    /// A handshake message is malformed or fails to authenticate.
    Handshake(String),
    /// A record is malformed, too long, out of order or fails to decrypt.
    Decrypt,
    /// The call does not fit the current handshake state.
    State(&'static str),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::InvalidKey(message) => write!(f, "invalid transport key: {message}"),
            TransportError::Handshake(message) => write!(f, "Noise handshake failed: {message}"),
            TransportError::Decrypt => f.write_str("transport record failed to decrypt"),
            TransportError::State(message) => write!(f, "transport state error: {message}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// A device's or gateway's static Curve25519 transport key pair.
///
/// This key is separate from the Signal identity key: it only authenticates the connection.
/// The private half is zeroized on drop and `Debug` shows only the public half.
pub struct StaticKeyPair {
    private: Zeroizing<[u8; KEY_LENGTH]>,
    public: [u8; KEY_LENGTH],
}

impl StaticKeyPair {
    /// Generate a key pair from the operating system's random source.
    pub fn generate() -> Result<Self, TransportError> {
        let builder = Builder::new(noise_params()?);
        let mut pair = builder
            .generate_keypair()
            .map_err(|error| TransportError::InvalidKey(error.to_string()))?;
        let result = Self::from_private(&pair.private);
        pair.private.zeroize();
        result
    }

    /// Rebuild a key pair from its 32-byte private half.
    pub fn from_private(private: &[u8]) -> Result<Self, TransportError> {
        let bytes: [u8; KEY_LENGTH] = private.try_into().map_err(|_| {
            TransportError::InvalidKey(format!(
                "private key is {} bytes, expected {KEY_LENGTH}",
                private.len()
            ))
        })?;
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Ok(Self { private: Zeroizing::new(secret.to_bytes()), public })
    }

    pub fn public_key(&self) -> [u8; KEY_LENGTH] {
        self.public
    }

    /// The private half, for persistence in a key file only.
    pub fn private_key(&self) -> &[u8; KEY_LENGTH] {
        &self.private
    }
}

impl fmt::Debug for StaticKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

fn noise_params() -> Result<snow::params::NoiseParams, TransportError> {
    NOISE_PARAMS.parse().map_err(|_| TransportError::State("unsupported Noise parameters"))
}

/// One side of an XX handshake in progress.
///
/// Message order: the initiator writes message 1, the responder reads it and writes message 2,
/// the initiator reads 2 and writes 3, the responder reads 3. Handshake messages carry no
/// payload here; identification happens in the first encrypted frame.
pub struct Handshake {
    state: HandshakeState,
}

impl Handshake {
    pub fn initiator(local: &StaticKeyPair) -> Result<Self, TransportError> {
        Self::build(local, true)
    }

    pub fn responder(local: &StaticKeyPair) -> Result<Self, TransportError> {
        Self::build(local, false)
    }

    fn build(local: &StaticKeyPair, initiator: bool) -> Result<Self, TransportError> {
        let builder = Builder::new(noise_params()?).local_private_key(local.private_key().as_slice());
        let state = if initiator { builder.build_initiator() } else { builder.build_responder() }
            .map_err(|error| TransportError::Handshake(error.to_string()))?;
        Ok(Self { state })
    }

    /// Write the next handshake message (without its record prefix).
    pub fn write_message(&mut self) -> Result<Vec<u8>, TransportError> {
        if !self.state.is_my_turn() {
            return Err(TransportError::State("it is the peer's turn to send a handshake message"));
        }
        let mut buffer = vec![0u8; MAX_NOISE_MESSAGE];
        let length = self
            .state
            .write_message(&[], &mut buffer)
            .map_err(|error| TransportError::Handshake(error.to_string()))?;
        buffer.truncate(length);
        Ok(buffer)
    }

    /// Read the peer's next handshake message (without its record prefix).
    pub fn read_message(&mut self, message: &[u8]) -> Result<(), TransportError> {
        if self.state.is_my_turn() {
            return Err(TransportError::State("it is our turn to send a handshake message"));
        }
        let mut payload = Zeroizing::new(vec![0u8; MAX_NOISE_MESSAGE]);
        self.state
            .read_message(message, &mut payload)
            .map_err(|error| TransportError::Handshake(error.to_string()))?;
        Ok(())
    }

    pub fn is_finished(&self) -> bool {
        self.state.is_handshake_finished()
    }

    pub fn is_my_turn(&self) -> bool {
        self.state.is_my_turn()
    }

    /// The peer's static public key, known once the message carrying it was read.
    pub fn remote_static(&self) -> Option<[u8; KEY_LENGTH]> {
        self.state.get_remote_static().and_then(|key| key.try_into().ok())
    }

    /// Finish the handshake and return the transport session with the peer's static key.
    pub fn into_transport(self) -> Result<Transport, TransportError> {
        if !self.state.is_handshake_finished() {
            return Err(TransportError::State("handshake is not finished"));
        }
        let remote_static = self
            .remote_static()
            .ok_or(TransportError::State("peer static key is missing after the handshake"))?;
        let state = self
            .state
            .into_transport_mode()
            .map_err(|error| TransportError::Handshake(error.to_string()))?;
        Ok(Transport { state, remote_static })
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake").field("finished", &self.is_finished()).finish_non_exhaustive()
    }
}

/// An established transport session: seals outgoing plaintext into records and opens records.
pub struct Transport {
    state: TransportState,
    remote_static: [u8; KEY_LENGTH],
}

impl Transport {
    pub fn remote_static(&self) -> [u8; KEY_LENGTH] {
        self.remote_static
    }

    /// Encrypt `plaintext` into length-prefixed records of at most `MAX_RECORD_PLAINTEXT`
    /// plaintext bytes each. Empty plaintext gives no records.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, TransportError> {
        let records = plaintext.len().div_ceil(MAX_RECORD_PLAINTEXT);
        let mut output = vec![0u8; plaintext.len() + records * (RECORD_PREFIX + TAG_LENGTH)];
        let mut written = 0;
        for chunk in plaintext.chunks(MAX_RECORD_PLAINTEXT) {
            let body_start = written + RECORD_PREFIX;
            let length = self
                .state
                .write_message(chunk, &mut output[body_start..])
                .map_err(|_| TransportError::State("transport encryption failed"))?;
            let prefix = u16::try_from(length)
                .map_err(|_| TransportError::State("record longer than a Noise message"))?;
            output[written..body_start].copy_from_slice(&prefix.to_be_bytes());
            written = body_start + length;
        }
        output.truncate(written);
        Ok(output)
    }

    /// Decrypt every complete record at the start of `data`. Returns the concatenated
    /// plaintext and the number of bytes consumed; an incomplete trailing record is left for
    /// the next call. Any record that fails to decrypt is an error, and the session must then
    /// be dropped because the nonce sequence can no longer be trusted.
    pub fn open(&mut self, data: &[u8]) -> Result<(Vec<u8>, usize), TransportError> {
        let mut plaintext = Vec::with_capacity(data.len());
        let mut consumed = 0;
        let mut scratch = [0u8; MAX_NOISE_MESSAGE];
        while data.len() - consumed >= RECORD_PREFIX {
            let length = usize::from(u16::from_be_bytes([data[consumed], data[consumed + 1]]));
            if length < TAG_LENGTH {
                return Err(TransportError::Decrypt);
            }
            let start = consumed + RECORD_PREFIX;
            let end = start + length;
            if end > data.len() {
                break;
            }
            let opened = self
                .state
                .read_message(&data[start..end], &mut scratch)
                .map_err(|_| TransportError::Decrypt)?;
            plaintext.extend_from_slice(&scratch[..opened]);
            scratch[..opened].zeroize();
            consumed = end;
        }
        Ok((plaintext, consumed))
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").field("remote_static", &self.remote_static).finish_non_exhaustive()
    }
}

/// Parse a record prefix: returns the Noise message length if the prefix is complete.
pub fn record_length(data: &[u8]) -> Option<usize> {
    match data {
        [high, low, ..] => Some(usize::from(u16::from_be_bytes([*high, *low]))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Transport, Transport, [u8; 32], [u8; 32]) {
        let client_key = StaticKeyPair::generate().unwrap();
        let server_key = StaticKeyPair::generate().unwrap();
        let mut client = Handshake::initiator(&client_key).unwrap();
        let mut server = Handshake::responder(&server_key).unwrap();
        server.read_message(&client.write_message().unwrap()).unwrap();
        client.read_message(&server.write_message().unwrap()).unwrap();
        server.read_message(&client.write_message().unwrap()).unwrap();
        assert!(client.is_finished() && server.is_finished());
        (
            client.into_transport().unwrap(),
            server.into_transport().unwrap(),
            client_key.public_key(),
            server_key.public_key(),
        )
    }

    #[test]
    fn handshake_authenticates_both_static_keys() {
        let (client, server, client_public, server_public) = pair();
        assert_eq!(client.remote_static(), server_public);
        assert_eq!(server.remote_static(), client_public);
    }

    #[test]
    fn seal_open_round_trip_across_records() {
        let (mut client, mut server, _, _) = pair();
        let plaintext: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sealed = client.seal(&plaintext).unwrap();
        assert_eq!(sealed.len(), plaintext.len() + 4 * (RECORD_PREFIX + TAG_LENGTH));
        let (opened, consumed) = server.open(&sealed).unwrap();
        assert_eq!(consumed, sealed.len());
        assert_eq!(opened, plaintext);
    }

    #[test]
    fn open_keeps_partial_record() {
        let (mut client, mut server, _, _) = pair();
        let sealed = client.seal(b"hello").unwrap();
        let (opened, consumed) = server.open(&sealed[..sealed.len() - 1]).unwrap();
        assert!(opened.is_empty());
        assert_eq!(consumed, 0);
        let (opened, consumed) = server.open(&sealed).unwrap();
        assert_eq!(opened, b"hello");
        assert_eq!(consumed, sealed.len());
    }

    #[test]
    fn tampered_record_fails() {
        let (mut client, mut server, _, _) = pair();
        let mut sealed = client.seal(b"hello").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(server.open(&sealed), Err(TransportError::Decrypt));
    }

    #[test]
    fn short_record_fails() {
        let (_, mut server, _, _) = pair();
        assert_eq!(server.open(&[0, 3, 1, 2, 3]), Err(TransportError::Decrypt));
    }

    #[test]
    fn key_pair_from_private_matches() {
        let key = StaticKeyPair::generate().unwrap();
        let again = StaticKeyPair::from_private(key.private_key()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(StaticKeyPair::from_private(&[0u8; 31]).is_err());
    }

    #[test]
    fn handshake_rejects_wrong_turn() {
        let key = StaticKeyPair::generate().unwrap();
        let mut server = Handshake::responder(&key).unwrap();
        assert!(server.write_message().is_err());
        assert!(server.read_message(b"garbage").is_err());
    }
}
