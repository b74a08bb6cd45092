//! Registry-wide tests: every operation, every error path, expiry and the file index.

mod channels;
mod expiry;
mod files;
mod identity;
mod paging;
mod peers;

use std::fmt::Debug;
use std::net::IpAddr;

use crate::secret::{hex, sha256};
use crate::{Page, PublishParams, RegisterParams, Registry, Result, TrackerError};

/// A time well after zero, so "seconds ago" arithmetic is exercised.
pub(crate) const T0: u64 = 1_000_000;
/// Seconds → ms.
pub(crate) const S: u64 = 1000;

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn params(id: &str, port: u32) -> RegisterParams {
    RegisterParams {
        port,
        peer_id: Some(id.into()),
        ..Default::default()
    }
}

/// Registers `id` from 10.0.0.1 and returns its token.
pub(crate) fn add(r: &mut Registry, id: &str, port: u32, now: u64) -> String {
    r.register(params(id, port), ip("10.0.0.1"), now)
        .unwrap()
        .token
}

/// A chunk hash derived from `seed`, as 64 hex digits.
pub(crate) fn hash(seed: u64) -> String {
    hex(&sha256(&seed.to_be_bytes()))
}

pub(crate) fn publish_params(
    id: &str,
    token: &str,
    name: &str,
    size: u64,
    chunk_size: u64,
    seed: u64,
) -> PublishParams {
    let n = size.div_ceil(chunk_size);
    PublishParams {
        peer_id: id.into(),
        token: Some(token.into()),
        name: name.into(),
        size,
        chunk_size,
        chunk_hashes: (0..n).map(|i| hash(seed * 1_000_000 + i)).collect(),
    }
}

/// What a call should give: a value, or a status with a fragment of the message.
pub(crate) type Expect<'a, T> = Result<T, (u16, &'a str)>;

/// Compares a result with an expected value or an expected `(status, message fragment)`.
pub(crate) fn check<T: Debug + PartialEq>(got: Result<T>, expected: Expect<'_, T>) {
    match (got, expected) {
        (Ok(g), Ok(e)) => assert_eq!(g, e),
        (Err(g), Err((status, fragment))) => {
            assert_eq!(g.status(), status, "{g}");
            assert!(g.to_string().contains(fragment), "{g:?} lacks {fragment:?}");
        }
        (g, e) => panic!("got {g:?}, expected {e:?}"),
    }
}

/// The status of an error result, for tables that only care about the class of failure.
pub(crate) fn status<T: Debug>(r: Result<T>) -> u16 {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.status(),
    }
}

/// Everything observable in a registry (tokens excepted: their Debug is redacted, so callers
/// check those still work).
pub(crate) fn snapshot(r: &Registry) -> String {
    format!("{r:?}")
}

#[test]
fn error_type_is_exported() {
    let e: TrackerError = TrackerError::Full;
    assert_eq!(e.status(), 503);
}
