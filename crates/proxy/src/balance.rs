//! Balancing policies: which upstream of a block gets the next request.
//!
//! A policy only chooses; the counters it reads live in [`Backend`] and are kept by
//! [`Pool`](crate::pool::Pool). Every policy skips upstreams that health has taken out, and
//! the one the caller asks to exclude, so a failed connect can be retried on another upstream.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::config::{Policy, Upstream};
use crate::health::Health;

/// One upstream with its load and health, as the policies see it.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Where to connect.
    pub upstream: Upstream,
    /// Requests in flight to this upstream.
    pub active: u32,
    /// Requests sent to this upstream since start.
    pub requests: u64,
    /// Failed connects and probes since start.
    pub failures: u64,
    /// Whether it is in rotation.
    pub health: Health,
}

impl Backend {
    /// An idle, healthy backend for `upstream`.
    pub fn new(upstream: Upstream) -> Backend {
        Backend {
            upstream,
            active: 0,
            requests: 0,
            failures: 0,
            health: Health::default(),
        }
    }
}

/// A balancing policy.
///
/// There is no hash key argument: none of the course's policies is keyed.
pub trait Select {
    /// The index of the backend for the next request, or `None` when every backend is down or
    /// excluded (or there are none). `exclude` names one backend not to pick, the one a retry
    /// just failed on.
    fn pick(&mut self, backends: &[Backend], exclude: Option<usize>) -> Option<usize>;
}

fn eligible(backends: &[Backend], i: usize, exclude: Option<usize>) -> bool {
    exclude != Some(i) && backends[i].health.is_up()
}

/// Indices `0..len` starting at `start`, wrapping around.
fn rotation(start: usize, len: usize) -> impl Iterator<Item = usize> {
    (0..len).map(move |k| (start + k) % len)
}

/// Each backend in turn.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

impl Select for RoundRobin {
    fn pick(&mut self, backends: &[Backend], exclude: Option<usize>) -> Option<usize> {
        let len = backends.len();
        let chosen =
            rotation(self.next % len.max(1), len).find(|&i| eligible(backends, i, exclude))?;
        self.next = chosen + 1;
        Some(chosen)
    }
}

/// The backend with the fewest requests in flight; among equals, in turn, so that idle
/// backends share the load instead of the first one taking it all.
#[derive(Debug, Clone, Default)]
pub struct LeastConn {
    next: usize,
}

impl Select for LeastConn {
    fn pick(&mut self, backends: &[Backend], exclude: Option<usize>) -> Option<usize> {
        let len = backends.len();
        let mut best: Option<usize> = None;
        for i in rotation(self.next % len.max(1), len) {
            if eligible(backends, i, exclude)
                && best.is_none_or(|b| backends[i].active < backends[b].active)
            {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.next = chosen + 1;
        Some(chosen)
    }
}

/// A backend chosen uniformly among the eligible ones.
#[derive(Debug, Clone)]
pub struct Random {
    rng: SmallRng,
}

impl Default for Random {
    /// Seeded from the operating system.
    fn default() -> Random {
        Random {
            rng: rand::make_rng(),
        }
    }
}

impl Random {
    /// A reproducible sequence, for tests.
    pub fn seeded(seed: u64) -> Random {
        Random {
            rng: SmallRng::seed_from_u64(seed),
        }
    }
}

impl Select for Random {
    fn pick(&mut self, backends: &[Backend], exclude: Option<usize>) -> Option<usize> {
        let count = (0..backends.len())
            .filter(|&i| eligible(backends, i, exclude))
            .count();
        if count == 0 {
            return None;
        }
        let nth = self.rng.random_range(0..count);
        (0..backends.len())
            .filter(|&i| eligible(backends, i, exclude))
            .nth(nth)
    }
}

/// The policy a [`Policy`] names, as one type a pool can hold.
#[derive(Debug, Clone)]
pub enum Selector {
    /// [`Policy::RoundRobin`].
    RoundRobin(RoundRobin),
    /// [`Policy::LeastConn`].
    LeastConn(LeastConn),
    /// [`Policy::Random`].
    Random(Random),
}

impl Selector {
    /// A fresh selector for `policy`.
    pub fn new(policy: Policy) -> Selector {
        match policy {
            Policy::RoundRobin => Selector::RoundRobin(RoundRobin::default()),
            Policy::LeastConn => Selector::LeastConn(LeastConn::default()),
            Policy::Random => Selector::Random(Random::default()),
        }
    }

    /// The policy this selector implements.
    pub fn policy(&self) -> Policy {
        match self {
            Selector::RoundRobin(_) => Policy::RoundRobin,
            Selector::LeastConn(_) => Policy::LeastConn,
            Selector::Random(_) => Policy::Random,
        }
    }
}

impl Select for Selector {
    fn pick(&mut self, backends: &[Backend], exclude: Option<usize>) -> Option<usize> {
        match self {
            Selector::RoundRobin(s) => s.pick(backends, exclude),
            Selector::LeastConn(s) => s.pick(backends, exclude),
            Selector::Random(s) => s.pick(backends, exclude),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn backends(n: usize) -> Vec<Backend> {
        (0..n)
            .map(|i| {
                Backend::new(Upstream {
                    host: "127.0.0.1".to_owned(),
                    port: 9000 + i as u16,
                    path: String::new(),
                })
            })
            .collect()
    }

    fn take_down(b: &mut Backend) {
        let now = Instant::now();
        while b.health.is_up() {
            b.health.record_failure(now);
        }
    }

    fn counts(s: &mut impl Select, bs: &[Backend], picks: usize) -> Vec<usize> {
        let mut counts = vec![0; bs.len()];
        for _ in 0..picks {
            counts[s.pick(bs, None).expect("a backend")] += 1;
        }
        counts
    }

    fn selectors() -> Vec<Selector> {
        vec![
            Selector::RoundRobin(RoundRobin::default()),
            Selector::LeastConn(LeastConn::default()),
            Selector::Random(Random::seeded(7)),
        ]
    }

    #[test]
    fn round_robin_is_exactly_even() {
        let bs = backends(3);
        assert_eq!(
            counts(&mut RoundRobin::default(), &bs, 300),
            [100, 100, 100]
        );
        let mut rr = RoundRobin::default();
        let order: Vec<_> = (0..7).map(|_| rr.pick(&bs, None).unwrap()).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn random_is_roughly_even() {
        let bs = backends(3);
        for seed in [1, 2, 3, 42] {
            for c in counts(&mut Random::seeded(seed), &bs, 3000) {
                assert!((700..=1300).contains(&c), "seed {seed}: {c} of 3000");
            }
        }
        // The OS-seeded default too: a ±30 % miss has odds far below 1e-30.
        for c in counts(&mut Random::default(), &bs, 3000) {
            assert!((700..=1300).contains(&c), "{c} of 3000");
        }
    }

    #[test]
    fn least_conn_prefers_the_idle_backend() {
        let mut bs = backends(3);
        bs[0].active = 5;
        bs[1].active = 0;
        bs[2].active = 2;
        let mut lc = LeastConn::default();
        for _ in 0..5 {
            assert_eq!(lc.pick(&bs, None), Some(1));
        }
        bs[1].active = 9;
        assert_eq!(lc.pick(&bs, None), Some(2));
    }

    #[test]
    fn least_conn_ties_go_round_robin() {
        let mut bs = backends(3);
        assert_eq!(counts(&mut LeastConn::default(), &bs, 300), [100, 100, 100]);
        bs[0].active = 1;
        let mut lc = LeastConn::default();
        let order: Vec<_> = (0..4).map(|_| lc.pick(&bs, None).unwrap()).collect();
        assert_eq!(order, [1, 2, 1, 2]);
    }

    #[test]
    fn least_conn_follows_load_as_it_changes() {
        // Simulate a caller that counts requests in flight: picks spread over all three.
        let mut bs = backends(3);
        let mut lc = LeastConn::default();
        for _ in 0..6 {
            let i = lc.pick(&bs, None).unwrap();
            bs[i].active += 1;
        }
        let active: Vec<u32> = bs.iter().map(|b| b.active).collect();
        assert_eq!(active, [2, 2, 2]);
    }

    #[test]
    fn every_policy_skips_down_backends() {
        for mut s in selectors() {
            let mut bs = backends(3);
            take_down(&mut bs[1]);
            let c = counts(&mut s, &bs, 300);
            assert_eq!(c[1], 0, "{:?}: {c:?}", s.policy());
            assert_eq!(c[0] + c[2], 300);
            if !matches!(s, Selector::Random(_)) {
                assert_eq!(c, [150, 0, 150], "{:?}", s.policy());
            }
        }
    }

    #[test]
    fn every_policy_gives_none_when_nothing_is_eligible() {
        for mut s in selectors() {
            assert_eq!(s.pick(&[], None), None, "{:?} empty", s.policy());
            let mut bs = backends(2);
            take_down(&mut bs[0]);
            assert_eq!(s.pick(&bs, None), Some(1), "{:?}", s.policy());
            assert_eq!(s.pick(&bs, Some(1)), None, "{:?} excluded", s.policy());
            take_down(&mut bs[1]);
            assert_eq!(s.pick(&bs, None), None, "{:?} all down", s.policy());
            bs[0].health.record_success();
            assert_eq!(s.pick(&bs, None), Some(0), "{:?} back up", s.policy());
        }
    }

    #[test]
    fn exclude_picks_another_backend() {
        for mut s in selectors() {
            let bs = backends(3);
            for _ in 0..50 {
                let first = s.pick(&bs, None).unwrap();
                let retry = s.pick(&bs, Some(first)).unwrap();
                assert_ne!(first, retry, "{:?}", s.policy());
            }
            let one = backends(1);
            assert_eq!(s.pick(&one, Some(0)), None, "{:?}", s.policy());
        }
    }

    #[test]
    fn selector_matches_policy() {
        for p in [Policy::RoundRobin, Policy::LeastConn, Policy::Random] {
            assert_eq!(Selector::new(p).policy(), p);
        }
    }
}
