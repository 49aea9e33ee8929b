//! Fixed pools of chunk buffers shared between the threads of the streaming pipeline.
//!
//! Memory stays constant however large the file is: a pool allocates its buffers once, a
//! producer blocks in `take` until a consumer drops a chunk, and a dropped chunk returns its
//! buffer to the pool.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// A filled buffer on its way through the pipeline. The first `len` bytes are valid.
pub(crate) struct Chunk {
    data: Vec<u8>,
    len: usize,
    home: SyncSender<Vec<u8>>,
}

impl Chunk {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // The pool's channel has room for every buffer it created, so this only fails once the
        // pool itself is gone, and then the buffer is simply freed.
        let _ = self.home.try_send(std::mem::take(&mut self.data));
    }
}

pub(crate) struct BufferPool {
    home: SyncSender<Vec<u8>>,
    free: Receiver<Vec<u8>>,
}

impl BufferPool {
    pub(crate) fn new(count: usize, capacity: usize) -> BufferPool {
        let (home, free) = sync_channel(count);
        for _ in 0..count {
            // Cannot fail: the channel has room for `count` buffers and the receiver is alive.
            let _ = home.try_send(vec![0u8; capacity]);
        }
        BufferPool { home, free }
    }

    /// Wait for a free buffer. Returns None only if every buffer was lost, which cannot happen
    /// while the pool is alive because the pool keeps a sender to its own channel.
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        self.free.recv().ok()
    }

    pub(crate) fn wrap(&self, data: Vec<u8>, len: usize) -> Arc<Chunk> {
        let len = len.min(data.len());
        Arc::new(Chunk {
            data,
            len,
            home: self.home.clone(),
        })
    }
}
