//! [`Fetch`]: the decisions of one download — which chunk to ask which holder for (rarest
//! first, a window of requests per holder), what a bad chunk or a dead holder costs, and when
//! the chunks nobody holds make the fetch give up.
//!
//! Each chunk is in one state: missing, requested from a holder, verifying (its bytes came, the
//! driver is checking its digest and writing it), or held. A holder is up, down until a retry
//! time (its connection failed; backoff doubles), or dropped (it sent [`MAX_FAULTS`] bad
//! chunks). Every bad chunk halves the holder's window, and the chunk is asked of someone else
//! if anyone else has it. Time is `mono_ms`, given by the driver.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use serde::Serialize;

use super::{ChunkSet, FileMeta};

/// Bad chunks after which a holder is dropped from the fetch.
pub const MAX_FAULTS: u32 = 3;
/// First wait before a holder whose connection failed is tried again.
pub const DOWN_BACKOFF_MS: u64 = 500;
/// Longest wait before a failed holder is tried again.
pub const MAX_BACKOFF_MS: u64 = 8_000;
/// Most chunks received and not yet verified and written: past this, no new request goes out,
/// so a slow disk bounds the fetcher's memory instead of growing it.
pub const MAX_VERIFYING: usize = 8;
/// How long chunks with no live holder, and nothing else in flight, are waited on before the
/// fetch fails naming them (the tracker may yet list a new holder).
pub const STUCK_GRACE_MS: u64 = 10_000;

/// A holder as the tracker lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderInfo {
    /// Its peer id.
    pub peer_id: String,
    /// Where to dial it.
    pub addr: SocketAddr,
    /// The chunks it has.
    pub chunks: ChunkSet,
}

/// One request to make: ask `holder` at `addr` for `chunk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The holder's peer id.
    pub holder: String,
    /// Where to dial it.
    pub addr: SocketAddr,
    /// The chunk index.
    pub chunk: usize,
}

/// What a bad chunk cost its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadChunk {
    /// Fewer requests from now on.
    Penalised,
    /// No more requests at all: drop its connections.
    Dropped,
}

/// One holder's record in this fetch, for `GET /api/files` and the tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderStats {
    /// Its peer id.
    pub peer_id: String,
    /// Good chunks it sent.
    pub chunks: u64,
    /// Bad chunks it sent.
    pub faults: u32,
    /// `up`, `down` or `dropped`.
    pub state: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Up,
    Down { until_ms: u64 },
    Dropped,
}

#[derive(Debug)]
struct Holder {
    addr: SocketAddr,
    chunks: ChunkSet,
    in_flight: usize,
    faults: u32,
    health: Health,
    backoff_ms: u64,
    good: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ChunkState {
    Missing,
    Requested(String),
    Verifying(String),
    Have,
}

/// The state of one download. See the module docs.
#[derive(Debug)]
pub struct Fetch {
    meta: FileMeta,
    me: String,
    window: usize,
    states: Vec<ChunkState>,
    have: ChunkSet,
    holders: BTreeMap<String, Holder>,
    /// Holders that sent a bad copy of a chunk: not asked for it again while another has it.
    spoiled: HashMap<usize, Vec<String>>,
    stuck_since: Option<u64>,
}

impl Fetch {
    /// A fetch of `meta` by peer `me` that already holds `have` (resumed chunks), asking each
    /// holder for at most `window` chunks at a time.
    pub fn new(meta: FileMeta, have: ChunkSet, me: &str, window: usize) -> Fetch {
        let states = (0..meta.chunks())
            .map(|i| match have.contains(i) {
                true => ChunkState::Have,
                false => ChunkState::Missing,
            })
            .collect();
        Fetch {
            meta,
            me: me.to_string(),
            window: window.max(1),
            states,
            have,
            holders: BTreeMap::new(),
            spoiled: HashMap::new(),
            stuck_since: None,
        }
    }

    /// The file.
    pub fn meta(&self) -> &FileMeta {
        &self.meta
    }

    /// The chunks held (verified and written).
    pub fn have(&self) -> &ChunkSet {
        &self.have
    }

    /// Whether every chunk is held.
    pub fn is_complete(&self) -> bool {
        self.have.is_complete()
    }

    /// Requests out plus chunks being verified.
    pub fn in_flight(&self) -> usize {
        self.states
            .iter()
            .filter(|s| matches!(s, ChunkState::Requested(_) | ChunkState::Verifying(_)))
            .count()
    }

    /// Takes the tracker's current list of holders: new ones are added, known ones get their
    /// chunk sets updated (faults and backoff stay), and those no longer listed hold nothing.
    pub fn set_holders(&mut self, listed: Vec<HolderInfo>) {
        for holder in self.holders.values_mut() {
            holder.chunks = ChunkSet::empty(self.meta.chunks());
        }
        for info in listed {
            if info.peer_id == self.me || info.chunks.len() != self.meta.chunks() {
                continue;
            }
            let holder = self.holders.entry(info.peer_id).or_insert_with(|| Holder {
                addr: info.addr,
                chunks: ChunkSet::empty(0),
                in_flight: 0,
                faults: 0,
                health: Health::Up,
                backoff_ms: DOWN_BACKOFF_MS,
                good: 0,
            });
            holder.addr = info.addr;
            holder.chunks = info.chunks;
        }
    }

    /// The requests to make now: each live holder is given missing chunks it has, rarest first,
    /// up to its window (halved per fault), one holder at a time so the load spreads.
    pub fn wants(&mut self, now_ms: u64) -> Vec<Want> {
        for holder in self.holders.values_mut() {
            if let Health::Down { until_ms } = holder.health
                && until_ms <= now_ms
            {
                holder.health = Health::Up;
            }
        }
        let verifying = self
            .states
            .iter()
            .filter(|s| matches!(s, ChunkState::Verifying(_)))
            .count();
        // Most calls come when nothing has room (a chunk written, a window still full): the
        // rarest-first order, a sort over every missing chunk, is made only when it is used.
        if verifying >= MAX_VERIFYING || !self.holders.keys().any(|id| self.room(id) > 0) {
            return Vec::new();
        }
        let order = self.rarest_first();
        let mut wants = Vec::new();
        let ids: Vec<String> = self.holders.keys().cloned().collect();
        loop {
            let before = wants.len();
            for id in &ids {
                if self.room(id) == 0 {
                    continue;
                }
                let Some(chunk) = order
                    .iter()
                    .copied()
                    .find(|&c| self.states[c] == ChunkState::Missing && self.may_ask(id, c))
                else {
                    continue;
                };
                let holder = self.holders.get_mut(id).expect("listed above");
                holder.in_flight += 1;
                self.states[chunk] = ChunkState::Requested(id.clone());
                wants.push(Want {
                    holder: id.clone(),
                    addr: holder.addr,
                    chunk,
                });
            }
            if wants.len() == before {
                return wants;
            }
        }
    }

    /// Missing chunks ordered by how few live holders have them, then by index.
    fn rarest_first(&self) -> Vec<usize> {
        let mut order: Vec<(usize, usize)> = (0..self.states.len())
            .filter(|&c| self.states[c] == ChunkState::Missing)
            .map(|c| {
                let holders = self
                    .holders
                    .values()
                    .filter(|h| h.health == Health::Up && h.chunks.contains(c))
                    .count();
                (holders, c)
            })
            .filter(|&(holders, _)| holders > 0)
            .collect();
        order.sort_unstable();
        order.into_iter().map(|(_, c)| c).collect()
    }

    /// How many more requests holder `id` may take.
    fn room(&self, id: &str) -> usize {
        match self.holders.get(id) {
            Some(h) if h.health == Health::Up => {
                let window = (self.window >> h.faults).max(1);
                window.saturating_sub(h.in_flight)
            }
            _ => 0,
        }
    }

    /// Whether holder `id` may be asked for `chunk`: it has it, and it did not spoil it before
    /// unless nobody else who is not dropped has it.
    fn may_ask(&self, id: &str, chunk: usize) -> bool {
        if !self.holders[id].chunks.contains(chunk) {
            return false;
        }
        let spoiled = self.spoiled.get(&chunk);
        let spoiled_by = |who: &str| spoiled.is_some_and(|s| s.iter().any(|x| x == who));
        if !spoiled_by(id) {
            return true;
        }
        !self.holders.iter().any(|(other, h)| {
            other != id
                && h.health != Health::Dropped
                && h.chunks.contains(chunk)
                && !spoiled_by(other)
        })
    }

    /// Whether `chunk` is still requested from `holder` (a late answer for a request that was
    /// moved elsewhere is ignored).
    pub fn is_requested(&self, chunk: usize, holder: &str) -> bool {
        matches!(self.states.get(chunk), Some(ChunkState::Requested(h)) if h == holder)
    }

    /// The bytes of `chunk` came from `holder`; it is being verified. `false` if the request
    /// was no longer out (the bytes are then dropped).
    pub fn received(&mut self, chunk: usize, holder: &str) -> bool {
        if !self.is_requested(chunk, holder) {
            return false;
        }
        self.states[chunk] = ChunkState::Verifying(holder.to_string());
        if let Some(h) = self.holders.get_mut(holder) {
            h.in_flight = h.in_flight.saturating_sub(1);
            h.backoff_ms = DOWN_BACKOFF_MS;
        }
        true
    }

    /// `chunk` was verified and written. Answers whether the file is now complete.
    pub fn chunk_ok(&mut self, chunk: usize) -> bool {
        if let Some(ChunkState::Verifying(holder)) = self.states.get(chunk) {
            if let Some(h) = self.holders.get_mut(holder) {
                h.good += 1;
            }
            self.states[chunk] = ChunkState::Have;
            self.have.insert(chunk);
            self.spoiled.remove(&chunk);
        }
        self.is_complete()
    }

    /// `chunk` failed verification: it is missing again, and its holder is penalised. Answers
    /// who sent it and what it cost them.
    pub fn chunk_bad(&mut self, chunk: usize) -> Option<(String, BadChunk)> {
        let Some(ChunkState::Verifying(holder)) = self.states.get(chunk).cloned() else {
            return None;
        };
        self.states[chunk] = ChunkState::Missing;
        self.spoiled.entry(chunk).or_default().push(holder.clone());
        let h = self.holders.get_mut(&holder)?;
        h.faults += 1;
        if h.faults < MAX_FAULTS {
            return Some((holder, BadChunk::Penalised));
        }
        h.health = Health::Dropped;
        self.release(&holder);
        Some((holder, BadChunk::Dropped))
    }

    /// Writing `chunk` failed locally (not the holder's fault): it is missing again.
    pub fn write_failed(&mut self, chunk: usize) {
        if let Some(ChunkState::Verifying(_)) = self.states.get(chunk) {
            self.states[chunk] = ChunkState::Missing;
        }
    }

    /// The request for `chunk` to `holder` failed without bytes; `lacks` when the holder said
    /// it does not have the chunk (404), so it is not asked for it again until the tracker says
    /// otherwise.
    pub fn request_failed(&mut self, chunk: usize, holder: &str, lacks: bool) {
        if !self.is_requested(chunk, holder) {
            return;
        }
        self.states[chunk] = ChunkState::Missing;
        if let Some(h) = self.holders.get_mut(holder) {
            h.in_flight = h.in_flight.saturating_sub(1);
            if lacks {
                h.chunks.remove(chunk);
            }
        }
    }

    /// A connection to `holder` failed: its requests go back to missing (for the others) and it
    /// is tried again after its backoff, which doubles. Answers the chunks released.
    pub fn holder_down(&mut self, holder: &str, now_ms: u64) -> Vec<usize> {
        let Some(h) = self.holders.get_mut(holder) else {
            return Vec::new();
        };
        if h.health == Health::Up {
            h.health = Health::Down {
                until_ms: now_ms + h.backoff_ms,
            };
            h.backoff_ms = (h.backoff_ms * 2).min(MAX_BACKOFF_MS);
        }
        self.release(holder)
    }

    fn release(&mut self, holder: &str) -> Vec<usize> {
        let mut released = Vec::new();
        for (chunk, state) in self.states.iter_mut().enumerate() {
            if matches!(state, ChunkState::Requested(h) if h == holder) {
                *state = ChunkState::Missing;
                released.push(chunk);
            }
        }
        if let Some(h) = self.holders.get_mut(holder) {
            h.in_flight = 0;
        }
        released
    }

    /// Missing chunks that no live holder has.
    pub fn unheld(&self) -> Vec<usize> {
        (0..self.states.len())
            .filter(|&c| self.states[c] == ChunkState::Missing)
            .filter(|&c| {
                !self
                    .holders
                    .values()
                    .any(|h| h.health == Health::Up && h.chunks.contains(c))
            })
            .collect()
    }

    /// Whether the fetch should give up: some chunks have had no live holder, with nothing else
    /// in flight, for [`STUCK_GRACE_MS`]. Answers those chunks.
    pub fn stuck(&mut self, now_ms: u64) -> Option<Vec<usize>> {
        let unheld = self.unheld();
        if unheld.is_empty() || self.in_flight() > 0 {
            self.stuck_since = None;
            return None;
        }
        let since = *self.stuck_since.get_or_insert(now_ms);
        (now_ms.saturating_sub(since) >= STUCK_GRACE_MS).then_some(unheld)
    }

    /// Each holder's record, by peer id.
    pub fn holder_stats(&self) -> Vec<HolderStats> {
        self.holders
            .iter()
            .map(|(id, h)| HolderStats {
                peer_id: id.clone(),
                chunks: h.good,
                faults: h.faults,
                state: match h.health {
                    Health::Up => "up",
                    Health::Down { .. } => "down",
                    Health::Dropped => "dropped",
                },
            })
            .collect()
    }

    /// When a down holder is next tried, if any is down.
    pub fn next_retry(&self) -> Option<u64> {
        self.holders
            .values()
            .filter_map(|h| match h.health {
                Health::Down { until_ms } => Some(until_ms),
                _ => None,
            })
            .min()
    }
}
