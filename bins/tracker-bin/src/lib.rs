//! tracker-bin's wiring: one reactor loop serving the tracker's HTTP API and sweep timer, with
//! SIGINT/SIGTERM handled gracefully, freed memory handed back to the system after a mass
//! expiry ([`memory`]), and the operator console on its own thread.

pub mod memory;

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::sync::Arc;

use reactor::EventLoop;
use router::StartError;
use router::auth::Credentials;
use tracker::limits::{MAX_TTL_S, MIN_TTL_S};
use tracker::{RegisterRate, Tracker, console, server};
use tracker_redis::RedisStore;

/// Default port of tracker-bin (SPEC §1).
pub const DEFAULT_PORT: u16 = 8000;
/// Default most peers held at once; beyond it registration answers 503. The library's default,
/// so the binary and an embedded tracker agree.
pub const DEFAULT_MAX_PEERS: usize = tracker::limits::DEFAULT_MAX_PEERS;

/// Everything the daemon needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// TTL in seconds for peers that ask for none; heartbeats are advertised at a third of it.
    pub ttl_s: u32,
    /// Most peers held at once.
    pub max_peers: usize,
    /// Registrations per source address; `None` for no limit.
    pub register_rate: Option<RegisterRate>,
    /// Who may log in at `POST /login`.
    pub admins: Credentials,
    /// Run the console even when stdin is not a terminal.
    pub force_console: bool,
    /// Where the state lives: this process (`None`) or a Redis shared with other trackers.
    pub store: Option<redis_client::Url>,
    /// Who may claim a peer id and an address (issue 10).
    pub identity: tracker::identity::Rules,
    /// Keep-alive and CORS.
    pub http: server::HttpOptions,
}

/// The registry settings of `config`, or why they are unusable.
pub fn registry_config(config: &Config) -> Result<tracker::Config, String> {
    if !(MIN_TTL_S..=MAX_TTL_S).contains(&config.ttl_s) {
        return Err(format!(
            "--ttl must be in {MIN_TTL_S}..={MAX_TTL_S} seconds, got {}",
            config.ttl_s
        ));
    }
    if config.max_peers == 0 {
        return Err("--max-peers must be at least 1".to_owned());
    }
    if config.identity.max_peers_per_ip == 0 {
        return Err("--max-peers-per-ip must be at least 1".to_owned());
    }
    if config.force_console && config.store.is_some() {
        return Err("--console shows this process's registry: not with --store redis".to_owned());
    }
    Ok(tracker::Config {
        max_peers: config.max_peers,
        default_ttl_s: config.ttl_s,
        identity: config.identity.clone(),
    })
}

/// The tracker for `config` with its store on `event_loop`, or why the settings are unusable.
pub fn tracker(config: &Config, event_loop: &mut EventLoop) -> Result<Tracker, String> {
    let registry = registry_config(config)?;
    let tracker = match &config.store {
        None => Tracker::new(registry, config.admins.clone()),
        Some(url) => {
            log::info!("state in {url}, shared with every tracker using it");
            let identity = registry.identity.clone();
            let store = RedisStore::start(event_loop, url.clone(), registry);
            Tracker::with_store(Arc::new(store), identity, config.admins.clone())
        }
    };
    // Per process, before the store is asked: each tracker limits what reaches it.
    tracker.set_register_rate(config.register_rate);
    Ok(tracker)
}

/// Serves until SIGINT, SIGTERM or the console's `exit`, then finishes in-flight requests. An
/// error names what stopped the start: every refused route, or the I/O that failed.
pub fn run(config: &Config) -> Result<(), StartError> {
    let mut event_loop = EventLoop::new(http_core::limits::MAX_CONNECTIONS)?;
    event_loop.handle_signals()?;
    let tracker = tracker(config, &mut event_loop).map_err(io::Error::other)?;
    let bound = server::serve_on(
        &mut event_loop,
        config.addr,
        &tracker,
        Some(memory::RELEASE),
        &config.http,
    )?;
    let rate = config
        .register_rate
        .map_or_else(|| "unlimited".to_owned(), |r| r.to_string());
    log::info!(
        "listening on http://{bound} (ttl {} s, at most {} peers, registrations per address {rate})",
        config.ttl_s,
        config.max_peers
    );
    if tracker.is_local() && (config.force_console || io::stdin().is_terminal()) {
        let handle = event_loop.handle();
        let stop_at_end = config.force_console;
        // The console blocks on stdin and on `ping`, so it must not share the loop's thread;
        // it is not joined: the process ends when the loop does.
        std::thread::Builder::new()
            .name("console".to_owned())
            .spawn(move || {
                let (input, output) = (io::stdin().lock(), io::stdout());
                console::run(&tracker, &handle, input, output, stop_at_end)
            })?;
    }
    Ok(event_loop.run()?)
}
