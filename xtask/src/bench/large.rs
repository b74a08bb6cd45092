//! The http suite's large-file cases: one 1 GiB download, and 16 parallel downloads of a 60 MiB
//! file, backend-bin against nginx in the same run, measuring throughput and the server's peak
//! resident memory (VmHWM, reset before each download with `/proc/PID/clear_refs`).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Instant;

use super::stats::median;
use super::{LOAD_CORE, pinned};
use crate::error::{Error, Result};
use crate::process;

const MIB: u64 = 1024 * 1024;

/// One large-file case: a file and how many clients fetch it at once.
struct Case {
    label: &'static str,
    file: &'static str,
    mib: u64,
    clients: usize,
}

const CASES: [Case; 2] = [
    Case {
        label: "1 GiB, one client",
        file: "one-g.bin",
        mib: 1024,
        clients: 1,
    },
    Case {
        label: "60 MiB × 16 clients",
        file: "sixty-m.bin",
        mib: 60,
        clients: 16,
    },
];

/// A server under test: its name, port, and the process whose memory counts.
pub struct Server {
    /// The side's name in the table.
    pub name: &'static str,
    /// Where it listens on 127.0.0.1.
    pub port: u16,
    /// The process that serves (nginx's worker, not its master).
    pub pid: u32,
}

/// Writes the case files into `root` (sparse-free, so the page cache holds real data).
pub fn write_files(root: &Path) -> Result<()> {
    let block: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    for case in &CASES {
        let path = root.join(case.file);
        let mut file = File::create(&path).map_err(Error::io("create", &path))?;
        for _ in 0..case.mib {
            file.write_all(&block).map_err(Error::io("write", &path))?;
        }
    }
    Ok(())
}

/// The pid of nginx's single worker, the child of `master`.
pub fn nginx_worker(master: u32) -> Result<u32> {
    let path = format!("/proc/{master}/task/{master}/children");
    let children = fs::read_to_string(&path).map_err(Error::io("read", &path))?;
    children
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .next()
        .ok_or_else(|| Error::BadAnswer {
            name: "nginx".to_owned(),
            url: path,
            detail: "no worker process".to_owned(),
        })
}

/// Runs every case for `rounds` alternating rounds per server and returns the markdown table.
pub fn run(servers: &[Server], rounds: u32) -> Result<String> {
    let mut out = String::from(
        "\nLarge files (curl on core 1, one per client; MB/s is all bytes over the time until the \
         last client finished; peak RSS is the serving process's VmHWM during the download):\n\n\
         | case | side | MB/s (median) | peak RSS MiB (max) | rounds MB/s |\n\
         |---|---|---:|---:|---|\n",
    );
    for case in &CASES {
        let mut results: Vec<(Vec<f64>, u64)> = vec![(Vec::new(), 0); servers.len()];
        for _ in 0..rounds {
            for (server, result) in servers.iter().zip(&mut results) {
                let (mb_per_s, peak_kib) = download(server, case)?;
                println!(
                    "{:<22} {:<12} {mb_per_s:>8.0} MB/s  peak RSS {:>6.1} MiB",
                    case.label,
                    server.name,
                    peak_kib as f64 / 1024.0
                );
                result.0.push(mb_per_s);
                result.1 = result.1.max(peak_kib);
            }
        }
        for (server, (runs, peak)) in servers.iter().zip(&results) {
            let rounds: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.1} | {} |",
                case.label,
                server.name,
                median(runs).unwrap_or(0.0),
                *peak as f64 / 1024.0,
                rounds.join(", ")
            );
        }
    }
    Ok(out)
}

/// One download round: every client fetches the whole file; returns MB/s and the peak RSS.
fn download(server: &Server, case: &Case) -> Result<(f64, u64)> {
    let clear = format!("/proc/{}/clear_refs", server.pid);
    // "5" resets the peak resident set size to the current one.
    fs::write(&clear, "5").map_err(Error::io("write", &clear))?;
    let url = format!("http://127.0.0.1:{}/{}", server.port, case.file);
    let started = Instant::now();
    let clients: Vec<Child> = (0..case.clients)
        .map(|_| {
            let mut command = pinned(LOAD_CORE, "curl");
            command
                .args(["-s", "-f", "-o", "/dev/null", "-w", "%{size_download}"])
                .arg(&url)
                .stdout(Stdio::piped());
            command.spawn().map_err(|source| Error::Spawn {
                program: process::display(&command),
                source,
            })
        })
        .collect::<Result<_>>()?;
    let mut bytes = 0u64;
    for client in clients {
        let output = client
            .wait_with_output()
            .map_err(Error::io("wait for", "curl"))?;
        let got: u64 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if !output.status.success() || got != case.mib * MIB {
            return Err(Error::BadAnswer {
                name: server.name.to_owned(),
                url,
                detail: format!("curl got {got} bytes ({})", output.status),
            });
        }
        bytes += got;
    }
    let secs = started.elapsed().as_secs_f64();
    let status_path = format!("/proc/{}/status", server.pid);
    let status = fs::read_to_string(&status_path).map_err(Error::io("read", &status_path))?;
    let peak_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Ok((bytes as f64 / 1e6 / secs, peak_kib))
}
