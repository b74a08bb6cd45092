//! Running wrk pinned to the load core, and reading its `--latency` report.

use serde::Serialize;

use super::{LOAD_CORE, pinned};
use crate::error::{Error, Result};
use crate::process;

/// What one wrk run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WrkResult {
    /// Completed requests per second.
    pub requests_per_sec: f64,
    /// Median latency in microseconds.
    pub p50_us: f64,
    /// 99th-percentile latency in microseconds.
    pub p99_us: f64,
    /// Completed requests in the run.
    pub requests: u64,
    /// Answers wrk counts as failures: status 400 or above (its "Non-2xx or 3xx responses").
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors added together.
    pub socket_errors: u64,
}

/// The shape of the load: closed loop, one wrk thread, keep-alive connections.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Concurrent connections.
    pub connections: u32,
    /// Seconds per run.
    pub duration: u32,
}

/// Runs `taskset -c 1 wrk -t1 -cN -dNs --latency URL` and parses what it prints. One thread only:
/// a second one would steal the server's core on this two-core machine.
pub fn run(url: &str, load: Load) -> Result<WrkResult> {
    let mut command = pinned(LOAD_CORE, "wrk");
    command
        .arg("-t1")
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration))
        .arg("--latency")
        .arg(url);
    let text = process::output(&mut command)?;
    parse(&text).map_err(Error::WrkOutput)
}

/// Reads requests/s, p50, p99, the request count and the error counts from wrk's output.
pub fn parse(text: &str) -> Result<WrkResult, String> {
    let mut requests_per_sec = None;
    let mut p50_us = None;
    let mut p99_us = None;
    let mut requests = None;
    let mut non_2xx = 0;
    let mut socket_errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            requests_per_sec = Some(number(rest.trim(), "Requests/sec")?);
        } else if let Some(rest) = line.strip_prefix("50%") {
            p50_us = Some(duration_us(rest.trim())?);
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99_us = Some(duration_us(rest.trim())?);
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = number(rest.trim(), "Non-2xx count")?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            socket_errors = socket_error_total(rest)?;
        } else if let Some((count, _)) = line.split_once(" requests in ") {
            requests = Some(number(count, "request count")?);
        }
    }
    Ok(WrkResult {
        requests_per_sec: requests_per_sec.ok_or("no Requests/sec line")?,
        p50_us: p50_us.ok_or("no 50% line (was --latency given?)")?,
        p99_us: p99_us.ok_or("no 99% line (was --latency given?)")?,
        requests: requests.ok_or("no \"N requests in\" line")?,
        non_2xx,
        socket_errors,
    })
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{what} is not a number: {text:?}"))
}

/// Converts wrk's latency notation (`847.00us`, `1.39ms`, `2.01s`, `1.50m`) to microseconds.
fn duration_us(text: &str) -> Result<f64, String> {
    // Longest suffix first: "ms" and "us" also end in "s".
    const UNITS: [(&str, f64); 5] = [
        ("us", 1.0),
        ("ms", 1e3),
        ("s", 1e6),
        ("m", 60e6),
        ("h", 3600e6),
    ];
    UNITS
        .iter()
        .find_map(|(suffix, scale)| {
            let value = text.strip_suffix(suffix)?.parse::<f64>().ok()?;
            Some(value * scale)
        })
        .ok_or_else(|| format!("latency is not a duration: {text:?}"))
}

/// Sums `connect 0, read 12, write 0, timeout 3`.
fn socket_error_total(text: &str) -> Result<u64, String> {
    text.split(',')
        .map(|part| {
            let count = part.split_whitespace().nth(1).unwrap_or_default();
            number::<u64>(count, "socket error count")
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real output of `wrk -t1 -c64 -d2s --latency` against nginx serving 1 KiB on this machine.
    const NGINX_1K: &str = "\
Running 2s test @ http://127.0.0.1:18081/one-k.txt
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.88ms  201.07us   5.32ms   91.73%
    Req/Sec    73.62k     4.99k   79.25k    75.00%
  Latency Distribution
     50%  847.00us
     75%    0.94ms
     90%    1.03ms
     99%    1.39ms
  146212 requests in 2.00s, 176.25MB read
Requests/sec:  72978.94
Transfer/sec:     87.97MB
";

    /// Real output against a missing file, with an invented socket-error line of wrk's format.
    const ERRORS: &str = "\
Running 2s test @ http://127.0.0.1:18081/nope
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   780.12us  150.33us   4.02ms   90.10%
    Req/Sec    82.10k     3.20k   85.00k    80.00%
  Latency Distribution
     50%  760.00us
     75%  820.00us
     90%  900.00us
     99%    1.20ms
  163489 requests in 2.00s, 48.02MB read
  Socket errors: connect 0, read 12, write 1, timeout 3
  Non-2xx or 3xx responses: 163489
Requests/sec:  81661.16
Transfer/sec:     23.99MB
";

    fn check(text: &str, expected: Result<WrkResult, &str>) {
        assert_eq!(
            parse(text),
            expected.map_err(str::to_owned),
            "input:\n{text}"
        );
    }

    #[test]
    fn parses_real_output() {
        check(
            NGINX_1K,
            Ok(WrkResult {
                requests_per_sec: 72978.94,
                p50_us: 847.0,
                p99_us: 1390.0,
                requests: 146_212,
                non_2xx: 0,
                socket_errors: 0,
            }),
        );
        check(
            ERRORS,
            Ok(WrkResult {
                requests_per_sec: 81661.16,
                p50_us: 760.0,
                p99_us: 1200.0,
                requests: 163_489,
                non_2xx: 163_489,
                socket_errors: 16,
            }),
        );
    }

    #[test]
    fn rejects_output_without_latency_distribution() {
        let without: String = NGINX_1K
            .lines()
            .filter(|line| !line.contains('%') || line.contains("Stdev"))
            .map(|line| format!("{line}\n"))
            .collect();
        check(&without, Err("no 50% line (was --latency given?)"));
        check("", Err("no Requests/sec line"));
        check(
            "Requests/sec: fast\n",
            Err("Requests/sec is not a number: \"fast\""),
        );
    }

    #[test]
    fn converts_every_latency_unit() {
        for (text, us) in [
            ("847.00us", 847.0),
            ("1.39ms", 1390.0),
            ("2.50s", 2.5e6),
            ("1.50m", 90e6),
            ("1.00h", 3600e6),
        ] {
            assert_eq!(duration_us(text), Ok(us), "{text}");
        }
        assert!(duration_us("12parsecs").is_err());
    }
}
