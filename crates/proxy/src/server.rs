//! Wiring: the proxy's listener and health agent on an event loop, in the caller's loop
//! ([`serve_on`]), a thread of its own ([`spawn`], for tests), or the process ([`run`]).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};

use http_core::Limits;
use reactor::{ConnInfo, EventLoop, Running, Session};

use crate::config::{Config, Upstream};
use crate::forward::{ClientConn, HealthAgent, Shared, State};
use crate::pool::Pools;
use crate::upstream_pool::UpstreamPool;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// An upstream's host name did not resolve.
    #[error("cannot resolve upstream {upstream}: {source}")]
    Resolve {
        /// The upstream as written in the config.
        upstream: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// Binding, or the event loop, failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Starts proxying with `config` on `addr` in `event_loop`; returns the bound address. `limits`
/// bound what clients send; a zero idle timeout turns client keep-alive off.
///
/// Upstream host names are resolved here, once, so the loop never waits on a resolver.
pub fn serve_on(
    event_loop: &mut EventLoop,
    addr: SocketAddr,
    config: Config,
    limits: Limits,
) -> Result<SocketAddr, ProxyError> {
    let addrs = config
        .hosts
        .iter()
        .map(|block| block.upstreams.iter().map(resolve).collect())
        .collect::<Result<Vec<Vec<SocketAddr>>, ProxyError>>()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            pools: Pools::new(&config),
            idle: UpstreamPool::default(),
        }),
        config,
        addrs,
        limits,
        handle: event_loop.handle(),
    });
    let bound = event_loop.listen(
        addr,
        Box::new({
            let shared = shared.clone();
            move |info: &ConnInfo| {
                Session::with_addr(|me| ClientConn::new(shared.clone(), info, me))
            }
        }),
    )?;
    event_loop.spawn(HealthAgent::new(shared));
    Ok(bound)
}

/// The first address of an upstream, preferring IPv4 (what `localhost` upstreams listen on).
fn resolve(upstream: &Upstream) -> Result<SocketAddr, ProxyError> {
    let failed = |source| ProxyError::Resolve {
        upstream: upstream.to_string(),
        source,
    };
    let all: Vec<SocketAddr> = (upstream.host.as_str(), upstream.port)
        .to_socket_addrs()
        .map_err(failed)?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| failed(io::Error::other("no address")))
}

/// Runs the proxy with these limits in this thread until SIGINT/SIGTERM (graceful: in-flight exchanges finish).
pub fn run(config: Config, addr: SocketAddr, limits: Limits) -> Result<(), ProxyError> {
    let mut event_loop = EventLoop::new(limits.max_connections)?;
    event_loop.handle_signals()?;
    let bound = serve_on(&mut event_loop, addr, config, limits)?;
    log::info!("proxy listening on http://{bound}");
    event_loop.run()?;
    Ok(())
}

/// Runs the proxy on a thread of its own, e.g. in tests; dropping the result stops it.
pub fn spawn(config: Config, addr: SocketAddr) -> Result<Running, ProxyError> {
    let mut event_loop = EventLoop::new(Limits::default().max_connections)?;
    let bound = serve_on(&mut event_loop, addr, config, Limits::default())?;
    Ok(Running::start(event_loop, "proxy", bound)?)
}
