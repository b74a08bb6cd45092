//! Upstream health with hysteresis: a few connect failures in a row take an upstream out, and it
//! is probed on an interval until one attempt succeeds.
//!
//! Time is passed in, never read, so tests step through the transitions exactly.

use std::time::{Duration, Instant};

/// Connect failures in a row that take an upstream out of rotation (SPEC §7: N=3).
pub const FAILURES_TO_DOWN: u32 = 3;

/// How often a down upstream is probed (SPEC §7: every 2 s).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Whether an upstream gets traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// In rotation.
    Up,
    /// Out of rotation, waiting for a probe to succeed.
    Down,
}

/// A change of [`State`], returned so the caller can log it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The upstream reached the failure threshold and was taken out.
    WentDown,
    /// A down upstream answered and is back in rotation.
    CameUp,
}

/// The health of one upstream.
///
/// ```
/// use std::time::{Duration, Instant};
/// use proxy::health::{Health, Transition};
///
/// let t0 = Instant::now();
/// let mut h = Health::default();
/// assert_eq!(h.record_failure(t0), None);
/// assert_eq!(h.record_failure(t0), None);
/// assert_eq!(h.record_failure(t0), Some(Transition::WentDown));
/// assert!(!h.probe_due(t0 + Duration::from_millis(1999)));
/// assert!(h.probe_due(t0 + Duration::from_secs(2)));
/// assert_eq!(h.record_success(), Some(Transition::CameUp));
/// ```
#[derive(Debug, Clone)]
pub struct Health {
    state: State,
    consecutive_failures: u32,
    /// When the next probe of a down upstream may start.
    next_probe: Option<Instant>,
    threshold: u32,
    interval: Duration,
}

impl Default for Health {
    /// Up, with [`FAILURES_TO_DOWN`] and [`PROBE_INTERVAL`].
    fn default() -> Health {
        Health::new(FAILURES_TO_DOWN, PROBE_INTERVAL)
    }
}

impl Health {
    /// Up, going down after `threshold` failures in a row (at least 1), probed every `interval`.
    pub fn new(threshold: u32, interval: Duration) -> Health {
        Health {
            state: State::Up,
            consecutive_failures: 0,
            next_probe: None,
            threshold: threshold.max(1),
            interval,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the upstream is in rotation.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// Failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// A connect or probe succeeded: the failure run ends and a down upstream comes back.
    pub fn record_success(&mut self) -> Option<Transition> {
        self.consecutive_failures = 0;
        self.next_probe = None;
        match self.state {
            State::Up => None,
            State::Down => {
                self.state = State::Up;
                Some(Transition::CameUp)
            }
        }
    }

    /// A connect or probe failed at `now`; the threshold-th failure in a row takes the upstream
    /// down, and every failure while down schedules the next probe one interval later.
    pub fn record_failure(&mut self, now: Instant) -> Option<Transition> {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.state {
            State::Down => {
                self.next_probe = Some(now + self.interval);
                None
            }
            State::Up if self.consecutive_failures >= self.threshold => {
                self.state = State::Down;
                self.next_probe = Some(now + self.interval);
                Some(Transition::WentDown)
            }
            State::Up => None,
        }
    }

    /// Whether a down upstream should be probed at `now`; never for an up one.
    pub fn probe_due(&self, now: Instant) -> bool {
        self.state == State::Down && self.next_probe.is_some_and(|at| now >= at)
    }

    /// A probe was started at `now`; no other is due for an interval, so a probe that never
    /// reports back is simply retried.
    pub fn probe_started(&mut self, now: Instant) {
        if self.state == State::Down {
            self.next_probe = Some(now + self.interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a scenario: what happens at `ms` after the start, and what must hold after.
    #[derive(Clone, Copy)]
    enum Event {
        Fail,
        Succeed,
        Probe,
        /// Only observe.
        Look,
    }

    /// Runs `(ms, event, transition, is_up, probe_due)` steps against one `Health`.
    fn check(steps: &[(u64, Event, Option<Transition>, bool, bool)]) {
        let t0 = Instant::now();
        let mut h = Health::default();
        for (i, &(ms, event, transition, up, due)) in steps.iter().enumerate() {
            let now = t0 + Duration::from_millis(ms);
            let got = match event {
                Event::Fail => h.record_failure(now),
                Event::Succeed => h.record_success(),
                Event::Probe => {
                    h.probe_started(now);
                    None
                }
                Event::Look => None,
            };
            assert_eq!(
                (got, h.is_up(), h.probe_due(now)),
                (transition, up, due),
                "step {i} at {ms} ms"
            );
        }
    }

    use Event::*;
    use Transition::*;

    #[test]
    fn three_failures_in_a_row_take_it_down() {
        check(&[
            (0, Look, None, true, false),
            (0, Fail, None, true, false),
            (10, Fail, None, true, false),
            (20, Fail, Some(WentDown), false, false),
            (2019, Look, None, false, false),
            (2020, Look, None, false, true),
        ]);
    }

    #[test]
    fn a_success_resets_the_run() {
        check(&[
            (0, Fail, None, true, false),
            (1, Fail, None, true, false),
            (2, Succeed, None, true, false),
            (3, Fail, None, true, false),
            (4, Fail, None, true, false),
            (5, Fail, Some(WentDown), false, false),
        ]);
    }

    #[test]
    fn probes_every_interval_until_one_succeeds() {
        check(&[
            (0, Fail, None, true, false),
            (0, Fail, None, true, false),
            (0, Fail, Some(WentDown), false, false),
            (2000, Probe, None, false, false),
            (2500, Fail, None, false, false),
            (4499, Look, None, false, false),
            (4500, Look, None, false, true),
            (4500, Probe, None, false, false),
            // A probe that never reports back is retried one interval after it started.
            (6500, Look, None, false, true),
            (6600, Succeed, Some(CameUp), true, false),
            (6700, Fail, None, true, false),
            (6800, Succeed, None, true, false),
        ]);
    }

    #[test]
    fn custom_threshold() {
        let t0 = Instant::now();
        let mut h = Health::new(1, Duration::from_millis(100));
        assert_eq!(h.record_failure(t0), Some(WentDown));
        assert_eq!(h.state(), State::Down);
        assert!(h.probe_due(t0 + Duration::from_millis(100)));
        assert_eq!(
            Health::new(0, PROBE_INTERVAL).record_failure(t0),
            Some(WentDown)
        );
        assert_eq!(h.consecutive_failures(), 1);
    }
}
