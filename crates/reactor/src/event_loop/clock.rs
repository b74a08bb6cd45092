//! The loop's one clock: monotonic, read once per round, and replaceable so that a test can step
//! time and watch deadlines fire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where a loop reads the time. It must be monotonic: every deadline ([`Cx::set_deadline`],
/// lingering closes, the shutdown grace) is compared against it, so a clock that went back
/// would hold timers, and wall-clock steps must not reach it.
///
/// [`Cx::set_deadline`]: crate::Cx::set_deadline
pub trait Clock: Send + 'static {
    /// The current time.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock ([`Instant::now`]); every loop starts with it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The system's monotonic clock plus an offset that only grows: a test [`advance`]s it to jump
/// time forward without waiting. Clones share the offset.
///
/// [`advance`]: SteppedClock::advance
#[derive(Clone, Debug, Default)]
pub struct SteppedClock {
    offset_micros: Arc<AtomicU64>,
}

impl SteppedClock {
    /// Moves this clock (and its clones) `by` forward. A loop reads the new time on its next
    /// round; wake it with [`Handle::wake`](crate::Handle::wake) if it is waiting in `poll`.
    pub fn advance(&self, by: Duration) {
        let micros = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> Instant {
        Instant::now() + Duration::from_micros(self.offset_micros.load(Ordering::Relaxed))
    }
}
