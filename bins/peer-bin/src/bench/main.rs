//! peer-bench: the measurements behind `cargo xtask bench p2p` (SPEC §11), printed as one JSON
//! line: the cost of signing and checking one message, direct-message round trips over one link,
//! a broadcast reaching 50 peers, and how many idle links one peer holds. Peers run in-process on real loopback sockets (the two of the
//! round trips and the 51 of the broadcast each share one loop, as they would share a core
//! on this two-core machine anyway); the idle links are dialled by a child process
//! (`peer-bench dial`, [`dial`]) so the two ends do not share one process's file-descriptor
//! limit.
//!
//! Each measurement stands alone: one that fails is reported as `{"error": ...}` in its place
//! and the others still run. The open-file limit (`nofile`) is reported too, so a short count
//! of links can be told apart from a limit that was too low.

mod dial;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use p2p::UiEvent;
use p2p::{Event, Node};
use reactor::{Addr, Cx, EventLoop, Inbox, Protocol};
use serde_json::{Value, json};

/// Round trips measured (after [`WARMUP`] unmeasured ones).
const ROUND_TRIPS: usize = 20_000;
const WARMUP: usize = 2_000;
/// Receivers of the broadcast, and how many broadcasts are timed.
const BROADCAST_PEERS: usize = 50;
const BROADCASTS: usize = 200;
/// How long any one wait may take before the bench gives up.
const WAIT: Duration = Duration::from_secs(30);
/// Idle links asked for when none is given (SPEC §11).
const DEFAULT_LINKS: usize = 10_000;
/// Connections the idle-links peer's loop accepts beyond the links asked for, so that the cap
/// of the loop is never what the measurement finds.
const LINK_SLACK: usize = 256;
/// How long the links are held once all are dialled: past the dead-link timeout (45 s), so
/// every link has been pinged and has answered, and the count is of links that stay up.
const HOLD: Duration = Duration::from_secs(50);
/// How long the dialler may take for all its handshakes.
const DIAL_WAIT: Duration = Duration::from_secs(300);

fn config(dir: &std::path::Path, i: usize) -> p2p::Config {
    p2p::Config {
        addr: "127.0.0.1:0".parse().expect("literal address"),
        name: format!("n{i}"),
        tracker: None,
        channels: vec![("general".to_string(), None)],
        data_dir: Some(dir.join(format!("n{i}"))),
        token: Some("bench".to_string()),
        users: router::auth::Credentials::new(),
        static_root: None,
        peer_id: None,
        advertise: None,
        wall_clock: p2p::WallClock::default(),
        fsync: p2p::store::Fsync::default(),
        limits: http_core::Limits::default(),
    }
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peer-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Messages from `from` seen by `node`, delivered to a channel as they arrive.
fn arrivals(node: &Node, from: String) -> mpsc::Receiver<Instant> {
    let (tx, rx) = mpsc::channel();
    node.subscribe(Box::new(move |event| match event {
        UiEvent::Node(Event::Message(m)) if m.from == from => tx.send(Instant::now()).is_ok(),
        _ => true,
    }));
    rx
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(mut us: Vec<f64>) -> Value {
    us.sort_by(f64::total_cmp);
    json!({
        "count": us.len(),
        "p50_us": percentile(&us, 50.0),
        "p99_us": percentile(&us, 99.0),
        "max_us": us.last().copied().unwrap_or(0.0),
    })
}

/// Starts round trips on the loop and times each one: a→b direct, b's echo agent answers
/// b→a, and a's arrival comes back here. Measured on the loop, so no thread hand-off is counted.
struct Driver {
    a: Node,
    b_id: String,
    left: usize,
    started: Option<Instant>,
    samples: Vec<f64>,
    done: Option<mpsc::Sender<Result<Vec<f64>, String>>>,
}

impl Driver {
    fn next(&mut self) {
        if self.left == 0 {
            if let Some(done) = self.done.take() {
                let _ = done.send(Ok(std::mem::take(&mut self.samples)));
            }
            return;
        }
        self.left -= 1;
        self.started = Some(Instant::now());
        if let Err(e) = self.a.direct(&self.b_id, "ping")
            && let Some(done) = self.done.take()
        {
            let _ = done.send(Err(e.to_string()));
        }
    }
}

impl Protocol for Driver {
    type Message = ();

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_message(&mut self, _cx: &mut Cx<'_>, (): ()) {
        if let Some(t0) = self.started.take() {
            self.samples.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        self.next();
    }
}

/// Answers every ping b receives with a direct message back to a.
struct Echo {
    b: Node,
    a_id: String,
}

impl Protocol for Echo {
    type Message = ();

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_message(&mut self, _cx: &mut Cx<'_>, (): ()) {
        if let Err(e) = self.b.direct(&self.a_id, "pong") {
            eprintln!("peer-bench: echo failed: {e}");
        }
    }
}

/// Pokes `agent` whenever `node` gets a message from `from`.
fn poke_on_arrival<P: Protocol<Message = ()>>(
    node: &Node,
    from: String,
    handle: reactor::Handle,
    agent: Addr<P>,
) {
    node.subscribe(Box::new(move |event| {
        if let UiEvent::Node(Event::Message(m)) = event
            && m.from == from
        {
            handle.send(&agent, ());
        }
        true
    }));
}

fn round_trips() -> Result<Value, String> {
    let dir = scratch().join("rtt");
    let mut event_loop = EventLoop::new(1000).map_err(|e| e.to_string())?;
    let a = p2p::start(&mut event_loop, config(&dir, 0))
        .map_err(|e| e.to_string())?
        .node;
    let b = p2p::start(&mut event_loop, config(&dir, 1))
        .map_err(|e| e.to_string())?
        .node;
    let (tx, rx) = mpsc::channel();
    let driver = Inbox::default();
    let echo = Inbox::default();
    let (driver_addr, echo_addr) = (driver.addr(), echo.addr());
    event_loop.spawn(driver.bind(Driver {
        a: a.clone(),
        b_id: b.peer_id().to_string(),
        left: WARMUP + ROUND_TRIPS,
        started: None,
        samples: Vec::with_capacity(WARMUP + ROUND_TRIPS),
        done: Some(tx),
    }));
    event_loop.spawn(echo.bind(Echo {
        b: b.clone(),
        a_id: a.peer_id().to_string(),
    }));
    let handle = event_loop.handle();
    poke_on_arrival(&b, a.peer_id().to_string(), handle.clone(), echo_addr);
    poke_on_arrival(
        &a,
        b.peer_id().to_string(),
        handle.clone(),
        driver_addr.clone(),
    );
    let thread = std::thread::spawn(move || event_loop.run());
    a.connect(b.addr());
    wait_until("the link", || {
        a.is_linked(b.peer_id()) && b.is_linked(a.peer_id())
    })?;
    let started = Instant::now();
    // The first poke starts the chain; every arrival at a starts the next round trip.
    handle.send(&driver_addr, ());
    let samples = rx
        .recv_timeout(WAIT * 4)
        .map_err(|_| "round trips stalled".to_string())??;
    let per_sec = samples.len() as f64 / started.elapsed().as_secs_f64();
    handle.stop();
    let _ = thread.join();
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = summary(samples.into_iter().skip(WARMUP).collect());
    out["per_sec"] = json!(per_sec.round());
    Ok(out)
}

fn broadcast() -> Result<Value, String> {
    let dir = scratch().join("broadcast");
    let mut event_loop = EventLoop::new(10_000).map_err(|e| e.to_string())?;
    let mut nodes = Vec::new();
    for i in 0..=BROADCAST_PEERS {
        let peer = p2p::start(&mut event_loop, config(&dir, i)).map_err(|e| e.to_string())?;
        nodes.push(peer.node);
    }
    let handle = event_loop.handle();
    let thread = std::thread::spawn(move || event_loop.run());
    let sender = nodes[0].clone();
    for n in &nodes[1..] {
        sender.connect(n.addr());
    }
    wait_until("50 links", || sender.peers().len() == BROADCAST_PEERS)?;
    let rxs: Vec<_> = nodes[1..]
        .iter()
        .map(|n| arrivals(n, sender.peer_id().to_string()))
        .collect();
    let mut samples = Vec::with_capacity(BROADCASTS);
    for i in 0..BROADCASTS + 10 {
        let t0 = Instant::now();
        sender
            .post("general", "hello everyone")
            .map_err(|e| e.to_string())?;
        let mut last = t0;
        for rx in &rxs {
            let at = rx
                .recv_timeout(WAIT)
                .map_err(|_| format!("broadcast {i} lost"))?;
            last = last.max(at);
        }
        if i >= 10 {
            samples.push(last.duration_since(t0).as_secs_f64() * 1e6);
        }
    }
    handle.stop();
    let _ = thread.join();
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = summary(samples);
    out["peers"] = json!(BROADCAST_PEERS);
    Ok(out)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The soft limit on open files (`Max open files` of /proc/self/limits), if it can be read.
fn nofile() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn idle_links(count: usize) -> Result<Value, String> {
    let dir = scratch().join("links");
    // Its own loop, with room beyond `count`: the default cap (SPEC §2, 10,000) would leave
    // no slack for the measurement's own connections.
    let mut event_loop = EventLoop::new(count + LINK_SLACK).map_err(|e| e.to_string())?;
    let peer = p2p::start(&mut event_loop, config(&dir, 0)).map_err(|e| e.to_string())?;
    let node = peer.node;
    let thread = event_loop
        .spawn_thread("links")
        .map_err(|e| e.to_string())?;
    let before = rss_kib();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["dial", &node.addr().to_string(), &count.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    // The dialler answers one line once every handshake is done or failed.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let started = Instant::now();
    let outcome = rx.recv_timeout(DIAL_WAIT);
    let dial_s = started.elapsed().as_secs_f64();
    let result = match outcome {
        Ok(line) => {
            let dialled: Value = serde_json::from_str(line.trim())
                .map_err(|e| format!("dialler answered {line:?}: {e}"))?;
            let up = dialled["up"].as_u64().unwrap_or(0) as usize;
            let _ = wait_until("the links to register", || node.peers().len() >= up);
            let opened = node.peers().len();
            let at_open = rss_kib();
            std::thread::sleep(HOLD);
            let held = node.peers().len();
            Ok(json!({
                "target": count,
                "dialled": up,
                "dial_failed": dialled["failed"],
                "dial_error": dialled["error"],
                "dial_s": dial_s,
                "opened": opened,
                "held": held,
                "hold_s": HOLD.as_secs(),
                "rss_kib_per_link": if opened > 0 {
                    at_open.saturating_sub(before) as f64 / opened as f64
                } else {
                    0.0
                },
            }))
        }
        Err(_) => Err(format!(
            "the dialler did not finish within {DIAL_WAIT:?} ({} links up so far)",
            node.peers().len()
        )),
    };
    drop(child.stdin.take());
    let _ = child.wait();
    let _ = thread.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A measurement's value, or its error in its place.
/// Messages signed and verified by [`signing`].
const SIGNATURES: usize = 5_000;

/// The cost of the signatures on their own: each message's signing by its author and its
/// check by a receiver, timed one by one (so it can be read against the round trip, which
/// pays two of each); and of sealing a direct message and opening it, which a round trip also
/// pays twice each.
fn signing() -> Result<Value, String> {
    let author = p2p::Identity::generate();
    let key = author.public().clone();
    let reader = p2p::Identity::generate();
    let (sealing, opening) = (
        p2p::seal::PairKey::new(&author, reader.public()),
        p2p::seal::PairKey::new(&reader, &key),
    );
    let mut sign_us = Vec::with_capacity(SIGNATURES);
    let mut verify_us = Vec::with_capacity(SIGNATURES);
    let mut seal_us = Vec::with_capacity(SIGNATURES);
    let mut open_us = Vec::with_capacity(SIGNATURES);
    for i in 0..SIGNATURES {
        let seq = i as u64 + 1;
        let mut m = p2p::Message {
            id: p2p::Message::make_id("127.0.0.1:5001", "general", seq),
            channel: "general".into(),
            from: "127.0.0.1:5001".into(),
            name: "bench".into(),
            seq,
            lamport: seq,
            ts: 1_700_000_000_000,
            text: "hello everyone, a message of ordinary length".into(),
            to: None,
            sig: None,
            unverified: false,
            sealed: None,
        };
        let t = Instant::now();
        author.sign_message(&mut m);
        sign_us.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let ok = key.verifies_message(&m);
        verify_us.push(t.elapsed().as_secs_f64() * 1e6);
        if !ok {
            return Err(format!("signature {seq} did not verify"));
        }
        let t = Instant::now();
        let sealed = sealing.seal(&m).ok_or("a signed message did not seal")?;
        seal_us.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let opened = opening.open(&sealed);
        open_us.push(t.elapsed().as_secs_f64() * 1e6);
        if opened.as_ref() != Some(&m) {
            return Err(format!("sealed message {seq} did not open"));
        }
    }
    Ok(
        json!({"sign": summary(sign_us), "verify": summary(verify_us),
        "seal": summary(seal_us), "open": summary(open_us)}),
    )
}

fn measured(result: Result<Value, String>) -> Value {
    result.unwrap_or_else(|e| {
        eprintln!("peer-bench: {e}");
        json!({ "error": e })
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dial") => {
            let target = args.get(1).and_then(|a| a.parse().ok());
            let count = args.get(2).and_then(|a| a.parse().ok());
            match (target, count) {
                (Some(t), Some(c)) => dial::run(t, c),
                _ => Err("usage: peer-bench dial ADDR COUNT".to_string()),
            }
        }
        Some("all") | None => {
            let links = args
                .get(1)
                .and_then(|a| a.parse().ok())
                .unwrap_or(DEFAULT_LINKS);
            let signing = measured(signing());
            let rtt = measured(round_trips());
            let broadcast = measured(broadcast());
            let links = measured(idle_links(links));
            println!(
                "{}",
                json!({"nofile": nofile(), "signing": signing, "rtt": rtt,
                    "broadcast": broadcast, "links": links})
            );
            Ok(())
        }
        Some("signing") => {
            println!("{}", measured(signing()));
            Ok(())
        }
        Some("rtt") => {
            println!("{}", measured(round_trips()));
            Ok(())
        }
        Some("broadcast") => {
            println!("{}", measured(broadcast()));
            Ok(())
        }
        Some(other) => Err(format!(
            "unknown mode {other}; use `all [LINKS]`, `signing`, `rtt`, `broadcast` or `dial ADDR COUNT`"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
