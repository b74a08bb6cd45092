//! The p2p suite (SPEC §11 peer links): direct-message round trips over one link, a broadcast
//! reaching 50 peers, and idle links held by one peer. peer-bin's `peer-bench` binary does the
//! measuring in-process on loopback and prints one JSON line; this module builds it, runs it
//! with the open-file limit raised for 10,000 links, and turns the line into a report section
//! that states each target as met or not met. There is no reference server to compare
//! against: the targets of SPEC §11 are.
//!
//! Nothing is skipped silently: a measurement that failed is named with its error, a short
//! count of links is reported with why (the dialler's first error, the open-file limit), and
//! the section is written either way.

use std::fmt::Write as _;
use std::process::Command;

use serde_json::Value;

use super::report::Section;
use super::stats::Side;
use super::wrk::WrkResult;
use super::{BenchArgs, Suite};
use crate::error::{Error, Result};
use crate::process::{self, cargo};

/// Idle links opened against one peer (SPEC §11 target).
const LINKS: u64 = 10_000;
/// File descriptors asked for: each of the two processes holds one end of every link, plus
/// slack for the listeners, the other measurements and the loop.
const NOFILE: u64 = LINKS + 2_000;
/// SPEC §11: direct-message round trip p99 on loopback, in µs.
const TARGET_RTT_P99_US: f64 = 200.0;
/// SPEC §11: a broadcast reaches 50 peers within this many µs.
const TARGET_BROADCAST_US: f64 = 20_000.0;

fn bad(detail: String) -> Error {
    Error::BadAnswer {
        name: "peer-bench".to_owned(),
        url: "stdout".to_owned(),
        detail,
    }
}

/// A number of `v`, or `None` when it is missing.
fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// The error a failed measurement reported in its place, or a missing field it should have.
fn failure(v: &Value, keys: &[&str]) -> Option<String> {
    if let Some(e) = v.get("error") {
        return Some(e.as_str().map_or_else(|| e.to_string(), str::to_owned));
    }
    keys.iter()
        .find(|k| num(v, k).is_none())
        .map(|k| format!("no {k} in its answer"))
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

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**not met**" }
}

/// The round-trip side and its target line.
fn rtt(v: &Value) -> (Option<Side>, String) {
    if let Some(e) = failure(v, &["per_sec", "p50_us", "p99_us", "count"]) {
        return (
            None,
            format!(
                "direct-message round trip p99 ≤ {TARGET_RTT_P99_US:.0} µs: **not measured** ({e})"
            ),
        );
    }
    let [per_sec, p50, p99, count] =
        ["per_sec", "p50_us", "p99_us", "count"].map(|k| num(v, k).unwrap_or(0.0));
    (
        Some(side(
            "direct-message round trip (req/s: round trips/s)".to_owned(),
            per_sec,
            p50,
            p99,
            count,
        )),
        format!(
            "direct-message round trip p99 ≤ {TARGET_RTT_P99_US:.0} µs: {} (p99 {p99:.0} µs, p50 {p50:.0} µs over {count:.0} round trips)",
            verdict(p99 <= TARGET_RTT_P99_US)
        ),
    )
}

/// The broadcast side and its target line, judged on the p99 of the broadcasts.
fn broadcast(v: &Value) -> (Option<Side>, String) {
    let peers = num(v, "peers").unwrap_or(50.0);
    if let Some(e) = failure(v, &["p50_us", "p99_us", "count"]) {
        return (
            None,
            format!("a broadcast reaches {peers:.0} peers in ≤ 20 ms: **not measured** ({e})"),
        );
    }
    let [p50, p99, count] = ["p50_us", "p99_us", "count"].map(|k| num(v, k).unwrap_or(0.0));
    (
        Some(side(
            format!("broadcast reaching {peers:.0} peers (req/s: broadcasts/s at the median)"),
            1e6 / p50.max(1.0),
            p50,
            p99,
            count,
        )),
        format!(
            "a broadcast reaches {peers:.0} peers in ≤ 20 ms: {} (p99 {:.2} ms, p50 {:.2} ms over {count:.0} broadcasts)",
            verdict(p99 <= TARGET_BROADCAST_US),
            p99 / 1000.0,
            p50 / 1000.0
        ),
    )
}

/// The idle-links target line: how many were held, and why fewer if so.
fn links(v: &Value, nofile: Option<u64>) -> String {
    if let Some(e) = failure(v, &["held", "opened", "dialled"]) {
        return format!("{LINKS} idle links held by one process: **not measured** ({e})");
    }
    let held = num(v, "held").unwrap_or(0.0) as u64;
    let opened = num(v, "opened").unwrap_or(0.0) as u64;
    let hold_s = num(v, "hold_s").unwrap_or(0.0);
    let mut line = format!(
        "{LINKS} idle links held by one process: {} ({held} held after {hold_s:.0} s idle, past the 45 s dead-link timeout; {opened} opened in {:.1} s; {:.1} KiB of RSS per link)",
        verdict(held >= LINKS),
        num(v, "dial_s").unwrap_or(0.0),
        num(v, "rss_kib_per_link").unwrap_or(0.0),
    );
    if held < LINKS {
        let failed = num(v, "dial_failed").unwrap_or(0.0);
        let _ = write!(line, ". Only {held} of {LINKS}: {failed:.0} dials failed");
        if let Some(e) = v.get("dial_error").and_then(Value::as_str) {
            let _ = write!(line, ", the first with `{e}`");
        }
        if opened > held {
            let _ = write!(line, "; {} links died while idle", opened - held);
        }
        if nofile.is_some_and(|n| n < LINKS + 100) {
            let _ = write!(line, "; the open-file limit was too low");
        }
    }
    line
}

/// The cost of message signatures on their own (issue 10): every message is signed once by its
/// author and checked by every receiver, so a direct-message round trip pays two of each.
fn signing(v: &Value) -> String {
    let quantiles = ["p50_us", "p99_us"];
    let missing = failure(v, &[])
        .or_else(|| failure(&v["sign"], &quantiles))
        .or_else(|| failure(&v["verify"], &quantiles));
    if let Some(e) = missing {
        return format!("Cost of signing: **not measured** ({e})");
    }
    let us = |op: &str, q: &str| num(&v[op], q).unwrap_or(f64::NAN);
    let mut line = format!(
        "Cost of signing (Ed25519, one message at a time): sign p50 {:.1} µs (p99 {:.1} µs), \
         verify p50 {:.1} µs (p99 {:.1} µs); a direct-message round trip pays two of each, a \
         broadcast one signature and one check per receiver",
        us("sign", "p50_us"),
        us("sign", "p99_us"),
        us("verify", "p50_us"),
        us("verify", "p99_us"),
    );
    if failure(&v["seal"], &quantiles).is_none() && failure(&v["open"], &quantiles).is_none() {
        let _ = write!(
            line,
            ". Sealing a direct message (ChaCha20-Poly1305) p50 {:.1} µs, opening it p50 {:.1} µs; \
             a round trip pays two of each",
            us("seal", "p50_us"),
            us("open", "p50_us"),
        );
    }
    line
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
    // One process holds 10,000 sockets and its dialler another 10,000, more than the usual
    // default of 1,024: raise the soft limit, to the hard one if that is lower. A failure is
    // not fatal; peer-bench reports the limit it got and the report says what it cost.
    let script = format!(
        "ulimit -n {NOFILE} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\" 2>/dev/null \
         || echo \"peer-bench: cannot raise the open-file limit above $(ulimit -n)\" >&2; \
         exec \"$0\" all {LINKS}"
    );
    let out = process::output(Command::new("sh").arg("-c").arg(script).arg(&exe))?;
    let line = out.lines().last().unwrap_or_default();
    let v: Value =
        serde_json::from_str(line).map_err(|e| bad(format!("not JSON ({e}): {line}")))?;
    let nofile = v.get("nofile").and_then(Value::as_u64);
    if nofile.is_none_or(|n| n < NOFILE) {
        println!(
            "p2p: open-file limit {} (asked for {NOFILE})",
            nofile.map_or("unknown".to_owned(), |n| n.to_string())
        );
    }

    let (rtt_side, rtt_line) = rtt(&v["rtt"]);
    let (broadcast_side, broadcast_line) = broadcast(&v["broadcast"]);
    let links_line = links(&v["links"], nofile);
    let signing_line = signing(&v["signing"]);
    for line in [&rtt_line, &broadcast_line, &links_line, &signing_line] {
        println!("p2p: {line}");
    }
    let setup = format!(
        "peer-bench (release) on loopback, peers in-process: sequential direct messages a→b \
         answered b→a between two peers on one loop; broadcasts from one peer to 50 linked \
         peers on one loop, each timed until the last receiver stored it; {LINKS} links dialled \
         by a child process (64 handshakes in flight, answering pings) into one peer whose \
         loop accepts {LINKS} + 256, then held idle. Open-file limit: {}.\n\n\
         Targets of SPEC §11:\n\n- {rtt_line}\n- {broadcast_line}\n- {links_line}\n\n\
         Signatures are on: every message is signed by its author and checked by every \
         receiver. {signing_line}.",
        nofile.map_or("unknown".to_owned(), |n| n.to_string()),
    );
    Ok(Section {
        suite: Suite::P2p.name(),
        title: "peer links against the targets of SPEC §11".to_owned(),
        setup,
        sides: [rtt_side, broadcast_side].into_iter().flatten().collect(),
        ratios: Vec::new(),
        noise_floor: None,
        extra: String::new(),
        // Written whatever the outcome: a target not met or not measured says so above.
        publish: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_are_judged_and_failures_named() {
        let (side, line) =
            rtt(&json!({"per_sec": 1.0, "p50_us": 20.0, "p99_us": 40.0, "count": 5}));
        assert!(side.is_some());
        assert!(line.contains("**met**"), "{line}");
        let (_, line) = rtt(&json!({"per_sec": 1.0, "p50_us": 20.0, "p99_us": 400.0, "count": 5}));
        assert!(line.contains("**not met**"), "{line}");
        let line = signing(&json!({"sign": {"p50_us": 13.0, "p99_us": 18.0},
            "verify": {"p50_us": 32.0, "p99_us": 40.0}}));
        assert!(
            line.contains("sign p50 13.0 µs") && line.contains("verify p50 32.0 µs"),
            "{line}"
        );
        assert!(!line.contains("Sealing"), "{line}");
        let line = signing(&json!({"sign": {"p50_us": 13.0, "p99_us": 18.0},
            "verify": {"p50_us": 32.0, "p99_us": 40.0}, "seal": {"p50_us": 1.5, "p99_us": 2.0},
            "open": {"p50_us": 1.25, "p99_us": 2.0}}));
        assert!(
            line.contains(
                "Sealing a direct message (ChaCha20-Poly1305) p50 1.5 µs, opening it p50 1.2 µs"
            ),
            "{line}"
        );
        assert!(signing(&json!({"sign": {}})).contains("**not measured**"));
        let (side, line) = broadcast(&json!({"error": "broadcast 3 lost"}));
        assert!(side.is_none());
        assert!(
            line.contains("**not measured** (broadcast 3 lost)"),
            "{line}"
        );

        let full = json!({"held": 10000, "opened": 10000, "dialled": 10000, "hold_s": 50});
        assert!(links(&full, Some(20_000)).contains("**met**"));
        let short = json!({"held": 900, "opened": 1000, "dialled": 1000, "dial_failed": 9000,
            "dial_error": "ConnectFailed(Too many open files)", "hold_s": 50});
        let line = links(&short, Some(1024));
        assert!(line.contains("**not met**"), "{line}");
        assert!(line.contains("Only 900 of 10000"), "{line}");
        assert!(line.contains("Too many open files"), "{line}");
        assert!(line.contains("100 links died"), "{line}");
        assert!(line.contains("open-file limit was too low"), "{line}");
    }
}
