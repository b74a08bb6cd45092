//! File sharing on the peer (SPEC §8): publish, serve and fetch, carried out on the loop.
//!
//! - [`Files`]: the handle the API and the console use (publish, fetch, list);
//! - `library`: what this peer holds and serves, shared with the chunk route;
//! - `agent`: the socketless files agent that talks to the tracker and runs every fetch,
//!   carrying out the decisions of [`p2p_proto::files::Fetch`];
//! - `conn`: one keep-alive connection to a holder;
//! - `pool`: worker threads for hashing and disk reads and writes, so the loop never waits on
//!   a disk;
//! - `saved`: `files.json`, what this peer shares, checked against the disk at restart;
//! - `tracker`: the tracker's file endpoints.

pub(crate) mod agent;
pub(crate) mod buffers;
pub(crate) mod conn;
pub(crate) mod disk;
pub(crate) mod library;
pub(crate) mod pool;
pub(crate) mod saved;
pub(crate) mod tracker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use reactor::{Addr, EventLoop, Handle, Inbox};
use serde::Serialize;

pub(crate) use buffers::Buffers;
pub use library::{FetchPhase, FetchView, LocalFile};
pub(crate) use library::{Library, lock_lib};
pub(crate) use pool::Pool;

/// Why a file operation failed, in words a user can act on. The HTTP status follows the kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// A bad argument (no such local file, a chunk size out of range).
    #[error("{0}")]
    Invalid(String),
    /// No file by that name or id on the network.
    #[error("{0}")]
    Unknown(String),
    /// A name that matches several files; the message lists them.
    #[error("{0}")]
    Ambiguous(String),
    /// A clash: a name this peer already uses for another file, or a destination that exists.
    #[error("{message}")]
    Conflict {
        /// What clashed.
        message: String,
        /// The id of the file already there, if it is one.
        file_id: Option<String>,
    },
    /// The tracker refused or could not be reached.
    #[error("{0}")]
    Tracker(String),
    /// A local disk error.
    #[error("{0}")]
    Io(String),
}

impl FileError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            FileError::Invalid(_) => 400,
            FileError::Unknown(_) => 404,
            FileError::Ambiguous(_) | FileError::Conflict { .. } => 409,
            FileError::Tracker(_) => 502,
            FileError::Io(_) => 500,
        }
    }
}

/// The answer to a publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The content id.
    pub file_id: String,
    /// The name it is shared under.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its number of chunks.
    pub chunks: usize,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// Whether the tracker has it (else it is announced once the tracker is reachable).
    pub announced: bool,
    /// Whether it was already published (nothing new was added).
    pub existing: bool,
}

/// The answer to a fetch request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchStarted {
    /// The content id.
    pub file_id: String,
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its number of chunks.
    pub chunks: usize,
    /// Where it is (or will be) written.
    pub dest: PathBuf,
    /// Set when nothing was started, saying why (the file is already here, or being fetched).
    pub note: Option<String>,
}

/// A file the network shares, as the tracker lists it, with what this peer knows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkFile {
    /// The content id.
    pub file_id: String,
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// Its number of chunks.
    pub chunks: usize,
    /// Peer ids of its holders.
    pub holders: Vec<String>,
    /// Chunks this peer holds.
    pub have: usize,
    /// Whether this peer holds it whole.
    pub complete: bool,
    /// Whether this peer holds any of it.
    pub local: bool,
    /// Whether a fetch of it is running here.
    pub fetching: bool,
}

/// Told the outcome of a request, on the loop thread.
pub type FileReply<T> = Box<dyn FnOnce(Result<T, FileError>) + Send>;

/// What the API and the console ask the files agent.
pub(crate) enum FilesCmd {
    Publish {
        path: PathBuf,
        name: Option<String>,
        chunk_size: Option<u64>,
        reply: FileReply<Published>,
    },
    Fetch {
        target: String,
        dest: Option<PathBuf>,
        reply: FileReply<FetchStarted>,
    },
    List {
        reply: FileReply<Vec<NetworkFile>>,
    },
}

/// A fetch's progress, as the UI hears it (`file` events on `/events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEvent {
    /// The content id.
    pub file_id: String,
    /// Its name.
    pub name: String,
    /// Chunks held.
    pub have: usize,
    /// Chunks in all.
    pub chunks: usize,
    /// The fetch's state.
    pub state: FetchPhase,
    /// Why it failed, for a failed fetch.
    pub error: Option<String>,
    /// Bytes per second fetched so far.
    pub bytes_per_s: u64,
    /// Seconds left at that rate.
    pub eta_s: Option<u64>,
}

/// The handle on a peer's file sharing, usable from any thread.
#[derive(Clone)]
pub struct Files {
    pub(crate) lib: Arc<Mutex<Library>>,
    pub(crate) pool: Arc<Pool>,
    handle: Handle,
    agent: Addr<agent::FilesAgent>,
}

impl Files {
    pub(crate) fn new(
        (lib, pool): (Arc<Mutex<Library>>, Arc<Pool>),
        handle: Handle,
        agent: Addr<agent::FilesAgent>,
    ) -> Files {
        Files {
            lib,
            pool,
            handle,
            agent,
        }
    }

    fn send(&self, cmd: FilesCmd) {
        self.handle.send(&self.agent, agent::FilesMsg::Cmd(cmd));
    }

    /// Publishes the file at `path` under `name` (default: its file name), hashing it in
    /// chunks of `chunk_size` (default: the peer's).
    pub fn publish(
        &self,
        path: PathBuf,
        name: Option<String>,
        chunk_size: Option<u64>,
        reply: FileReply<Published>,
    ) {
        self.send(FilesCmd::Publish {
            path,
            name,
            chunk_size,
            reply,
        });
    }

    /// Fetches the file named or identified by `target` into `dest` (default: the peer's
    /// `downloads/` directory).
    pub fn fetch(&self, target: &str, dest: Option<PathBuf>, reply: FileReply<FetchStarted>) {
        self.send(FilesCmd::Fetch {
            target: target.to_string(),
            dest,
            reply,
        });
    }

    /// The files the network shares, with this peer's part in each.
    pub fn list(&self, reply: FileReply<Vec<NetworkFile>>) {
        self.send(FilesCmd::List { reply });
    }

    /// What this peer holds.
    pub fn local(&self) -> Vec<LocalFile> {
        lock_lib(&self.lib).local()
    }

    /// This peer's fetches, running and finished.
    pub fn fetches(&self) -> Vec<FetchView> {
        lock_lib(&self.lib).fetches()
    }

    /// Limits the bytes per second this peer serves to others (0: no limit).
    pub fn set_upload_limit(&self, bytes_per_s: u64) {
        lock_lib(&self.lib).upload_limit = bytes_per_s;
    }

    /// Sets the chunk size used when a publish does not give one.
    pub fn set_default_chunk_size(&self, chunk_size: u64) {
        lock_lib(&self.lib).default_chunk_size = chunk_size;
    }
}

/// Starts file sharing on `event_loop` for the peer whose core is `core`: the library, the
/// worker pool and the files agent. Fetched files go under `data_dir/downloads` by default;
/// what the peer shares is remembered in `data_dir/files.json` (flushed to the disk if `sync`).
pub(crate) fn start(
    event_loop: &mut EventLoop,
    core: &Arc<Mutex<super::Core>>,
    tracker: Option<SocketAddr>,
    data_dir: &Path,
    sync: bool,
) -> std::io::Result<Files> {
    let lib = Arc::new(Mutex::new(Library::default()));
    let pool = Arc::new(Pool::new(pool::WORKERS, "files")?);
    let buffers = Buffers::default();
    let shared = (lib.clone(), pool.clone(), buffers);
    let inbox = Inbox::default();
    let addr = inbox.addr();
    let me = (addr.clone(), event_loop.handle());
    let saver = Arc::new(saved::Saver::new(data_dir, sync));
    let agent = agent::FilesAgent::new(core.clone(), shared, tracker, (data_dir, saver), me);
    event_loop.spawn(inbox.bind(agent));
    Ok(Files::new((lib, pool), event_loop.handle(), addr))
}
