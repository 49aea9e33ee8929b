//! Conversion of session records to and from this crate's own storage protobufs.
//!
//! Deserialization checks every key length and every limit, so that a damaged or foreign
//! record is rejected when loaded instead of failing later in the middle of a decrypt.

use std::collections::VecDeque;

use prost::Message;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::kdf::ChainKey;
use crate::keys::PrivateKey;
use crate::keys::PublicKey;
use crate::proto::{
    PendingPreKeyProto, ReceiverChainProto, SenderChainProto, SenderKeyRecordProto,
    SenderKeyStateProto, SessionRecordProto, SessionStateProto, SkippedKeyProto,
};
use crate::sender_keys::{SenderKeyRecord, SenderKeyState};
use crate::session::{
    check_session_version, PendingPreKey, ReceiverChain, SenderChain, SessionRecord, SessionState,
    SkippedKey,
};
use crate::wire::CURRENT_VERSION;
use crate::{
    MAX_ARCHIVED_STATES, MAX_RECEIVER_CHAINS, MAX_SENDER_KEY_STATES, MAX_SKIPPED_KEYS_PER_CHAIN,
};

fn invalid(what: &str) -> Error {
    Error::InvalidArgument(format!("invalid serialized record: {what}"))
}

pub(crate) fn array32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes).map_err(|_| invalid(&format!("{what} is not 32 bytes")))
}

pub(crate) fn stored_public_key(bytes: &[u8], what: &str) -> Result<PublicKey> {
    PublicKey::deserialize(bytes)
        .map_err(|_| invalid(&format!("{what} is not a 33-byte public key")))
}

pub(crate) fn skipped_to_proto(skipped: &SkippedKey) -> SkippedKeyProto {
    SkippedKeyProto {
        index: skipped.index,
        seed: skipped.seed.to_vec(),
    }
}

pub(crate) fn skipped_from_proto(protos: &[SkippedKeyProto]) -> Result<VecDeque<SkippedKey>> {
    if protos.len() > MAX_SKIPPED_KEYS_PER_CHAIN {
        return Err(invalid(
            "a chain stores more skipped keys than MAX_SKIPPED_KEYS_PER_CHAIN",
        ));
    }
    protos
        .iter()
        .map(|proto| {
            Ok(SkippedKey {
                index: proto.index,
                seed: array32(&proto.seed, "skipped key seed")?,
            })
        })
        .collect()
}

fn state_to_proto(state: &SessionState) -> SessionStateProto {
    let sender = &state.sender_chain;
    SessionStateProto {
        session_version: u32::from(CURRENT_VERSION),
        remote_identity_key: state.remote_identity.serialize().to_vec(),
        root_key: state.root_key.to_vec(),
        previous_counter: state.previous_counter,
        sender_chain: Some(SenderChainProto {
            ratchet_public: sender.ratchet_public.map(|key| key.serialize().to_vec()),
            ratchet_private: sender.ratchet_private.as_bytes().to_vec(),
            chain_key: sender.chain_key.as_ref().map(|chain| chain.key.to_vec()),
            index: sender.chain_key.as_ref().map_or(0, |chain| chain.index),
        }),
        receiver_chains: state
            .receiver_chains
            .iter()
            .map(|chain| ReceiverChainProto {
                ratchet_public: chain.ratchet_key.serialize().to_vec(),
                chain_key: chain.chain_key.key.to_vec(),
                index: chain.chain_key.index,
                skipped: chain.skipped.iter().map(skipped_to_proto).collect(),
            })
            .collect(),
        pending_prekey: state
            .pending_prekey
            .as_ref()
            .map(|pending| PendingPreKeyProto {
                prekey_id: pending.prekey_id,
                signed_prekey_id: pending.signed_prekey_id,
                base_key: pending.base_key.serialize().to_vec(),
            }),
        local_registration_id: state.local_registration_id,
        remote_registration_id: state.remote_registration_id,
        alice_base_key: state.alice_base_key.serialize().to_vec(),
    }
}

fn state_from_proto(proto: &SessionStateProto) -> Result<SessionState> {
    check_session_version(proto.session_version)?;
    let sender = proto
        .sender_chain
        .as_ref()
        .ok_or_else(|| invalid("state has no sending chain"))?;
    if proto.receiver_chains.len() > MAX_RECEIVER_CHAINS {
        return Err(invalid(
            "state has more receiving chains than MAX_RECEIVER_CHAINS",
        ));
    }
    let receiver_chains = proto
        .receiver_chains
        .iter()
        .map(|chain| {
            Ok(ReceiverChain {
                ratchet_key: stored_public_key(&chain.ratchet_public, "receiving ratchet key")?,
                prepared_ratchet_key: None,
                chain_key: ChainKey {
                    key: array32(&chain.chain_key, "receiving chain key")?,
                    index: chain.index,
                },
                skipped: skipped_from_proto(&chain.skipped)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if sender.chain_key.is_none() && receiver_chains.is_empty() {
        return Err(invalid("deferred sending chain without a receiving chain"));
    }
    if sender.chain_key.is_some() && sender.ratchet_public.is_none() {
        return Err(invalid("sending chain without its ratchet public key"));
    }
    let pending_prekey = match &proto.pending_prekey {
        None => None,
        Some(pending) => Some(PendingPreKey {
            prekey_id: pending.prekey_id,
            signed_prekey_id: pending.signed_prekey_id,
            base_key: stored_public_key(&pending.base_key, "pending base key")?,
        }),
    };
    Ok(SessionState {
        remote_identity: stored_public_key(&proto.remote_identity_key, "remote identity key")?,
        root_key: Zeroizing::new(array32(&proto.root_key, "root key")?),
        previous_counter: proto.previous_counter,
        sender_chain: SenderChain {
            ratchet_private: PrivateKey::deserialize(&sender.ratchet_private)
                .map_err(|_| invalid("sending ratchet private key"))?,
            ratchet_public: match &sender.ratchet_public {
                None => None,
                Some(bytes) => Some(stored_public_key(bytes, "sending ratchet public key")?),
            },
            chain_key: match &sender.chain_key {
                None => None,
                Some(key) => Some(ChainKey {
                    key: array32(key, "sending chain key")?,
                    index: sender.index,
                }),
            },
        },
        receiver_chains,
        pending_prekey,
        local_registration_id: proto.local_registration_id,
        remote_registration_id: proto.remote_registration_id,
        alice_base_key: stored_public_key(&proto.alice_base_key, "base key")?,
    })
}

impl SessionRecord {
    /// Serializes the record (deterministic: equal records give equal bytes).
    pub fn serialize(&self) -> Vec<u8> {
        let proto = SessionRecordProto {
            current: self.current.as_ref().map(state_to_proto),
            previous: self.previous.iter().map(state_to_proto).collect(),
        };
        proto.encode_to_vec()
    }

    /// Parses a record written by `serialize`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let proto =
            SessionRecordProto::decode(bytes).map_err(|_| invalid("not a valid protobuf"))?;
        if proto.previous.len() > MAX_ARCHIVED_STATES {
            return Err(invalid("more archived states than MAX_ARCHIVED_STATES"));
        }
        let current = proto.current.as_ref().map(state_from_proto).transpose()?;
        let previous = proto
            .previous
            .iter()
            .map(state_from_proto)
            .collect::<Result<_>>()?;
        Ok(SessionRecord { current, previous })
    }
}

impl SenderKeyRecord {
    /// Serializes the record (deterministic: equal records give equal bytes).
    pub fn serialize(&self) -> Vec<u8> {
        let proto = SenderKeyRecordProto {
            states: self
                .states
                .iter()
                .map(|state| SenderKeyStateProto {
                    key_id: state.key_id,
                    iteration: state.chain_key.index,
                    chain_key: state.chain_key.key.to_vec(),
                    signing_public: state.signing_public.serialize().to_vec(),
                    signing_private: state
                        .signing_private
                        .as_ref()
                        .map(|private| private.as_bytes().to_vec()),
                    skipped: state.skipped.iter().map(skipped_to_proto).collect(),
                })
                .collect(),
        };
        proto.encode_to_vec()
    }

    /// Parses a record written by `serialize`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let proto =
            SenderKeyRecordProto::decode(bytes).map_err(|_| invalid("not a valid protobuf"))?;
        if proto.states.len() > MAX_SENDER_KEY_STATES {
            return Err(invalid("more sender key states than MAX_SENDER_KEY_STATES"));
        }
        let states = proto
            .states
            .iter()
            .map(|state| {
                let signing_private = match &state.signing_private {
                    None => None,
                    Some(bytes) => Some(
                        PrivateKey::deserialize(bytes)
                            .map_err(|_| invalid("signing private key"))?,
                    ),
                };
                Ok(SenderKeyState::new(
                    state.key_id,
                    ChainKey {
                        key: array32(&state.chain_key, "sender chain key")?,
                        index: state.iteration,
                    },
                    stored_public_key(&state.signing_public, "signing public key")?,
                    signing_private,
                    skipped_from_proto(&state.skipped)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(SenderKeyRecord { states })
    }
}
