//! PyO3 binding for the cipherpost Rust crates, importable as `cipherpost._core`.
//!
//! This crate only converts types and errors. Protocol logic lives in the pure crates
//! (`cipherpost-protocol`, `cipherpost-media`, `cipherpost-transport`), which have their own
//! `cargo test`. Each submodule below registers its classes and functions flat on `_core`.

use pyo3::prelude::*;

mod errors;
mod media;
mod session;
mod transport;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    session::register(m)?;
    media::register(m)?;
    transport::register(m)?;
    Ok(())
}
