//! The tracker client's decisions (SPEC §6 start-up): when to register, when to heartbeat,
//! when to register again, and how often to retry while the tracker is unreachable. Pure: the
//! driver's agent (in the `p2p` crate) feeds it times and answers and carries out the
//! [`Step`]s it returns.
//!
//! The rules: register at start; once registered, heartbeat every interval the tracker
//! advertised; a 404 (the tracker forgot us) means register again at once; a request that does
//! not reach the tracker marks it unreachable, and then every interval brings a registration
//! attempt instead of a heartbeat, so a tracker that comes back (possibly empty) gets us again
//! within one interval. Only one registration is in flight at a time.

use std::time::{Duration, Instant};

/// Heartbeat (and retry) interval until the tracker advertises one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What the driver should send to the tracker now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `POST /submit-info`, then re-join the channels.
    Register,
    /// `POST /heartbeat` with this token.
    Heartbeat(String),
    /// Nothing now.
    Wait,
}

/// The tracker client's state. See the module docs.
#[derive(Debug, Clone)]
pub struct TrackerClient {
    interval: Duration,
    token: Option<String>,
    registering: bool,
    reachable: bool,
    next_beat: Option<Instant>,
}

impl Default for TrackerClient {
    fn default() -> TrackerClient {
        TrackerClient {
            interval: DEFAULT_INTERVAL,
            token: None,
            registering: false,
            reachable: false,
            next_beat: None,
        }
    }
}

impl TrackerClient {
    /// The first step, at start: register, with the first retry one interval away.
    pub fn start(&mut self, now: Instant) -> Step {
        self.next_beat = Some(now + self.interval);
        self.register()
    }

    fn register(&mut self) -> Step {
        if self.registering {
            return Step::Wait;
        }
        self.registering = true;
        Step::Register
    }

    /// When [`TrackerClient::on_timer`] next has something to do.
    pub fn next_beat(&self) -> Option<Instant> {
        self.next_beat
    }

    /// The timer fired: a heartbeat if registered and the tracker answers, else a registration
    /// attempt (the retry while it is unreachable). The next one is an interval away.
    pub fn on_timer(&mut self, now: Instant) -> Step {
        if self.next_beat.is_none_or(|at| at > now) {
            return Step::Wait;
        }
        self.next_beat = Some(now + self.interval);
        match &self.token {
            Some(token) if self.reachable => Step::Heartbeat(token.clone()),
            _ => self.register(),
        }
    }

    /// The tracker registered us with `token` and advertised `interval`.
    pub fn registered(&mut self, now: Instant, token: String, interval: Duration) {
        self.registering = false;
        self.reachable = true;
        self.token = Some(token);
        self.interval = interval.max(Duration::from_millis(1));
        self.next_beat = Some(now + self.interval);
    }

    /// The registration got an answer other than success (refused, unreadable): the next
    /// timer tries again.
    pub fn registration_failed(&mut self) {
        self.registering = false;
    }

    /// A request reached the tracker (`true`) or did not (`false`); answers whether that
    /// changed. A failed registration is over, so the next timer tries again.
    pub fn set_reachable(&mut self, reachable: bool) -> bool {
        if !reachable {
            self.registering = false;
        }
        std::mem::replace(&mut self.reachable, reachable) != reachable
    }

    /// The tracker answered 404 for us (heartbeat, join): it forgot us; register at once.
    pub fn forgotten(&mut self) -> Step {
        self.token = None;
        self.register()
    }

    /// Whether the tracker knows us and answers.
    pub fn is_registered(&self) -> bool {
        self.token.is_some() && self.reachable
    }

    /// Our token, while registered.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The heartbeat interval in use.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Leaving: the token for the `/remove`, if we hold one (once).
    pub fn leave(&mut self) -> Option<String> {
        self.next_beat = None;
        self.token.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn registered_at(t0: Instant) -> TrackerClient {
        let mut c = TrackerClient::default();
        assert_eq!(c.start(t0), Step::Register);
        c.registered(t0, "tok".to_string(), 10 * SEC);
        c
    }

    #[test]
    fn registers_once_at_start_then_beats_at_the_advertised_interval() {
        let t0 = Instant::now();
        let mut c = TrackerClient::default();
        assert_eq!(c.start(t0), Step::Register);
        assert_eq!(c.next_beat(), Some(t0 + DEFAULT_INTERVAL));
        // The registration is slow: the retry timer does not send a second one.
        assert_eq!(c.on_timer(t0 + DEFAULT_INTERVAL), Step::Wait);
        let t1 = t0 + DEFAULT_INTERVAL + SEC;
        c.registered(t1, "tok".to_string(), 10 * SEC);
        assert!(c.is_registered());
        assert_eq!(c.interval(), 10 * SEC);
        assert_eq!(c.on_timer(t1 + 9 * SEC), Step::Wait);
        assert_eq!(
            c.on_timer(t1 + 10 * SEC),
            Step::Heartbeat("tok".to_string())
        );
        assert_eq!(c.next_beat(), Some(t1 + 20 * SEC));
    }

    #[test]
    fn a_404_registers_again_at_once() {
        let t0 = Instant::now();
        let mut c = registered_at(t0);
        assert_eq!(c.forgotten(), Step::Register);
        assert_eq!(c.token(), None);
        assert!(!c.is_registered());
        // Until the new registration answers, the timer neither beats nor registers twice.
        assert_eq!(c.on_timer(t0 + 10 * SEC), Step::Wait);
        c.registered(t0 + 10 * SEC, "new".to_string(), 10 * SEC);
        assert_eq!(
            c.on_timer(t0 + 20 * SEC),
            Step::Heartbeat("new".to_string())
        );
    }

    #[test]
    fn unreachable_tracker_is_retried_every_interval_until_it_is_back() {
        let t0 = Instant::now();
        let mut c = registered_at(t0);
        assert_eq!(
            c.on_timer(t0 + 10 * SEC),
            Step::Heartbeat("tok".to_string())
        );
        assert!(c.set_reachable(false), "a change");
        assert!(!c.set_reachable(false), "no change");
        assert!(!c.is_registered());
        // Every interval: a registration attempt (not a heartbeat with the old token); each
        // one fails to connect, which ends it, so the next interval tries again.
        for i in 2..5 {
            assert_eq!(c.on_timer(t0 + i * 10 * SEC), Step::Register, "retry {i}");
            c.set_reachable(false);
        }
        // The tracker is back (empty): the attempt succeeds and heartbeats resume.
        let back = t0 + 50 * SEC;
        assert_eq!(c.on_timer(back), Step::Register);
        assert!(c.set_reachable(true));
        c.registered(back, "again".to_string(), 10 * SEC);
        assert_eq!(
            c.on_timer(back + 10 * SEC),
            Step::Heartbeat("again".to_string())
        );
    }

    #[test]
    fn a_refused_registration_is_retried_at_the_next_interval() {
        let t0 = Instant::now();
        let mut c = TrackerClient::default();
        assert_eq!(c.start(t0), Step::Register);
        c.set_reachable(true);
        c.registration_failed();
        assert_eq!(c.on_timer(t0 + DEFAULT_INTERVAL - SEC), Step::Wait);
        assert_eq!(c.on_timer(t0 + DEFAULT_INTERVAL), Step::Register);
    }

    #[test]
    fn leaving_gives_the_token_once_and_stops_the_timer() {
        let t0 = Instant::now();
        let mut c = registered_at(t0);
        assert_eq!(c.leave(), Some("tok".to_string()));
        assert_eq!(c.leave(), None);
        assert_eq!(c.next_beat(), None);
        assert_eq!(c.on_timer(t0 + 100 * SEC), Step::Wait);
    }
}
