//! File sharing (SPEC §8), the pure part: chunk digests, file ids, chunk sets, and the fetch
//! state machine ([`Fetch`]) that decides which chunk to ask which holder for.
//!
//! A file is cut into chunks of `chunk_size` bytes (the last may be shorter). Each chunk's
//! digest is BLAKE3 (measured against SHA-256 on the target machine: see docs/PROTOCOL.md), and
//! the file id is the hex SHA-256 of the raw 32-byte chunk digests concatenated, as the tracker
//! computes it, so the same content has the same id whoever publishes it.

mod chunks;
mod fetch;
#[cfg(test)]
mod tests;

pub use chunks::ChunkSet;
pub use fetch::{
    BadChunk, DOWN_BACKOFF_MS, Fetch, HolderInfo, HolderStats, MAX_BACKOFF_MS, MAX_FAULTS,
    MAX_VERIFYING, STUCK_GRACE_MS, Want,
};

use sha2::{Digest as _, Sha256};

/// Chunk size when none is given: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 1 << 20;
/// Largest chunk size a peer accepts (the tracker's limit too): 16 MiB.
pub const MAX_CHUNK_SIZE: u64 = 16 << 20;

/// The 32-byte digest of one chunk.
pub type Digest = [u8; 32];

/// The digest of one chunk's bytes (BLAKE3).
pub fn chunk_digest(data: &[u8]) -> Digest {
    *blake3::hash(data).as_bytes()
}

/// A chunk's digest taken as its bytes arrive, slice by slice in order, while they are still in
/// cache: [`finish`](Self::finish) answers what [`chunk_digest`] of the whole chunk would.
#[derive(Default)]
pub struct ChunkHasher(blake3::Hasher);

impl ChunkHasher {
    /// Adds the next bytes of the chunk.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of every byte added so far.
    pub fn finish(&self) -> Digest {
        *self.0.finalize().as_bytes()
    }
}

/// The file id of a file whose chunks have these digests: hex SHA-256 of the digests
/// concatenated (the tracker computes the same).
pub fn file_id(digests: &[Digest]) -> String {
    hex(&Sha256::digest(digests.as_flattened()))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// A digest from 64 hex digits.
pub fn parse_digest(text: &str) -> Option<Digest> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Whether `text` looks like a file id (64 hex digits) rather than a name.
pub fn is_file_id(text: &str) -> bool {
    parse_digest(text).is_some()
}

/// How many chunks of `chunk_size` a file of `size` bytes has.
pub fn chunk_count(size: u64, chunk_size: u64) -> usize {
    size.div_ceil(chunk_size.max(1)) as usize
}

/// What a file is: its id, name, size, chunk size and chunk digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The content id ([`file_id`] of `digests`).
    pub file_id: String,
    /// The name it is known by.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes per chunk (the last chunk may be shorter).
    pub chunk_size: u64,
    /// One digest per chunk.
    pub digests: Vec<Digest>,
}

impl FileMeta {
    /// The metadata of a file with these chunk digests; the id is computed.
    pub fn new(name: &str, size: u64, chunk_size: u64, digests: Vec<Digest>) -> FileMeta {
        FileMeta {
            file_id: file_id(&digests),
            name: name.to_string(),
            size,
            chunk_size,
            digests,
        }
    }

    /// The number of chunks.
    pub fn chunks(&self) -> usize {
        self.digests.len()
    }

    /// Where chunk `index` lies in the file: its offset and length, or `None` past the end.
    pub fn chunk_range(&self, index: usize) -> Option<(u64, usize)> {
        if index >= self.chunks() {
            return None;
        }
        let offset = index as u64 * self.chunk_size;
        let len = self.chunk_size.min(self.size - offset);
        Some((offset, len as usize))
    }

    /// Whether `data` is chunk `index`, byte for byte.
    pub fn verify(&self, index: usize, data: &[u8]) -> bool {
        self.verify_digest(index, data.len(), &chunk_digest(data))
    }

    /// Whether chunk `index` of `len` bytes with this digest (taken by a [`ChunkHasher`] as
    /// the bytes arrived) is right: its length and its digest.
    pub fn verify_digest(&self, index: usize, len: usize, digest: &Digest) -> bool {
        self.chunk_range(index).is_some_and(|(_, l)| l == len) && self.digests[index] == *digest
    }

    /// The chunk digests in hex, as the tracker takes them.
    pub fn hex_digests(&self) -> Vec<String> {
        self.digests.iter().map(|d| hex(d)).collect()
    }

    /// Whether these fields are consistent: a digest per chunk and the id they give.
    pub fn is_consistent(&self) -> bool {
        self.chunk_size > 0
            && chunk_count(self.size, self.chunk_size) == self.digests.len()
            && file_id(&self.digests) == self.file_id
    }
}
