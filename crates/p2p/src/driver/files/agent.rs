//! The files agent: a socketless entry that publishes files, answers the file list, and runs
//! every fetch — the tracker requests, the connections to holders, and the disk work handed to
//! the pool — carrying out the decisions of [`Fetch`].
//!
//! A fetch: look the file up (by name through `GET /files`, then `GET /files/:id`), open
//! `DEST.part` and re-hash what it holds (on the pool), then keep the window [`Fetch::wants`]
//! full over keep-alive [`ChunkConn`]s, verify and write each chunk on the pool, register
//! verified chunks with the tracker in batches, re-read the holders every
//! [`RELOCATE_EVERY`], and rename to `DEST` when whole. That half lives in `fetching.rs`; this
//! file holds the agent, its commands, publishing and the tracker's answers.

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_core::{Request, Status};
use p2p_proto::files::{ChunkSet, Fetch, FileMeta, HolderInfo, MAX_CHUNK_SIZE, is_file_id};
use reactor::client::{ClientReply, ClientResponse};
use reactor::{Addr, Cx, Handle, Protocol};

mod fetching;

use super::conn::{ChunkConn, ConnEvent};
use super::disk::{self, Written};
use super::library::{FetchPhase, Held, HeldKind};
use super::saved::{self, Saver, Stamp};
use super::tracker as api;
use super::{
    Buffers, FetchStarted, FileError, FileEvent, FileReply, FilesCmd, Library, NetworkFile, Pool,
    Published, lock_lib,
};
use crate::driver::tracker::{REQUEST_TIMEOUT, error_message};
use crate::driver::{Core, UiEvent, lock};

/// How often running fetches are looked after (retries, progress events, stuck checks).
pub const TICK: Duration = Duration::from_millis(250);
/// How often a running fetch asks the tracker for the holders again.
pub const RELOCATE_EVERY: Duration = Duration::from_secs(1);
/// Requests in flight per holder: one per connection, so also connections per holder.
pub const WINDOW_PER_HOLDER: usize = 4;

/// What the files agent is sent.
pub(crate) enum FilesMsg {
    /// A request of the API or the console.
    Cmd(FilesCmd),
    /// News from a connection to a holder.
    Conn(ConnEvent),
    /// A result of the pool.
    Work(Work),
    /// A tracker answer.
    Tracker(ClientReply),
}

/// What the pool hands back.
pub(crate) enum Work {
    Hashed {
        path: PathBuf,
        reply: FileReply<Published>,
        result: std::io::Result<(FileMeta, File, Stamp)>,
    },
    /// `files.json` checked against the disk at start: what is shared again, and why the rest
    /// is not.
    Restored {
        kept: Vec<Held>,
        dropped: Vec<String>,
    },
    /// `files.json` is written: carry on.
    Saved(AfterSave),
    Opened {
        file_id: String,
        result: std::io::Result<(File, ChunkSet)>,
    },
    Written {
        file_id: String,
        chunk: usize,
        outcome: Written,
    },
}

/// What the agent does once `files.json` is on the disk.
pub(crate) type AfterSave = Box<dyn FnOnce(&mut FilesAgent, &mut Cx<'_>) + Send>;

enum Pending {
    Publish {
        meta: Arc<FileMeta>,
        reply: Option<FileReply<Published>>,
    },
    Lookup {
        name: String,
        dest: Option<PathBuf>,
        reply: FileReply<FetchStarted>,
    },
    Locate {
        dest: Option<PathBuf>,
        reply: FileReply<FetchStarted>,
    },
    Relocate(String),
    Register {
        file_id: String,
        chunks: Vec<usize>,
    },
    List(FileReply<Vec<NetworkFile>>),
}

/// One connection to a holder.
struct Slot {
    conn: Addr<ChunkConn>,
    file_id: String,
    holder: String,
    chunk: Option<usize>,
    open: bool,
}

/// One fetch being run.
struct Job {
    meta: Arc<FileMeta>,
    fetch: Option<Fetch>,
    holders: Vec<HolderInfo>,
    file: Option<Arc<File>>,
    part: PathBuf,
    dest: PathBuf,
    phase: FetchPhase,
    error: Option<String>,
    started: Instant,
    resumed: usize,
    fetched: usize,
    unregistered: Vec<usize>,
    registering: bool,
    /// Complete and renamed; its record in `files.json` is being written.
    saving: bool,
    located_at: Instant,
    locating: bool,
    shown_have: Option<usize>,
}

/// See the module docs.
pub(crate) struct FilesAgent {
    core: Arc<Mutex<Core>>,
    lib: Arc<Mutex<Library>>,
    pool: Arc<Pool>,
    buffers: Buffers,
    tracker: Option<SocketAddr>,
    downloads: PathBuf,
    saver: Arc<Saver>,
    /// This entry and the loop (the pool's jobs answer through them).
    me: (Addr<FilesAgent>, Handle),
    pending: HashMap<u64, Pending>,
    next_tag: u64,
    jobs: HashMap<String, Job>,
    slots: HashMap<u64, Slot>,
    /// Tracker registrations seen: a new one means announcing every held file again.
    registrations: u64,
}

impl FilesAgent {
    pub fn new(
        core: Arc<Mutex<Core>>,
        (lib, pool, buffers): (Arc<Mutex<Library>>, Arc<Pool>, Buffers),
        tracker: Option<SocketAddr>,
        (data_dir, saver): (&Path, Arc<Saver>),
        me: (Addr<FilesAgent>, Handle),
    ) -> FilesAgent {
        FilesAgent {
            core,
            lib,
            pool,
            buffers,
            tracker,
            downloads: data_dir.join("downloads"),
            saver,
            me,
            pending: HashMap::new(),
            next_tag: 1,
            jobs: HashMap::new(),
            slots: HashMap::new(),
            registrations: 0,
        }
    }

    fn tag(&mut self) -> u64 {
        self.next_tag += 1;
        self.next_tag
    }

    /// Our peer id and tracker token, once registered.
    fn credentials(&self) -> Option<(String, String)> {
        let core = lock(&self.core);
        let token = core.tracker_token.clone()?;
        Some((core.state.peer_id().to_string(), token))
    }

    fn request(&mut self, cx: &mut Cx<'_>, req: Request, pending: Pending) -> bool {
        let Some(addr) = self.tracker else {
            self.fail_pending(pending, "no tracker is configured".to_string());
            return false;
        };
        let tag = self.tag();
        self.pending.insert(tag, pending);
        let owner = self.me.0.clone();
        reactor::client::start(
            cx,
            addr,
            req,
            owner,
            FilesMsg::Tracker,
            tag,
            REQUEST_TIMEOUT,
        );
        true
    }

    /// Runs `job` on the pool; its result comes back as a [`Work`] message.
    fn spawn_work(&self, job: impl FnOnce() -> Work + Send + 'static) {
        let (me, handle) = self.me.clone();
        self.pool
            .run(move || handle.send(&me, FilesMsg::Work(job())));
    }

    /// Saves the list of shared files, off the loop.
    fn save(&self) {
        let (saver, lib) = (self.saver.clone(), self.lib.clone());
        self.pool.run(move || saver.save(&lib));
    }

    /// Saves the list of shared files off the loop, then carries on with `then` on the loop:
    /// what is acknowledged after it is on the disk.
    fn save_then(&self, then: impl FnOnce(&mut FilesAgent, &mut Cx<'_>) + Send + 'static) {
        let (saver, lib) = (self.saver.clone(), self.lib.clone());
        self.spawn_work(move || {
            saver.save(&lib);
            Work::Saved(Box::new(then))
        });
    }

    /// Shares again what `files.json` listed and the disk confirmed, and announces it.
    fn restored(&mut self, cx: &mut Cx<'_>, kept: Vec<Held>, dropped: Vec<String>) {
        for why in &dropped {
            log::warn!(
                "{}: {why}; it is no longer shared",
                self.saver.path().display()
            );
        }
        let mut metas = Vec::new();
        {
            let mut lib = lock_lib(&self.lib);
            for held in kept {
                let meta = held.meta.clone();
                // Published again by the user while the check ran: that entry stands.
                if lib.held.contains_key(&meta.file_id) || lib.named(&meta.name, "").is_some() {
                    continue;
                }
                log::info!(
                    "sharing {} ({}) again from {}",
                    meta.name,
                    meta.file_id,
                    held.path.display()
                );
                lib.held.insert(meta.file_id.clone(), held);
                metas.push(meta);
            }
        }
        if !dropped.is_empty() {
            self.save();
        }
        for meta in metas {
            self.announce(cx, meta, None);
        }
    }

    fn emit(&self, event: FileEvent) {
        lock(&self.core).emit(&UiEvent::File(event));
    }

    fn on_cmd(&mut self, cx: &mut Cx<'_>, cmd: FilesCmd) {
        match cmd {
            FilesCmd::Publish {
                path,
                name,
                chunk_size,
                reply,
            } => self.publish(path, name, chunk_size, reply),
            FilesCmd::Fetch {
                target,
                dest,
                reply,
            } => {
                let target = target.trim().to_string();
                if is_file_id(&target) {
                    let req = api::location(&target);
                    self.request(cx, req, Pending::Locate { dest, reply });
                } else if target.is_empty() {
                    reply(Err(FileError::Invalid("name a file or a file id".into())));
                } else {
                    let pending = Pending::Lookup {
                        name: target,
                        dest,
                        reply,
                    };
                    self.request(cx, api::list(), pending);
                }
            }
            FilesCmd::List { reply } => {
                if self.tracker.is_some() {
                    self.request(cx, api::list(), Pending::List(reply));
                } else {
                    reply(Ok(self.network_view(Vec::new())));
                }
            }
        }
    }

    fn publish(
        &mut self,
        path: PathBuf,
        name: Option<String>,
        chunk_size: Option<u64>,
        reply: FileReply<Published>,
    ) {
        let chunk_size = chunk_size.unwrap_or_else(|| lock_lib(&self.lib).default_chunk_size);
        if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
            let why = format!("chunk size must be in 1..={MAX_CHUNK_SIZE}, got {chunk_size}");
            return reply(Err(FileError::Invalid(why)));
        }
        if !path.is_file() {
            let why = format!("{} is not a readable file", path.display());
            return reply(Err(FileError::Invalid(why)));
        }
        let name = name
            .filter(|n| !n.trim().is_empty())
            .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "file".to_string());
        self.spawn_work(move || {
            // Held (and saved) by its absolute path: a restart from elsewhere still finds it.
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            let result = disk::hash_file(&path, &name, chunk_size);
            Work::Hashed {
                path,
                reply,
                result,
            }
        });
    }

    fn hashed(
        &mut self,
        path: PathBuf,
        reply: FileReply<Published>,
        result: std::io::Result<(FileMeta, File, Stamp)>,
    ) {
        let (meta, file, stamp) = match result {
            Ok(pair) => pair,
            Err(e) => {
                let why = format!("cannot read {}: {e}", path.display());
                return reply(Err(FileError::Io(why)));
            }
        };
        let mut lib = lock_lib(&self.lib);
        if let Some(held) = lib.held.get(&meta.file_id)
            && held.kind != HeldKind::Fetching
        {
            let answer = published(&held.meta, true, true);
            drop(lib);
            return reply(Ok(answer));
        }
        if let Some(other) = lib.named(&meta.name, &meta.file_id) {
            let message = format!(
                "you already share another file named {:?} ({})",
                meta.name, other.meta.file_id
            );
            let file_id = Some(other.meta.file_id.clone());
            drop(lib);
            return reply(Err(FileError::Conflict { message, file_id }));
        }
        let meta = Arc::new(meta);
        let have = ChunkSet::full(meta.chunks());
        lib.held.insert(
            meta.file_id.clone(),
            Held {
                meta: meta.clone(),
                file: Arc::new(file),
                path,
                have,
                kind: HeldKind::Published,
                served: 0,
                stamp: Some(stamp),
            },
        );
        drop(lib);
        log::info!(
            "published {} ({} bytes, {} chunks) as {}",
            meta.name,
            meta.size,
            meta.chunks(),
            meta.file_id
        );
        self.save_then(move |agent, cx| agent.announce(cx, meta, Some(reply)));
    }

    /// Tells the tracker we publish `meta`; `reply` hears the outcome.
    fn announce(
        &mut self,
        cx: &mut Cx<'_>,
        meta: Arc<FileMeta>,
        reply: Option<FileReply<Published>>,
    ) {
        match self.credentials() {
            Some((peer_id, token)) if self.tracker.is_some() => {
                let req = api::publish(&peer_id, &token, &meta);
                self.request(cx, req, Pending::Publish { meta, reply });
            }
            _ => {
                if let Some(reply) = reply {
                    reply(Ok(published(&meta, false, false)));
                }
            }
        }
    }

    fn fail_pending(&mut self, pending: Pending, why: String) {
        let error = FileError::Tracker(why.clone());
        match pending {
            Pending::Publish { meta, reply } => {
                log::warn!("tracker: announcing {} failed: {why}", meta.name);
                if let Some(reply) = reply {
                    reply(Ok(published(&meta, false, false)));
                }
            }
            Pending::Lookup { reply, .. } | Pending::Locate { reply, .. } => reply(Err(error)),
            Pending::List(reply) => {
                log::debug!("tracker: listing files failed: {why}");
                reply(Ok(self.network_view(Vec::new())));
            }
            Pending::Relocate(file_id) => {
                if let Some(job) = self.jobs.get_mut(&file_id) {
                    job.locating = false;
                }
            }
            Pending::Register { file_id, chunks } => {
                log::debug!("tracker: registering chunks of {file_id} failed: {why}");
                if let Some(job) = self.jobs.get_mut(&file_id) {
                    job.registering = false;
                    job.unregistered.extend(chunks);
                }
            }
        }
    }

    fn on_reply(&mut self, cx: &mut Cx<'_>, pending: Pending, response: ClientResponse) {
        let ok = response.status.is_success();
        let body = &response.body;
        match pending {
            Pending::Publish { meta, reply } if !ok => {
                let message = error_message(body);
                log::warn!("tracker refused {}: {message}", meta.name);
                if let Some(reply) = reply {
                    let error = if response.status == Status::CONFLICT {
                        FileError::Conflict {
                            message,
                            file_id: None,
                        }
                    } else {
                        FileError::Tracker(message)
                    };
                    reply(Err(error));
                }
            }
            Pending::Publish { meta, reply } => {
                if let Some(reply) = reply {
                    reply(Ok(published(&meta, true, false)));
                }
            }
            Pending::Lookup { name, dest, reply } => match api::parse_list(body) {
                Ok(listed) if ok => self.looked_up(cx, &name, dest, reply, listed),
                Ok(_) | Err(_) => reply(Err(FileError::Tracker(error_message(body)))),
            },
            Pending::Locate { dest, reply } => {
                if response.status == Status::NOT_FOUND {
                    return reply(Err(FileError::Unknown(error_message(body))));
                }
                match api::parse_location(body) {
                    Ok((meta, holders)) if ok => self.start_fetch(meta, holders, dest, reply),
                    Ok(_) => reply(Err(FileError::Tracker(error_message(body)))),
                    Err(e) => reply(Err(FileError::Tracker(e))),
                }
            }
            Pending::Relocate(file_id) => {
                let Some(job) = self.jobs.get_mut(&file_id) else {
                    return;
                };
                job.locating = false;
                if let Ok((_, holders)) = api::parse_location(body) {
                    match job.fetch.as_mut() {
                        Some(fetch) => fetch.set_holders(holders),
                        None => job.holders = holders,
                    }
                    self.pump(cx, &file_id);
                }
            }
            Pending::Register { file_id, chunks } => {
                if !ok {
                    return self
                        .fail_pending(Pending::Register { file_id, chunks }, error_message(body));
                }
                if let Some(job) = self.jobs.get_mut(&file_id) {
                    job.registering = false;
                }
                self.register(cx, &file_id);
            }
            Pending::List(reply) => {
                let listed = api::parse_list(body).unwrap_or_default();
                reply(Ok(self.network_view(listed)));
            }
        }
    }

    fn looked_up(
        &mut self,
        cx: &mut Cx<'_>,
        name: &str,
        dest: Option<PathBuf>,
        reply: FileReply<FetchStarted>,
        listed: Vec<api::Listed>,
    ) {
        let matches: Vec<&api::Listed> = listed.iter().filter(|f| f.name == name).collect();
        match matches.as_slice() {
            [] => reply(Err(FileError::Unknown(format!(
                "no file named {name:?} is shared on the network"
            )))),
            [one] => {
                let req = api::location(&one.file_id);
                self.request(cx, req, Pending::Locate { dest, reply });
            }
            several => {
                let list: Vec<String> = several
                    .iter()
                    .map(|f| {
                        format!(
                            "{} ({} bytes, {} holders)",
                            f.file_id,
                            f.size,
                            f.holders.len()
                        )
                    })
                    .collect();
                reply(Err(FileError::Ambiguous(format!(
                    "{} files are named {name:?}; fetch one by id: {}",
                    several.len(),
                    list.join("; ")
                ))));
            }
        }
    }

    fn start_fetch(
        &mut self,
        meta: FileMeta,
        holders: Vec<HolderInfo>,
        dest: Option<PathBuf>,
        reply: FileReply<FetchStarted>,
    ) {
        let dest = dest.unwrap_or_else(|| self.downloads.join(safe_name(&meta.name)));
        // Held (and saved) by its absolute path, like a published file.
        let dest = std::path::absolute(&dest).unwrap_or(dest);
        let mut answer = FetchStarted {
            file_id: meta.file_id.clone(),
            name: meta.name.clone(),
            size: meta.size,
            chunks: meta.chunks(),
            dest: dest.clone(),
            note: None,
        };
        {
            let lib = lock_lib(&self.lib);
            if let Some(held) = lib.held.get(&meta.file_id)
                && held.kind != HeldKind::Fetching
            {
                answer.dest = held.path.clone();
                answer.note = Some(format!(
                    "you already have {} at {}: nothing to fetch",
                    meta.name,
                    held.path.display()
                ));
                return reply(Ok(answer));
            }
        }
        if let Some(job) = self.jobs.get(&meta.file_id)
            && matches!(job.phase, FetchPhase::Resuming | FetchPhase::Fetching)
        {
            answer.dest = job.dest.clone();
            answer.note = Some(format!("{} is already being fetched", meta.name));
            return reply(Ok(answer));
        }
        if dest.exists() {
            return reply(Err(FileError::Conflict {
                message: format!(
                    "{} already exists; give another destination",
                    dest.display()
                ),
                file_id: None,
            }));
        }
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            let why = format!("cannot create {}: {e}", parent.display());
            return reply(Err(FileError::Io(why)));
        }
        let part = part_path(&dest);
        let meta = Arc::new(meta);
        let now = Instant::now();
        let job = Job {
            meta: meta.clone(),
            fetch: None,
            holders,
            file: None,
            part: part.clone(),
            dest,
            phase: FetchPhase::Resuming,
            error: None,
            started: now,
            resumed: 0,
            fetched: 0,
            unregistered: Vec::new(),
            registering: false,
            saving: false,
            located_at: now,
            locating: false,
            shown_have: None,
        };
        let file_id = meta.file_id.clone();
        self.jobs.insert(file_id.clone(), job);
        self.update_view(&file_id);
        reply(Ok(answer));
        self.spawn_work(move || Work::Opened {
            result: disk::open_part(&part, &meta),
            file_id,
        });
    }

    fn network_view(&self, listed: Vec<api::Listed>) -> Vec<NetworkFile> {
        let lib = lock_lib(&self.lib);
        let mut files: Vec<NetworkFile> = listed
            .into_iter()
            .map(|f| {
                let held = lib.held.get(&f.file_id);
                let have = held.map_or(0, |h| h.have.count());
                NetworkFile {
                    local: held.is_some(),
                    complete: held.is_some() && have == f.chunks,
                    fetching: self.is_fetching(&f.file_id),
                    have,
                    file_id: f.file_id,
                    name: f.name,
                    size: f.size,
                    chunk_size: f.chunk_size,
                    chunks: f.chunks,
                    holders: f.holders,
                }
            })
            .collect();
        for held in lib.held.values() {
            if files.iter().any(|f| f.file_id == held.meta.file_id) {
                continue;
            }
            files.push(NetworkFile {
                file_id: held.meta.file_id.clone(),
                name: held.meta.name.clone(),
                size: held.meta.size,
                chunk_size: held.meta.chunk_size,
                chunks: held.meta.chunks(),
                holders: Vec::new(),
                have: held.have.count(),
                complete: held.have.is_complete(),
                local: true,
                fetching: self.is_fetching(&held.meta.file_id),
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name).then(a.file_id.cmp(&b.file_id)));
        files
    }

    fn is_fetching(&self, file_id: &str) -> bool {
        self.jobs
            .get(file_id)
            .is_some_and(|j| matches!(j.phase, FetchPhase::Resuming | FetchPhase::Fetching))
    }
}

fn published(meta: &FileMeta, announced: bool, existing: bool) -> Published {
    Published {
        file_id: meta.file_id.clone(),
        name: meta.name.clone(),
        size: meta.size,
        chunks: meta.chunks(),
        chunk_size: meta.chunk_size,
        announced,
        existing,
    }
}

/// A name from the network as a file name: its last path component, never `..`.
fn safe_name(name: &str) -> String {
    match Path::new(name).file_name().map(|n| n.to_string_lossy()) {
        Some(n) if n != ".." && !n.is_empty() => n.into_owned(),
        _ => "file".to_string(),
    }
}

/// `DEST.part`.
fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

impl Protocol for FilesAgent {
    type Message = FilesMsg;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_timeout(TICK);
        let path = self.saver.path().to_path_buf();
        self.spawn_work(move || {
            let (kept, dropped) = saved::restore_all(&path);
            Work::Restored { kept, dropped }
        });
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        self.tick(cx);
        cx.set_timeout(TICK);
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: FilesMsg) {
        match msg {
            FilesMsg::Conn(event) => self.on_conn(cx, event),
            FilesMsg::Work(Work::Hashed {
                path,
                reply,
                result,
            }) => self.hashed(path, reply, result),
            FilesMsg::Work(Work::Restored { kept, dropped }) => self.restored(cx, kept, dropped),
            FilesMsg::Work(Work::Saved(then)) => then(self, cx),
            FilesMsg::Work(Work::Opened { file_id, result }) => self.opened(cx, &file_id, result),
            FilesMsg::Work(Work::Written {
                file_id,
                chunk,
                outcome,
            }) => self.written(cx, &file_id, chunk, outcome),
            FilesMsg::Tracker(ClientReply { tag, result }) => {
                if let Some(pending) = self.pending.remove(&tag) {
                    match result {
                        Ok(response) => self.on_reply(cx, pending, response),
                        Err(e) => self.fail_pending(pending, format!("tracker unreachable: {e}")),
                    }
                }
            }
            FilesMsg::Cmd(cmd) => self.on_cmd(cx, cmd),
        }
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        cx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_safe() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("a.bin"), "a.bin");
        assert_eq!(part_path(Path::new("/d/a.bin")), Path::new("/d/a.bin.part"));
    }
}
