//! `cargo xtask bench tracker --store redis`: heartbeats per second with 100,000 peers whose
//! state is in Redis, through one tracker and through two sharing it, next to the in-memory
//! figure of the same run; and Redis's memory per peer.
//!
//! The machine has two cores: each tracker is pinned to one, and redis-server and wrk share what
//! is left, so the CPU each process used during the runs is reported too — the busiest process
//! names the bottleneck.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Instant;

use super::report::Section;
use super::stats::{Ratio, Side, median};
use super::tracker::{
    LONG_TTL_S, PEERS, TARGET_HEARTBEATS_PER_SEC, register, run_wrk, start_tracker_on, write_script,
};
use super::wrk::{Load, WrkResult};
use super::{BenchArgs, LOAD_CORE, SERVER_CORE, START_TIMEOUT, Suite};
use crate::error::{Error, Result};
use crate::process::{self, Process, cargo};

/// The three sides measured.
const MEMORY: &str = "1 tracker, memory";
const ONE: &str = "1 tracker, redis";
const TWO: &str = "2 trackers, redis";

/// Runs the suite; see the module docs.
pub fn run(args: &BenchArgs) -> Result<Section> {
    process::run(cargo().args(["build", "--release", "-p", "tracker-bin"]))?;
    super::ensure_tools(&["wrk", "redis-server", "redis-cli"])?;
    let dir = super::scratch_dir(Suite::Tracker)?;
    let load_before = load_average();
    let load = Load {
        connections: args.connections,
        duration: args.duration,
    };

    // The in-memory figure, same run, same load.
    let (memory_tracker, memory_port) =
        start_tracker_on(&dir, "tracker-memory", LONG_TTL_S, SERVER_CORE, &[])?;
    let peers = register(memory_port, PEERS)?;
    let script = write_script(&dir, &peers)?;
    let mut memory_runs = Vec::new();
    for round in 1..=args.rounds {
        let result = run_wrk(memory_port, &script, load)?;
        report_round(MEMORY, round, &result);
        memory_runs.push(result);
    }
    drop(memory_tracker);

    let (redis, redis_port) = start_redis(&dir)?;
    let url = format!("redis://127.0.0.1:{redis_port}/0");
    let store = ["--store", url.as_str()];
    let (a, a_port) = start_tracker_on(&dir, "tracker-a", LONG_TTL_S, SERVER_CORE, &store)?;
    let before = used_memory(redis_port)?;
    let started = Instant::now();
    let peers = register(a_port, PEERS)?;
    let took = started.elapsed();
    let per_peer = used_memory(redis_port)?.saturating_sub(before) as f64 / PEERS as f64;
    println!(
        "registered {PEERS} peers through redis in {:.2} s: {per_peer:.0} bytes of redis memory per peer",
        took.as_secs_f64()
    );
    let script = write_script(&dir, &peers)?;

    let mut one_runs = Vec::new();
    let mut one_cpu = Vec::new();
    let scripts_before = ScriptStats::read(redis_port)?;
    for round in 1..=args.rounds {
        let cpu = CpuWatch::start(&[("tracker", a.id()), ("redis-server", redis.id())])?;
        let result = run_wrk(a_port, &script, load)?;
        one_cpu.push(cpu.shares()?);
        report_round(ONE, round, &result);
        one_runs.push(result);
    }

    let scripts = ScriptStats::read(redis_port)?.since(&scripts_before);
    let beats: u64 = one_runs.iter().map(|r| r.requests).sum();
    let redis_cost = scripts.describe(beats);
    println!("one tracker: {redis_cost}");
    let (b, b_port) = start_tracker_on(&dir, "tracker-b", LONG_TTL_S, LOAD_CORE, &store)?;
    let half = Load {
        connections: (load.connections / 2).max(1),
        duration: load.duration,
    };
    let mut two_runs = Vec::new();
    let mut two_cpu = Vec::new();
    for round in 1..=args.rounds {
        let watched = [
            ("tracker a", a.id()),
            ("tracker b", b.id()),
            ("redis-server", redis.id()),
        ];
        let cpu = CpuWatch::start(&watched)?;
        let result = both(a_port, b_port, &script, half)?;
        two_cpu.push(cpu.shares()?);
        report_round(TWO, round, &result);
        two_runs.push(result);
    }
    drop((a, b, redis));
    let load_after = load_average();

    let memory_side = Side::new(MEMORY, memory_runs);
    let one_side = Side::new(ONE, one_runs);
    let two_side = Side::new(TWO, two_runs);
    let over_target = |side: &Side| {
        let rounds: Vec<f64> = side
            .runs
            .iter()
            .map(|r| r.requests_per_sec / TARGET_HEARTBEATS_PER_SEC)
            .collect();
        Ratio {
            label: format!("{} heartbeats/s over the 50,000 target", side.name),
            median: median(&rounds).unwrap_or(0.0),
            rounds,
        }
    };
    let ratios = vec![
        over_target(&memory_side),
        over_target(&one_side),
        over_target(&two_side),
    ];
    let section = Section {
        suite: "tracker-redis",
        title: format!("tracker-bin heartbeats with {PEERS} peers in Redis"),
        setup: format!(
            "tracker-bin (release) `--ttl {LONG_TTL_S}`, {PEERS} peers registered, then `POST \
             /heartbeat` cycling through their tokens from wrk -t1, {} rounds of {} s per side. \
             Memory side: one tracker on core {SERVER_CORE}, its own registry, wrk -c{c} on core \
             {LOAD_CORE}. Redis sides: a redis-server of the bench's own (no persistence, not \
             pinned), the heartbeats a tracker reads in one loop turn one `EVALSHA` of the \
             store script; one tracker on core {SERVER_CORE} with wrk -c{c}; then two trackers \
             (cores {SERVER_CORE} and {LOAD_CORE}) with one wrk -c{h} each, summed. \
             Registration through Redis took {:.1} s; **Redis memory: {per_peer:.0} bytes per \
             peer** (`used_memory`, all keys of a peer in one open channel-less registration). \
             Redis's own time (`INFO commandstats`), one tracker: {redis_cost}.\n\nCPU used \
             during the runs \
             (share of one core, median of the rounds): one tracker: {}; two trackers: {}. The \
             busiest process is the bottleneck — unless the machine was busy with others: load \
             average {load_before} before the run, {load_after} after (2 cores).",
            args.rounds,
            args.duration,
            took.as_secs_f64(),
            cpu_summary(&one_cpu),
            cpu_summary(&two_cpu),
            c = args.connections,
            h = half.connections,
        ),
        sides: vec![memory_side, one_side, two_side],
        ratios,
        noise_floor: None,
        extra: String::new(),
        publish: true,
    };
    println!("\n{}", super::report::render(&section));
    Ok(section)
}

fn report_round(side: &str, round: u32, result: &WrkResult) {
    println!(
        "{side}, round {round}: {:>10.0} heartbeats/s  p50 {:>6.0} µs  p99 {:>6.0} µs  failed {}",
        result.requests_per_sec, result.p50_us, result.p99_us, result.non_2xx
    );
}

/// One wrk per tracker at once; their figures summed (latencies: the worse of the two).
fn both(a: u16, b: u16, script: &Path, load: Load) -> Result<WrkResult> {
    let (a, b) = thread::scope(|s| {
        let first = s.spawn(|| run_wrk(a, script, load));
        let second = run_wrk(b, script, load);
        (first.join(), second)
    });
    let a = a.map_err(|_| Error::WrkOutput("a wrk thread panicked".to_owned()))??;
    let b = b?;
    Ok(WrkResult {
        requests_per_sec: a.requests_per_sec + b.requests_per_sec,
        p50_us: a.p50_us.max(b.p50_us),
        p99_us: a.p99_us.max(b.p99_us),
        requests: a.requests + b.requests,
        non_2xx: a.non_2xx + b.non_2xx,
        socket_errors: a.socket_errors + b.socket_errors,
    })
}

/// A redis-server of the bench's own on a free port, without persistence.
fn start_redis(dir: &Path) -> Result<(Process, u16)> {
    let port = process::free_port()?;
    let mut command = Command::new("redis-server");
    command
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir);
    let mut redis = Process::spawn("redis-server", command, &dir.join("redis.log"))?;
    redis.wait_for_port(port, START_TIMEOUT)?;
    Ok((redis, port))
}

/// `EVALSHA` calls and the microseconds Redis spent in them (`INFO commandstats`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ScriptStats {
    calls: u64,
    usec: u64,
}

impl ScriptStats {
    fn read(port: u16) -> Result<ScriptStats> {
        let mut command = Command::new("redis-cli");
        command.args(["-p", &port.to_string(), "info", "commandstats"]);
        Ok(ScriptStats::parse(&process::output(&mut command)?))
    }

    /// From `cmdstat_evalsha:calls=N,usec=N,…`; none yet is zero.
    fn parse(info: &str) -> ScriptStats {
        let line = info
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
            .unwrap_or_default();
        let field = |name: &str| {
            line.split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0)
        };
        ScriptStats {
            calls: field("calls"),
            usec: field("usec"),
        }
    }

    fn since(&self, before: &ScriptStats) -> ScriptStats {
        ScriptStats {
            calls: self.calls.saturating_sub(before.calls),
            usec: self.usec.saturating_sub(before.usec),
        }
    }

    /// `X µs of Redis per heartbeat, Y heartbeats per script call` over `beats` heartbeats.
    fn describe(&self, beats: u64) -> String {
        if beats == 0 || self.calls == 0 {
            return "not measured".to_owned();
        }
        format!(
            "{:.1} µs of Redis per heartbeat, {:.1} heartbeats per script call",
            self.usec as f64 / beats as f64,
            beats as f64 / self.calls as f64
        )
    }
}

/// Redis's `used_memory`, in bytes.
fn used_memory(port: u16) -> Result<u64> {
    let mut command = Command::new("redis-cli");
    command.args(["-p", &port.to_string(), "info", "memory"]);
    let text = process::output(&mut command)?;
    text.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| Error::BadAnswer {
            name: "redis-server".to_owned(),
            url: format!("redis://127.0.0.1:{port} INFO memory"),
            detail: "no used_memory line".to_owned(),
        })
}

/// The one-minute load average, as `/proc/loadavg` gives it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// CPU time of some processes over a stretch of wall time.
struct CpuWatch {
    procs: Vec<(&'static str, u32, u64)>,
    started: Instant,
}

impl CpuWatch {
    fn start(procs: &[(&'static str, u32)]) -> Result<CpuWatch> {
        let procs = procs
            .iter()
            .map(|&(name, pid)| Ok((name, pid, cpu_ticks(pid)?)))
            .collect::<Result<_>>()?;
        Ok(CpuWatch {
            procs,
            started: Instant::now(),
        })
    }

    /// Each process's CPU over the stretch, as a share of one core.
    fn shares(&self) -> Result<Vec<(&'static str, f64)>> {
        let wall = self.started.elapsed().as_secs_f64().max(0.001);
        self.procs
            .iter()
            .map(|&(name, pid, before)| {
                let used = cpu_ticks(pid)?.saturating_sub(before) as f64 / CLOCK_TICKS;
                Ok((name, used / wall))
            })
            .collect()
    }
}

/// `USER_HZ`, the unit of `/proc/PID/stat`'s times: 100 on Linux everywhere that matters.
const CLOCK_TICKS: f64 = 100.0;

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
    // Fields after the command name, which may hold spaces, closed by the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name and state.
    Ok(field(11) + field(12))
}

/// `name 97%, name 40%` from the median share of each process over the rounds.
fn cpu_summary(rounds: &[Vec<(&'static str, f64)>]) -> String {
    let Some(first) = rounds.first() else {
        return "not measured".to_owned();
    };
    first
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let shares: Vec<f64> = rounds
                .iter()
                .filter_map(|r| r.get(i).map(|p| p.1))
                .collect();
            format!("{name} {:.0}%", median(&shares).unwrap_or(0.0) * 100.0)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cpu_of_this_process_is_readable() {
        let ticks = cpu_ticks(std::process::id()).unwrap();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {}
        assert!(cpu_ticks(std::process::id()).unwrap() >= ticks);
    }

    #[test]
    fn script_stats_come_from_commandstats() {
        let info = "# Commandstats\r\ncmdstat_hget:calls=3,usec=9,usec_per_call=3.00\r\n\
                    cmdstat_evalsha:calls=40,usec=2000,usec_per_call=50.00,rejected_calls=0\r\n";
        let stats = ScriptStats::parse(info);
        assert_eq!(
            stats,
            ScriptStats {
                calls: 40,
                usec: 2000
            }
        );
        assert_eq!(
            ScriptStats::parse("# Commandstats\r\n"),
            ScriptStats::default()
        );
        let since = stats.since(&ScriptStats {
            calls: 30,
            usec: 1000,
        });
        assert_eq!(
            since.describe(400),
            "2.5 µs of Redis per heartbeat, 40.0 heartbeats per script call"
        );
        assert_eq!(since.describe(0), "not measured");
    }

    #[test]
    fn summaries_take_the_median_per_process() {
        let rounds = vec![
            vec![("a", 0.5), ("b", 1.0)],
            vec![("a", 0.7), ("b", 0.9)],
            vec![("a", 0.6), ("b", 0.8)],
        ];
        assert_eq!(cpu_summary(&rounds), "a 60%, b 90%");
        assert_eq!(cpu_summary(&[]), "not measured");
    }
}
