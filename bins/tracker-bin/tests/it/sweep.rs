//! The reactor's sweep timer on its own: peers expire with no request at all, and a mass
//! expiry, or memory freed elsewhere, makes the sweep agent hand memory back.

use crate::{register, start, wait_for};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tracker::server::{
    MemoryRelease, RELEASE_AFTER_DROPS, RELEASE_AFTER_HELD_GROWTH, spawn_releasing,
};
use tracker::{Config, RegisterParams, Stats, Tracker};

/// Reads the counts through the library with `now` = 0, which is before every deadline, so the
/// read itself expires nothing: only the timer can have.
fn counts_without_expiring(tracker: &Tracker) -> Stats {
    tracker.with(|reg, _| reg.stats(0))
}

/// Regression test for expiry that only happened because someone read `/status` or the list:
/// after the registration nothing is sent, yet the peer is gone within TTL + 1 s.
#[test]
fn the_timer_alone_expires_a_silent_peer() {
    const TTL: Duration = Duration::from_secs(2);
    let running = start(TTL.as_secs() as u32, 10);
    register(running.addr, 5001);
    let registered = Instant::now();
    let counts = counts_without_expiring(&running.tracker);
    assert_eq!((counts.peers, counts.expirations), (1, 0), "{counts:?}");

    wait_for(
        "the timer to expire it",
        TTL + Duration::from_secs(1),
        || {
            let counts = counts_without_expiring(&running.tracker);
            (counts.peers, counts.expirations) == (0, 1)
        },
    );
    assert!(
        registered.elapsed() >= TTL - Duration::from_millis(100),
        "expired after {:?}, before its TTL",
        registered.elapsed()
    );
    let requests = running.tracker.status().requests;
    assert_eq!(requests, 1, "only the registration was sent");
}

static RELEASES: AtomicUsize = AtomicUsize::new(0);

fn count_release() -> bool {
    RELEASES.fetch_add(1, Ordering::SeqCst);
    true
}

#[test]
fn a_mass_expiry_releases_memory() {
    let config = Config {
        max_peers: 10_000,
        default_ttl_s: 1,
        // Thousands of peers from one address, as behind a NAT.
        identity: tracker::identity::Rules {
            max_peers_per_ip: usize::MAX,
            ..Default::default()
        },
    };
    let tracker = Tracker::new(config, router::auth::Credentials::new());
    let addr = "127.0.0.1:0".parse().unwrap();
    let memory = MemoryRelease {
        release: count_release,
        held: || 0,
    };
    let running = spawn_releasing(tracker, addr, Some(memory)).unwrap();
    let peers = RELEASE_AFTER_DROPS + 16;
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    running.tracker.with(|reg, now| {
        for i in 0..peers {
            let params = RegisterParams {
                port: 5001,
                peer_id: Some(format!("p{i}")),
                ..Default::default()
            };
            reg.register(params, ip, now).unwrap();
        }
    });
    assert_eq!(RELEASES.load(Ordering::SeqCst), 0);
    wait_for("a release after the expiry", Duration::from_secs(3), || {
        RELEASES.load(Ordering::SeqCst) > 0
    });
    assert_eq!(counts_without_expiring(&running.tracker).expirations, peers);
}

static HELD_RELEASES: AtomicUsize = AtomicUsize::new(0);
static HELD: AtomicUsize = AtomicUsize::new(0);

fn count_held_release() -> bool {
    HELD_RELEASES.fetch_add(1, Ordering::SeqCst);
    true
}

/// Memory freed by something else than peers (connections' answer buffers) is handed back
/// once the allocator holds [`RELEASE_AFTER_HELD_GROWTH`] more free than at its lowest.
#[test]
fn memory_held_free_is_released_without_any_peer_dropped() {
    HELD.store(10 << 20, Ordering::SeqCst);
    let memory = MemoryRelease {
        release: count_held_release,
        held: || HELD.load(Ordering::SeqCst),
    };
    let tracker = Tracker::new(Config::default(), router::auth::Credentials::new());
    let addr = "127.0.0.1:0".parse().unwrap();
    let _running = spawn_releasing(tracker, addr, Some(memory)).unwrap();
    // Held but not growing: no release. (Waiting out two ticks is the point here: nothing
    // observable happens on a tick without a release.)
    let ticks = Instant::now() + Duration::from_millis(2500);
    wait_for("two sweep ticks", Duration::from_secs(3), || {
        Instant::now() >= ticks
    });
    assert_eq!(HELD_RELEASES.load(Ordering::SeqCst), 0);
    // Grown by the threshold above the lowest seen: released on the next tick.
    HELD.store((10 << 20) + RELEASE_AFTER_HELD_GROWTH, Ordering::SeqCst);
    wait_for(
        "a release of the held memory",
        Duration::from_secs(3),
        || HELD_RELEASES.load(Ordering::SeqCst) > 0,
    );
}
