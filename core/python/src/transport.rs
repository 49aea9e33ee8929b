//! Binding for the Noise XX transport (`cipherpost-transport`).
//!
//! Every error becomes `cipherpost.exceptions.TransportError`; messages never include keys.

use cipherpost_transport::{Handshake, StaticKeyPair, Transport, TransportError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::raise_named;

fn to_py_error(py: Python<'_>, error: TransportError) -> PyErr {
    raise_named(py, "TransportError", error.to_string())
}

/// A static Curve25519 transport key pair, separate from the Signal identity key.
#[pyclass(module = "cipherpost._core", name = "TransportKeyPair", frozen)]
pub struct PyTransportKeyPair {
    inner: StaticKeyPair,
}

#[pymethods]
impl PyTransportKeyPair {
    #[staticmethod]
    fn generate(py: Python<'_>) -> PyResult<Self> {
        let inner = StaticKeyPair::generate().map_err(|error| to_py_error(py, error))?;
        Ok(Self { inner })
    }

    #[staticmethod]
    fn from_private(py: Python<'_>, private_key: &[u8]) -> PyResult<Self> {
        let inner = StaticKeyPair::from_private(private_key).map_err(|error| to_py_error(py, error))?;
        Ok(Self { inner })
    }

    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.public_key())
    }

    #[getter]
    fn private_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.private_key().as_slice())
    }

    fn __repr__(&self) -> String {
        let public = self.inner.public_key();
        let hex: String = public.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
        format!("TransportKeyPair(public={hex}…)")
    }
}

/// One side of a Noise XX handshake; `into_transport` consumes it.
#[pyclass(module = "cipherpost._core", name = "NoiseHandshake")]
pub struct PyNoiseHandshake {
    inner: Option<Handshake>,
}

impl PyNoiseHandshake {
    fn state(&mut self, py: Python<'_>) -> PyResult<&mut Handshake> {
        self.inner.as_mut().ok_or_else(|| {
            to_py_error(py, TransportError::State("handshake was already turned into a transport"))
        })
    }
}

#[pymethods]
impl PyNoiseHandshake {
    #[new]
    fn new(py: Python<'_>, initiator: bool, local_key: &PyTransportKeyPair) -> PyResult<Self> {
        let built = if initiator {
            Handshake::initiator(&local_key.inner)
        } else {
            Handshake::responder(&local_key.inner)
        };
        let inner = built.map_err(|error| to_py_error(py, error))?;
        Ok(Self { inner: Some(inner) })
    }

    fn write_message<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let message = self.state(py)?.write_message().map_err(|error| to_py_error(py, error))?;
        Ok(PyBytes::new(py, &message))
    }

    fn read_message(&mut self, py: Python<'_>, message: &[u8]) -> PyResult<()> {
        self.state(py)?.read_message(message).map_err(|error| to_py_error(py, error))
    }

    fn is_finished(&self) -> bool {
        self.inner.as_ref().is_some_and(Handshake::is_finished)
    }

    fn is_my_turn(&self) -> bool {
        self.inner.as_ref().is_some_and(Handshake::is_my_turn)
    }

    fn remote_static<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        let key = self.inner.as_ref()?.remote_static()?;
        Some(PyBytes::new(py, &key))
    }

    fn into_transport(&mut self, py: Python<'_>) -> PyResult<PyNoiseTransport> {
        let handshake = self.inner.take().ok_or_else(|| {
            to_py_error(py, TransportError::State("handshake was already turned into a transport"))
        })?;
        let inner = handshake.into_transport().map_err(|error| to_py_error(py, error))?;
        Ok(PyNoiseTransport { inner })
    }
}

/// An established Noise transport session.
#[pyclass(module = "cipherpost._core", name = "NoiseTransport")]
pub struct PyNoiseTransport {
    inner: Transport,
}

#[pymethods]
impl PyNoiseTransport {
    #[getter]
    fn remote_static<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.remote_static())
    }

    fn seal<'py>(&mut self, py: Python<'py>, plaintext: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let records = self.inner.seal(plaintext).map_err(|error| to_py_error(py, error))?;
        Ok(PyBytes::new(py, &records))
    }

    fn open<'py>(
        &mut self,
        py: Python<'py>,
        data: &[u8],
    ) -> PyResult<(Bound<'py, PyBytes>, usize)> {
        let (plaintext, consumed) = self.inner.open(data).map_err(|error| to_py_error(py, error))?;
        Ok((PyBytes::new(py, &plaintext), consumed))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTransportKeyPair>()?;
    m.add_class::<PyNoiseHandshake>()?;
    m.add_class::<PyNoiseTransport>()?;
    m.add("NOISE_PARAMS", cipherpost_transport::NOISE_PARAMS)?;
    m.add("MAX_RECORD_PLAINTEXT", cipherpost_transport::MAX_RECORD_PLAINTEXT)?;
    Ok(())
}
