//! Noise XX transport sessions.
#![forbid(unsafe_code)]
