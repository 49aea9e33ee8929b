//! Binding for the Signal-protocol part of the core: keys, XEdDSA, safety numbers, pairwise
//! sessions and Sender Keys, wrapping the `cipherpost-protocol` crate.

use cipherpost_protocol as protocol;
use cipherpost_protocol::{fingerprint, xeddsa, Error, PublicKey};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::raise_named;

/// Maps the protocol error enum to the classes of `cipherpost.exceptions`.
fn to_py_err(error: Error) -> PyErr {
    let name = match &error {
        Error::InvalidKey(_) => "InvalidKeyError",
        Error::InvalidSignature => "InvalidSignatureError",
        Error::InvalidMessage => "InvalidMessageError",
        Error::MalformedMessage(_) => "MalformedMessageError",
        Error::UnsupportedVersion(_) => "UnsupportedVersionError",
        Error::DuplicateMessage { .. } => "DuplicateMessageError",
        Error::MessageTooFarInFuture { .. } => "MessageTooFarInFutureError",
        Error::NoSession => "NoSessionError",
        Error::UnknownPreKey(_) => "UnknownPreKeyError",
        Error::NoSenderKey(_) => "NoSenderKeyError",
        // A malformed caller argument or stored record; the class also derives from ValueError.
        Error::InvalidArgument(_) => "InvalidCryptoArgumentError",
    };
    Python::with_gil(|py| raise_named(py, name, error.to_string()))
}

/// Builds `InvalidCryptoArgumentError` (a `ValueError`) for a malformed argument.
fn invalid_argument(message: String) -> PyErr {
    Python::with_gil(|py| raise_named(py, "InvalidCryptoArgumentError", message))
}

/// Formats an optional id as Python would show it.
fn optional_id(id: Option<u32>) -> String {
    id.map_or_else(|| "None".to_string(), |id| id.to_string())
}

fn public_key(bytes: &[u8]) -> PyResult<PublicKey> {
    PublicKey::deserialize(bytes).map_err(to_py_err)
}

// --- randomness -----------------------------------------------------------------------------

/// Random number generator: the operating system's, or a seeded ChaCha20 stream for tests.
#[pyclass(name = "Rng", module = "cipherpost._core")]
pub struct PyRng {
    inner: protocol::ProtocolRng,
}

#[pymethods]
impl PyRng {
    #[new]
    #[pyo3(signature = (seed = None))]
    fn new(seed: Option<&[u8]>) -> PyResult<Self> {
        let inner = match seed {
            None => protocol::ProtocolRng::os(),
            Some(seed) => {
                let seed = <[u8; 32]>::try_from(seed).map_err(|_| {
                    invalid_argument(format!(
                        "Rng seed must be 32 bytes, got {}; pass None for OS randomness",
                        seed.len()
                    ))
                })?;
                protocol::ProtocolRng::seeded(seed)
            }
        };
        Ok(PyRng { inner })
    }

    fn random_bytes<'py>(
        &mut self,
        py: Python<'py>,
        length: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        use rand_core_fill::fill;
        PyBytes::new_with(py, length, |buffer| {
            fill(&mut self.inner, buffer);
            Ok(())
        })
    }

    fn __repr__(&self) -> String {
        match self.inner {
            protocol::ProtocolRng::Os(_) => "Rng(os)".into(),
            protocol::ProtocolRng::Seeded(_) => "Rng(seeded)".into(),
        }
    }
}

/// `RngCore` is reached through the protocol crate's re-export, so that this crate needs no
/// direct dependency on rand_core.
mod rand_core_fill {
    pub fn fill(rng: &mut cipherpost_protocol::ProtocolRng, buffer: &mut [u8]) {
        cipherpost_protocol::rng::fill_bytes(rng, buffer);
    }
}

// --- keys and signatures --------------------------------------------------------------------

/// A Curve25519 key pair; the private half is zeroized when the object is freed.
#[pyclass(name = "KeyPair", module = "cipherpost._core", frozen)]
pub struct PyKeyPair {
    inner: protocol::KeyPair,
}

#[pymethods]
impl PyKeyPair {
    #[staticmethod]
    fn generate(mut rng: PyRefMut<'_, PyRng>) -> Self {
        PyKeyPair {
            inner: protocol::KeyPair::generate(&mut rng.inner),
        }
    }

    #[staticmethod]
    fn from_private(private_key: &[u8]) -> PyResult<Self> {
        let private_key = protocol::PrivateKey::deserialize(private_key).map_err(to_py_err)?;
        Ok(PyKeyPair {
            inner: protocol::KeyPair::from_private(private_key),
        })
    }

    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.public_key.serialize())
    }

    #[getter]
    fn private_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.private_key.as_bytes())
    }

    fn sign<'py>(
        &self,
        py: Python<'py>,
        message: &[u8],
        mut rng: PyRefMut<'_, PyRng>,
    ) -> Bound<'py, PyBytes> {
        let signature = xeddsa::sign(&self.inner.private_key, &[message], &mut rng.inner);
        PyBytes::new(py, &signature)
    }

    fn agree<'py>(
        &self,
        py: Python<'py>,
        their_public_key: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let their = PublicKey::from_raw_or_serialized(their_public_key).map_err(to_py_err)?;
        Ok(PyBytes::new(
            py,
            self.inner.private_key.agree(&their).as_ref(),
        ))
    }

    fn __repr__(&self) -> String {
        let public: String = self
            .inner
            .public_key
            .serialize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("KeyPair(public_key={public})")
    }
}

#[pyfunction]
fn xeddsa_verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> PyResult<bool> {
    let key = PublicKey::from_raw_or_serialized(public_key).map_err(to_py_err)?;
    Ok(xeddsa::verify(&key, &[message], signature))
}

#[pyfunction]
#[pyo3(signature = (local_id, local_identity_key, remote_id, remote_identity_key, iterations = fingerprint::DEFAULT_ITERATIONS))]
fn safety_number(
    local_id: &[u8],
    local_identity_key: &[u8],
    remote_id: &[u8],
    remote_identity_key: &[u8],
    iterations: u32,
) -> PyResult<String> {
    fingerprint::safety_number(
        local_id,
        &public_key(local_identity_key)?,
        remote_id,
        &public_key(remote_identity_key)?,
        iterations,
    )
    .map_err(to_py_err)
}

#[pyfunction]
#[pyo3(signature = (local_id, local_identity_key, remote_id, remote_identity_key, iterations = fingerprint::DEFAULT_ITERATIONS))]
fn scannable_fingerprint<'py>(
    py: Python<'py>,
    local_id: &[u8],
    local_identity_key: &[u8],
    remote_id: &[u8],
    remote_identity_key: &[u8],
    iterations: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let payload = fingerprint::scannable_fingerprint(
        local_id,
        &public_key(local_identity_key)?,
        remote_id,
        &public_key(remote_identity_key)?,
        iterations,
    )
    .map_err(to_py_err)?;
    Ok(PyBytes::new(py, &payload))
}

#[pyfunction]
fn scannable_fingerprints_match(ours: &[u8], scanned: &[u8]) -> PyResult<bool> {
    fingerprint::scannable_fingerprints_match(ours, scanned).map_err(to_py_err)
}

// --- pairwise sessions ----------------------------------------------------------------------

/// A peer's published keys; the keys are checked when the bundle is built.
#[pyclass(name = "PreKeyBundle", module = "cipherpost._core", frozen)]
pub struct PyPreKeyBundle {
    inner: protocol::PreKeyBundle,
}

#[pymethods]
impl PyPreKeyBundle {
    #[new]
    #[pyo3(signature = (
        registration_id,
        device_id,
        prekey_id,
        prekey_public,
        signed_prekey_id,
        signed_prekey_public,
        signed_prekey_signature,
        identity_key,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        registration_id: u32,
        device_id: u32,
        prekey_id: Option<u32>,
        prekey_public: Option<&[u8]>,
        signed_prekey_id: u32,
        signed_prekey_public: &[u8],
        signed_prekey_signature: &[u8],
        identity_key: &[u8],
    ) -> PyResult<Self> {
        let prekey = match (prekey_id, prekey_public) {
            (Some(id), Some(key)) => Some((id, public_key(key)?)),
            (None, None) => None,
            _ => {
                return Err(invalid_argument(
                    "prekey_id and prekey_public must both be given or both be None".into(),
                ))
            }
        };
        Ok(PyPreKeyBundle {
            inner: protocol::PreKeyBundle {
                registration_id,
                device_id,
                prekey,
                signed_prekey_id,
                signed_prekey_public: public_key(signed_prekey_public)?,
                signed_prekey_signature: signed_prekey_signature.to_vec(),
                identity_key: public_key(identity_key)?,
            },
        })
    }

    #[getter]
    fn registration_id(&self) -> u32 {
        self.inner.registration_id
    }

    #[getter]
    fn device_id(&self) -> u32 {
        self.inner.device_id
    }

    #[getter]
    fn prekey_id(&self) -> Option<u32> {
        self.inner.prekey.map(|(id, _)| id)
    }

    #[getter]
    fn prekey_public<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner
            .prekey
            .map(|(_, key)| PyBytes::new(py, &key.serialize()))
    }

    #[getter]
    fn signed_prekey_id(&self) -> u32 {
        self.inner.signed_prekey_id
    }

    #[getter]
    fn signed_prekey_public<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.signed_prekey_public.serialize())
    }

    #[getter]
    fn signed_prekey_signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.signed_prekey_signature)
    }

    #[getter]
    fn identity_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.identity_key.serialize())
    }

    fn __repr__(&self) -> String {
        format!(
            "PreKeyBundle(registration_id={}, device_id={}, prekey_id={}, signed_prekey_id={})",
            self.inner.registration_id,
            self.inner.device_id,
            optional_id(self.inner.prekey.map(|(id, _)| id)),
            self.inner.signed_prekey_id
        )
    }
}

/// The unauthenticated header fields of a `PreKeySignalMessage`.
#[pyclass(name = "PreKeyMessageHeader", module = "cipherpost._core", frozen)]
pub struct PyPreKeyMessageHeader {
    inner: protocol::PreKeySignalMessage,
}

#[pymethods]
impl PyPreKeyMessageHeader {
    #[getter]
    fn registration_id(&self) -> u32 {
        self.inner.registration_id
    }

    #[getter]
    fn prekey_id(&self) -> Option<u32> {
        self.inner.prekey_id
    }

    #[getter]
    fn signed_prekey_id(&self) -> u32 {
        self.inner.signed_prekey_id
    }

    #[getter]
    fn base_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.base_key.serialize())
    }

    #[getter]
    fn identity_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.identity_key.serialize())
    }

    fn __repr__(&self) -> String {
        format!(
            "PreKeyMessageHeader(registration_id={}, prekey_id={}, signed_prekey_id={})",
            self.inner.registration_id,
            optional_id(self.inner.prekey_id),
            self.inner.signed_prekey_id
        )
    }
}

#[pyfunction]
fn parse_prekey_message(message: &[u8]) -> PyResult<PyPreKeyMessageHeader> {
    let inner = protocol::parse_prekey_message(message).map_err(to_py_err)?;
    Ok(PyPreKeyMessageHeader { inner })
}

/// The session states with one remote device.
#[pyclass(name = "SessionRecord", module = "cipherpost._core")]
pub struct PySessionRecord {
    inner: protocol::SessionRecord,
}

#[pymethods]
impl PySessionRecord {
    #[new]
    fn new() -> Self {
        PySessionRecord {
            inner: protocol::SessionRecord::new(),
        }
    }

    #[staticmethod]
    fn deserialize(data: &[u8]) -> PyResult<Self> {
        Ok(PySessionRecord {
            inner: protocol::SessionRecord::deserialize(data).map_err(to_py_err)?,
        })
    }

    fn serialize<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.serialize())
    }

    fn has_current_state(&self) -> bool {
        self.inner.has_current_state()
    }

    fn remote_identity_key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner
            .remote_identity_key()
            .map(|key| PyBytes::new(py, &key.serialize()))
    }

    fn remote_registration_id(&self) -> Option<u32> {
        self.inner.remote_registration_id()
    }

    fn has_session_with_base_key(&self, base_key: &[u8]) -> PyResult<bool> {
        Ok(self.inner.has_session_with_base_key(&public_key(base_key)?))
    }

    fn archive_current_state(&mut self) {
        self.inner.archive_current_state();
    }

    fn clone(&self) -> Self {
        PySessionRecord {
            inner: self.inner.clone(),
        }
    }

    fn initialize_from_bundle(
        &mut self,
        our_identity: PyRef<'_, PyKeyPair>,
        our_registration_id: u32,
        bundle: PyRef<'_, PyPreKeyBundle>,
        mut rng: PyRefMut<'_, PyRng>,
    ) -> PyResult<()> {
        self.inner
            .initialize_from_bundle(
                &our_identity.inner,
                our_registration_id,
                &bundle.inner,
                &mut rng.inner,
            )
            .map_err(to_py_err)
    }

    fn encrypt<'py>(
        &mut self,
        py: Python<'py>,
        our_identity_key: &[u8],
        plaintext: &[u8],
    ) -> PyResult<(u8, Bound<'py, PyBytes>)> {
        let our_identity = public_key(our_identity_key)?;
        let (message_type, message) = self
            .inner
            .encrypt(&our_identity, plaintext)
            .map_err(to_py_err)?;
        Ok((message_type, PyBytes::new(py, &message)))
    }

    fn decrypt_signal_message<'py>(
        &mut self,
        py: Python<'py>,
        our_identity_key: &[u8],
        message: &[u8],
        mut rng: PyRefMut<'_, PyRng>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let our_identity = public_key(our_identity_key)?;
        let plaintext = self
            .inner
            .decrypt_signal_message(&our_identity, message, &mut rng.inner)
            .map_err(to_py_err)?;
        Ok(PyBytes::new(py, &plaintext))
    }

    #[pyo3(signature = (
        our_identity, our_registration_id, message, signed_prekey, one_time_prekey, rng
    ))]
    #[allow(clippy::too_many_arguments)]
    fn decrypt_prekey_message<'py>(
        &mut self,
        py: Python<'py>,
        our_identity: PyRef<'_, PyKeyPair>,
        our_registration_id: u32,
        message: &[u8],
        signed_prekey: Option<PyRef<'_, PyKeyPair>>,
        one_time_prekey: Option<PyRef<'_, PyKeyPair>>,
        mut rng: PyRefMut<'_, PyRng>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let plaintext = self
            .inner
            .decrypt_prekey_message(
                &our_identity.inner,
                our_registration_id,
                message,
                signed_prekey.as_ref().map(|key| &key.inner),
                one_time_prekey.as_ref().map(|key| &key.inner),
                &mut rng.inner,
            )
            .map_err(to_py_err)?;
        Ok(PyBytes::new(py, &plaintext))
    }

    fn __repr__(&self) -> String {
        format!(
            "SessionRecord(has_current_state={}, archived_states={})",
            self.inner.has_current_state(),
            self.inner.archived_state_count()
        )
    }
}

// --- Sender Keys ----------------------------------------------------------------------------

/// The Sender Key states of one (group, sender device).
#[pyclass(name = "SenderKeyRecord", module = "cipherpost._core")]
pub struct PySenderKeyRecord {
    inner: protocol::SenderKeyRecord,
}

#[pymethods]
impl PySenderKeyRecord {
    #[new]
    fn new() -> Self {
        PySenderKeyRecord {
            inner: protocol::SenderKeyRecord::new(),
        }
    }

    #[staticmethod]
    fn deserialize(data: &[u8]) -> PyResult<Self> {
        Ok(PySenderKeyRecord {
            inner: protocol::SenderKeyRecord::deserialize(data).map_err(to_py_err)?,
        })
    }

    fn serialize<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.serialize())
    }

    fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    fn clone(&self) -> Self {
        PySenderKeyRecord {
            inner: self.inner.clone(),
        }
    }

    fn create_distribution_message<'py>(
        &mut self,
        py: Python<'py>,
        mut rng: PyRefMut<'_, PyRng>,
    ) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.create_distribution_message(&mut rng.inner))
    }

    fn process_distribution_message(&mut self, message: &[u8]) -> PyResult<()> {
        self.inner
            .process_distribution_message(message)
            .map_err(to_py_err)
    }

    fn encrypt<'py>(
        &mut self,
        py: Python<'py>,
        plaintext: &[u8],
        mut rng: PyRefMut<'_, PyRng>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let message = self
            .inner
            .encrypt(plaintext, &mut rng.inner)
            .map_err(to_py_err)?;
        Ok(PyBytes::new(py, &message))
    }

    fn decrypt<'py>(&mut self, py: Python<'py>, message: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let plaintext = self.inner.decrypt(message).map_err(to_py_err)?;
        Ok(PyBytes::new(py, &plaintext))
    }

    fn __repr__(&self) -> String {
        format!("SenderKeyRecord(states={})", self.inner.state_count())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRng>()?;
    m.add_class::<PyKeyPair>()?;
    m.add_class::<PyPreKeyBundle>()?;
    m.add_class::<PyPreKeyMessageHeader>()?;
    m.add_class::<PySessionRecord>()?;
    m.add_class::<PySenderKeyRecord>()?;
    m.add_function(wrap_pyfunction!(xeddsa_verify, m)?)?;
    m.add_function(wrap_pyfunction!(safety_number, m)?)?;
    m.add_function(wrap_pyfunction!(scannable_fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(scannable_fingerprints_match, m)?)?;
    m.add_function(wrap_pyfunction!(parse_prekey_message, m)?)?;

    m.add("PREKEY_MESSAGE_TYPE", protocol::PREKEY_MESSAGE_TYPE)?;
    m.add("SIGNAL_MESSAGE_TYPE", protocol::SIGNAL_MESSAGE_TYPE)?;
    m.add("SENDER_KEY_MESSAGE_TYPE", protocol::SENDER_KEY_MESSAGE_TYPE)?;
    m.add(
        "SENDER_KEY_DISTRIBUTION_TYPE",
        protocol::SENDER_KEY_DISTRIBUTION_TYPE,
    )?;
    m.add("MAX_FORWARD_JUMP", protocol::MAX_FORWARD_JUMP)?;
    m.add(
        "MAX_SKIPPED_KEYS_PER_CHAIN",
        protocol::MAX_SKIPPED_KEYS_PER_CHAIN,
    )?;
    m.add("MAX_RECEIVER_CHAINS", protocol::MAX_RECEIVER_CHAINS)?;
    m.add("MAX_ARCHIVED_STATES", protocol::MAX_ARCHIVED_STATES)?;
    m.add("MAX_SENDER_KEY_STATES", protocol::MAX_SENDER_KEY_STATES)?;
    Ok(())
}
