//! [`Buffers`]: chunk-sized buffers used again and again. A fetch or a busy holder moves a
//! chunk's worth of bytes per request; taking fresh memory for each costs a page fault per page
//! (and, on a virtual machine, often far more), so finished buffers go back on a short shelf.

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

    /// A buffer of exactly `len` bytes, for reading into (its old contents are overwritten by
    /// the caller).
    pub fn take_filled(&self, len: usize) -> Vec<u8> {
        let mut buf = self.shelf().pop().unwrap_or_default();
        buf.resize(len, 0);
        buf
    }

    /// Puts a buffer back on the shelf (or frees it if the shelf is full).
    pub fn give(&self, buf: BytesMut) {
        self.give_vec(Vec::from(buf));
    }

    /// [`give`](Buffers::give) for a plain vector.
    pub fn give_vec(&self, buf: Vec<u8>) {
        let mut shelf = self.shelf();
        if shelf.len() < SHELF {
            shelf.push(buf);
        }
    }

    /// `buf` as [`Bytes`] that go back on the shelf when the last reference is dropped.
    pub fn bytes(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Shelved {
            buf,
            home: self.clone(),
        })
    }
}

/// A buffer lent out as [`Bytes`]; it goes home when dropped.
struct Shelved {
    buf: Vec<u8>,
    home: Buffers,
}

impl AsRef<[u8]> for Shelved {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Shelved {
    fn drop(&mut self) {
        self.home.give_vec(std::mem::take(&mut self.buf));
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

        let lent = buffers.bytes(buffers.take_filled(4));
        assert_eq!(&lent[..], &[0, 0, 0, 0]);
        drop(lent);
        assert_eq!(buffers.shelf().len(), 1);
    }
}
