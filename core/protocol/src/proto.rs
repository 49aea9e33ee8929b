//! Protobuf messages, written by hand with `prost` derives (no `protoc` needed).
//!
//! The wire messages follow libsignal's `WhisperTextProtocol.proto` (proto2, every field
//! optional) field for field. The storage messages are this crate's own format: libsignal's
//! storage format is not part of the wire protocol, and this one stores message key seeds
//! (32 bytes) instead of the derived 80-byte keys.

use prost::Message;
use zeroize::Zeroize;

// --- wire format (libsignal v3) -------------------------------------------------------------

/// `SignalMessage` (libsignal's `WhisperMessage`).
#[derive(Clone, PartialEq, Message)]
pub struct SignalMessageProto {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ratchet_key: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "2")]
    pub counter: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub previous_counter: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

/// `PreKeySignalMessage` (libsignal's `PreKeyWhisperMessage`).
#[derive(Clone, PartialEq, Message)]
pub struct PreKeySignalMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub prekey_id: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub base_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub identity_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub message: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "5")]
    pub registration_id: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub signed_prekey_id: Option<u32>,
}

/// `SenderKeyMessage`.
#[derive(Clone, PartialEq, Message)]
pub struct SenderKeyMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub iteration: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub ciphertext: Option<Vec<u8>>,
}

/// `SenderKeyDistributionMessage`. Carries a chain key, so it is wiped on drop.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct SenderKeyDistributionMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub iteration: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub chain_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub signing_key: Option<Vec<u8>>,
}

impl Drop for SenderKeyDistributionMessageProto {
    fn drop(&mut self) {
        self.chain_key.zeroize();
    }
}

/// `LogicalFingerprint` of libsignal's `FingerprintProtocol.proto`.
#[derive(Clone, PartialEq, Message)]
pub struct LogicalFingerprintProto {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub content: Option<Vec<u8>>,
}

/// `CombinedFingerprints`, the payload of the scannable (QR code) fingerprint.
#[derive(Clone, PartialEq, Message)]
pub struct CombinedFingerprintsProto {
    #[prost(uint32, optional, tag = "1")]
    pub version: Option<u32>,
    #[prost(message, optional, tag = "2")]
    pub local_fingerprint: Option<LogicalFingerprintProto>,
    #[prost(message, optional, tag = "3")]
    pub remote_fingerprint: Option<LogicalFingerprintProto>,
}

// --- storage format (this crate's own) ------------------------------------------------------

/// A session with one remote device: the current state and archived ones, newest first.
#[derive(Clone, PartialEq, Message)]
pub struct SessionRecordProto {
    #[prost(message, optional, tag = "1")]
    pub current: Option<SessionStateProto>,
    #[prost(message, repeated, tag = "2")]
    pub previous: Vec<SessionStateProto>,
}

/// One Double Ratchet session state.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct SessionStateProto {
    #[prost(uint32, tag = "1")]
    pub session_version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub remote_identity_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub root_key: Vec<u8>,
    #[prost(uint32, tag = "4")]
    pub previous_counter: u32,
    #[prost(message, optional, tag = "5")]
    pub sender_chain: Option<SenderChainProto>,
    #[prost(message, repeated, tag = "6")]
    pub receiver_chains: Vec<ReceiverChainProto>,
    #[prost(message, optional, tag = "7")]
    pub pending_prekey: Option<PendingPreKeyProto>,
    #[prost(uint32, tag = "8")]
    pub local_registration_id: u32,
    #[prost(uint32, tag = "9")]
    pub remote_registration_id: u32,
    #[prost(bytes = "vec", tag = "10")]
    pub alice_base_key: Vec<u8>,
}

impl Drop for SessionStateProto {
    fn drop(&mut self) {
        self.root_key.zeroize();
    }
}

/// Our sending chain: our current ratchet key pair and chain key.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct SenderChainProto {
    /// Absent until the deferred step computes it.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ratchet_public: Option<Vec<u8>>,
    #[prost(bytes = "vec", tag = "2")]
    pub ratchet_private: Vec<u8>,
    /// Absent while the DH step that starts the chain is deferred.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub chain_key: Option<Vec<u8>>,
    #[prost(uint32, tag = "4")]
    pub index: u32,
}

impl Drop for SenderChainProto {
    fn drop(&mut self) {
        self.ratchet_private.zeroize();
        self.chain_key.zeroize();
    }
}

/// A receiving chain for one of the peer's ratchet keys, with its skipped message keys.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct ReceiverChainProto {
    #[prost(bytes = "vec", tag = "1")]
    pub ratchet_public: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub chain_key: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub index: u32,
    #[prost(message, repeated, tag = "4")]
    pub skipped: Vec<SkippedKeyProto>,
}

impl Drop for ReceiverChainProto {
    fn drop(&mut self) {
        self.chain_key.zeroize();
    }
}

/// The message key seed of a message that has not arrived yet, by counter.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct SkippedKeyProto {
    #[prost(uint32, tag = "1")]
    pub index: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub seed: Vec<u8>,
}

impl Drop for SkippedKeyProto {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

/// The prekeys an initiator names in every message until the first reply arrives.
#[derive(Clone, PartialEq, Message)]
pub struct PendingPreKeyProto {
    #[prost(uint32, optional, tag = "1")]
    pub prekey_id: Option<u32>,
    #[prost(uint32, tag = "2")]
    pub signed_prekey_id: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub base_key: Vec<u8>,
}

/// The Sender Key states of one (group, sender device), newest first.
#[derive(Clone, PartialEq, Message)]
pub struct SenderKeyRecordProto {
    #[prost(message, repeated, tag = "1")]
    pub states: Vec<SenderKeyStateProto>,
}

/// One Sender Key chain: key id, chain key, signing key and skipped message key seeds.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct SenderKeyStateProto {
    #[prost(uint32, tag = "1")]
    pub key_id: u32,
    #[prost(uint32, tag = "2")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub chain_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub signing_public: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub signing_private: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "6")]
    pub skipped: Vec<SkippedKeyProto>,
}

impl Drop for SenderKeyStateProto {
    fn drop(&mut self) {
        self.chain_key.zeroize();
        self.signing_private.zeroize();
    }
}

/// Implements `Debug` without the secret fields, which prost's derive would print.
macro_rules! debug_without_secrets {
    ($name:ident { $($field:ident),* }) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

debug_without_secrets!(SenderKeyDistributionMessageProto {
    id,
    iteration,
    signing_key
});
debug_without_secrets!(SessionStateProto {
    session_version,
    remote_identity_key,
    previous_counter,
    sender_chain,
    receiver_chains,
    pending_prekey,
    local_registration_id,
    remote_registration_id,
    alice_base_key
});
debug_without_secrets!(SenderChainProto {
    ratchet_public,
    index
});
debug_without_secrets!(ReceiverChainProto {
    ratchet_public,
    index,
    skipped
});
debug_without_secrets!(SkippedKeyProto { index });
debug_without_secrets!(SenderKeyStateProto {
    key_id,
    iteration,
    signing_public,
    skipped
});

/// Encodes `message` into a new vector.
pub fn encode<M: Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_omits_secret_fields() {
        let chain = SenderChainProto {
            ratchet_public: Some(vec![5; 33]),
            ratchet_private: vec![0xAB; 32],
            chain_key: Some(vec![0xCD; 32]),
            index: 7,
        };
        let shown = format!("{chain:?}");
        assert!(shown.contains("index: 7"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(!shown.contains("205"), "{shown}");
    }
}
