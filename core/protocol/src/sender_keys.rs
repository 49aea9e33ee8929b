//! Sender Keys for groups, in the libsignal v3 layout.
//!
//! Each group member sends with its own chain. A `SenderKeyDistributionMessage` (key id,
//! iteration, chain key, signing public key) goes to every member over pairwise sessions. Each
//! `SenderKeyMessage` (key id, iteration, AES-256-CBC ciphertext) then carries a 64-byte XEdDSA
//! signature over version byte and protobuf.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use prost::Message;
use rand_core::{CryptoRng, RngCore};

use crate::error::{Error, Result};
use crate::kdf::{aes_cbc_decrypt, aes_cbc_encrypt, ChainKey, SenderMessageKeys};
use crate::keys::{KeyPair, PrivateKey, PublicKey};
use crate::proto::{SenderKeyDistributionMessageProto, SenderKeyMessageProto};
use crate::session::{step_to, SkippedKey};
use crate::wire::{check_version, VERSION_BYTE};
use crate::xeddsa::{signature_sign_bit, SigningKey, VerifyingKey, SIGNATURE_LENGTH};
use crate::{MAX_SENDER_KEY_STATES, MAX_SKIPPED_KEYS_PER_CHAIN};

/// Largest key id `create_distribution_message` draws: libsignal-protocol-java draws ids with
/// `nextInt(Integer.MAX_VALUE)`, so ids stay below 2^31 for peers that read them as signed.
const MAX_SENDER_KEY_ID: u32 = 0x7FFF_FFFE;

/// One sender's chain within a group.
#[derive(Clone)]
pub(crate) struct SenderKeyState {
    pub(crate) key_id: u32,
    pub(crate) chain_key: ChainKey,
    pub(crate) signing_public: PublicKey,
    /// Present only in our own sending state.
    pub(crate) signing_private: Option<PrivateKey>,
    /// Skipped message key seeds, oldest first, at most `MAX_SKIPPED_KEYS_PER_CHAIN`.
    pub(crate) skipped: VecDeque<SkippedKey>,
    /// Prepared signing key, built on the first encrypt; not serialized.
    signing_cache: Option<Arc<SigningKey>>,
    /// Prepared verifying key for the sign bit last seen; not serialized.
    verifying_cache: Option<VerifyingKey>,
}

impl SenderKeyState {
    pub(crate) fn new(
        key_id: u32,
        chain_key: ChainKey,
        signing_public: PublicKey,
        signing_private: Option<PrivateKey>,
        skipped: VecDeque<SkippedKey>,
    ) -> Self {
        SenderKeyState {
            key_id,
            chain_key,
            signing_public,
            signing_private,
            skipped,
            signing_cache: None,
            verifying_cache: None,
        }
    }

    fn verify(&mut self, signed: &[u8], signature: &[u8; SIGNATURE_LENGTH]) -> bool {
        let sign_bit = signature_sign_bit(signature);
        let cached = self
            .verifying_cache
            .as_ref()
            .filter(|key| key.sign_bit() == sign_bit);
        let key = match cached {
            Some(key) => key,
            None => match VerifyingKey::new(&self.signing_public, sign_bit) {
                Some(key) => self.verifying_cache.insert(key),
                None => return false,
            },
        };
        key.verify(&[signed], signature)
    }
}

impl fmt::Debug for SenderKeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyState")
            .field("key_id", &self.key_id)
            .field("iteration", &self.chain_key.index)
            .field("signing_public", &self.signing_public)
            .field("can_send", &self.signing_private.is_some())
            .field("skipped_keys", &self.skipped.len())
            .finish()
    }
}

/// The Sender Key states of one (group, sender device), newest first, at most
/// `MAX_SENDER_KEY_STATES`.
#[derive(Clone, Default, Debug)]
pub struct SenderKeyRecord {
    pub(crate) states: VecDeque<SenderKeyState>,
}

/// A parsed `SenderKeyDistributionMessage`.
struct DistributionMessage {
    key_id: u32,
    chain_key: ChainKey,
    signing_key: PublicKey,
}

fn parse_distribution_message(serialized: &[u8]) -> Result<DistributionMessage> {
    check_version(serialized)?;
    let proto = SenderKeyDistributionMessageProto::decode(&serialized[1..]).map_err(|_| {
        Error::MalformedMessage("SenderKeyDistributionMessage is not a valid protobuf")
    })?;
    let (Some(key_id), Some(iteration), Some(chain_key), Some(signing_key)) = (
        proto.id,
        proto.iteration,
        proto.chain_key.as_ref(),
        proto.signing_key.as_ref(),
    ) else {
        return Err(Error::MalformedMessage(
            "SenderKeyDistributionMessage lacks an id, iteration, chain key or signing key",
        ));
    };
    let key = <[u8; 32]>::try_from(chain_key.as_slice()).map_err(|_| {
        Error::MalformedMessage("SenderKeyDistributionMessage chain key is not 32 bytes")
    })?;
    let signing_key = PublicKey::deserialize(signing_key).map_err(|_| {
        Error::MalformedMessage("SenderKeyDistributionMessage signing key is not a valid key")
    })?;
    Ok(DistributionMessage {
        key_id,
        chain_key: ChainKey {
            key,
            index: iteration,
        },
        signing_key,
    })
}

fn encode_distribution_message(state: &SenderKeyState) -> Vec<u8> {
    let proto = SenderKeyDistributionMessageProto {
        id: Some(state.key_id),
        iteration: Some(state.chain_key.index),
        chain_key: Some(state.chain_key.key.to_vec()),
        signing_key: Some(state.signing_public.serialize().to_vec()),
    };
    let mut out = Vec::with_capacity(1 + proto.encoded_len());
    out.push(VERSION_BYTE);
    // Writing into a Vec cannot run out of space.
    let _ = proto.encode(&mut out);
    out
}

impl SenderKeyRecord {
    /// Creates an empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when the record has no state.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Number of states.
    pub fn state_count(&self) -> usize {
        self.states.len()
    }

    fn push_state(&mut self, state: SenderKeyState) {
        self.states.push_front(state);
        self.states.truncate(MAX_SENDER_KEY_STATES);
    }

    /// Creates our sending state if the newest state cannot send (random key id, chain key
    /// and signing key), and returns a `SenderKeyDistributionMessage` for the sending state at
    /// its current iteration.
    pub fn create_distribution_message<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Vec<u8> {
        let can_send = self
            .states
            .front()
            .is_some_and(|state| state.signing_private.is_some());
        if !can_send {
            let key_id = rng.next_u32() % (MAX_SENDER_KEY_ID + 1);
            let mut key = [0u8; 32];
            rng.fill_bytes(&mut key);
            let signing = KeyPair::generate(rng);
            let state = SenderKeyState::new(
                key_id,
                ChainKey { key, index: 0 },
                signing.public_key,
                Some(signing.private_key.clone()),
                VecDeque::new(),
            );
            zeroize::Zeroize::zeroize(&mut key);
            self.push_state(state);
        }
        match self.states.front() {
            Some(state) => encode_distribution_message(state),
            None => Vec::new(),
        }
    }

    /// Adds the state a member announced. A repeated message for a key id we already hold
    /// with the same signing key changes nothing, so that a late copy cannot rewind the chain.
    /// A new signing key under an old key id replaces that state.
    pub fn process_distribution_message(&mut self, message: &[u8]) -> Result<()> {
        let message = parse_distribution_message(message)?;
        if let Some(position) = self
            .states
            .iter()
            .position(|state| state.key_id == message.key_id)
        {
            if self.states[position].signing_public == message.signing_key {
                return Ok(());
            }
            self.states.remove(position);
        }
        self.push_state(SenderKeyState::new(
            message.key_id,
            message.chain_key.clone(),
            message.signing_key,
            None,
            VecDeque::new(),
        ));
        Ok(())
    }

    /// Encrypts and signs with our sending state; returns a serialized `SenderKeyMessage`.
    pub fn encrypt<R: RngCore + CryptoRng>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let state = self
            .states
            .front_mut()
            .filter(|state| state.signing_private.is_some())
            .ok_or_else(|| {
                Error::NoSenderKey(
                    "this record has no sending state; call create_distribution_message first"
                        .into(),
                )
            })?;
        let signing_key = match (&state.signing_cache, &state.signing_private) {
            (Some(cached), _) => Arc::clone(cached),
            (None, Some(private)) => {
                let prepared = Arc::new(SigningKey::new(private));
                state.signing_cache = Some(Arc::clone(&prepared));
                prepared
            }
            (None, None) => return Err(Error::NoSenderKey("no signing key".into())),
        };

        let (seed, next) = state.chain_key.step();
        let keys = SenderMessageKeys::derive(&seed);
        let ciphertext = aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);

        let mut out = Vec::with_capacity(1 + 16 + ciphertext.len() + SIGNATURE_LENGTH);
        out.push(VERSION_BYTE);
        out.push(0x08); // field 1 (id), varint
        prost::encoding::encode_varint(u64::from(state.key_id), &mut out);
        out.push(0x10); // field 2 (iteration), varint
        prost::encoding::encode_varint(u64::from(state.chain_key.index), &mut out);
        out.push(0x1A); // field 3 (ciphertext), length-delimited
        prost::encoding::encode_varint(ciphertext.len() as u64, &mut out);
        out.extend_from_slice(&ciphertext);
        let signature = signing_key.sign(&[&out], rng);
        out.extend_from_slice(&signature);

        state.chain_key = next;
        Ok(out)
    }

    /// Verifies and decrypts a serialized `SenderKeyMessage`. Changes the record only when
    /// decryption succeeds.
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        check_version(message)?;
        if message.len() < 1 + SIGNATURE_LENGTH {
            return Err(Error::MalformedMessage(
                "SenderKeyMessage is shorter than version byte and signature",
            ));
        }
        let (signed, signature) = message.split_at(message.len() - SIGNATURE_LENGTH);
        let proto = SenderKeyMessageProto::decode(&signed[1..])
            .map_err(|_| Error::MalformedMessage("SenderKeyMessage is not a valid protobuf"))?;
        let (Some(key_id), Some(iteration), Some(ciphertext)) =
            (proto.id, proto.iteration, proto.ciphertext)
        else {
            return Err(Error::MalformedMessage(
                "SenderKeyMessage lacks an id, iteration or ciphertext",
            ));
        };
        let mut signature_bytes = [0u8; SIGNATURE_LENGTH];
        signature_bytes.copy_from_slice(signature);

        let state = self
            .states
            .iter_mut()
            .find(|state| state.key_id == key_id)
            .ok_or_else(|| {
                Error::NoSenderKey(format!("no sender key state with key id {key_id}"))
            })?;
        if !state.verify(signed, &signature_bytes) {
            return Err(Error::InvalidMessage);
        }

        if iteration < state.chain_key.index {
            let Some(position) = state.skipped.iter().position(|key| key.index == iteration) else {
                return Err(Error::DuplicateMessage {
                    chain_index: state.chain_key.index,
                    counter: iteration,
                });
            };
            let keys = SenderMessageKeys::derive(&state.skipped[position].seed);
            let plaintext = aes_cbc_decrypt(&keys.cipher_key, &keys.iv, &ciphertext)?;
            state.skipped.remove(position);
            return Ok(plaintext);
        }

        let (seed, next, skipped) = step_to(&state.chain_key, iteration)?;
        let keys = SenderMessageKeys::derive(&seed);
        let plaintext = aes_cbc_decrypt(&keys.cipher_key, &keys.iv, &ciphertext)?;
        state.chain_key = next;
        state.skipped.extend(skipped);
        while state.skipped.len() > MAX_SKIPPED_KEYS_PER_CHAIN {
            state.skipped.pop_front();
        }
        Ok(plaintext)
    }
}
