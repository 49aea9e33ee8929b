//! Binding for the media cipher (`cipherpost-media`).
//!
//! File operations release the GIL for their whole run. Results come back as dicts that
//! `cipherpost.media.cipher` turns into dataclasses. Errors map to the `MediaError` family in
//! `cipherpost.exceptions`; messages never include keys.

use std::path::PathBuf;

use cipherpost_media::{
    decrypt_bytes, decrypt_file, decrypt_range_file, encrypt_bytes, encrypt_file, EncryptSummary,
    Expected, MediaError, MediaKey, MediaType, StreamOptions, DEFAULT_CHUNK_SIZE, MAC_LENGTH,
    MAX_CHUNK_SIZE, MAX_RANGE_LENGTH, MIN_CHUNK_SIZE, SIDECAR_MAC_LENGTH, SIDECAR_STEP,
    SIDECAR_WINDOW,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::raise_named;

fn to_py_error(py: Python<'_>, error: MediaError) -> PyErr {
    let class = match &error {
        MediaError::InvalidMediaKey { .. } => "InvalidMediaKeyError",
        MediaError::UnknownMediaType(_) => "UnknownMediaTypeError",
        MediaError::InvalidArgument(_) => "InvalidMediaArgumentError",
        MediaError::EncHashMismatch => "MediaEncHashMismatchError",
        MediaError::MacMismatch => "MediaMacError",
        MediaError::MalformedBlob(_) => "MalformedMediaError",
        MediaError::PlaintextHashMismatch => "MediaPlaintextHashMismatchError",
        MediaError::SidecarMismatch { .. } => "MediaSidecarMismatchError",
        MediaError::Io { .. } => "MediaIOError",
        MediaError::Cipher(_) | MediaError::WorkerPanicked => "MediaError",
    };
    raise_named(py, class, error.to_string())
}

fn parse_type(py: Python<'_>, name: &str) -> PyResult<MediaType> {
    MediaType::from_name(name).map_err(|error| to_py_error(py, error))
}

fn parse_key(py: Python<'_>, bytes: &[u8]) -> PyResult<MediaKey> {
    MediaKey::from_slice(bytes).map_err(|error| to_py_error(py, error))
}

fn parse_hash(py: Python<'_>, name: &str, bytes: &[u8]) -> PyResult<[u8; 32]> {
    bytes.try_into().map_err(|_| {
        to_py_error(
            py,
            MediaError::InvalidArgument(format!(
                "{name} must be a 32-byte SHA-256 digest, got {} bytes",
                bytes.len()
            )),
        )
    })
}

fn expected(
    py: Python<'_>,
    file_enc_sha256: &[u8],
    file_sha256: Option<&[u8]>,
) -> PyResult<Expected> {
    Ok(Expected {
        file_enc_sha256: parse_hash(py, "file_enc_sha256", file_enc_sha256)?,
        file_sha256: file_sha256
            .map(|hash| parse_hash(py, "file_sha256", hash))
            .transpose()?,
    })
}

fn summary_dict<'py>(
    py: Python<'py>,
    key: &MediaKey,
    summary: &EncryptSummary,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("media_key", PyBytes::new(py, key.as_bytes()))?;
    dict.set_item("file_sha256", PyBytes::new(py, &summary.file_sha256))?;
    dict.set_item(
        "file_enc_sha256",
        PyBytes::new(py, &summary.file_enc_sha256),
    )?;
    dict.set_item("file_length", summary.file_length)?;
    dict.set_item("enc_length", summary.enc_length)?;
    dict.set_item("mac", PyBytes::new(py, &summary.mac))?;
    dict.set_item(
        "sidecar",
        summary
            .sidecar
            .as_ref()
            .map(|sidecar| PyBytes::new(py, sidecar)),
    )?;
    Ok(dict)
}

fn key_or_fresh(py: Python<'_>, media_key: Option<&[u8]>) -> PyResult<MediaKey> {
    match media_key {
        Some(bytes) => parse_key(py, bytes),
        None => Ok(MediaKey::generate()),
    }
}

#[pyfunction]
fn media_generate_key(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, MediaKey::generate().as_bytes())
}

#[pyfunction]
fn media_derive_keys<'py>(
    py: Python<'py>,
    media_type: &str,
    media_key: &[u8],
) -> PyResult<(
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
)> {
    let keys = parse_key(py, media_key)?.expand(parse_type(py, media_type)?);
    Ok((
        PyBytes::new(py, &keys.iv),
        PyBytes::new(py, &keys.cipher_key),
        PyBytes::new(py, &keys.mac_key),
        PyBytes::new(py, &keys.ref_key),
    ))
}

#[pyfunction]
#[pyo3(signature = (media_type, media_key, input_path, output_path, *, sidecar = false, chunk_size = DEFAULT_CHUNK_SIZE))]
fn media_encrypt_file<'py>(
    py: Python<'py>,
    media_type: &str,
    media_key: Option<&[u8]>,
    input_path: PathBuf,
    output_path: PathBuf,
    sidecar: bool,
    chunk_size: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let media_type = parse_type(py, media_type)?;
    let key = key_or_fresh(py, media_key)?;
    let options = StreamOptions {
        chunk_size,
        sidecar,
    };
    let result =
        py.allow_threads(|| encrypt_file(&key, media_type, &input_path, &output_path, &options));
    let summary = result.map_err(|error| to_py_error(py, error))?;
    summary_dict(py, &key, &summary)
}

#[pyfunction]
#[pyo3(signature = (media_type, media_key, input_path, output_path, file_enc_sha256, file_sha256 = None, *, chunk_size = DEFAULT_CHUNK_SIZE))]
#[allow(clippy::too_many_arguments)]
fn media_decrypt_file(
    py: Python<'_>,
    media_type: &str,
    media_key: &[u8],
    input_path: PathBuf,
    output_path: PathBuf,
    file_enc_sha256: &[u8],
    file_sha256: Option<&[u8]>,
    chunk_size: usize,
) -> PyResult<(Py<PyBytes>, u64)> {
    let media_type = parse_type(py, media_type)?;
    let key = parse_key(py, media_key)?;
    let expected = expected(py, file_enc_sha256, file_sha256)?;
    let options = StreamOptions {
        chunk_size,
        sidecar: false,
    };
    let result = py.allow_threads(|| {
        decrypt_file(
            &key,
            media_type,
            &input_path,
            &output_path,
            &expected,
            &options,
        )
    });
    let summary = result.map_err(|error| to_py_error(py, error))?;
    Ok((
        PyBytes::new(py, &summary.file_sha256).unbind(),
        summary.file_length,
    ))
}

#[pyfunction]
#[pyo3(signature = (media_type, media_key, plaintext, *, sidecar = false))]
fn media_encrypt_bytes<'py>(
    py: Python<'py>,
    media_type: &str,
    media_key: Option<&[u8]>,
    plaintext: Vec<u8>,
    sidecar: bool,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyDict>)> {
    let media_type = parse_type(py, media_type)?;
    let key = key_or_fresh(py, media_key)?;
    let options = StreamOptions {
        sidecar,
        ..StreamOptions::default()
    };
    let result = py.allow_threads(|| encrypt_bytes(&key, media_type, &plaintext, &options));
    let (blob, summary) = result.map_err(|error| to_py_error(py, error))?;
    Ok((PyBytes::new(py, &blob), summary_dict(py, &key, &summary)?))
}

#[pyfunction]
#[pyo3(signature = (media_type, media_key, blob, file_enc_sha256, file_sha256 = None))]
fn media_decrypt_bytes<'py>(
    py: Python<'py>,
    media_type: &str,
    media_key: &[u8],
    blob: Vec<u8>,
    file_enc_sha256: &[u8],
    file_sha256: Option<&[u8]>,
) -> PyResult<Bound<'py, PyBytes>> {
    let media_type = parse_type(py, media_type)?;
    let key = parse_key(py, media_key)?;
    let expected = expected(py, file_enc_sha256, file_sha256)?;
    let options = StreamOptions::default();
    let result = py.allow_threads(|| decrypt_bytes(&key, media_type, &blob, &expected, &options));
    let plaintext = result.map_err(|error| to_py_error(py, error))?;
    Ok(PyBytes::new(py, &plaintext))
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn media_decrypt_range_file<'py>(
    py: Python<'py>,
    media_type: &str,
    media_key: &[u8],
    input_path: PathBuf,
    file_length: u64,
    sidecar: Vec<u8>,
    offset: u64,
    length: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let media_type = parse_type(py, media_type)?;
    let key = parse_key(py, media_key)?;
    let result = py.allow_threads(|| {
        decrypt_range_file(
            &key,
            media_type,
            &input_path,
            file_length,
            &sidecar,
            offset,
            length,
        )
    });
    let plaintext = result.map_err(|error| to_py_error(py, error))?;
    Ok(PyBytes::new(py, &plaintext))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let types = PyDict::new(py);
    for media_type in MediaType::all() {
        types.set_item(media_type.name(), media_type.info())?;
    }
    m.add("MEDIA_TYPES", types)?;
    m.add("MEDIA_MAC_LENGTH", MAC_LENGTH)?;
    m.add("MEDIA_SIDECAR_STEP", SIDECAR_STEP)?;
    m.add("MEDIA_SIDECAR_WINDOW", SIDECAR_WINDOW)?;
    m.add("MEDIA_SIDECAR_MAC_LENGTH", SIDECAR_MAC_LENGTH)?;
    m.add("MEDIA_DEFAULT_CHUNK_SIZE", DEFAULT_CHUNK_SIZE)?;
    m.add("MEDIA_MIN_CHUNK_SIZE", MIN_CHUNK_SIZE)?;
    m.add("MEDIA_MAX_CHUNK_SIZE", MAX_CHUNK_SIZE)?;
    m.add("MEDIA_MAX_RANGE_LENGTH", MAX_RANGE_LENGTH)?;
    m.add_function(wrap_pyfunction!(media_generate_key, m)?)?;
    m.add_function(wrap_pyfunction!(media_derive_keys, m)?)?;
    m.add_function(wrap_pyfunction!(media_encrypt_file, m)?)?;
    m.add_function(wrap_pyfunction!(media_decrypt_file, m)?)?;
    m.add_function(wrap_pyfunction!(media_encrypt_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(media_decrypt_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(media_decrypt_range_file, m)?)?;
    Ok(())
}
