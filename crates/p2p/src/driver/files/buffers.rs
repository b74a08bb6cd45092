//! [`Buffers`]: chunk-sized buffers used again and again. A fetch receives a chunk's worth of
//! bytes per request; taking fresh memory for each costs a page fault per page (and, on a
//! virtual machine, often far more), so finished buffers go back on a short shelf. (A holder
//! needs none: it serves chunks straight from the file, see `files_api`.)

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

/// Buffers kept for reuse at most: enough for every request in flight and every chunk waiting
/// for the disk; more are freed.
pub const SHELF: usize = 24;

/// A shared shelf of buffers. Cloning shares it.
#[derive(Clone, Default)]
pub struct Buffers(Arc<Mutex<Vec<Vec<u8>>>>);

impl Buffers {
    fn shelf(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer with room for `len` bytes.
    pub fn take(&self, len: usize) -> BytesMut {
        let mut buf = self.shelf().pop().unwrap_or_default();
        buf.clear();
        buf.reserve(len);
        BytesMut::from(Bytes::from(buf))
    }

    /// Puts a buffer back on the shelf (or frees it if the shelf is full).
    pub fn give(&self, buf: BytesMut) {
        let buf = Vec::from(buf);
        let mut shelf = self.shelf();
        if shelf.len() < SHELF {
            shelf.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_keep_their_memory() {
        let buffers = Buffers::default();
        let mut b = buffers.take(1 << 20);
        assert!(b.capacity() >= 1 << 20);
        b.extend_from_slice(b"chunk");
        let ptr = b.as_ptr();
        buffers.give(b);
        let again = buffers.take(1 << 20);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr, "the same memory is reused");
        buffers.give(again);
        assert_eq!(buffers.shelf().len(), 1);
    }
}
