//! The files agent's fetching half: opening the `.part`, keeping each fetch's window full over
//! [`ChunkConn`]s, handing received chunks to the pool and their outcome to [`Fetch`],
//! registering verified chunks, finishing or failing, progress for the UI, and the tick that
//! re-reads holders, retries and detects a stuck fetch.

use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use p2p_proto::files::{BadChunk, ChunkSet, Digest, Fetch, FileMeta};
use reactor::{Cx, Inbox};

use super::super::conn::{ChunkConn, ConnCmd, ConnEvent, ConnEventKind};
use super::super::disk::{self, Written};
use super::super::library::{FetchPhase, FetchView, Held, HeldKind};
use super::super::saved::Stamp;
use super::super::tracker as api;
use super::super::{FileEvent, lock_lib};
use super::{FilesAgent, Pending, RELOCATE_EVERY, Slot, WINDOW_PER_HOLDER, Work};
use crate::driver::{lock, mono_ms};

impl FilesAgent {
    pub(super) fn opened(
        &mut self,
        cx: &mut Cx<'_>,
        file_id: &str,
        result: std::io::Result<(File, ChunkSet)>,
    ) {
        let Some(job) = self.jobs.get_mut(file_id) else {
            return;
        };
        let (file, have) = match result {
            Ok(pair) => pair,
            Err(e) => {
                let why = disk::write_error(&job.part, &e);
                return self.fail(cx, file_id, why);
            }
        };
        let me = lock(&self.core).state.peer_id().to_string();
        let file = Arc::new(file);
        job.resumed = have.count();
        job.unregistered.extend(have.iter());
        let mut fetch = Fetch::new((*job.meta).clone(), have.clone(), &me, WINDOW_PER_HOLDER);
        fetch.set_holders(std::mem::take(&mut job.holders));
        job.fetch = Some(fetch);
        job.file = Some(file.clone());
        job.phase = FetchPhase::Fetching;
        job.started = Instant::now();
        if job.resumed > 0 {
            log::info!(
                "resuming {} from {}: {} of {} chunks already verified",
                job.meta.name,
                job.part.display(),
                job.resumed,
                job.meta.chunks()
            );
        }
        lock_lib(&self.lib).held.insert(
            file_id.to_string(),
            Held {
                meta: job.meta.clone(),
                file,
                path: job.part.clone(),
                have,
                kind: HeldKind::Fetching,
                served: 0,
                stamp: None,
            },
        );
        self.register(cx, file_id);
        self.check_done(cx, file_id);
        self.pump(cx, file_id);
    }

    /// Keeps the fetch's window full: each want goes to an idle connection to its holder, or a
    /// new one.
    pub(super) fn pump(&mut self, cx: &mut Cx<'_>, file_id: &str) {
        let now = self.mono(cx);
        let Some(job) = self.jobs.get_mut(file_id) else {
            return;
        };
        if job.phase != FetchPhase::Fetching {
            return;
        }
        let Some(fetch) = job.fetch.as_mut() else {
            return;
        };
        for want in fetch.wants(now) {
            let idle = self.slots.values_mut().find(|s| {
                s.open && s.chunk.is_none() && s.file_id == file_id && s.holder == want.holder
            });
            if let Some(slot) = idle {
                slot.chunk = Some(want.chunk);
                cx.send(&slot.conn, ConnCmd::Get(want.chunk));
                continue;
            }
            self.next_tag += 1;
            let tag = self.next_tag;
            let owner = (self.me.0.clone(), tag, self.me.1.clone());
            let buffers = self.buffers.clone();
            let host = want.addr.to_string();
            let proto = ChunkConn::new(owner, buffers, file_id, host, want.chunk);
            let inbox = Inbox::default();
            let conn = inbox.addr();
            cx.connect(want.addr, inbox.bind(proto));
            self.slots.insert(
                tag,
                Slot {
                    conn,
                    file_id: file_id.to_string(),
                    holder: want.holder,
                    chunk: Some(want.chunk),
                    open: false,
                },
            );
        }
    }

    pub(super) fn mono(&self, cx: &Cx<'_>) -> u64 {
        mono_ms(lock(&self.core).epoch, cx.now())
    }

    pub(super) fn on_conn(&mut self, cx: &mut Cx<'_>, event: ConnEvent) {
        let Some(slot) = self.slots.get_mut(&event.slot) else {
            return;
        };
        let (file_id, holder) = (slot.file_id.clone(), slot.holder.clone());
        match event.kind {
            ConnEventKind::Open => slot.open = true,
            ConnEventKind::Chunk {
                chunk,
                data,
                digest,
            } => {
                slot.chunk = None;
                self.received(&file_id, &holder, chunk, (data, digest));
            }
            ConnEventKind::Refused { chunk, status } => {
                slot.chunk = None;
                log::debug!("{holder} answered {status} for chunk {chunk} of {file_id}");
                if let Some(fetch) = self.jobs.get_mut(&file_id).and_then(|j| j.fetch.as_mut()) {
                    fetch.request_failed(chunk, &holder, status == 404);
                }
            }
            ConnEventKind::Closed { chunk, why } => {
                self.slots.remove(&event.slot);
                if chunk.is_some() {
                    self.holder_failed(cx, &file_id, &holder, &why);
                }
            }
        }
        self.pump(cx, &file_id);
    }

    /// A chunk's bytes and their digest (taken as they arrived) came from `holder`: verified
    /// and written on a worker if still wanted.
    pub(super) fn received(
        &mut self,
        file_id: &str,
        holder: &str,
        chunk: usize,
        (data, digest): (BytesMut, Digest),
    ) {
        let buffers = self.buffers.clone();
        let Some(job) = self.jobs.get_mut(file_id) else {
            return buffers.give(data);
        };
        let (Some(fetch), Some(file)) = (job.fetch.as_mut(), job.file.clone()) else {
            return buffers.give(data);
        };
        if !fetch.received(chunk, holder) {
            return buffers.give(data);
        }
        let meta = job.meta.clone();
        let file_id = file_id.to_string();
        self.spawn_work(move || {
            let outcome = disk::verify_and_write(&file, &meta, chunk, &data, &digest);
            buffers.give(data);
            Work::Written {
                outcome,
                file_id,
                chunk,
            }
        });
    }

    pub(super) fn holder_failed(
        &mut self,
        cx: &mut Cx<'_>,
        file_id: &str,
        holder: &str,
        why: &str,
    ) {
        let now = self.mono(cx);
        let Some(fetch) = self.jobs.get_mut(file_id).and_then(|j| j.fetch.as_mut()) else {
            return;
        };
        let released = fetch.holder_down(holder, now);
        if !released.is_empty() {
            log::warn!(
                "holder {holder} failed ({why}); {} requests of {file_id} move to the others",
                released.len()
            );
        }
        self.close_conns(cx, |s| s.file_id == file_id && s.holder == holder);
    }

    pub(super) fn close_conns(&mut self, cx: &mut Cx<'_>, which: impl Fn(&Slot) -> bool) {
        self.slots.retain(|_, s| {
            if which(s) {
                cx.send(&s.conn, ConnCmd::Close);
                false
            } else {
                true
            }
        });
    }

    pub(super) fn written(
        &mut self,
        cx: &mut Cx<'_>,
        file_id: &str,
        chunk: usize,
        outcome: Written,
    ) {
        let Some(job) = self.jobs.get_mut(file_id) else {
            return;
        };
        let Some(fetch) = job.fetch.as_mut() else {
            return;
        };
        match outcome {
            Written::Ok => {
                fetch.chunk_ok(chunk);
                job.fetched += 1;
                job.unregistered.push(chunk);
                if let Some(held) = lock_lib(&self.lib).held.get_mut(file_id) {
                    held.have.insert(chunk);
                }
                self.register(cx, file_id);
                self.check_done(cx, file_id);
            }
            Written::Bad => match fetch.chunk_bad(chunk) {
                Some((holder, cost)) => {
                    log::warn!(
                        "chunk {chunk} of {} from {holder} failed verification; {}",
                        job.meta.name,
                        match cost {
                            BadChunk::Penalised => "it gets fewer requests",
                            BadChunk::Dropped => "it is dropped from this fetch",
                        }
                    );
                    if cost == BadChunk::Dropped {
                        self.close_conns(cx, |s| s.file_id == file_id && s.holder == holder);
                    }
                }
                None => log::warn!("chunk {chunk} of {file_id} failed verification"),
            },
            Written::Failed(e) => {
                fetch.write_failed(chunk);
                let why = disk::write_error(&job.part, &e);
                self.fail(cx, file_id, why);
            }
        }
        self.pump(cx, file_id);
    }

    /// Sends the verified chunks not yet registered, one request at a time per fetch.
    pub(super) fn register(&mut self, cx: &mut Cx<'_>, file_id: &str) {
        let credentials = self.credentials();
        let Some(job) = self.jobs.get_mut(file_id) else {
            return;
        };
        if job.registering || job.unregistered.is_empty() {
            return;
        }
        let Some((peer_id, token)) = credentials else {
            return;
        };
        let chunks = std::mem::take(&mut job.unregistered);
        job.registering = true;
        let req = api::add_chunks(file_id, &peer_id, &token, &chunks);
        let file_id = file_id.to_string();
        self.request(cx, req, Pending::Register { file_id, chunks });
    }

    pub(super) fn check_done(&mut self, cx: &mut Cx<'_>, file_id: &str) {
        let Some(job) = self.jobs.get_mut(file_id) else {
            return;
        };
        if job.saving || !job.fetch.as_ref().is_some_and(Fetch::is_complete) {
            return;
        }
        if let Err(e) = std::fs::rename(&job.part, &job.dest) {
            let why = format!(
                "cannot rename {} to {}: {e}",
                job.part.display(),
                job.dest.display()
            );
            return self.fail(cx, file_id, why);
        }
        job.saving = true;
        if let Some(held) = lock_lib(&self.lib).held.get_mut(file_id) {
            held.kind = HeldKind::Fetched;
            held.path = job.dest.clone();
            // Every chunk is written and verified: this is the stamp of the whole file.
            held.stamp = held.file.metadata().ok().map(|m| Stamp::of(&m));
        }
        // Done once a restart would share it again.
        let file_id = file_id.to_string();
        self.save_then(move |agent, cx| agent.finished(cx, &file_id));
    }

    /// A complete fetch, saved in `files.json`: done.
    pub(super) fn finished(&mut self, cx: &mut Cx<'_>, file_id: &str) {
        let Some(job) = self.jobs.get_mut(file_id) else {
            return;
        };
        job.phase = FetchPhase::Done;
        let secs = job.started.elapsed().as_secs_f64();
        let holders = job
            .fetch
            .as_ref()
            .map(Fetch::holder_stats)
            .unwrap_or_default();
        let shares: Vec<String> = holders
            .iter()
            .map(|h| format!("{}: {} chunks", h.peer_id, h.chunks))
            .collect();
        log::info!(
            "fetched {} ({} bytes) to {} in {secs:.2}s; {} resumed, {} fetched ({})",
            job.meta.name,
            job.meta.size,
            job.dest.display(),
            job.resumed,
            job.fetched,
            shares.join(", ")
        );
        self.close_conns(cx, |s| s.file_id == file_id);
        self.show(file_id);
    }

    pub(super) fn fail(&mut self, cx: &mut Cx<'_>, file_id: &str, why: String) {
        let Some(job) = self.jobs.get_mut(file_id) else {
            return;
        };
        log::warn!("fetch of {} failed: {why}", job.meta.name);
        job.phase = FetchPhase::Failed;
        job.error = Some(why);
        self.close_conns(cx, |s| s.file_id == file_id);
        self.show(file_id);
    }

    /// Updates the fetch's view in the library; answers its event.
    pub(super) fn update_view(&mut self, file_id: &str) -> Option<FileEvent> {
        let job = self.jobs.get(file_id)?;
        let chunks = job.meta.chunks();
        let have = job.fetch.as_ref().map_or(0, |f| f.have().count());
        let secs = job.started.elapsed().as_secs_f64();
        let fetched_bytes = job.fetched as u64 * job.meta.chunk_size;
        let bytes_per_s = if secs > 0.0 {
            (fetched_bytes as f64 / secs) as u64
        } else {
            0
        };
        let left = job
            .meta
            .size
            .saturating_sub(have as u64 * job.meta.chunk_size);
        let eta_s =
            (bytes_per_s > 0 && job.phase == FetchPhase::Fetching).then(|| left / bytes_per_s);
        let view = FetchView {
            file_id: file_id.to_string(),
            name: job.meta.name.clone(),
            dest: job.dest.clone(),
            size: job.meta.size,
            chunks,
            have,
            resumed: job.resumed,
            fetched: job.fetched,
            state: job.phase,
            error: job.error.clone(),
            bytes_per_s,
            eta_s,
            holders: job
                .fetch
                .as_ref()
                .map(Fetch::holder_stats)
                .unwrap_or_default(),
        };
        lock_lib(&self.lib)
            .fetches
            .insert(file_id.to_string(), view);
        Some(FileEvent {
            file_id: file_id.to_string(),
            name: job.meta.name.clone(),
            have,
            chunks,
            state: job.phase,
            error: job.error.clone(),
            bytes_per_s,
            eta_s,
        })
    }

    /// Updates the view and tells the UI.
    pub(super) fn show(&mut self, file_id: &str) {
        if let Some(event) = self.update_view(file_id) {
            if let Some(job) = self.jobs.get_mut(file_id) {
                job.shown_have = Some(event.have);
            }
            self.emit(event);
        }
    }

    pub(super) fn tick(&mut self, cx: &mut Cx<'_>) {
        self.announce_again(cx);
        let now = self.mono(cx);
        let ids: Vec<String> = self.jobs.keys().cloned().collect();
        for file_id in ids {
            let Some(job) = self.jobs.get_mut(&file_id) else {
                continue;
            };
            if job.phase != FetchPhase::Fetching {
                continue;
            }
            let stuck = job.fetch.as_mut().and_then(|f| f.stuck(now));
            if let Some(chunks) = stuck {
                let why = format!(
                    "no holder left for chunks {} of {}; the .part file is kept: fetch again to resume",
                    ChunkSet::ranges(&chunks),
                    job.meta.name
                );
                self.fail(cx, &file_id, why);
                continue;
            }
            if !job.locating && job.located_at.elapsed() >= RELOCATE_EVERY {
                job.locating = true;
                job.located_at = Instant::now();
                let req = api::location(&file_id);
                self.request(cx, req, Pending::Relocate(file_id.clone()));
            }
            self.register(cx, &file_id);
            self.pump(cx, &file_id);
            let have = self.jobs[&file_id].fetch.as_ref().map(|f| f.have().count());
            if have != self.jobs[&file_id].shown_have {
                self.show(&file_id);
            } else {
                self.update_view(&file_id);
            }
        }
    }

    /// After a (re-)registration with the tracker, announces every held file again.
    pub(super) fn announce_again(&mut self, cx: &mut Cx<'_>) {
        let registrations = lock(&self.core).tracker.registrations;
        if registrations == self.registrations {
            return;
        }
        self.registrations = registrations;
        let held: Vec<(Arc<FileMeta>, HeldKind, Vec<usize>)> = lock_lib(&self.lib)
            .held
            .values()
            .map(|h| (h.meta.clone(), h.kind, h.have.iter().collect()))
            .collect();
        for (meta, kind, have) in held {
            match (kind, self.jobs.get_mut(&meta.file_id)) {
                // A file fetched whole in an earlier run is announced as a publish.
                (HeldKind::Published, _) | (HeldKind::Fetched, None) => {
                    self.announce(cx, meta, None);
                }
                (_, Some(job)) => {
                    job.unregistered = have;
                    job.registering = false;
                    self.register(cx, &meta.file_id);
                }
                (HeldKind::Fetching, None) => {}
            }
        }
    }
}
