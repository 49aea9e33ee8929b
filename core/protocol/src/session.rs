//! Pairwise sessions: X3DH, the Double Ratchet, and the session record with archived states.
//!
//! Decryption is transactional. `SessionState::plan_decrypt` works on copies of the one chain
//! key it needs and returns the plaintext with a `ChainUpdate`. The record applies that update
//! only after the MAC check and the decryption succeed. A failed decrypt therefore leaves the
//! record unchanged, and the fast path never copies the record.

use std::collections::VecDeque;
use std::fmt;

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::kdf::{
    aes_cbc_decrypt, aes_cbc_encrypt, derive_root_and_chain, ChainKey, MessageKeys, INFO_RATCHET,
    INFO_TEXT,
};
use crate::keys::{KeyPair, PreparedPublicKey, PrivateKey, PublicKey};
use crate::wire::{encode_signal_message, PreKeySignalMessage, SignalMessage, CURRENT_VERSION};
use crate::xeddsa::{self, signature_sign_bit, VerifyingKey};
use crate::{
    MAX_ARCHIVED_STATES, MAX_FORWARD_JUMP, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS_PER_CHAIN,
    PREKEY_MESSAGE_TYPE, SIGNAL_MESSAGE_TYPE,
};

/// The 32 bytes of 0xFF that start the X3DH key material (libsignal's "discontinuity bytes",
/// which keep X3DH output apart from an XEdDSA-style hash input).
const X3DH_PREFIX: [u8; 32] = [0xFF; 32];

/// A peer's published keys, as fetched from the server.
#[derive(Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    pub registration_id: u32,
    pub device_id: u32,
    pub prekey: Option<(u32, PublicKey)>,
    pub signed_prekey_id: u32,
    pub signed_prekey_public: PublicKey,
    pub signed_prekey_signature: Vec<u8>,
    pub identity_key: PublicKey,
}

impl fmt::Debug for PreKeyBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreKeyBundle")
            .field("registration_id", &self.registration_id)
            .field("device_id", &self.device_id)
            .field("prekey", &self.prekey)
            .field("signed_prekey_id", &self.signed_prekey_id)
            .field("identity_key", &self.identity_key)
            .finish_non_exhaustive()
    }
}

/// The message key seed of a skipped message.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SkippedKey {
    pub(crate) index: u32,
    pub(crate) seed: [u8; 32],
}

/// Our sending chain.
#[derive(Clone)]
pub(crate) struct SenderChain {
    pub(crate) ratchet_private: PrivateKey,
    /// None until the deferred step below computes it (a basepoint multiplication).
    pub(crate) ratchet_public: Option<PublicKey>,
    /// None after a DH ratchet step on receipt until the next encrypt. The DH of
    /// `ratchet_private` with the peer's newest ratchet key that starts this chain waits,
    /// because a device that only receives never needs it. The wire result is the same as
    /// libsignal's eager step.
    pub(crate) chain_key: Option<ChainKey>,
}

/// A receiving chain for one of the peer's ratchet keys.
#[derive(Clone)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain_key: ChainKey,
    /// Skipped message keys, oldest first, at most `MAX_SKIPPED_KEYS_PER_CHAIN`.
    pub(crate) skipped: VecDeque<SkippedKey>,
    /// `ratchet_key` converted for agreement when this chain came from a DH ratchet step, so
    /// that the deferred sending-chain DH skips the conversion; not serialized.
    pub(crate) prepared_ratchet_key: Option<PreparedPublicKey>,
}

/// Prekey ids and base key that the initiator names in every message until the first reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub(crate) prekey_id: Option<u32>,
    pub(crate) signed_prekey_id: u32,
    pub(crate) base_key: PublicKey,
}

/// One Double Ratchet session state.
#[derive(Clone)]
pub struct SessionState {
    pub(crate) remote_identity: PublicKey,
    pub(crate) root_key: Zeroizing<[u8; 32]>,
    pub(crate) previous_counter: u32,
    pub(crate) sender_chain: SenderChain,
    /// Receiving chains, oldest first, at most `MAX_RECEIVER_CHAINS`.
    pub(crate) receiver_chains: Vec<ReceiverChain>,
    pub(crate) pending_prekey: Option<PendingPreKey>,
    pub(crate) local_registration_id: u32,
    pub(crate) remote_registration_id: u32,
    /// The initiator's X3DH base key; it names the session in later prekey messages.
    pub(crate) alice_base_key: PublicKey,
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionState")
            .field("remote_identity", &self.remote_identity)
            .field(
                "sending_index",
                &self
                    .sender_chain
                    .chain_key
                    .as_ref()
                    .map(|chain| chain.index),
            )
            .field("receiver_chains", &self.receiver_chains.len())
            .field("alice_base_key", &self.alice_base_key)
            .finish_non_exhaustive()
    }
}

/// The change a successful decrypt makes to the state it used. It lives on the stack for one
/// call, so the size gap between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
enum ChainUpdate {
    /// The message used the skipped key at `position` of receiver chain `chain`.
    UseSkipped { chain: usize, position: usize },
    /// Receiver chain `chain` moves to `next`, storing the keys of the messages it skipped.
    Advance {
        chain: usize,
        next: ChainKey,
        skipped: Vec<SkippedKey>,
    },
    /// A new ratchet key arrived: the root key after the receiving step and the new chain.
    NewChain {
        their_ratchet_key: PublicKey,
        their_ratchet_point: PreparedPublicKey,
        /// The deferred sending chain, completed first when it was still pending.
        completed_sending_chain: Option<ChainKey>,
        root_key: Zeroizing<[u8; 32]>,
        next: ChainKey,
        skipped: Vec<SkippedKey>,
    },
}

/// Steps `chain` up to `counter`, collecting skipped keys, and returns the message key seed of
/// `counter` and the chain key after it. The caller has checked `counter >= chain.index`.
pub(crate) fn step_to(
    chain: &ChainKey,
    counter: u32,
) -> Result<(Zeroizing<[u8; 32]>, ChainKey, Vec<SkippedKey>)> {
    let jump = counter - chain.index;
    if jump > MAX_FORWARD_JUMP {
        return Err(Error::MessageTooFarInFuture {
            chain_index: chain.index,
            counter,
        });
    }
    let mut skipped = Vec::new();
    let mut current = chain.clone();
    if jump > 0 {
        // Only the newest MAX_SKIPPED_KEYS_PER_CHAIN keys survive the commit anyway.
        skipped.reserve(jump.min(MAX_SKIPPED_KEYS_PER_CHAIN as u32) as usize);
    }
    while current.index < counter {
        let (seed, next) = current.step();
        let keep_from = counter.saturating_sub(MAX_SKIPPED_KEYS_PER_CHAIN as u32);
        if current.index >= keep_from {
            skipped.push(SkippedKey {
                index: current.index,
                seed: *seed,
            });
        }
        current = next;
    }
    let (seed, next) = current.step();
    Ok((seed, next, skipped))
}

impl SessionState {
    /// Runs X3DH as the initiator ("Alice") against a verified bundle.
    fn new_alice<R: RngCore + CryptoRng>(
        our_identity: &KeyPair,
        our_registration_id: u32,
        bundle: &PreKeyBundle,
        their_identity_point: &PreparedPublicKey,
        rng: &mut R,
    ) -> Self {
        let base_key = KeyPair::generate(rng);
        let their_signed_prekey = &bundle.signed_prekey_public;

        let signed_prekey_point = their_signed_prekey.prepare();

        let mut secrets = Zeroizing::new(Vec::with_capacity(32 * 5));
        secrets.extend_from_slice(&X3DH_PREFIX);
        secrets.extend_from_slice(
            our_identity
                .private_key
                .agree_prepared(&signed_prekey_point)
                .as_ref(),
        );
        secrets.extend_from_slice(
            base_key
                .private_key
                .agree_prepared(their_identity_point)
                .as_ref(),
        );
        secrets.extend_from_slice(
            base_key
                .private_key
                .agree_prepared(&signed_prekey_point)
                .as_ref(),
        );
        if let Some((_, one_time_prekey)) = &bundle.prekey {
            secrets.extend_from_slice(base_key.private_key.agree(one_time_prekey).as_ref());
        }
        let (root_key, chain_key) = derive_root_and_chain(&[0u8; 32], &secrets, INFO_TEXT);

        // Alice ratchets once at once, so that her first message already uses a fresh key.
        let sending_ratchet_key = KeyPair::generate(rng);
        let dh = sending_ratchet_key
            .private_key
            .agree_prepared(&signed_prekey_point);
        let (next_root, sending_chain) =
            derive_root_and_chain(root_key.as_ref(), dh.as_ref(), INFO_RATCHET);

        SessionState {
            remote_identity: bundle.identity_key,
            root_key: next_root,
            previous_counter: 0,
            sender_chain: SenderChain {
                ratchet_private: sending_ratchet_key.private_key,
                ratchet_public: Some(sending_ratchet_key.public_key),
                chain_key: Some(ChainKey {
                    key: *sending_chain,
                    index: 0,
                }),
            },
            receiver_chains: vec![ReceiverChain {
                ratchet_key: *their_signed_prekey,
                prepared_ratchet_key: None,
                chain_key: ChainKey {
                    key: *chain_key,
                    index: 0,
                },
                skipped: VecDeque::new(),
            }],
            pending_prekey: Some(PendingPreKey {
                prekey_id: bundle.prekey.map(|(id, _)| id),
                signed_prekey_id: bundle.signed_prekey_id,
                base_key: base_key.public_key,
            }),
            local_registration_id: our_registration_id,
            remote_registration_id: bundle.registration_id,
            alice_base_key: base_key.public_key,
        }
    }

    /// Runs X3DH as the responder ("Bob"); his signed prekey is his first ratchet key.
    pub(crate) fn new_bob(
        our_identity: &KeyPair,
        our_registration_id: u32,
        our_signed_prekey: &KeyPair,
        our_one_time_prekey: Option<&KeyPair>,
        their_identity: &PublicKey,
        their_base_key: &PublicKey,
        their_registration_id: u32,
    ) -> Self {
        let mut secrets = Zeroizing::new(Vec::with_capacity(32 * 5));
        secrets.extend_from_slice(&X3DH_PREFIX);
        secrets.extend_from_slice(our_signed_prekey.private_key.agree(their_identity).as_ref());
        let base_point = their_base_key.prepare();
        secrets.extend_from_slice(
            our_identity
                .private_key
                .agree_prepared(&base_point)
                .as_ref(),
        );
        secrets.extend_from_slice(
            our_signed_prekey
                .private_key
                .agree_prepared(&base_point)
                .as_ref(),
        );
        if let Some(one_time_prekey) = our_one_time_prekey {
            secrets.extend_from_slice(
                one_time_prekey
                    .private_key
                    .agree_prepared(&base_point)
                    .as_ref(),
            );
        }
        let (root_key, chain_key) = derive_root_and_chain(&[0u8; 32], &secrets, INFO_TEXT);

        SessionState {
            remote_identity: *their_identity,
            root_key,
            previous_counter: 0,
            sender_chain: SenderChain {
                ratchet_private: our_signed_prekey.private_key.clone(),
                ratchet_public: Some(our_signed_prekey.public_key),
                chain_key: Some(ChainKey {
                    key: *chain_key,
                    index: 0,
                }),
            },
            receiver_chains: Vec::new(),
            pending_prekey: None,
            local_registration_id: our_registration_id,
            remote_registration_id: their_registration_id,
            alice_base_key: *their_base_key,
        }
    }

    /// Returns the peer's identity key.
    pub fn remote_identity(&self) -> &PublicKey {
        &self.remote_identity
    }

    /// Decrypts `message` without changing `self`; returns the plaintext and the update.
    fn plan_decrypt(
        &self,
        our_identity: &PublicKey,
        message: &SignalMessage<'_>,
    ) -> Result<(Vec<u8>, ChainUpdate)> {
        let counter = message.counter;
        let existing = self
            .receiver_chains
            .iter()
            .position(|chain| chain.ratchet_key == message.ratchet_key);

        let (seed, update) = match existing {
            Some(chain_position) => {
                let chain = &self.receiver_chains[chain_position];
                if counter < chain.chain_key.index {
                    let Some(position) = chain.skipped.iter().position(|key| key.index == counter)
                    else {
                        return Err(Error::DuplicateMessage {
                            chain_index: chain.chain_key.index,
                            counter,
                        });
                    };
                    let seed = Zeroizing::new(chain.skipped[position].seed);
                    (
                        seed,
                        ChainUpdate::UseSkipped {
                            chain: chain_position,
                            position,
                        },
                    )
                } else {
                    let (seed, next, skipped) = step_to(&chain.chain_key, counter)?;
                    (
                        seed,
                        ChainUpdate::Advance {
                            chain: chain_position,
                            next,
                            skipped,
                        },
                    )
                }
            }
            None => {
                // Check the jump before the DH, so that a far-future message costs nothing.
                if counter > MAX_FORWARD_JUMP {
                    return Err(Error::MessageTooFarInFuture {
                        chain_index: 0,
                        counter,
                    });
                }
                // A pending sending chain belongs before this step in the key schedule.
                let (root_before, completed_sending_chain) = match self.deferred_sending_chain()? {
                    Some((root, chain)) => (root, Some(chain)),
                    None => (self.root_key.clone(), None),
                };
                let their_ratchet_point = message.ratchet_key.prepare();
                let dh = self
                    .sender_chain
                    .ratchet_private
                    .agree_prepared(&their_ratchet_point);
                let (root_key, chain_key) =
                    derive_root_and_chain(root_before.as_ref(), dh.as_ref(), INFO_RATCHET);
                let chain = ChainKey {
                    key: *chain_key,
                    index: 0,
                };
                let (seed, next, skipped) = step_to(&chain, counter)?;
                let update = ChainUpdate::NewChain {
                    their_ratchet_key: message.ratchet_key,
                    their_ratchet_point,
                    completed_sending_chain,
                    root_key,
                    next,
                    skipped,
                };
                (seed, update)
            }
        };

        let keys = MessageKeys::derive(&seed);
        if !message.verify_mac(&self.remote_identity, our_identity, &keys.mac_key) {
            return Err(Error::InvalidMessage);
        }
        let plaintext = aes_cbc_decrypt(&keys.cipher_key, &keys.iv, &message.ciphertext)?;
        Ok((plaintext, update))
    }

    /// Computes the sending chain that a DH ratchet step deferred: the root step with our
    /// ratchet key and the peer's newest ratchet key. Returns None when no step is pending.
    fn deferred_sending_chain(&self) -> Result<Option<(Zeroizing<[u8; 32]>, ChainKey)>> {
        if self.sender_chain.chain_key.is_some() {
            return Ok(None);
        }
        // Deserialization guarantees a receiving chain whenever the step is pending.
        let newest = self.receiver_chains.last().ok_or(Error::NoSession)?;
        let private_key = &self.sender_chain.ratchet_private;
        let dh = match &newest.prepared_ratchet_key {
            Some(point) => private_key.agree_prepared(point),
            None => private_key.agree(&newest.ratchet_key),
        };
        let (root_key, chain_key) =
            derive_root_and_chain(self.root_key.as_ref(), dh.as_ref(), INFO_RATCHET);
        Ok(Some((
            root_key,
            ChainKey {
                key: *chain_key,
                index: 0,
            },
        )))
    }

    /// Applies the update of a successful decrypt. A new receiving chain also draws our next
    /// ratchet private key; its public key and the DH that starts the sending chain wait for
    /// the next encrypt.
    fn apply<R: RngCore + CryptoRng>(&mut self, update: ChainUpdate, rng: &mut R) {
        match update {
            ChainUpdate::UseSkipped { chain, position } => {
                if let Some(chain) = self.receiver_chains.get_mut(chain) {
                    chain.skipped.remove(position);
                }
            }
            ChainUpdate::Advance {
                chain,
                next,
                skipped,
            } => {
                if let Some(chain) = self.receiver_chains.get_mut(chain) {
                    chain.chain_key = next;
                    store_skipped(&mut chain.skipped, skipped);
                }
            }
            ChainUpdate::NewChain {
                their_ratchet_key,
                their_ratchet_point,
                completed_sending_chain,
                root_key,
                next,
                skipped,
            } => {
                if completed_sending_chain.is_some() {
                    self.sender_chain.chain_key = completed_sending_chain;
                }
                let sent_on_old_chain = self
                    .sender_chain
                    .chain_key
                    .as_ref()
                    .map_or(0, |chain| chain.index);
                self.previous_counter = sent_on_old_chain.saturating_sub(1);

                let mut chain = ReceiverChain {
                    ratchet_key: their_ratchet_key,
                    prepared_ratchet_key: Some(their_ratchet_point),
                    chain_key: next,
                    skipped: VecDeque::new(),
                };
                store_skipped(&mut chain.skipped, skipped);
                self.receiver_chains.push(chain);
                if self.receiver_chains.len() > MAX_RECEIVER_CHAINS {
                    self.receiver_chains.remove(0);
                }

                self.root_key = root_key;
                self.sender_chain = SenderChain {
                    ratchet_private: PrivateKey::generate(rng),
                    ratchet_public: None,
                    chain_key: None,
                };
            }
        }
        self.pending_prekey = None;
    }

    /// Encrypts `plaintext` on the sending chain and advances it, first completing a deferred
    /// sending chain.
    fn encrypt(&mut self, our_identity: &PublicKey, plaintext: &[u8]) -> Result<(u8, Vec<u8>)> {
        if let Some((root_key, chain_key)) = self.deferred_sending_chain()? {
            self.root_key = root_key;
            self.sender_chain.chain_key = Some(chain_key);
        }
        let ratchet_public = match self.sender_chain.ratchet_public {
            Some(public_key) => public_key,
            None => {
                let public_key = self.sender_chain.ratchet_private.public_key();
                self.sender_chain.ratchet_public = Some(public_key);
                public_key
            }
        };
        let Some(chain_key) = &self.sender_chain.chain_key else {
            return Err(Error::NoSession);
        };
        let (seed, next) = chain_key.step();
        let keys = MessageKeys::derive(&seed);
        let ciphertext = aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
        let message = encode_signal_message(
            &ratchet_public,
            chain_key.index,
            self.previous_counter,
            &ciphertext,
            &keys.mac_key,
            our_identity,
            &self.remote_identity,
        );
        self.sender_chain.chain_key = Some(next);

        Ok(match &self.pending_prekey {
            None => (SIGNAL_MESSAGE_TYPE, message),
            Some(pending) => {
                let prekey_message = PreKeySignalMessage {
                    registration_id: self.local_registration_id,
                    prekey_id: pending.prekey_id,
                    signed_prekey_id: pending.signed_prekey_id,
                    base_key: pending.base_key,
                    identity_key: *our_identity,
                    message,
                };
                (PREKEY_MESSAGE_TYPE, prekey_message.encode())
            }
        })
    }
}

/// Appends newly skipped keys and evicts the oldest beyond `MAX_SKIPPED_KEYS_PER_CHAIN`.
fn store_skipped(stored: &mut VecDeque<SkippedKey>, new_keys: Vec<SkippedKey>) {
    stored.extend(new_keys);
    while stored.len() > MAX_SKIPPED_KEYS_PER_CHAIN {
        stored.pop_front();
    }
}

/// All session states with one remote device: the current one and up to
/// `MAX_ARCHIVED_STATES` archived ones, newest first.
#[derive(Clone, Default)]
pub struct SessionRecord {
    pub(crate) current: Option<SessionState>,
    pub(crate) previous: VecDeque<SessionState>,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("current", &self.current)
            .field("archived_states", &self.previous.len())
            .finish()
    }
}

impl SessionRecord {
    /// Creates an empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when a current state exists.
    pub fn has_current_state(&self) -> bool {
        self.current.is_some()
    }

    /// Returns the current state, if any.
    pub fn current_state(&self) -> Option<&SessionState> {
        self.current.as_ref()
    }

    /// Number of archived states.
    pub fn archived_state_count(&self) -> usize {
        self.previous.len()
    }

    /// Returns the remote identity key of the current state.
    pub fn remote_identity_key(&self) -> Option<PublicKey> {
        self.current.as_ref().map(|state| state.remote_identity)
    }

    /// Returns the remote registration id of the current state.
    pub fn remote_registration_id(&self) -> Option<u32> {
        self.current
            .as_ref()
            .map(|state| state.remote_registration_id)
    }

    /// True when the current or an archived state was set up with this X3DH base key.
    pub fn has_session_with_base_key(&self, base_key: &PublicKey) -> bool {
        self.current
            .iter()
            .chain(self.previous.iter())
            .any(|state| state.alice_base_key == *base_key)
    }

    /// Moves the current state to the front of the archive.
    pub fn archive_current_state(&mut self) {
        if let Some(state) = self.current.take() {
            self.push_archived(state);
        }
    }

    fn push_archived(&mut self, state: SessionState) {
        self.previous.push_front(state);
        self.previous.truncate(MAX_ARCHIVED_STATES);
    }

    /// Makes `state` current, archiving the old current state.
    fn promote(&mut self, state: SessionState) {
        if let Some(old) = self.current.replace(state) {
            self.push_archived(old);
        }
    }

    /// Verifies the bundle's signed prekey signature, runs X3DH as the initiator and makes the
    /// new state current. Raises `InvalidSignature` before changing anything.
    pub fn initialize_from_bundle<R: RngCore + CryptoRng>(
        &mut self,
        our_identity: &KeyPair,
        our_registration_id: u32,
        bundle: &PreKeyBundle,
        rng: &mut R,
    ) -> Result<()> {
        let signed = bundle.signed_prekey_public.serialize();
        let signature =
            <&[u8; xeddsa::SIGNATURE_LENGTH]>::try_from(bundle.signed_prekey_signature.as_slice())
                .map_err(|_| Error::InvalidSignature)?;
        let verifying_key = VerifyingKey::new(&bundle.identity_key, signature_sign_bit(signature))
            .ok_or(Error::InvalidSignature)?;
        if !verifying_key.verify(&[&signed], signature) {
            return Err(Error::InvalidSignature);
        }
        // The verifier's Edwards point of the identity key serves DH2 as well.
        let identity_point = verifying_key.prepared_public_key(&bundle.identity_key);
        let state = SessionState::new_alice(
            our_identity,
            our_registration_id,
            bundle,
            &identity_point,
            rng,
        );
        self.promote(state);
        Ok(())
    }

    /// Encrypts with the current state; returns the message type (2 or 3) and the message.
    pub fn encrypt(&mut self, our_identity: &PublicKey, plaintext: &[u8]) -> Result<(u8, Vec<u8>)> {
        let state = self.current.as_mut().ok_or(Error::NoSession)?;
        state.encrypt(our_identity, plaintext)
    }

    /// Decrypts a serialized `SignalMessage` with the current state or, failing that, an
    /// archived one, which then becomes current (as libsignal does).
    pub fn decrypt_signal_message<R: RngCore + CryptoRng>(
        &mut self,
        our_identity: &PublicKey,
        message: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let message = SignalMessage::parse(message)?;
        self.decrypt_parsed(our_identity, &message, rng)
    }

    fn decrypt_parsed<R: RngCore + CryptoRng>(
        &mut self,
        our_identity: &PublicKey,
        message: &SignalMessage<'_>,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        if self.current.is_none() && self.previous.is_empty() {
            return Err(Error::NoSession);
        }
        let mut too_far = None;

        if let Some(state) = self.current.as_mut() {
            match state.plan_decrypt(our_identity, message) {
                Ok((plaintext, update)) => {
                    state.apply(update, rng);
                    return Ok(plaintext);
                }
                Err(error @ Error::DuplicateMessage { .. }) => return Err(error),
                Err(error @ Error::MessageTooFarInFuture { .. }) => too_far = Some(error),
                Err(_) => {}
            }
        }

        for position in 0..self.previous.len() {
            let state = &self.previous[position];
            match state.plan_decrypt(our_identity, message) {
                Ok((plaintext, update)) => {
                    if let Some(mut state) = self.previous.remove(position) {
                        state.apply(update, rng);
                        self.promote(state);
                    }
                    return Ok(plaintext);
                }
                Err(error @ Error::DuplicateMessage { .. }) => return Err(error),
                Err(error @ Error::MessageTooFarInFuture { .. }) => {
                    too_far.get_or_insert(error);
                }
                Err(_) => {}
            }
        }
        Err(too_far.unwrap_or(Error::InvalidMessage))
    }

    /// Decrypts a serialized `PreKeySignalMessage`. Unless a state with its base key exists,
    /// runs X3DH as the responder with the supplied private prekeys. The new state becomes
    /// current only when its first message decrypts. A one-time prekey passed for a message
    /// that names none is ignored.
    #[allow(clippy::too_many_arguments)]
    pub fn decrypt_prekey_message<R: RngCore + CryptoRng>(
        &mut self,
        our_identity: &KeyPair,
        our_registration_id: u32,
        message: &[u8],
        signed_prekey: Option<&KeyPair>,
        one_time_prekey: Option<&KeyPair>,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let header = PreKeySignalMessage::parse(message)?;
        let inner = SignalMessage::parse(&header.message)?;

        if self.has_session_with_base_key(&header.base_key) {
            return self.decrypt_parsed(&our_identity.public_key, &inner, rng);
        }

        let signed_prekey = signed_prekey.ok_or_else(|| {
            Error::UnknownPreKey(format!(
                "signed prekey {} was not supplied",
                header.signed_prekey_id
            ))
        })?;
        let one_time_prekey = match header.prekey_id {
            None => None,
            Some(id) => Some(one_time_prekey.ok_or_else(|| {
                Error::UnknownPreKey(format!("one-time prekey {id} was not supplied"))
            })?),
        };

        let mut state = SessionState::new_bob(
            our_identity,
            our_registration_id,
            signed_prekey,
            one_time_prekey,
            &header.identity_key,
            &header.base_key,
            header.registration_id,
        );
        let (plaintext, update) = state.plan_decrypt(&our_identity.public_key, &inner)?;
        state.apply(update, rng);
        self.promote(state);
        Ok(plaintext)
    }
}

/// Reads the unauthenticated header of a `PreKeySignalMessage` and checks that the embedded
/// `SignalMessage` parses.
pub fn parse_prekey_message(message: &[u8]) -> Result<PreKeySignalMessage> {
    let header = PreKeySignalMessage::parse(message)?;
    SignalMessage::parse(&header.message)?;
    Ok(header)
}

/// Checks that a state uses the only session version this crate speaks.
pub(crate) fn check_session_version(version: u32) -> Result<()> {
    if version == u32::from(CURRENT_VERSION) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "session state has version {version}; only version {CURRENT_VERSION} is supported"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn vector_hex(section: &serde_json::Value, key: &str) -> Vec<u8> {
        hex::decode(section[key].as_str().unwrap()).unwrap()
    }

    /// libsignal's responder test: without a one-time prekey, Bob's sending chain key is the
    /// chain key that X3DH derives (his signed prekey is his first ratchet key).
    #[test]
    fn x3dh_without_one_time_prekey_vector() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/signal-v3.json"
        );
        let all: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let vector = &all["x3dh_v3_no_one_time_prekey"];
        let key_pair = |name: &str| {
            let private =
                PrivateKey::deserialize(&vector_hex(vector, &format!("{name}_private"))).unwrap();
            let pair = KeyPair::from_private(private);
            assert_eq!(
                pair.public_key.serialize().to_vec(),
                vector_hex(vector, &format!("{name}_public"))
            );
            pair
        };
        let bob_identity = key_pair("bob_identity");
        let bob_signed_prekey = key_pair("bob_signed_prekey");
        let alice_identity = key_pair("alice_identity");
        let alice_base = key_pair("alice_base");

        let state = SessionState::new_bob(
            &bob_identity,
            1,
            &bob_signed_prekey,
            None,
            &alice_identity.public_key,
            &alice_base.public_key,
            2,
        );
        assert_eq!(
            state.sender_chain.chain_key.as_ref().unwrap().key.to_vec(),
            vector_hex(vector, "bob_sender_chain_key")
        );
        assert_eq!(state.sender_chain.chain_key.as_ref().unwrap().index, 0);
    }
}
