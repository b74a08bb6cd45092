//! The files suite (SPEC §8): a 1 GiB file fetched by a peer from two holders, against `curl`
//! pulling the same file from nginx, alternating, in one run. Holders, tracker and nginx run on
//! the server core, the fetcher and curl on the load core. Both write the file into the same
//! directory (tmpfs when `/dev/shm` is there, so a disk's speed measures neither side), and every
//! fetch is by a fresh fetcher process, whose peak RSS (`VmHWM`) is read before it is stopped.
//!
//! The report's `req/s` column holds MB/s (10⁶ bytes per second), and p50 and p99 both the
//! median transfer time; the targets of the issue are stated as met or not met.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::report::Section;
use super::stats::{Ratio, Side};
use super::wrk::WrkResult;
use super::{BenchArgs, LOAD_CORE, SERVER_CORE, START_TIMEOUT, Suite};
use crate::error::{Error, Result};
use crate::process::{self, Process, cargo};

/// The size of the file fetched.
const FILE_SIZE: usize = 1 << 30;
/// The token every bench peer uses.
const TOKEN: &str = "bench-token";
/// How long one transfer may take before the run is declared broken.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);
/// Targets of the issue.
const TARGET_MB_S: f64 = 1000.0;
const TARGET_RATIO: f64 = 1.0;
const FLOOR_RATIO: f64 = 0.8;
const FETCHER_RSS_KIB: u64 = 64 * 1024;
const HOLDER_RSS_KIB: u64 = 32 * 1024;

fn bad(name: &str, detail: String) -> Error {
    Error::BadAnswer {
        name: name.to_owned(),
        url: String::new(),
        detail,
    }
}

/// Where the file and its copies live: tmpfs if there is one.
fn data_dir(scratch: &Path) -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.join(format!("weaprous-bench-files-{}", std::process::id()))
    } else {
        scratch.join("data")
    }
}

/// Writes `len` bytes from a seeded xorshift generator: incompressible, made quickly.
fn make_file(path: &Path, len: usize) -> Result<()> {
    let mut file =
        std::io::BufWriter::new(fs::File::create(path).map_err(Error::io("create", path))?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..len / block.len() {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        file.write_all(&block).map_err(Error::io("write", path))?;
    }
    file.flush().map_err(Error::io("write", path))
}

/// One call to a peer's API through curl; answers the JSON body.
fn api(port: u16, path: &str, body: Option<&str>) -> Result<Value> {
    let mut command = Command::new("curl");
    command
        .args(["-s", "--max-time", "10", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"));
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "-d", body]);
    }
    command.arg(format!("http://127.0.0.1:{port}{path}"));
    let out = process::output(&mut command)?;
    serde_json::from_str(&out).map_err(|e| bad("peer", format!("{path}: not JSON ({e}): {out}")))
}

/// A running peer-bin: its process and port.
struct Peer {
    process: Process,
    port: u16,
}

fn start_peer(name: &str, core: u32, dir: &Path, tracker: u16, exe: &Path) -> Result<Peer> {
    let port = process::free_port()?;
    let mut command = super::pinned(core, exe);
    command
        .args(["--host", "127.0.0.1", "--name", name, "--token", TOKEN])
        .arg("--port")
        .arg(port.to_string())
        .arg("--tracker")
        .arg(format!("http://127.0.0.1:{tracker}"))
        .arg("--data-dir")
        .arg(dir.join(name));
    let mut process = Process::spawn(name, command, &dir.join(format!("{name}.log")))?;
    process.wait_for_port(port, START_TIMEOUT)?;
    let deadline = Instant::now() + START_TIMEOUT;
    while api(port, "/api/me", None)?["tracker"]["registered"] != true {
        if Instant::now() > deadline {
            return Err(bad(name, "never registered with the tracker".to_owned()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Peer { process, port })
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `path` exists (a fetch renames its `.part` there when complete).
fn wait_for_file(path: &Path, started: Instant) -> Result<Duration> {
    while !path.exists() {
        if started.elapsed() > TRANSFER_TIMEOUT {
            return Err(bad("fetch", format!("{} never appeared", path.display())));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(started.elapsed())
}

fn check_size(path: &Path) -> Result<()> {
    let len = fs::metadata(path).map_err(Error::io("stat", path))?.len();
    match len == FILE_SIZE as u64 {
        true => Ok(()),
        false => Err(bad("copy", format!("{} has {len} bytes", path.display()))),
    }
}

/// A transfer as a row: MB/s in the rate column, its time as both latencies.
fn transfer(elapsed: Duration) -> WrkResult {
    let secs = elapsed.as_secs_f64();
    WrkResult {
        requests_per_sec: FILE_SIZE as f64 / secs / 1e6,
        p50_us: secs * 1e6,
        p99_us: secs * 1e6,
        requests: 1,
        non_2xx: 0,
        socket_errors: 0,
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**not met**" }
}

/// Builds the peer and the tracker, sets up two holders and nginx, and alternates fetches.
pub fn run(args: &BenchArgs) -> Result<Section> {
    super::ensure_tools(&["nginx", "curl"])?;
    process::run(cargo().args(["build", "--release", "-p", "peer-bin", "-p", "tracker-bin"]))?;
    let release = process::target_dir().join("release");
    let scratch = super::scratch_dir(Suite::Files)?;
    let data = data_dir(&scratch);
    fs::create_dir_all(&data).map_err(Error::io("create directory", &data))?;
    let result = measure(args, &scratch, &data, &release);
    let _ = fs::remove_dir_all(&data);
    result
}

fn measure(args: &BenchArgs, scratch: &Path, data: &Path, release: &Path) -> Result<Section> {
    let source = data.join("big.bin");
    make_file(&source, FILE_SIZE)?;

    let tracker_port = process::free_port()?;
    let mut command = super::pinned(SERVER_CORE, release.join("tracker-bin"));
    command.arg("--port").arg(tracker_port.to_string());
    let mut tracker = Process::spawn("tracker", command, &scratch.join("tracker.log"))?;
    tracker.wait_for_port(tracker_port, START_TIMEOUT)?;
    let peer_exe = release.join("peer-bin");
    let holders =
        ["a", "b"].map(|name| start_peer(name, SERVER_CORE, scratch, tracker_port, &peer_exe));
    let [a, b] = holders;
    let (a, b) = (a?, b?);
    let body = serde_json::json!({"path": source, "name": "big.bin"}).to_string();
    let mut file_id = String::new();
    for holder in [&a, &b] {
        let published = api(holder.port, "/api/files/publish", Some(&body))?;
        file_id = published["file_id"]
            .as_str()
            .ok_or_else(|| bad("publish", published.to_string()))?
            .to_owned();
    }

    let nginx_port = process::free_port()?;
    let config = super::nginx_config(&super::nginx_static_server(nginx_port, data));
    let _nginx = super::start_nginx("nginx", &scratch.join("nginx"), &config, nginx_port)?;

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut fetcher_rss = 0;
    let copy = data.join("copy.bin");
    for round in 0..args.rounds.max(1) {
        let started = Instant::now();
        let mut curl = super::pinned(LOAD_CORE, "curl");
        curl.args(["-s", "-o"])
            .arg(&copy)
            .arg(format!("http://127.0.0.1:{nginx_port}/big.bin"));
        process::run(&mut curl)?;
        let elapsed = started.elapsed();
        check_size(&copy)?;
        fs::remove_file(&copy).map_err(Error::io("remove", &copy))?;
        theirs.push(transfer(elapsed));

        let name = format!("c{round}");
        let fetcher = start_peer(&name, LOAD_CORE, scratch, tracker_port, &peer_exe)?;
        let body = serde_json::json!({"file_id": file_id, "dest": copy}).to_string();
        let started = Instant::now();
        let answer = api(fetcher.port, "/api/files/fetch", Some(&body))?;
        if answer.get("error").is_some() {
            return Err(bad("fetch", answer.to_string()));
        }
        let elapsed = wait_for_file(&copy, started)?;
        check_size(&copy)?;
        fetcher_rss = fetcher_rss.max(peak_rss_kib(fetcher.process.id()));
        drop(fetcher);
        fs::remove_file(&copy).map_err(Error::io("remove", &copy))?;
        ours.push(transfer(elapsed));
        println!(
            "files: round {}: curl from nginx {:.0} MB/s, peer from two holders {:.0} MB/s",
            round + 1,
            theirs[theirs.len() - 1].requests_per_sec,
            ours[ours.len() - 1].requests_per_sec
        );
    }
    let holder_rss = peak_rss_kib(a.process.id()).max(peak_rss_kib(b.process.id()));
    drop((a, b, tracker));

    let peer = Side::new("peer-bin fetch from two holders (MB/s)", ours);
    let curl = Side::new("curl from nginx (MB/s)", theirs);
    let ratio = Ratio::between(&peer, &curl);
    let lines = [
        format!(
            "≥ {TARGET_MB_S:.0} MB/s from two holders: {} (median {:.0} MB/s)",
            verdict(peer.requests_per_sec >= TARGET_MB_S),
            peer.requests_per_sec
        ),
        format!(
            "≥ {TARGET_RATIO:.1}× curl from nginx (floor {FLOOR_RATIO:.1}×): {} (median of pairwise ratios {:.2})",
            verdict(ratio.median >= TARGET_RATIO),
            ratio.median
        ),
        format!(
            "fetcher peak RSS ≤ 64 MiB: {} ({:.1} MiB)",
            verdict(fetcher_rss <= FETCHER_RSS_KIB),
            fetcher_rss as f64 / 1024.0
        ),
        format!(
            "holders' peak RSS ≤ 32 MiB each: {} ({:.1} MiB at most)",
            verdict(holder_rss <= HOLDER_RSS_KIB),
            holder_rss as f64 / 1024.0
        ),
    ];
    for line in &lines {
        println!("files: {line}");
    }
    let setup = format!(
        "A 1 GiB file in {} published by two peer-bin holders (release, pinned to core \
         {SERVER_CORE} with the tracker and nginx); each round, curl (core {LOAD_CORE}) pulls it \
         from nginx into the same directory, then a fresh peer-bin fetcher (core {LOAD_CORE}) \
         fetches it from both holders, timed from the fetch request to the rename of the \
         verified file. The req/s column is MB/s; p50 and p99 both show the median \
         transfer time.\n\nTargets:\n\n- {}",
        data.display(),
        lines.join("\n- ")
    );
    Ok(Section {
        suite: Suite::Files.name(),
        title: "a 1 GiB fetch from two holders against curl from nginx".to_owned(),
        setup,
        sides: vec![peer, curl],
        ratios: vec![ratio],
        noise_floor: None,
        publish: true,
        extra: String::new(),
    })
}
