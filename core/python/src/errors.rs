//! Conversion of Rust errors to the exception classes defined in `cipherpost/exceptions.py`.
//!
//! Python owns the exception hierarchy. Each binding module maps its crate's error enum to a
//! class name in one `match`, and `raise_named` looks that class up at raise time, so adding an
//! exception never needs a change here.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;

/// Build a `PyErr` of class `cipherpost.exceptions.<name>` with `message`.
///
/// Falls back to `RuntimeError` naming the missing class if the exceptions module cannot be
/// imported or lacks `name`, so that a packaging mistake is visible instead of silent.
pub fn raise_named(py: Python<'_>, name: &str, message: String) -> PyErr {
    let class = py
        .import("cipherpost.exceptions")
        .and_then(|module| module.getattr(name))
        .and_then(|attr| attr.downcast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, message),
        Err(_) => PyRuntimeError::new_err(format!(
            "cipherpost.exceptions.{name} is missing (reinstall cipherpost): {message}"
        )),
    }
}
