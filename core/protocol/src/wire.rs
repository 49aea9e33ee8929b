//! The v3 wire format of pairwise messages: `SignalMessage` (version byte, protobuf, 8-byte MAC)
//! and `PreKeySignalMessage` (version byte, protobuf that embeds a `SignalMessage`).

use prost::Message;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::kdf::hmac_sha256;
use crate::keys::{PublicKey, PUBLIC_KEY_LENGTH};
use crate::proto::{PreKeySignalMessageProto, SignalMessageProto};

/// The protocol version this crate speaks.
pub const CURRENT_VERSION: u8 = 3;
/// Version byte of every message this crate writes: current version in both nibbles.
pub const VERSION_BYTE: u8 = (CURRENT_VERSION << 4) | CURRENT_VERSION;
/// Length of the truncated HMAC-SHA256 that ends a `SignalMessage`.
pub const MAC_LENGTH: usize = 8;

/// Checks the version byte: like libsignal, only the high nibble (the message version) counts.
pub fn check_version(serialized: &[u8]) -> Result<()> {
    match serialized.first() {
        None => Err(Error::MalformedMessage("message is empty")),
        Some(&byte) if byte >> 4 == CURRENT_VERSION => Ok(()),
        Some(&byte) => Err(Error::UnsupportedVersion(byte)),
    }
}

/// A parsed `SignalMessage` that still refers to its serialized bytes for the MAC check.
#[derive(Debug, Clone)]
pub struct SignalMessage<'a> {
    pub ratchet_key: PublicKey,
    pub counter: u32,
    pub previous_counter: u32,
    pub ciphertext: Vec<u8>,
    /// Version byte and protobuf: the bytes the MAC covers after the two identity keys.
    authenticated: &'a [u8],
    mac: [u8; MAC_LENGTH],
}

impl<'a> SignalMessage<'a> {
    /// Parses version byte, protobuf and MAC; all of ratchet key, counter and ciphertext must
    /// be present, as libsignal requires.
    pub fn parse(serialized: &'a [u8]) -> Result<Self> {
        check_version(serialized)?;
        if serialized.len() < 1 + MAC_LENGTH {
            return Err(Error::MalformedMessage(
                "SignalMessage is shorter than version byte and MAC",
            ));
        }
        let (authenticated, mac_bytes) = serialized.split_at(serialized.len() - MAC_LENGTH);
        let proto = SignalMessageProto::decode(&authenticated[1..])
            .map_err(|_| Error::MalformedMessage("SignalMessage is not a valid protobuf"))?;
        let (Some(ratchet_key), Some(counter), Some(ciphertext)) =
            (proto.ratchet_key, proto.counter, proto.ciphertext)
        else {
            return Err(Error::MalformedMessage(
                "SignalMessage lacks a ratchet key, counter or ciphertext",
            ));
        };
        let ratchet_key = PublicKey::deserialize(&ratchet_key)
            .map_err(|_| Error::MalformedMessage("SignalMessage ratchet key is not a valid key"))?;
        let mut mac = [0u8; MAC_LENGTH];
        mac.copy_from_slice(mac_bytes);
        Ok(SignalMessage {
            ratchet_key,
            counter,
            previous_counter: proto.previous_counter.unwrap_or(0),
            ciphertext,
            authenticated,
            mac,
        })
    }

    /// Checks the truncated MAC over sender identity, receiver identity, version byte and
    /// protobuf, in constant time.
    pub fn verify_mac(
        &self,
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
        mac_key: &[u8; 32],
    ) -> bool {
        let expected = compute_mac(
            sender_identity,
            receiver_identity,
            mac_key,
            self.authenticated,
        );
        expected[..MAC_LENGTH].ct_eq(&self.mac).into()
    }
}

fn compute_mac(
    sender_identity: &PublicKey,
    receiver_identity: &PublicKey,
    mac_key: &[u8; 32],
    authenticated: &[u8],
) -> [u8; 32] {
    hmac_sha256(
        mac_key,
        &[
            &sender_identity.serialize(),
            &receiver_identity.serialize(),
            authenticated,
        ],
    )
}

/// Writes a `SignalMessage`: version byte, protobuf, then the MAC computed with `mac_key`.
pub fn encode_signal_message(
    ratchet_key: &PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: &[u8],
    mac_key: &[u8; 32],
    sender_identity: &PublicKey,
    receiver_identity: &PublicKey,
) -> Vec<u8> {
    // The protobuf is encoded by hand here, field by field in tag order as protobuf-java
    // writes it, so that the ciphertext is copied once instead of through a temporary Vec.
    let mut out =
        Vec::with_capacity(1 + 2 + PUBLIC_KEY_LENGTH + 12 + 6 + ciphertext.len() + MAC_LENGTH);
    out.push(VERSION_BYTE);
    out.push(0x0A); // field 1, length-delimited
    prost::encoding::encode_varint(PUBLIC_KEY_LENGTH as u64, &mut out);
    out.extend_from_slice(&ratchet_key.serialize());
    out.push(0x10); // field 2, varint
    prost::encoding::encode_varint(u64::from(counter), &mut out);
    out.push(0x18); // field 3, varint
    prost::encoding::encode_varint(u64::from(previous_counter), &mut out);
    out.push(0x22); // field 4, length-delimited
    prost::encoding::encode_varint(ciphertext.len() as u64, &mut out);
    out.extend_from_slice(ciphertext);
    let mac = compute_mac(sender_identity, receiver_identity, mac_key, &out);
    out.extend_from_slice(&mac[..MAC_LENGTH]);
    out
}

/// A parsed `PreKeySignalMessage`; `message` is the embedded serialized `SignalMessage`.
#[derive(Debug, Clone)]
pub struct PreKeySignalMessage {
    pub registration_id: u32,
    pub prekey_id: Option<u32>,
    pub signed_prekey_id: u32,
    pub base_key: PublicKey,
    pub identity_key: PublicKey,
    pub message: Vec<u8>,
}

impl PreKeySignalMessage {
    /// Parses the header. Base key, identity key, signed prekey id and the embedded message
    /// are required, as in libsignal's v3 parser. A missing registration id reads as 0.
    pub fn parse(serialized: &[u8]) -> Result<Self> {
        check_version(serialized)?;
        let proto = PreKeySignalMessageProto::decode(&serialized[1..])
            .map_err(|_| Error::MalformedMessage("PreKeySignalMessage is not a valid protobuf"))?;
        let (Some(base_key), Some(identity_key), Some(signed_prekey_id), Some(message)) = (
            proto.base_key,
            proto.identity_key,
            proto.signed_prekey_id,
            proto.message,
        ) else {
            return Err(Error::MalformedMessage(
                "PreKeySignalMessage lacks a base key, identity key, signed prekey id or message",
            ));
        };
        let base_key = PublicKey::deserialize(&base_key).map_err(|_| {
            Error::MalformedMessage("PreKeySignalMessage base key is not a valid key")
        })?;
        let identity_key = PublicKey::deserialize(&identity_key).map_err(|_| {
            Error::MalformedMessage("PreKeySignalMessage identity key is not a valid key")
        })?;
        Ok(PreKeySignalMessage {
            registration_id: proto.registration_id.unwrap_or(0),
            prekey_id: proto.prekey_id,
            signed_prekey_id,
            base_key,
            identity_key,
            message,
        })
    }

    /// Writes version byte and protobuf.
    pub fn encode(&self) -> Vec<u8> {
        let proto = PreKeySignalMessageProto {
            prekey_id: self.prekey_id,
            base_key: Some(self.base_key.serialize().to_vec()),
            identity_key: Some(self.identity_key.serialize().to_vec()),
            message: Some(self.message.clone()),
            registration_id: Some(self.registration_id),
            signed_prekey_id: Some(self.signed_prekey_id),
        };
        let mut out = Vec::with_capacity(1 + proto.encoded_len());
        out.push(VERSION_BYTE);
        // Writing into a Vec cannot run out of space.
        let _ = proto.encode(&mut out);
        out
    }
}
