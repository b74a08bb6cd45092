//! The p2p suite (SPEC §11 peer links): direct-message round trips over one link, a broadcast
//! reaching 50 peers, and idle links held by one peer. peer-bin's `peer-bench` binary does the
//! measuring in-process on loopback and prints one JSON line; this module builds it, runs it
//! with a file-descriptor limit raised for 10,000 links, and turns the line into a report
//! section. There is no reference server to compare against: the targets of SPEC §11 are.

use std::process::Command;

use serde_json::Value;

use super::report::Section;
use super::stats::Side;
use super::wrk::WrkResult;
use super::{BenchArgs, Suite};
use crate::error::{Error, Result};
use crate::process::{self, cargo};

/// Idle links opened against one peer.
const LINKS: u32 = 10_000;
/// File descriptors asked for: both ends of every link live in two processes, plus slack.
const NOFILE: u32 = 20_000;

fn field(v: &Value, path: &[&str]) -> Result<f64> {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_f64().ok_or_else(|| Error::BadAnswer {
        name: "peer-bench".to_owned(),
        url: "stdout".to_owned(),
        detail: format!("missing {}", path.join(".")),
    })
}

fn side(name: String, per_sec: f64, p50: f64, p99: f64, count: f64) -> Side {
    Side::new(
        &name,
        vec![WrkResult {
            requests_per_sec: per_sec,
            p50_us: p50,
            p99_us: p99,
            requests: count as u64,
            non_2xx: 0,
            socket_errors: 0,
        }],
    )
}

/// Builds peer-bench in release mode, runs it once, and reports what it measured.
pub fn run(_args: &BenchArgs) -> Result<Section> {
    process::run(cargo().args([
        "build",
        "--release",
        "-p",
        "peer-bin",
        "--bin",
        "peer-bench",
    ]))?;
    let exe = process::target_dir().join("release").join("peer-bench");
    let _dir = super::scratch_dir(Suite::P2p)?;
    // `ulimit -n` in the shell that starts it: one process holds 10,000 sockets, its dialler
    // another 10,000, more than the usual default of 1,024.
    let script = format!("ulimit -n {NOFILE} 2>/dev/null || true; exec \"$0\" all {LINKS}");
    let out = process::output(Command::new("sh").arg("-c").arg(script).arg(&exe))?;
    let line = out.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).map_err(|e| Error::BadAnswer {
        name: "peer-bench".to_owned(),
        url: "stdout".to_owned(),
        detail: format!("not JSON ({e}): {line}"),
    })?;
    let rtt = side(
        "direct message round trip".to_owned(),
        field(&v, &["rtt", "per_sec"])?,
        field(&v, &["rtt", "p50_us"])?,
        field(&v, &["rtt", "p99_us"])?,
        field(&v, &["rtt", "count"])?,
    );
    let peers = field(&v, &["broadcast", "peers"])?;
    let broadcast = side(
        format!("broadcast reaching {peers} peers"),
        1e6 / field(&v, &["broadcast", "p50_us"])?.max(1.0),
        field(&v, &["broadcast", "p50_us"])?,
        field(&v, &["broadcast", "p99_us"])?,
        field(&v, &["broadcast", "count"])?,
    );
    let held = field(&v, &["links", "held"])?;
    let per_link = field(&v, &["links", "rss_kib_per_link"])?;
    println!(
        "p2p: round trip p50 {:.0} µs p99 {:.0} µs; broadcast to {peers} p50 {:.0} µs p99 {:.0} µs; {held} of {LINKS} idle links held ({per_link:.1} KiB each)",
        rtt.p50_us, rtt.p99_us, broadcast.p50_us, broadcast.p99_us
    );
    Ok(Section {
        suite: Suite::P2p.name(),
        title: "peer links against the targets of SPEC §11".to_owned(),
        setup: format!(
            "peer-bench (release) on loopback, peers in-process: {} sequential direct-message round trips between two peers (req/s column: round trips/s); {} broadcasts from one peer to {peers} linked peers on one loop, timed until the last receiver stored it (req/s column: broadcasts/s at the median); {held} of {LINKS} idle links held by one peer, {per_link:.1} KiB of RSS each. Targets: round-trip p99 ≤ 200 µs, broadcast ≤ 20 ms, 10,000 links.",
            field(&v, &["rtt", "count"])?,
            field(&v, &["broadcast", "count"])?,
        ),
        sides: vec![rtt, broadcast],
        ratios: Vec::new(),
        noise_floor: None,
        publish: held >= f64::from(LINKS),
    })
}
