//! The upstreams of each host block with their policy and health, and the status view of them.
//!
//! The forwarder's calls for one request, in order:
//! [`Pool::pick`] → [`Pool::acquire`] → connect → [`Pool::record_connect_success`] or
//! [`Pool::record_connect_failure`] (then maybe [`Pool::pick_other`] once) → … →
//! [`Pool::release`]. A timer asks [`Pool::probes_due`] and reports each probe's outcome through
//! the same `record_*` calls.

use std::time::Instant;

use serde::Serialize;

use crate::balance::{Backend, Select, Selector};
use crate::config::{Config, HostBlock, Policy};
use crate::health::Transition;

/// The upstreams of one host block.
#[derive(Debug, Clone)]
pub struct Pool {
    host: String,
    backends: Vec<Backend>,
    selector: Selector,
}

impl Pool {
    /// The pool for `block`: its upstreams, all up and idle, under its policy.
    pub fn new(block: &HostBlock) -> Pool {
        Pool::with_selector(
            block.host.to_string(),
            block.upstreams.iter().cloned().map(Backend::new).collect(),
            Selector::new(block.policy),
        )
    }

    /// A pool from parts, e.g. with a seeded [`Random`](crate::balance::Random) for tests.
    pub fn with_selector(host: String, backends: Vec<Backend>, selector: Selector) -> Pool {
        Pool {
            host,
            backends,
            selector,
        }
    }

    /// The block's host name as written in the config (`*` for the catch-all).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The balancing policy.
    pub fn policy(&self) -> Policy {
        self.selector.policy()
    }

    /// The backends, in config order; indices returned by [`Pool::pick`] refer to this slice.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The backend for the next request, or `None` when all are down (→ 502).
    pub fn pick(&mut self) -> Option<usize> {
        self.selector.pick(&self.backends, None)
    }

    /// Backend `wanted` (the one a sticky cookie names) while it is up, else [`Pool::pick`].
    pub fn pick_preferring(&mut self, wanted: Option<usize>) -> Option<usize> {
        match wanted {
            Some(i) if self.backends.get(i).is_some_and(|b| b.health.is_up()) => Some(i),
            _ => self.pick(),
        }
    }

    /// Another backend than `failed`, for the one retry after a failed connect.
    pub fn pick_other(&mut self, failed: usize) -> Option<usize> {
        self.selector.pick(&self.backends, Some(failed))
    }

    /// A request is being sent to backend `i`: it counts as in flight until [`Pool::release`].
    pub fn acquire(&mut self, i: usize) {
        let b = &mut self.backends[i];
        b.active = b.active.saturating_add(1);
        b.requests = b.requests.saturating_add(1);
    }

    /// The request on backend `i` is over, however it ended.
    pub fn release(&mut self, i: usize) {
        let b = &mut self.backends[i];
        b.active = b.active.saturating_sub(1);
    }

    /// A connect or probe to backend `i` succeeded.
    pub fn record_connect_success(&mut self, i: usize) -> Option<Transition> {
        let change = self.backends[i].health.record_success();
        if change == Some(Transition::CameUp) {
            log::info!(
                "upstream {} of {} is back up",
                self.backends[i].upstream.authority(),
                self.host
            );
        }
        change
    }

    /// A connect or probe to backend `i` failed at `now`.
    pub fn record_connect_failure(&mut self, i: usize, now: Instant) -> Option<Transition> {
        let b = &mut self.backends[i];
        b.failures = b.failures.saturating_add(1);
        let change = b.health.record_failure(now);
        if change == Some(Transition::WentDown) {
            log::warn!(
                "upstream {} of {} is down after {} failed connects",
                b.upstream.authority(),
                self.host,
                b.health.consecutive_failures()
            );
        }
        change
    }

    /// The down backends to probe at `now`; each is then not due again for an interval.
    pub fn probes_due(&mut self, now: Instant) -> Vec<usize> {
        let mut due = Vec::new();
        for (i, b) in self.backends.iter_mut().enumerate() {
            if b.health.probe_due(now) {
                b.health.probe_started(now);
                due.push(i);
            }
        }
        due
    }

    /// The status view of this pool.
    pub fn status(&self) -> PoolStatus {
        PoolStatus {
            host: self.host.clone(),
            policy: self.policy(),
            upstreams: self
                .backends
                .iter()
                .map(|b| UpstreamStatus {
                    address: b.upstream.authority(),
                    healthy: b.health.is_up(),
                    active: b.active,
                    requests: b.requests,
                    failures: b.failures,
                })
                .collect(),
        }
    }
}

/// One [`Pool`] per host block, indexed like [`Config::hosts`] so [`Config::route`]'s answer
/// indexes here too.
#[derive(Debug, Clone)]
pub struct Pools {
    pools: Vec<Pool>,
}

impl Pools {
    /// Fresh pools for every block of `config`.
    pub fn new(config: &Config) -> Pools {
        Pools {
            pools: config.hosts.iter().map(Pool::new).collect(),
        }
    }

    /// The pool of block `i`.
    pub fn get(&self, i: usize) -> Option<&Pool> {
        self.pools.get(i)
    }

    /// The pool of block `i`, to pick and count.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Pool> {
        self.pools.get_mut(i)
    }

    /// All pools, in config order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Pool> {
        self.pools.iter_mut()
    }

    /// The view served at `/__proxy/status`.
    pub fn status(&self) -> Status {
        Status {
            hosts: self.pools.iter().map(Pool::status).collect(),
        }
    }
}

/// The body of `GET /__proxy/status`, serialized with `serde_json`.
///
/// ```json
/// {"hosts":[{"host":"app.local","policy":"round-robin","upstreams":[
///   {"address":"127.0.0.1:9000","healthy":true,"active":0,"requests":12,"failures":0}]}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// One entry per host block, in config order.
    pub hosts: Vec<PoolStatus>,
}

impl Status {
    /// The view as JSON text.
    pub fn to_json(&self) -> String {
        // Plain strings, numbers and booleans: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The status of one host block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolStatus {
    /// The block's host name (`*` for the catch-all).
    pub host: String,
    /// Its balancing policy.
    pub policy: Policy,
    /// Its upstreams, in config order.
    pub upstreams: Vec<UpstreamStatus>,
}

/// The status of one upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamStatus {
    /// `host:port`.
    pub address: String,
    /// Whether it is in rotation.
    pub healthy: bool,
    /// Requests in flight.
    pub active: u32,
    /// Requests sent since start.
    pub requests: u64,
    /// Failed connects and probes since start.
    pub failures: u64,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::balance::Random;

    const CONF: &str = "
host \"app.local\" {
    proxy_pass http://127.0.0.1:9000;
    proxy_pass http://127.0.0.1:9001;
    proxy_pass http://127.0.0.1:9002;
}
host default {
    proxy_pass http://localhost:7000;
    dist_policy least-conn
}
";

    fn pools() -> Pools {
        Pools::new(&crate::parse(CONF, "t.conf").unwrap())
    }

    #[test]
    fn pools_follow_config_order() {
        let pools = pools();
        let a = pools.get(0).unwrap();
        assert_eq!(
            (a.host(), a.policy(), a.backends().len()),
            ("app.local", Policy::RoundRobin, 3)
        );
        let d = pools.get(1).unwrap();
        assert_eq!((d.host(), d.policy()), ("*", Policy::LeastConn));
        assert!(pools.get(2).is_none());
    }

    #[test]
    fn a_request_lifecycle_with_one_retry() {
        let t0 = Instant::now();
        let mut pools = pools();
        let pool = pools.get_mut(0).unwrap();

        let first = pool.pick().unwrap();
        pool.acquire(first);
        assert_eq!(pool.record_connect_failure(first, t0), None);
        pool.release(first);
        let retry = pool.pick_other(first).unwrap();
        assert_ne!(retry, first);
        pool.acquire(retry);
        assert_eq!(pool.record_connect_success(retry), None);
        assert_eq!(pool.backends()[retry].active, 1);
        pool.release(retry);
        pool.release(retry);
        assert_eq!(pool.backends()[retry].active, 0, "release saturates");

        let s = &pool.status().upstreams;
        assert_eq!(
            (s[first].requests, s[first].failures, s[first].active),
            (1, 1, 0)
        );
        assert_eq!((s[retry].requests, s[retry].failures), (1, 0));
    }

    #[test]
    fn down_backends_are_probed_and_come_back() {
        let t0 = Instant::now();
        let mut pools = pools();
        let pool = pools.get_mut(0).unwrap();
        for k in 0..3 {
            let expected = (k == 2).then_some(Transition::WentDown);
            assert_eq!(pool.record_connect_failure(1, t0), expected);
        }
        for _ in 0..10 {
            assert_ne!(pool.pick(), Some(1));
        }
        assert!(pool.probes_due(t0 + Duration::from_millis(1999)).is_empty());
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(pool.probes_due(t2), [1]);
        assert!(pool.probes_due(t2).is_empty(), "one probe per interval");
        assert_eq!(pool.record_connect_success(1), Some(Transition::CameUp));
        let picks: Vec<_> = (0..3).filter_map(|_| pool.pick()).collect();
        assert!(picks.contains(&1), "{picks:?}");
    }

    #[test]
    fn all_down_gives_none() {
        let t0 = Instant::now();
        let mut pools = pools();
        let pool = pools.get_mut(1).unwrap();
        for _ in 0..3 {
            pool.record_connect_failure(0, t0);
        }
        assert_eq!(pool.pick(), None);
        assert_eq!(pool.pick_other(0), None);
    }

    #[test]
    fn status_json() {
        let t0 = Instant::now();
        let mut pools = pools();
        for pool in pools.iter_mut() {
            let i = pool.pick().unwrap();
            pool.acquire(i);
        }
        let d = pools.get_mut(1).unwrap();
        for _ in 0..3 {
            d.record_connect_failure(0, t0);
        }
        assert_eq!(
            pools.status().to_json(),
            concat!(
                r#"{"hosts":[{"host":"app.local","policy":"round-robin","upstreams":["#,
                r#"{"address":"127.0.0.1:9000","healthy":true,"active":1,"requests":1,"failures":0},"#,
                r#"{"address":"127.0.0.1:9001","healthy":true,"active":0,"requests":0,"failures":0},"#,
                r#"{"address":"127.0.0.1:9002","healthy":true,"active":0,"requests":0,"failures":0}]},"#,
                r#"{"host":"*","policy":"least-conn","upstreams":["#,
                r#"{"address":"localhost:7000","healthy":false,"active":1,"requests":1,"failures":3}]}]}"#,
            )
        );
    }

    #[test]
    fn with_selector_uses_the_given_policy() {
        let conf = crate::parse(CONF, "t.conf").unwrap();
        let backends = conf.hosts[0]
            .upstreams
            .iter()
            .cloned()
            .map(Backend::new)
            .collect();
        let mut pool = Pool::with_selector(
            "x".to_owned(),
            backends,
            Selector::Random(Random::seeded(3)),
        );
        assert_eq!(pool.policy(), Policy::Random);
        assert!(pool.pick().is_some());
    }
}
