//! Signal protocol in the libsignal v3 wire format.
#![forbid(unsafe_code)]
