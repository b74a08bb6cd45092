//! peer-bench: the measurements behind `cargo xtask bench p2p` (SPEC §11), printed as one JSON
//! line: direct-message round trips over one link, a broadcast reaching 50 peers, and how many
//! idle links one peer holds. Peers run in-process on real loopback sockets (the two of the
//! round trips and the 51 of the broadcast each share one loop, as they would share a core
//! on this two-core machine anyway); the idle links
//! are dialled by a child process (`peer-bench dial`) so the two ends do not share one
//! process's file-descriptor limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use p2p::driver::UiEvent;
use p2p::{Event, Node};
use reactor::{Cx, EventLoop, Protocol};
use serde_json::{Value, json};

/// Round trips measured (after [`WARMUP`] unmeasured ones).
const ROUND_TRIPS: usize = 20_000;
const WARMUP: usize = 2_000;
/// Receivers of the broadcast, and how many broadcasts are timed.
const BROADCAST_PEERS: usize = 50;
const BROADCASTS: usize = 200;
/// How long any one wait may take before the bench gives up.
const WAIT: Duration = Duration::from_secs(30);

fn config(dir: &std::path::Path, i: usize) -> p2p::Config {
    p2p::Config {
        addr: "127.0.0.1:0".parse().expect("literal address"),
        name: format!("n{i}"),
        tracker: None,
        channels: vec![("general".to_string(), None)],
        data_dir: Some(dir.join(format!("n{i}"))),
        token: Some("bench".to_string()),
        static_root: None,
        peer_id: None,
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
    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_message(&mut self, _cx: &mut Cx<'_>, _msg: reactor::Message) {
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
    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_message(&mut self, _cx: &mut Cx<'_>, _msg: reactor::Message) {
        if let Err(e) = self.b.direct(&self.a_id, "pong") {
            eprintln!("peer-bench: echo failed: {e}");
        }
    }
}

/// Pokes `agent` whenever `node` gets a message from `from`.
fn poke_on_arrival(node: &Node, from: String, handle: reactor::Handle, agent: reactor::ConnId) {
    node.subscribe(Box::new(move |event| {
        if let UiEvent::Node(Event::Message(m)) = event
            && m.from == from
        {
            handle.send(agent, Box::new(()));
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
    let driver = event_loop.spawn(Box::new(Driver {
        a: a.clone(),
        b_id: b.peer_id().to_string(),
        left: WARMUP + ROUND_TRIPS,
        started: None,
        samples: Vec::with_capacity(WARMUP + ROUND_TRIPS),
        done: Some(tx),
    }));
    let echo = event_loop.spawn(Box::new(Echo {
        b: b.clone(),
        a_id: a.peer_id().to_string(),
    }));
    let handle = event_loop.handle();
    poke_on_arrival(&b, a.peer_id().to_string(), handle.clone(), echo);
    poke_on_arrival(&a, b.peer_id().to_string(), handle.clone(), driver);
    let thread = std::thread::spawn(move || event_loop.run());
    a.connect(b.addr());
    wait_until("the link", || {
        a.is_linked(b.peer_id()) && b.is_linked(a.peer_id())
    })?;
    let started = Instant::now();
    // The first poke starts the chain; every arrival at a starts the next round trip.
    handle.send(driver, Box::new(()));
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

fn idle_links(count: usize) -> Result<Value, String> {
    let dir = scratch().join("links");
    let peer = p2p::spawn(config(&dir, 0)).map_err(|e| e.to_string())?;
    let before = rss_kib();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["dial", &peer.addr().to_string(), &count.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let dialled: usize = line.trim().parse().unwrap_or(0);
    let _ = wait_until("links to open", || peer.node.peers().len() >= dialled);
    let held = peer.node.peers().len();
    let after = rss_kib();
    drop(child.stdin.take());
    let _ = child.wait();
    drop(peer);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "target": count,
        "dialled": dialled,
        "held": held,
        "rss_kib_per_link": if held > 0 { (after.saturating_sub(before)) as f64 / held as f64 } else { 0.0 },
    }))
}

/// The child side of [`idle_links`]: opens `count` links with distinct peer ids, prints how
/// many completed their handshake, and holds them until stdin closes.
fn dial(target: SocketAddr, count: usize) -> Result<(), String> {
    let mut links = Vec::with_capacity(count);
    for i in 0..count {
        let Ok(mut s) = TcpStream::connect(target) else {
            break;
        };
        let hello = json!({"type": "hello", "peer_id": format!("bench-{i}:1"), "name": "b",
            "nonce": i, "version": 1, "channels": []});
        let request = format!(
            "GET /p2p/link HTTP/1.1\r\nHost: {target}\r\nUpgrade: weaprous-p2p/1\r\nConnection: Upgrade\r\n\r\n{hello}\n"
        );
        if s.write_all(request.as_bytes()).is_err() {
            break;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(9).any(|w| w == b"hello-ack") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        if !got.windows(9).any(|w| w == b"hello-ack") {
            break;
        }
        links.push(s);
    }
    println!("{}", links.len());
    let _ = std::io::stdout().flush();
    let mut sink = String::new();
    let _ = std::io::stdin().read_to_string(&mut sink);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dial") => {
            let target = args.get(1).and_then(|a| a.parse().ok());
            let count = args.get(2).and_then(|a| a.parse().ok());
            match (target, count) {
                (Some(t), Some(c)) => dial(t, c),
                _ => Err("usage: peer-bench dial ADDR COUNT".to_string()),
            }
        }
        Some("all") | None => {
            let links = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
            (|| -> Result<(), String> {
                let rtt = round_trips()?;
                let broadcast = broadcast()?;
                let links = idle_links(links)?;
                println!(
                    "{}",
                    json!({"rtt": rtt, "broadcast": broadcast, "links": links})
                );
                Ok(())
            })()
        }
        Some(other) => Err(format!(
            "unknown mode {other}; use `all [LINKS]` or `dial ADDR COUNT`"
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
