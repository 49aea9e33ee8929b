//! Streaming media encryption in the WhatsApp media format.
#![forbid(unsafe_code)]
