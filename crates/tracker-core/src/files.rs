//! The file index of SPEC §8: which peers hold which chunks of which file.
//!
//! A file is identified by its content: `file_id` is the lower-case hex SHA-256 of the raw
//! 32-byte SHA-256 digests of its chunks, concatenated in order ([`file_id_of`]). The same
//! content published by several peers is one entry with several holders; each holder keeps the
//! name it published the file under, and a name may repeat across peers but not within one
//! peer's files (409).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrackerError};
use crate::limits::{self, MAX_CHUNK_SIZE, MAX_FILE_CHUNKS, MAX_FILES_PER_PEER, bad};
use crate::paging::{self, Page, Paged};
use crate::registry::{Registry, not_registered};
use crate::secret::{decode_hex, hex, sha256};

/// One file of the index.
#[derive(Debug)]
pub(crate) struct FileEntry {
    /// The name of its first publisher, shown in listings.
    name: Box<str>,
    size: u64,
    chunk_size: u64,
    hashes: Box<[[u8; 32]]>,
    holders: BTreeMap<Arc<str>, Holder>,
}

#[derive(Debug)]
struct Holder {
    /// The name this holder knows the file by.
    name: Box<str>,
    chunks: ChunkSet,
}

/// Which chunks one holder has: a bitmap, 8 KiB at most for [`MAX_FILE_CHUNKS`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChunkSet {
    words: Box<[u64]>,
    count: u32,
}

impl ChunkSet {
    fn empty(n: usize) -> ChunkSet {
        ChunkSet {
            words: vec![0; n.div_ceil(64)].into_boxed_slice(),
            count: 0,
        }
    }

    fn full(n: usize) -> ChunkSet {
        let mut set = ChunkSet::empty(n);
        for i in 0..n {
            set.insert(i);
        }
        set
    }

    /// Adds chunk `i`, which must be below the size given at creation.
    fn insert(&mut self, i: usize) {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.words[word] & bit == 0 {
            self.words[word] |= bit;
            self.count += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64u32)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w as u32 * 64 + b)
        })
    }
}

/// Body of `POST /files/publish`: the publisher holds every chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PublishParams {
    /// The publishing peer.
    pub peer_id: String,
    /// Its token.
    pub token: Option<String>,
    /// A plain file name, unique among this peer's files.
    pub name: String,
    /// File size in bytes.
    pub size: u64,
    /// Chunk size in bytes, 1..=[`MAX_CHUNK_SIZE`].
    pub chunk_size: u64,
    /// SHA-256 of each chunk as 64 hex digits; exactly `ceil(size / chunk_size)` of them.
    pub chunk_hashes: Vec<String>,
}

/// Answer to a publish: `{file_id, chunks}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The file's content id.
    pub file_id: String,
    /// Its number of chunks.
    pub chunks: u64,
}

/// Body of `POST /files/:id/chunks`: chunks the peer now has and serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ChunkParams {
    /// The peer.
    pub peer_id: String,
    /// Its token.
    pub token: Option<String>,
    /// Chunk indices, each below the file's chunk count; repeats are harmless.
    pub chunks: Vec<u64>,
}

/// Answer to a chunk registration: `{file_id, have, chunks, complete}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunksAdded {
    /// The file.
    pub file_id: String,
    /// How many chunks the peer now has.
    pub have: u64,
    /// How many chunks the file has.
    pub chunks: u64,
    /// Whether the peer has them all.
    pub complete: bool,
}

/// One entry of `GET /files`: `{file_id, name, size, chunk_size, chunks, holders}`, where
/// `chunks` is the chunk count and `holders` the live holders' ids, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    /// The file's content id.
    pub file_id: String,
    /// Its first publisher's name for it.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Chunk size in bytes.
    pub chunk_size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// Ids of the peers holding at least one chunk.
    pub holders: Vec<String>,
}

/// `GET /files/:id`: `{file_id, name, size, chunk_size, chunks, chunk_hashes, holders:[{peer_id,
/// ip, port, chunks:[indices], complete}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileView {
    /// The file's content id.
    pub file_id: String,
    /// Its first publisher's name for it.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Chunk size in bytes.
    pub chunk_size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// SHA-256 of each chunk, lower-case hex.
    pub chunk_hashes: Vec<String>,
    /// Live holders sorted by id, with where to dial them and what they have.
    pub holders: Vec<HolderView>,
}

/// One holder of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderView {
    /// The holder's id.
    pub peer_id: String,
    /// Address to fetch chunks from.
    pub ip: IpAddr,
    /// Port to fetch chunks from.
    pub port: u16,
    /// Indices of the chunks it has, ascending.
    pub chunks: Vec<u32>,
    /// Whether it has every chunk.
    pub complete: bool,
}

/// One entry of `GET /peers/:peer_id/files`: `{file_id, name, size, chunk_size, chunks, have,
/// complete}`, where `name` is the name this peer gave the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerFile {
    /// The file's content id.
    pub file_id: String,
    /// This peer's name for it.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Chunk size in bytes.
    pub chunk_size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// How many chunks this peer has.
    pub have: u64,
    /// Whether it has them all.
    pub complete: bool,
}

/// The content id of a file whose chunks have these SHA-256 digests: hex SHA-256 of the
/// digests concatenated.
pub fn file_id_of(digests: &[[u8; 32]]) -> String {
    hex(&sha256(digests.as_flattened()))
}

/// [`file_id_of`] for hex chunk hashes, as sent to `/files/publish`; a hash that is not 64 hex
/// digits is a 400.
pub fn file_id(chunk_hashes: &[String]) -> Result<String> {
    Ok(file_id_of(&decode_digests(chunk_hashes)?))
}

fn decode_digests(hashes: &[String]) -> Result<Vec<[u8; 32]>> {
    hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut d = [0u8; 32];
            if decode_hex(h, &mut d) {
                Ok(d)
            } else {
                Err(bad(format!("chunk hash {i} is not 64 hex digits")))
            }
        })
        .collect()
}

fn unknown_file(file_id: &str) -> TrackerError {
    TrackerError::NotFound(format!("file {file_id} is not in the index"))
}

impl Registry {
    /// Adds a file to the index with the peer as a holder of every chunk.
    ///
    /// Publishing the same content again (by anyone) adds or refreshes a holder; the same peer
    /// may rename its copy. Errors: 400 for bad metadata, 409 for a name this peer already uses
    /// for other content or for known content announced with another size or chunk size.
    pub fn publish(&mut self, params: PublishParams, now: u64) -> Result<Published> {
        self.expire(now);
        self.authed(&params.peer_id, params.token.as_deref())?;
        let PublishParams {
            peer_id,
            name,
            size,
            chunk_size,
            chunk_hashes,
            ..
        } = params;
        limits::file_name(&name)?;
        if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
            return Err(bad(format!(
                "chunk_size must be in 1..={MAX_CHUNK_SIZE}, got {chunk_size}"
            )));
        }
        let count = size.div_ceil(chunk_size);
        if count > MAX_FILE_CHUNKS {
            return Err(bad(format!(
                "{size} bytes in chunks of {chunk_size} is {count} chunks, more than {MAX_FILE_CHUNKS}"
            )));
        }
        if chunk_hashes.len() as u64 != count {
            return Err(bad(format!(
                "{size} bytes in chunks of {chunk_size} needs {count} chunk hashes, got {}",
                chunk_hashes.len()
            )));
        }
        let digests = decode_digests(&chunk_hashes)?;
        let file_id = file_id_of(&digests);

        let peer = self
            .peers
            .get(peer_id.as_str())
            .ok_or_else(|| not_registered(&peer_id))?;
        let holds = peer.files.iter().any(|f| **f == *file_id);
        for other in peer.files.iter().filter(|f| ***f != *file_id) {
            if self
                .files
                .get(other)
                .and_then(|e| e.holders.get(peer_id.as_str()))
                .is_some_and(|h| *h.name == *name)
            {
                return Err(TrackerError::Conflict(format!(
                    "peer {peer_id} already shares another file named {name:?} ({other})"
                )));
            }
        }
        if !holds && peer.files.len() >= MAX_FILES_PER_PEER {
            return Err(bad(format!(
                "a peer may share at most {MAX_FILES_PER_PEER} files"
            )));
        }
        if let Some(e) = self.files.get(file_id.as_str()) {
            // One chunk fixes the content but not the chunk size, so only a size clash matters there.
            if e.size != size || (e.chunk_size != chunk_size && count > 1) {
                return Err(TrackerError::Conflict(format!(
                    "file {file_id} is published with size {} and chunk size {}",
                    e.size, e.chunk_size
                )));
            }
        }

        let id = self
            .key_of(&peer_id)
            .ok_or_else(|| not_registered(&peer_id))?;
        let fkey = self
            .files
            .get_key_value(file_id.as_str())
            .map_or_else(|| file_id.as_str().into(), |(k, _)| k.clone());
        let entry = self.files.entry(fkey.clone()).or_insert_with(|| FileEntry {
            name: name.as_str().into(),
            size,
            chunk_size,
            hashes: digests.into_boxed_slice(),
            holders: BTreeMap::new(),
        });
        let holder = Holder {
            name: name.into(),
            chunks: ChunkSet::full(entry.hashes.len()),
        };
        entry.holders.insert(id.clone(), holder);
        self.add_file_to_peer(&id, fkey);
        self.touch(&id, now);
        Ok(Published {
            file_id,
            chunks: count,
        })
    }

    /// Records that a peer now has some chunks of a known file, making it a holder if it was
    /// not one (under the file's listed name; the per-peer name rule covers only publish).
    pub fn add_chunks(
        &mut self,
        file_id: &str,
        params: ChunkParams,
        now: u64,
    ) -> Result<ChunksAdded> {
        self.expire(now);
        let peer = self.authed(&params.peer_id, params.token.as_deref())?;
        let holds = peer.files.iter().any(|f| **f == *file_id);
        let held = peer.files.len();
        let (fkey, entry) = self
            .files
            .get_key_value(file_id)
            .ok_or_else(|| unknown_file(file_id))?;
        let count = entry.hashes.len();
        if params.chunks.len() as u64 > MAX_FILE_CHUNKS {
            return Err(bad(format!("more than {MAX_FILE_CHUNKS} chunk indices")));
        }
        if let Some(c) = params.chunks.iter().find(|&&c| c >= count as u64) {
            return Err(bad(format!(
                "chunk {c} out of range: file {file_id} has {count} chunks"
            )));
        }
        let answer = |have: u32| ChunksAdded {
            file_id: file_id.to_string(),
            have: u64::from(have),
            chunks: count as u64,
            complete: have as usize == count,
        };
        if !holds && params.chunks.is_empty() {
            self.touch(&params.peer_id, now);
            return Ok(answer(0));
        }
        if !holds && held >= MAX_FILES_PER_PEER {
            return Err(bad(format!(
                "a peer may share at most {MAX_FILES_PER_PEER} files"
            )));
        }
        let fkey = fkey.clone();
        let id = self
            .key_of(&params.peer_id)
            .ok_or_else(|| not_registered(&params.peer_id))?;
        let entry = self
            .files
            .get_mut(&fkey)
            .ok_or_else(|| unknown_file(file_id))?;
        let name = entry.name.clone();
        let holder = entry.holders.entry(id.clone()).or_insert_with(|| Holder {
            name,
            chunks: ChunkSet::empty(count),
        });
        for &c in &params.chunks {
            holder.chunks.insert(c as usize);
        }
        let have = holder.chunks.count;
        if !holds {
            self.add_file_to_peer(&id, fkey);
        }
        self.touch(&id, now);
        Ok(answer(have))
    }

    /// One page of the files with a live holder, in id order (see [`paging`]); every holder
    /// listed counts towards the page's work, so many well-held files make a shorter page.
    pub fn files(&self, page: &Page, now: u64) -> Paged<FileSummary> {
        let entries = self
            .files
            .range::<str, _>(page.keys())
            .map(|(id, e)| (&**id, e));
        let view = |id: &str, e: &FileEntry| {
            let holders: Vec<String> = self
                .live_holders(e, now)
                .map(|(h, _)| h.to_string())
                .collect();
            (!holders.is_empty()).then(|| FileSummary {
                file_id: id.to_string(),
                name: e.name.to_string(),
                size: e.size,
                chunk_size: e.chunk_size,
                chunks: e.hashes.len() as u64,
                holders,
            })
        };
        paging::collect_weighted(page, entries, view, |f| f.holders.len())
    }

    /// One file with its chunk hashes and live holders; unknown or held by nobody live → 404.
    pub fn file(&self, file_id: &str, now: u64) -> Result<FileView> {
        let e = self
            .files
            .get(file_id)
            .ok_or_else(|| unknown_file(file_id))?;
        let count = e.hashes.len();
        let holders: Vec<HolderView> = self
            .live_holders(e, now)
            .filter_map(|(id, h)| {
                let p = self.peers.get(id)?;
                Some(HolderView {
                    peer_id: id.to_string(),
                    ip: p.ip,
                    port: p.port,
                    chunks: h.chunks.iter().collect(),
                    complete: h.chunks.count as usize == count,
                })
            })
            .collect();
        if holders.is_empty() {
            return Err(unknown_file(file_id));
        }
        Ok(FileView {
            file_id: file_id.to_string(),
            name: e.name.to_string(),
            size: e.size,
            chunk_size: e.chunk_size,
            chunks: count as u64,
            chunk_hashes: e.hashes.iter().map(|h| hex(h)).collect(),
            holders,
        })
    }

    /// The files a peer holds, sorted by its names for them; unknown or expired peer → 404.
    pub fn peer_files(&self, peer_id: &str, now: u64) -> Result<Vec<PeerFile>> {
        let peer = self
            .peers
            .get(peer_id)
            .filter(|p| p.is_live(now))
            .ok_or_else(|| not_registered(peer_id))?;
        let mut out: Vec<PeerFile> = peer
            .files
            .iter()
            .filter_map(|fid| {
                let e = self.files.get(fid)?;
                let h = e.holders.get(peer_id)?;
                let count = e.hashes.len();
                Some(PeerFile {
                    file_id: fid.to_string(),
                    name: h.name.to_string(),
                    size: e.size,
                    chunk_size: e.chunk_size,
                    chunks: count as u64,
                    have: u64::from(h.chunks.count),
                    complete: h.chunks.count as usize == count,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.name, &a.file_id).cmp(&(&b.name, &b.file_id)));
        Ok(out)
    }

    /// Takes `peer_id` off a file's holder list (not off the peer's own list) and drops the
    /// file once nobody holds it.
    pub(crate) fn remove_holder(&mut self, peer_id: &str, file_id: &str) {
        if let Some(e) = self.files.get_mut(file_id) {
            e.holders.remove(peer_id);
            if e.holders.is_empty() {
                self.files.remove(file_id);
            }
        }
    }

    fn add_file_to_peer(&mut self, id: &str, fkey: Arc<str>) {
        if let Some(peer) = self.peers.get_mut(id)
            && !peer.files.contains(&fkey)
        {
            let mut files = std::mem::take(&mut peer.files).into_vec();
            files.push(fkey);
            peer.files = files.into_boxed_slice();
        }
    }

    fn live_holders<'a>(
        &'a self,
        e: &'a FileEntry,
        now: u64,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a Holder)> + 'a {
        e.holders
            .iter()
            .filter(move |(id, _)| self.peers.get(id).is_some_and(|p| p.is_live(now)))
    }
}
