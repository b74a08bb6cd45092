//! Upstream failure: retry on another upstream, hysteresis, probing back in, all down → 502.

use crate::{catch_all, closed_port, get, named_root, site_at, start_proxy, text};
use std::time::{Duration, Instant};

#[test]
fn killed_upstream_is_skipped_without_failures_and_comes_back() {
    let roots: Vec<_> = ["a", "b", "c"].iter().map(|n| named_root(n)).collect();
    let mut sites: Vec<_> = roots
        .iter()
        .map(|r| Some(site_at(r.clone(), "127.0.0.1:0")))
        .collect();
    let addrs: Vec<_> = sites.iter().map(|s| s.as_ref().unwrap().addr).collect();
    let proxy = start_proxy(&catch_all(&addrs, "round-robin"));
    for _ in 0..30 {
        assert_eq!(get(proxy.addr, "x", "/name.txt").status.code(), 200);
    }

    // Kill b between requests: every later request still succeeds (one retry elsewhere).
    drop(sites[1].take());
    let mut names = Vec::new();
    for i in 0..60 {
        let resp = get(proxy.addr, "x", "/name.txt");
        assert_eq!(resp.status.code(), 200, "request {i} after the kill");
        names.push(text(&resp));
    }
    assert!(!names.contains(&"b".to_owned()), "{names:?}");
    let status = text(&get(proxy.addr, "x", "/__proxy/status"));
    assert!(
        status.contains(&format!(r#""address":"{}","healthy":false"#, addrs[1])),
        "{status}"
    );

    // Bring b back on the same address: it takes traffic again within 3 s.
    sites[1] = Some(site_at(roots[1].clone(), &addrs[1].to_string()));
    let back = Instant::now();
    loop {
        let resp = get(proxy.addr, "x", "/name.txt");
        assert_eq!(resp.status.code(), 200);
        if text(&resp) == "b" {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(3),
            "b not back after 3 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn all_down_is_502() {
    let proxy = start_proxy(&catch_all(&[closed_port(), closed_port()], "round-robin"));
    for _ in 0..5 {
        let resp = get(proxy.addr, "x", "/");
        assert_eq!(resp.status.code(), 502, "{}", text(&resp));
        assert!(text(&resp).contains("Bad Gateway"), "{}", text(&resp));
    }
    let status = text(&get(proxy.addr, "x", "/__proxy/status"));
    assert!(!status.contains(r#""healthy":true"#), "{status}");
}
