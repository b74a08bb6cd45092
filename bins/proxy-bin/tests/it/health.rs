//! Upstream failure: retry on another upstream, hysteresis, probing back in (by TCP connect and
//! by `GET` of a health path), all down → 502.

use crate::plain::{self, respond, respond_status};
use crate::{
    catch_all, closed_addr, get, named_root, named_site, site_at, start_proxy, text, wait_for,
};
use http_core::{Method, Request};
use reactor::client::blocking_request;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Three backend-bin upstreams `a`, `b`, `c` (each serving its name) behind a round-robin proxy;
/// a site is an `Option` so that a test can kill it.
struct Trio {
    roots: Vec<std::path::PathBuf>,
    sites: Vec<Option<crate::Site>>,
    addrs: Vec<std::net::SocketAddr>,
    proxy: proxy::Running,
}

impl Trio {
    fn start() -> Trio {
        let roots: Vec<_> = ["a", "b", "c"].iter().map(|n| named_root(n)).collect();
        let sites: Vec<_> = roots
            .iter()
            .map(|r| Some(site_at(r.clone(), "127.0.0.1:0")))
            .collect();
        let addrs: Vec<_> = sites.iter().map(|s| s.as_ref().unwrap().addr).collect();
        let proxy = start_proxy(&catch_all(&addrs, "round-robin"));
        Trio {
            roots,
            sites,
            addrs,
            proxy,
        }
    }
}

#[test]
fn killed_upstream_is_skipped_without_failures_and_comes_back() {
    let Trio {
        roots,
        mut sites,
        addrs,
        proxy,
    } = Trio::start();
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

    // Bring b back on the same address: a probe brings it back and it takes traffic again, and
    // no request fails meanwhile. BACK_WAIT only catches b never coming back.
    sites[1] = Some(site_at(roots[1].clone(), &addrs[1].to_string()));
    wait_for("b to take traffic again", BACK_WAIT, || {
        let resp = get(proxy.addr, "x", "/name.txt");
        assert_eq!(resp.status.code(), 200);
        text(&resp) == "b"
    });
}

/// How long an upstream may take to be probed back in or out: only a hang guard, a probe
/// runs every interval.
const BACK_WAIT: Duration = Duration::from_secs(30);

#[test]
fn all_down_is_502() {
    let proxy = start_proxy(&catch_all(&[closed_addr(), closed_addr()], "round-robin"));
    for _ in 0..5 {
        let resp = get(proxy.addr, "x", "/");
        assert_eq!(resp.status.code(), 502, "{}", text(&resp));
        assert!(text(&resp).contains("Bad Gateway"), "{}", text(&resp));
    }
    let status = text(&get(proxy.addr, "x", "/__proxy/status"));
    assert!(!status.contains(r#""healthy":true"#), "{status}");
}

/// `health_check /path`: a down upstream that accepts TCP but answers 503 on the path stays out;
/// once the path answers 200 it is back.
#[test]
fn get_probe_keeps_a_503_upstream_down_until_it_answers_200() {
    let good = named_site("good");
    let flaky = closed_addr();
    let proxy = start_proxy(&format!(
        "host \"*\" {{\n    proxy_pass http://{};\n    proxy_pass http://{flaky};\n    \
         health_check /health;\n}}\n",
        good.addr
    ));
    // Three failed connects (each retried on `good`) take `flaky` out.
    let flaky_healthy = |healthy: bool| {
        let status = text(&get(proxy.addr, "x", "/__proxy/status"));
        status.contains(&format!(r#""address":"{flaky}","healthy":{healthy}"#))
    };
    for i in 0..8 {
        let resp = get(proxy.addr, "x", "/name.txt");
        assert_eq!(
            (resp.status.code(), text(&resp)),
            (200, "good".to_owned()),
            "request {i}"
        );
    }
    assert!(flaky_healthy(false));

    // It comes back listening, but its health path says 503.
    let ready = Arc::new(AtomicBool::new(false));
    let probes = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    plain::serve_at(flaky, {
        let (ready, probes, served) = (ready.clone(), probes.clone(), served.clone());
        move |head, _reader, stream| {
            if head.path != "/health" {
                served.fetch_add(1, Ordering::SeqCst);
                return respond(stream, "flaky");
            }
            probes.fetch_add(1, Ordering::SeqCst);
            if ready.load(Ordering::SeqCst) {
                respond(stream, "ok");
            } else {
                respond_status(stream, "503 Service Unavailable", "starting");
            }
            false
        }
    });
    // Two probes answered 503 (one interval apart): still down, and no request reached it.
    wait_for("two 503 probes", BACK_WAIT, || {
        probes.load(Ordering::SeqCst) >= 2
    });
    assert!(
        flaky_healthy(false),
        "a 503 on the health path keeps it down"
    );
    for _ in 0..6 {
        assert_eq!(text(&get(proxy.addr, "x", "/name.txt")), "good");
    }
    assert_eq!(
        served.load(Ordering::SeqCst),
        0,
        "a down upstream gets no requests"
    );

    // The path answers 200: the next probe brings it back and it takes traffic.
    ready.store(true, Ordering::SeqCst);
    wait_for("the 200 probe to bring it back", BACK_WAIT, || {
        flaky_healthy(true)
    });
    let names: Vec<String> = (0..4)
        .map(|_| text(&get(proxy.addr, "x", "/name.txt")))
        .collect();
    assert!(names.contains(&"flaky".to_owned()), "{names:?}");
    assert!(served.load(Ordering::SeqCst) >= 1);
}

/// Client threads under load while an upstream is killed.
const LOAD_THREADS: usize = 4;
/// Requests each thread sends (the loop also stops at [`LOAD_DEADLINE`]).
const LOAD_REQUESTS: usize = 150;
const LOAD_DEADLINE: Duration = Duration::from_secs(30);

/// One request of the load: when it started, and its status (`None`: no HTTP answer at all).
struct Outcome {
    started: Instant,
    status: Option<u16>,
    name: String,
}

#[test]
fn upstream_killed_under_concurrent_load_fails_no_later_request() {
    let Trio {
        mut sites,
        addrs,
        proxy,
        ..
    } = Trio::start();
    let done = Arc::new(AtomicUsize::new(0));
    let end = Instant::now() + LOAD_DEADLINE;
    let clients: Vec<_> = (0..LOAD_THREADS)
        .map(|_| {
            let (addr, done) = (proxy.addr, done.clone());
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                while outcomes.len() < LOAD_REQUESTS && Instant::now() < end {
                    let mut req = Request::new(Method::Get, "/name.txt");
                    req.head.headers.append("Host", "x");
                    let started = Instant::now();
                    let answer = blocking_request(addr, &req, Duration::from_secs(10));
                    outcomes.push(Outcome {
                        started,
                        status: answer.as_ref().ok().map(|r| r.status.code()),
                        name: answer.as_ref().map(text).unwrap_or_default(),
                    });
                    done.fetch_add(1, Ordering::SeqCst);
                }
                outcomes
            })
        })
        .collect();

    // Kill b a quarter of the way in, while all four threads are sending.
    wait_for("a quarter of the load", LOAD_DEADLINE, || {
        done.load(Ordering::SeqCst) >= LOAD_THREADS * LOAD_REQUESTS / 4
    });
    drop(sites[1].take());
    let killed = Instant::now();
    let outcomes: Vec<Outcome> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();

    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.started >= killed).collect();
    assert!(
        after.len() >= LOAD_THREADS * LOAD_REQUESTS / 2,
        "only {} requests after the kill",
        after.len()
    );
    for o in &after {
        assert_eq!(o.status, Some(200), "a request after the kill failed");
        assert_ne!(o.name, "b", "the dead upstream answered");
    }
    // Only a request in flight on b as it died may have failed, and then with an HTTP answer.
    let failed: Vec<Option<u16>> = outcomes
        .iter()
        .filter(|o| o.status != Some(200))
        .map(|o| o.status)
        .collect();
    assert!(failed.len() <= LOAD_THREADS, "{failed:?}");
    assert!(failed.iter().all(|s| *s == Some(502)), "{failed:?}");
    let status = text(&get(proxy.addr, "x", "/__proxy/status"));
    assert!(
        status.contains(&format!(r#""address":"{}","healthy":false"#, addrs[1])),
        "{status}"
    );
}
