//! The three policies over real upstreams, counted by the name each upstream answers with.

use crate::plain::{self, respond};
use crate::{catch_all, get, named_site, start_proxy, text, wait_for};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

fn spread(policy: &str, requests: usize) -> HashMap<String, usize> {
    let sites: Vec<_> = ["a", "b", "c"].iter().map(|n| named_site(n)).collect();
    let addrs: Vec<_> = sites.iter().map(|s| s.addr).collect();
    let proxy = start_proxy(&catch_all(&addrs, policy));
    let mut counts = HashMap::new();
    for _ in 0..requests {
        let resp = get(proxy.addr, "any.local", "/name.txt");
        assert_eq!(resp.status.code(), 200);
        *counts.entry(text(&resp)).or_insert(0) += 1;
    }
    counts
}

#[test]
fn round_robin_is_exactly_even() {
    let counts = spread("round-robin", 300);
    for name in ["a", "b", "c"] {
        assert_eq!(counts.get(name), Some(&100), "{counts:?}");
    }
}

#[test]
fn random_reaches_all_three_within_30_percent() {
    let counts = spread("random", 300);
    for name in ["a", "b", "c"] {
        let n = counts.get(name).copied().unwrap_or(0);
        assert!((70..=130).contains(&n), "{name}: {n} of 300, {counts:?}");
    }
}

#[test]
fn least_conn_steers_away_from_a_busy_upstream() {
    let release = Arc::new(AtomicBool::new(false));
    let (arrived_tx, arrived) = mpsc::channel::<String>();
    let upstreams: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            let release = release.clone();
            let arrived_tx = arrived_tx.clone();
            let name = name.to_string();
            plain::serve(move |head, _reader, stream| {
                if head.path == "/slow" {
                    arrived_tx.send(name.clone()).unwrap();
                    wait_for("release", Duration::from_secs(20), || {
                        release.load(Ordering::Relaxed)
                    });
                }
                respond(stream, &name)
            })
        })
        .collect();
    let proxy = start_proxy(&catch_all(&upstreams, "least-conn"));
    let addr = proxy.addr;
    let slow = std::thread::spawn(move || text(&get(addr, "x", "/slow")));
    let busy = arrived.recv_timeout(Duration::from_secs(5)).unwrap();

    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..30 {
        *counts.entry(text(&get(addr, "x", "/"))).or_insert(0) += 1;
    }
    release.store(true, Ordering::Relaxed);
    assert_eq!(slow.join().unwrap(), busy);
    assert_eq!(
        counts.get(&busy),
        None,
        "busy {busy} got traffic: {counts:?}"
    );
    assert_eq!(counts.values().sum::<usize>(), 30);
    assert_eq!(counts.len(), 2, "the idle two share the load: {counts:?}");
}
