//! Registrations per source address: a token bucket for each, so one client cannot fill the
//! registry (or churn it) faster than [`RegisterRate`] allows, while other addresses are
//! unaffected.
//!
//! This is a *rate*; how many peers one address may hold at once is a separate limit. The
//! buckets are bounded: a bucket that has refilled is dropped (it means the same as no bucket),
//! at most [`MAX_TRACKED_SOURCES`] are kept, and sources beyond that share one overflow bucket,
//! so a flood from many addresses is limited as a whole instead of growing the map. IPv6
//! sources are keyed by their /64, the block one host or site usually gets.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::error::{Result, TrackerError};

/// Registrations per second one source address may sustain unless configured otherwise
/// (tracker-bin's `--register-rate`).
pub const DEFAULT_REGISTER_RATE_PER_S: u32 = 10;
/// Registrations one source address may make at once, after a quiet spell (tracker-bin's
/// `--register-burst`): a classroom behind one NAT, or a test starting a mesh of peers.
pub const DEFAULT_REGISTER_BURST: u32 = 100;
/// Most source addresses with a bucket of their own (about 40 bytes each).
pub const MAX_TRACKED_SOURCES: usize = 65_536;

/// How fast one source may register: `burst` at once, then `per_second` on average.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterRate {
    /// Sustained registrations per second, at least 1.
    pub per_second: u32,
    /// Size of the bucket, at least 1.
    pub burst: u32,
}

impl Default for RegisterRate {
    fn default() -> RegisterRate {
        RegisterRate {
            per_second: DEFAULT_REGISTER_RATE_PER_S,
            burst: DEFAULT_REGISTER_BURST,
        }
    }
}

impl fmt::Display for RegisterRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s (bursts of {})", self.per_second, self.burst)
    }
}

impl RegisterRate {
    /// Parses a rate as the command line gives it: `N/s` (or a bare `N`) with N ≥ 1, or `off`
    /// for no limit (`None`); the burst is left at `burst`.
    ///
    /// ```
    /// use tracker_core::RegisterRate;
    /// let rate = RegisterRate::parse("20/s", 50).unwrap().unwrap();
    /// assert_eq!((rate.per_second, rate.burst), (20, 50));
    /// assert_eq!(RegisterRate::parse("off", 50), Ok(None));
    /// assert!(RegisterRate::parse("0/s", 50).is_err());
    /// ```
    pub fn parse(text: &str, burst: u32) -> Result<Option<RegisterRate>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let number = text.strip_suffix("/s").unwrap_or(text);
        match number.trim().parse::<u32>() {
            Ok(per_second) if per_second >= 1 && burst >= 1 => {
                Ok(Some(RegisterRate { per_second, burst }))
            }
            Ok(_) if burst == 0 => Err("the burst must be at least 1".to_owned()),
            _ => Err(format!(
                "expected N/s with N at least 1, or off; got {text:?}"
            )),
        }
    }
}

/// A token bucket in thousandths of a registration, so refilling needs no floats.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli: u64,
    updated_ms: u64,
}

impl Bucket {
    fn full(rate: RegisterRate, now: u64) -> Bucket {
        Bucket {
            milli: u64::from(rate.burst) * 1000,
            updated_ms: now,
        }
    }

    fn refill(&mut self, rate: RegisterRate, now: u64) {
        let elapsed = now.saturating_sub(self.updated_ms);
        let capacity = u64::from(rate.burst) * 1000;
        self.milli = capacity.min(
            self.milli
                .saturating_add(elapsed.saturating_mul(u64::from(rate.per_second))),
        );
        self.updated_ms = self.updated_ms.max(now);
    }

    fn is_full(&self, rate: RegisterRate) -> bool {
        self.milli >= u64::from(rate.burst) * 1000
    }

    /// Takes one registration, or answers in how many ms one will be there.
    fn take(&mut self, rate: RegisterRate, now: u64) -> Result<(), u64> {
        self.refill(rate, now);
        if self.milli >= 1000 {
            self.milli -= 1000;
            Ok(())
        } else {
            Err((1000 - self.milli).div_ceil(u64::from(rate.per_second)))
        }
    }
}

/// The buckets of every source that registered recently: one tracker process's limiter, asked
/// before the store (so a shared store is never charged for a refused registration).
#[derive(Debug)]
pub struct RegisterLimiter {
    rate: Option<RegisterRate>,
    buckets: HashMap<IpAddr, Bucket>,
    /// Shared by the sources that found the map full.
    overflow: Option<Bucket>,
    /// When full buckets were last dropped: at most once per refill time, so a full map of
    /// busy sources is not rescanned on every registration.
    pruned_ms: Option<u64>,
}

impl Default for RegisterLimiter {
    fn default() -> RegisterLimiter {
        RegisterLimiter::new(Some(RegisterRate::default()))
    }
}

impl RegisterLimiter {
    /// A limiter at `rate` per source address; `None` admits everything.
    pub fn new(rate: Option<RegisterRate>) -> RegisterLimiter {
        RegisterLimiter {
            rate,
            buckets: HashMap::new(),
            overflow: None,
            pruned_ms: None,
        }
    }

    /// The rate per source address, if limited.
    pub fn rate(&self) -> Option<RegisterRate> {
        self.rate
    }

    /// Charges one registration to `source`; 429 with the seconds to wait when its bucket is
    /// empty.
    pub fn admit(&mut self, source: IpAddr, now: u64) -> Result<()> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let key = source_key(source);
        if !self.buckets.contains_key(&key) && self.buckets.len() >= MAX_TRACKED_SOURCES {
            self.prune(rate, now);
        }
        let bucket = if self.buckets.len() < MAX_TRACKED_SOURCES || self.buckets.contains_key(&key)
        {
            self.buckets
                .entry(key)
                .or_insert_with(|| Bucket::full(rate, now))
        } else {
            self.overflow.get_or_insert_with(|| Bucket::full(rate, now))
        };
        bucket.take(rate, now).map_err(|wait_ms| {
            let retry_after_s = wait_ms.div_ceil(1000).max(1);
            TrackerError::TooManyRequests {
                detail: format!(
                    "registrations from {key} are limited to {rate}; retry in {retry_after_s} s"
                ),
                retry_after_s,
            }
        })
    }

    /// Drops the buckets that have refilled, if the last prune is at least one refill time ago.
    fn prune(&mut self, rate: RegisterRate, now: u64) {
        let refill_ms = (u64::from(rate.burst) * 1000).div_ceil(u64::from(rate.per_second));
        if self
            .pruned_ms
            .is_some_and(|at| now.saturating_sub(at) < refill_ms)
        {
            return;
        }
        self.pruned_ms = Some(now);
        self.buckets.retain(|_, b| {
            b.refill(rate, now);
            !b.is_full(rate)
        });
        self.buckets.shrink_to_fit();
    }

    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The key a source is charged under: IPv4 as is (an IPv4-mapped IPv6 address too), IPv6 by
/// its /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: RegisterRate = RegisterRate {
        per_second: 2,
        burst: 3,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Feeds `(source, now)` registrations to a fresh limiter; `expected` says which pass.
    fn check(steps: &[(&str, u64, Result<(), u64>)]) {
        let mut limiter = RegisterLimiter::new(Some(RATE));
        for (i, &(source, now, expected)) in steps.iter().enumerate() {
            let got = match limiter.admit(ip(source), now) {
                Ok(()) => Ok(()),
                Err(TrackerError::TooManyRequests { retry_after_s, .. }) => Err(retry_after_s),
                Err(e) => panic!("step {i}: {e}"),
            };
            assert_eq!(got, expected, "step {i}: {source} at {now} ms");
        }
    }

    #[test]
    fn burst_then_rate_per_source() {
        check(&[
            ("10.0.0.1", 0, Ok(())),
            ("10.0.0.1", 0, Ok(())),
            ("10.0.0.1", 0, Ok(())),
            ("10.0.0.1", 0, Err(1)),
            // Another address has its own bucket.
            ("10.0.0.2", 0, Ok(())),
            // 2/s: one token after 500 ms, not before.
            ("10.0.0.1", 499, Err(1)),
            ("10.0.0.1", 500, Ok(())),
            ("10.0.0.1", 500, Err(1)),
            // Refills to the burst, no further.
            ("10.0.0.1", 60_000, Ok(())),
            ("10.0.0.1", 60_000, Ok(())),
            ("10.0.0.1", 60_000, Ok(())),
            ("10.0.0.1", 60_000, Err(1)),
        ]);
    }

    #[test]
    fn ipv6_is_charged_per_64_and_mapped_ipv4_as_ipv4() {
        check(&[
            ("2001:db8::1", 0, Ok(())),
            ("2001:db8::2", 0, Ok(())),
            ("2001:db8::ffff:1", 0, Ok(())),
            ("2001:db8::3", 0, Err(1)),
            ("2001:db8:0:1::1", 0, Ok(())),
            ("10.0.0.9", 0, Ok(())),
            ("::ffff:10.0.0.9", 0, Ok(())),
            ("10.0.0.9", 0, Ok(())),
            ("::ffff:10.0.0.9", 0, Err(1)),
        ]);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let slow = RegisterRate {
            per_second: 1,
            burst: 1,
        };
        let mut limiter = RegisterLimiter::new(Some(slow));
        limiter.admit(ip("10.0.0.1"), 0).unwrap();
        let err = limiter.admit(ip("10.0.0.1"), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "too many requests: registrations from 10.0.0.1 are limited to 1/s (bursts of 1); retry in 1 s"
        );
        assert_eq!(err.status(), 429);
    }

    #[test]
    fn off_admits_everything() {
        let mut limiter = RegisterLimiter::new(None);
        for _ in 0..10_000 {
            limiter.admit(ip("10.0.0.1"), 0).unwrap();
        }
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn the_map_is_bounded_and_refilled_buckets_go() {
        let mut limiter = RegisterLimiter::new(Some(RATE));
        let source = |i: usize| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32 + i as u32));
        for i in 0..MAX_TRACKED_SOURCES {
            limiter.admit(source(i), 0).unwrap();
        }
        // Sources beyond the cap share one bucket of three.
        for i in 0..3 {
            limiter.admit(source(MAX_TRACKED_SOURCES + i), 0).unwrap();
        }
        let extra = source(MAX_TRACKED_SOURCES + 20);
        assert!(limiter.admit(extra, 0).is_err());
        assert_eq!(limiter.tracked(), MAX_TRACKED_SOURCES);
        // A tracked source still has its own bucket.
        limiter.admit(source(0), 0).unwrap();
        // Once the buckets have refilled (1.5 s at 2/s for 3), a newcomer prunes them all.
        limiter.admit(extra, 1500).unwrap();
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn parse_rates() {
        assert_eq!(
            RegisterRate::parse(" 7/s ", 9),
            Ok(Some(RegisterRate {
                per_second: 7,
                burst: 9
            }))
        );
        assert_eq!(RegisterRate::parse("7", 9).unwrap().unwrap().per_second, 7);
        assert_eq!(RegisterRate::parse("OFF", 9), Ok(None));
        for bad in ["0/s", "-1/s", "x/s", "5/m", ""] {
            assert!(RegisterRate::parse(bad, 9).is_err(), "{bad}");
        }
        assert!(RegisterRate::parse("5/s", 0).is_err());
    }
}
