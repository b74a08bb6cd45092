//! Idle keep-alive connections to upstreams, kept per upstream address for reuse.
//!
//! Pure bookkeeping over connection handles (the forwarder uses `reactor::Addr`): which idle
//! connection a request may take, and which claimer (a client and its attempt) took one whose
//! attach message is still on its way — so that a connection closing in that window can tell
//! the client to try again.

use std::collections::HashMap;
use std::hash::Hash;

/// Idle connections kept per upstream; beyond it a finished connection is closed instead.
pub const MAX_IDLE_PER_UPSTREAM: usize = 256;

/// Idle connections `C` by address `A`; claims map a taken connection to its claimer `T`.
#[derive(Debug)]
pub struct UpstreamPool<A, C, T> {
    idle: HashMap<A, Vec<C>>,
    claims: HashMap<C, T>,
    max_idle: usize,
}

impl<A: Eq + Hash, C: Clone + Eq + Hash, T> Default for UpstreamPool<A, C, T> {
    /// A pool keeping up to [`MAX_IDLE_PER_UPSTREAM`] connections per address.
    fn default() -> Self {
        UpstreamPool::new(MAX_IDLE_PER_UPSTREAM)
    }
}

impl<A: Eq + Hash, C: Clone + Eq + Hash, T> UpstreamPool<A, C, T> {
    /// A pool keeping up to `max_idle` connections per address.
    pub fn new(max_idle: usize) -> Self {
        UpstreamPool {
            idle: HashMap::new(),
            claims: HashMap::new(),
            max_idle,
        }
    }

    /// Takes the most recently idled connection to `addr` for `claimer` (the warmest one; the
    /// older ones are the first to time out unused).
    pub fn checkout(&mut self, addr: &A, claimer: T) -> Option<C> {
        let conn = self.idle.get_mut(addr)?.pop()?;
        self.claims.insert(conn.clone(), claimer);
        Some(conn)
    }

    /// The claimed connection received its client: the claim is over.
    pub fn attached(&mut self, conn: C) {
        self.claims.remove(&conn);
    }

    /// Offers a finished connection for reuse; `false` means the pool is full and it should close.
    pub fn checkin(&mut self, addr: A, conn: C) -> bool {
        let list = self.idle.entry(addr).or_default();
        if list.len() >= self.max_idle {
            return false;
        }
        list.push(conn);
        true
    }

    /// The connection is closing: forget it. Returns the claimer that took it and has not been
    /// attached yet, who must be told.
    pub fn remove(&mut self, addr: &A, conn: C) -> Option<T> {
        if let Some(list) = self.idle.get_mut(addr) {
            list.retain(|c| *c != conn);
        }
        self.claims.remove(&conn)
    }

    /// Idle connections to `addr`.
    pub fn idle_count(&self, addr: &A) -> usize {
        self.idle.get(addr).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step against the pool and what it should answer.
    enum Op {
        Checkin(&'static str, u32, bool),
        Checkout(&'static str, u32, Option<u32>),
        Attached(u32),
        Remove(&'static str, u32, Option<u32>),
        Idle(&'static str, usize),
    }

    fn check(max_idle: usize, ops: &[Op]) {
        let mut pool: UpstreamPool<&str, u32, u32> = UpstreamPool::new(max_idle);
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Checkin(a, c, ok) => assert_eq!(pool.checkin(a, c), ok, "step {step}"),
                Op::Checkout(a, client, got) => {
                    assert_eq!(pool.checkout(&a, client), got, "step {step}")
                }
                Op::Attached(c) => pool.attached(c),
                Op::Remove(a, c, claimer) => {
                    assert_eq!(pool.remove(&a, c), claimer, "step {step}")
                }
                Op::Idle(a, n) => assert_eq!(pool.idle_count(&a), n, "step {step}"),
            }
        }
    }

    #[test]
    fn reuse_is_last_in_first_out_per_address() {
        check(
            4,
            &[
                Op::Checkin("a", 1, true),
                Op::Checkin("a", 2, true),
                Op::Checkin("b", 3, true),
                Op::Checkout("a", 100, Some(2)),
                Op::Attached(2),
                Op::Checkout("a", 101, Some(1)),
                Op::Attached(1),
                Op::Checkout("a", 102, None),
                Op::Idle("b", 1),
                Op::Checkout("c", 103, None),
            ],
        );
    }

    #[test]
    fn full_pool_refuses() {
        check(
            1,
            &[
                Op::Checkin("a", 1, true),
                Op::Checkin("a", 2, false),
                Op::Idle("a", 1),
            ],
        );
    }

    #[test]
    fn closing_reports_an_unattached_claim_once() {
        check(
            4,
            &[
                Op::Checkin("a", 1, true),
                Op::Checkin("a", 2, true),
                Op::Remove("a", 1, None),
                Op::Idle("a", 1),
                Op::Checkout("a", 100, Some(2)),
                Op::Remove("a", 2, Some(100)),
                Op::Remove("a", 2, None),
                Op::Checkin("a", 3, true),
                Op::Checkout("a", 101, Some(3)),
                Op::Attached(3),
                Op::Remove("a", 3, None),
            ],
        );
    }
}
