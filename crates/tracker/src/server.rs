//! Wiring the tracker onto a reactor loop: the HTTP [`app`] plus a socketless sweep agent that
//! expires peers on a timer, so expiry never waits for traffic, and hands the memory of dropped
//! peers back to the system.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reactor::{Cx, EventLoop, Handle, LoopThread, Protocol};
use router::StartError;

use crate::api::{Tracker, app};
use tracker_core::Expired;

/// How often due peers are expired. A peer is gone from every answer at its deadline anyway
/// (views skip expired peers); the sweep frees its memory and its channel and file entries.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Peers dropped (expired or removed) before the sweep agent asks for freed memory back with
/// its [`MemoryRelease`]: about 100 KiB of records, so a quiet tracker never pays for a release
/// and a mass expiry is followed by one within a [`SWEEP_INTERVAL`].
pub const RELEASE_AFTER_DROPS: u64 = 1024;

/// Growth of the memory the allocator holds free (above its lowest since the last release)
/// that makes the sweep agent ask for it back: what 50 clients' answer buffers leave behind
/// when they go, say. Peers are not the only thing freed, and the tracker cannot see
/// connections close, so it watches the allocator instead.
pub const RELEASE_AFTER_HELD_GROWTH: usize = 16 * 1024 * 1024;

/// Hands memory the process has freed back to the system and answers whether any came back.
///
/// For allocators that keep freed pages resident: glibc's malloc returns memory only from the
/// top of its heap, and only above a threshold that rises as large tables are freed, so after
/// 100,000 peers expire most of their memory would stay resident. This crate does no FFI; a
/// binary that runs on glibc passes `malloc_trim` here (see tracker-bin).
pub type ReleaseMemory = fn() -> bool;

/// Bytes the allocator holds free: freed by the process and not (or not all) given back.
pub type HeldMemory = fn() -> usize;

/// How the sweep agent gives freed memory back: a release, and a gauge telling when one is
/// worth it (after [`RELEASE_AFTER_DROPS`] dropped peers, or [`RELEASE_AFTER_HELD_GROWTH`]
/// more held free).
#[derive(Debug, Clone, Copy)]
pub struct MemoryRelease {
    /// Gives freed memory back.
    pub release: ReleaseMemory,
    /// Measures what could be given back.
    pub held: HeldMemory,
}

/// The agent that calls [`Tracker::sweep`] every [`SWEEP_INTERVAL`], and releases memory once
/// enough has been freed.
struct Sweeper {
    tracker: Tracker,
    memory: Option<MemoryRelease>,
    /// Peers dropped since the last release.
    dropped: u64,
    /// The least memory held free since the last release.
    held_low: usize,
}

impl Sweeper {
    fn log(expired: &Expired) {
        if expired.is_complete() {
            for id in &expired.ids {
                log::info!("peer {id} expired");
            }
        } else {
            log::info!(
                "{} peers expired, among them {}",
                expired.count,
                expired.ids.join(" ")
            );
        }
    }

    fn release_if_due(&mut self) {
        self.dropped += self.tracker.with(|reg, _| reg.take_dropped());
        let Some(memory) = self.memory else {
            return;
        };
        let held = (memory.held)();
        self.held_low = self.held_low.min(held);
        let grown = held.saturating_sub(self.held_low);
        if self.dropped < RELEASE_AFTER_DROPS && grown < RELEASE_AFTER_HELD_GROWTH {
            return;
        }
        let started = Instant::now();
        let released = (memory.release)();
        log::debug!(
            "{} peers dropped, {} KiB more held free: memory released ({released}) in {} µs",
            self.dropped,
            grown / 1024,
            started.elapsed().as_micros()
        );
        self.dropped = 0;
        // A release returns pages but leaves the chunks free in the allocator's books, so the
        // growth that counts from now on starts from what is held after it.
        self.held_low = (memory.held)();
    }
}

impl Protocol for Sweeper {
    type Message = std::convert::Infallible;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_timeout(SWEEP_INTERVAL);
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        self.tracker.sweep(Box::new(|outcome| match outcome {
            Ok(expired) => Self::log(&expired),
            Err(e) => log::warn!("sweep: {e}"),
        }));
        self.release_if_due();
        cx.set_timeout(SWEEP_INTERVAL);
    }
}

/// How the tracker's HTTP server is set up beyond its routes.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// The server's limits (`--keepalive-timeout` sets the idle timeout).
    pub limits: http_core::Limits,
    /// Origins allowed cross-origin (`*` for any; `--cors`); empty: same origin only.
    pub cors: Vec<String>,
}

/// Adds the tracker's HTTP API on `addr` and its sweep agent to `event_loop`; returns the bound
/// address, or every route the API's table refused. The agent releases memory through `memory`, if given, once enough has been freed.
pub fn serve_on(
    event_loop: &mut EventLoop,
    addr: SocketAddr,
    tracker: &Tracker,
    memory: Option<MemoryRelease>,
    http: &HttpOptions,
) -> Result<SocketAddr, StartError> {
    let mut app = app(tracker);
    app.limits(http.limits.clone());
    if !http.cors.is_empty() {
        app.cors(router::Cors {
            allow_origins: http.cors.clone(),
            max_age: 600,
            ..router::Cors::default()
        });
    }
    let bound = app.serve_on(event_loop, addr)?;
    event_loop.spawn(Sweeper {
        tracker: tracker.clone(),
        memory,
        dropped: 0,
        held_low: usize::MAX,
    });
    Ok(bound)
}

/// A tracker serving from a background thread ([`spawn`]); dropping it stops the loop.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// A handle to its loop.
    pub handle: Handle,
    /// The shared state, for inspection.
    pub tracker: Tracker,
    thread: LoopThread,
}

impl Running {
    /// Graceful shutdown (as SIGTERM), waiting for the loop to finish.
    pub fn shutdown(self) -> io::Result<()> {
        self.thread.shutdown()
    }
}

/// Serves `tracker` on `addr` from a new thread with its own loop (for tests and embedding).
pub fn spawn(tracker: Tracker, addr: SocketAddr) -> Result<Running, StartError> {
    spawn_releasing(tracker, addr, None)
}

/// [`spawn`] with a [`MemoryRelease`] for the sweep agent.
pub fn spawn_releasing(
    tracker: Tracker,
    addr: SocketAddr,
    memory: Option<MemoryRelease>,
) -> Result<Running, StartError> {
    let mut event_loop = EventLoop::new(http_core::limits::MAX_CONNECTIONS)?;
    let bound = serve_on(
        &mut event_loop,
        addr,
        &tracker,
        memory,
        &HttpOptions::default(),
    )?;
    let thread = event_loop.spawn_thread(&format!("tracker-{bound}"))?;
    Ok(Running {
        addr: bound,
        handle: thread.handle().clone(),
        tracker,
        thread,
    })
}
