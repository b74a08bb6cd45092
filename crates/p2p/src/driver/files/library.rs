//! [`Library`]: the files this peer holds (published, being fetched, fetched) with the chunks
//! it can serve of each, and the progress of its fetches. Shared between the files agent and
//! the chunk route behind a mutex held only for a lookup or an update.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use p2p_proto::files::{ChunkSet, DEFAULT_CHUNK_SIZE, FileMeta, HolderStats};
use serde::{Deserialize, Serialize};

use super::saved::Stamp;

/// How this peer came to hold a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeldKind {
    /// It published it.
    Published,
    /// It is fetching it (or a fetch stopped part way).
    Fetching,
    /// It fetched it whole.
    Fetched,
}

/// One held file.
pub(crate) struct Held {
    pub meta: Arc<FileMeta>,
    pub file: Arc<File>,
    pub path: PathBuf,
    pub have: ChunkSet,
    pub kind: HeldKind,
    pub served: u64,
    /// The file's length and time when its chunks were hashed or written (none while fetching).
    pub stamp: Option<Stamp>,
}

/// Where a fetch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FetchPhase {
    /// Re-hashing the chunks of an existing `.part` file.
    Resuming,
    /// Fetching chunks.
    Fetching,
    /// Complete, verified, renamed to its destination.
    Done,
    /// Stopped; `error` says why. The `.part` is kept: fetching again resumes.
    Failed,
}

/// A fetch as `GET /api/files` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchView {
    /// The content id.
    pub file_id: String,
    /// Its name.
    pub name: String,
    /// Where it goes.
    pub dest: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Chunks in all.
    pub chunks: usize,
    /// Chunks held.
    pub have: usize,
    /// Chunks found already verified in the `.part` at start.
    pub resumed: usize,
    /// Chunks downloaded by this run.
    pub fetched: usize,
    /// The state.
    pub state: FetchPhase,
    /// Why it failed.
    pub error: Option<String>,
    /// Bytes per second so far.
    pub bytes_per_s: u64,
    /// Seconds left at that rate.
    pub eta_s: Option<u64>,
    /// Each holder's record.
    pub holders: Vec<HolderStats>,
}

/// A held file as `GET /api/files` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalFile {
    /// The content id.
    pub file_id: String,
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// Chunks in all.
    pub chunks: usize,
    /// Chunks held.
    pub have: usize,
    /// Where it is on disk.
    pub path: PathBuf,
    /// How it came here.
    pub kind: HeldKind,
    /// Chunks served to other peers.
    pub served: u64,
}

/// See the module docs.
pub(crate) struct Library {
    pub held: HashMap<String, Held>,
    pub fetches: BTreeMap<String, FetchView>,
    pub default_chunk_size: u64,
    /// Bytes per second this peer serves at most (0: no limit).
    pub upload_limit: u64,
    /// When the upload limit lets the next chunk go.
    next_send: Option<Instant>,
}

impl Default for Library {
    fn default() -> Library {
        Library {
            held: HashMap::new(),
            fetches: BTreeMap::new(),
            default_chunk_size: DEFAULT_CHUNK_SIZE,
            upload_limit: 0,
            next_send: None,
        }
    }
}

/// What the chunk route should do for a request.
pub(crate) enum Serve {
    /// Read `len` bytes at `offset` of `file`, and send them no sooner than `not_before`
    /// (the upload limit).
    Read {
        file: Arc<File>,
        offset: u64,
        len: u64,
        not_before: Option<Instant>,
    },
    /// The file is not held here.
    UnknownFile,
    /// The index is past the last chunk (the file has this many).
    PastEnd(usize),
    /// The chunk is not held (yet).
    Missing,
}

impl Library {
    /// Looks a chunk up for serving, counting it as served.
    pub fn serve(&mut self, file_id: &str, chunk: usize) -> Serve {
        let Some(held) = self.held.get_mut(file_id) else {
            return Serve::UnknownFile;
        };
        let Some((offset, len)) = held.meta.chunk_range(chunk) else {
            return Serve::PastEnd(held.meta.chunks());
        };
        if !held.have.contains(chunk) {
            return Serve::Missing;
        }
        held.served += 1;
        let file = held.file.clone();
        Serve::Read {
            file,
            offset,
            len: len as u64,
            not_before: self.pace(len),
        }
    }

    /// Books `len` bytes against the upload limit: when they may be sent.
    fn pace(&mut self, len: usize) -> Option<Instant> {
        if self.upload_limit == 0 {
            return None;
        }
        let now = Instant::now();
        let at = self.next_send.filter(|&t| t > now).unwrap_or(now);
        let cost = Duration::from_secs_f64(len as f64 / self.upload_limit as f64);
        self.next_send = Some(at + cost);
        Some(at + cost)
    }

    /// The file this peer holds under `name`, other than `file_id`, if any.
    pub fn named(&self, name: &str, except: &str) -> Option<&Held> {
        self.held
            .values()
            .find(|h| h.meta.name == name && h.meta.file_id != except)
    }

    pub fn local(&self) -> Vec<LocalFile> {
        let mut files: Vec<LocalFile> = self
            .held
            .values()
            .map(|h| LocalFile {
                file_id: h.meta.file_id.clone(),
                name: h.meta.name.clone(),
                size: h.meta.size,
                chunk_size: h.meta.chunk_size,
                chunks: h.meta.chunks(),
                have: h.have.count(),
                path: h.path.clone(),
                kind: h.kind,
                served: h.served,
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name).then(a.file_id.cmp(&b.file_id)));
        files
    }

    pub fn fetches(&self) -> Vec<FetchView> {
        self.fetches.values().cloned().collect()
    }
}

/// Locks the library (a panic while holding it leaves it usable: every update is one step).
pub(crate) fn lock_lib(lib: &Mutex<Library>) -> MutexGuard<'_, Library> {
    lib.lock().unwrap_or_else(|e| e.into_inner())
}
