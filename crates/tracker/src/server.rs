//! Wiring the tracker onto a reactor loop: the HTTP [`app`](crate::api::app) plus a socketless
//! sweep agent that expires peers on a timer, so expiry never waits for traffic.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use reactor::{Cx, EventLoop, Handle, LoopThread, Protocol};

use crate::api::{Tracker, app};

/// How often due peers are expired. A peer is gone from every answer at its deadline anyway
/// (views skip expired peers); the sweep frees its memory and its channel and file entries.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Above this many expirations in one sweep, ids go to the debug log and info gets a count, so
/// a mass expiry does not flood the log.
const LOG_EACH_UP_TO: usize = 16;

/// The agent that calls [`Tracker::sweep`] every [`SWEEP_INTERVAL`].
struct Sweeper {
    tracker: Tracker,
}

impl Protocol for Sweeper {
    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_timeout(SWEEP_INTERVAL);
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        let expired = self.tracker.sweep();
        if expired.len() <= LOG_EACH_UP_TO {
            for id in &expired {
                log::info!("peer {id} expired");
            }
        } else {
            log::info!("{} peers expired", expired.len());
            log::debug!("expired: {}", expired.join(" "));
        }
        cx.set_timeout(SWEEP_INTERVAL);
    }
}

/// Adds the tracker's HTTP API on `addr` and its sweep agent to `event_loop`; returns the bound
/// address.
pub fn serve_on(
    event_loop: &mut EventLoop,
    addr: SocketAddr,
    tracker: &Tracker,
) -> io::Result<SocketAddr> {
    let app = app(tracker).map_err(|e| io::Error::other(e.to_string()))?;
    let bound = app.serve_on(event_loop, addr)?;
    event_loop.spawn(Box::new(Sweeper {
        tracker: tracker.clone(),
    }));
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
pub fn spawn(tracker: Tracker, addr: SocketAddr) -> io::Result<Running> {
    let mut event_loop = EventLoop::new(http_core::limits::MAX_CONNECTIONS)?;
    let bound = serve_on(&mut event_loop, addr, &tracker)?;
    let thread = event_loop.spawn_thread(&format!("tracker-{bound}"))?;
    Ok(Running {
        addr: bound,
        handle: thread.handle().clone(),
        tracker,
        thread,
    })
}
