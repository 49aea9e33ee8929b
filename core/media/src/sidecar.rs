//! The streaming sidecar: MACs over overlapping windows of IV ‖ ciphertext ‖ MAC.
//!
//! WhatsApp clients play video and audio while they download it. To check each part before
//! playing it, the sender publishes a sidecar: for every 64 KiB step `k` of the stream
//! `S = IV ‖ ciphertext ‖ MAC`, the first 10 bytes of HMAC-SHA256(MAC key, S[k·65536 ..
//! k·65536 + 65552]), concatenated. Each window reaches 16 bytes into the next step, so it holds
//! the ciphertext block that serves as IV for the next window's first block. Windows near the
//! end are cut off at the end of `S`; a window starts at every step below `len(S)`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::MediaError;

/// Distance between the starts of two sidecar windows, in bytes of `S`.
pub const SIDECAR_STEP: u64 = 65_536;
/// Length of one sidecar window: one step plus one AES block.
pub const SIDECAR_WINDOW: u64 = SIDECAR_STEP + 16;
/// Bytes of each window's HMAC-SHA256 kept in the sidecar.
pub const SIDECAR_MAC_LENGTH: usize = 10;

/// Number of sidecar entries for a stream `S` of `stream_length` bytes.
pub fn sidecar_window_count(stream_length: u64) -> u64 {
    stream_length.div_ceil(SIDECAR_STEP)
}

/// Incremental sidecar computation over the bytes of `S`, fed in order.
pub struct SidecarBuilder {
    base: Hmac<Sha256>,
    position: u64,
    /// Open windows, oldest first, with their start offsets; at most two overlap.
    open: Vec<(u64, Hmac<Sha256>)>,
    output: Vec<u8>,
}

impl SidecarBuilder {
    pub fn new(mac_key: &[u8; 32]) -> Result<SidecarBuilder, MediaError> {
        let base = <Hmac<Sha256> as Mac>::new_from_slice(mac_key)
            .map_err(|_| MediaError::InvalidArgument("MAC key must be 32 bytes".into()))?;
        Ok(SidecarBuilder {
            base,
            position: 0,
            open: Vec::with_capacity(2),
            output: Vec::new(),
        })
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.position % SIDECAR_STEP == 0 {
                self.open.push((self.position, self.base.clone()));
            }
            // Feed up to the next window start or the end of the oldest open window.
            let next_start = (self.position / SIDECAR_STEP + 1) * SIDECAR_STEP;
            let mut boundary = next_start;
            if let Some((start, _)) = self.open.first() {
                boundary = boundary.min(start + SIDECAR_WINDOW);
            }
            let take = usize::try_from(boundary - self.position)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let (now, rest) = data.split_at(take);
            for (_, mac) in &mut self.open {
                mac.update(now);
            }
            self.position += take as u64;
            data = rest;
            while let Some((start, _)) = self.open.first() {
                if self.position < start + SIDECAR_WINDOW {
                    break;
                }
                let (_, mac) = self.open.remove(0);
                self.push_tag(mac);
            }
        }
    }

    /// Close the windows still open and return the sidecar.
    pub fn finish(mut self) -> Vec<u8> {
        for (_, mac) in std::mem::take(&mut self.open) {
            self.push_tag(mac);
        }
        self.output
    }

    fn push_tag(&mut self, mac: Hmac<Sha256>) {
        let tag = mac.finalize().into_bytes();
        self.output.extend_from_slice(&tag[..SIDECAR_MAC_LENGTH]);
    }
}
