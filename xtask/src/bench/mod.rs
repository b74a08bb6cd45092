//! `cargo xtask bench`: side-by-side benchmarks against a reference server, per BENCH.md.
//!
//! Each suite is one module; what they share lives here and in the helper modules: tool
//! installation, scratch directories, nginx, pinning, probing ([`mod@self`]), running and parsing
//! wrk ([`wrk`]), medians and ratios ([`stats`]), and the written report ([`report`]).

mod files;
mod http;
mod large;
mod p2p;
mod proxy;
pub mod report;
pub mod stats;
mod tracker;
mod tracker_redis;
pub mod wrk;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::process::{self, Process};

/// The core servers under test and reference servers are pinned to.
pub const SERVER_CORE: u32 = 0;
/// The core the load generator is pinned to, away from the servers.
pub const LOAD_CORE: u32 = 1;
/// How long a freshly started server gets to open its port.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a single probe request may take before the server is declared broken.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// A probe response larger than this is not what any suite serves, so stop reading.
const PROBE_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Options shared by every suite.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which suite to run; without one, every suite that is built runs.
    #[arg(value_enum)]
    pub suite: Option<Suite>,
    /// Measured rounds per side (each round is one wrk run per side, alternating).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    pub duration: u32,
    /// Concurrent keep-alive connections held by wrk.
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// http suite: measure nginx alone (a smoke run of the tooling; the docs are not updated).
    #[arg(long)]
    pub nginx_only: bool,
    /// tracker suite: `redis` measures trackers sharing a redis-server of the bench's own,
    /// one and two of them, against the in-memory figure of the same run.
    #[arg(long, value_enum, default_value = "memory")]
    pub store: StoreKind,
}

/// Where the tracker suite's trackers keep their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// Each tracker in its own memory (the default suite).
    Memory,
    /// In one Redis, shared.
    Redis,
}

/// The benchmark suites of SPEC §11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// backend-bin vs nginx serving a 1 KiB static file.
    Http,
    /// Tracker heartbeats with many registered peers.
    Tracker,
    /// proxy-bin vs nginx as a reverse proxy in front of the same backend.
    Proxy,
    /// Peer links: round trips, broadcast, file fetch.
    P2p,
    /// A 1 GiB file fetched from two holders against curl from nginx.
    Files,
}

impl Suite {
    /// Suites that run when none is named.
    const BUILT: [Suite; 5] = [
        Suite::Http,
        Suite::Tracker,
        Suite::Proxy,
        Suite::P2p,
        Suite::Files,
    ];

    /// The suite's name as typed on the command line and used for directories and markers.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Http => "http",
            Suite::Tracker => "tracker",
            Suite::Proxy => "proxy",
            Suite::P2p => "p2p",
            Suite::Files => "files",
        }
    }
}

/// Runs the chosen suites and writes one report covering them.
pub fn run(args: &BenchArgs) -> Result<()> {
    let suites = args
        .suite
        .map_or(Suite::BUILT.to_vec(), |suite| vec![suite]);
    let mut sections = Vec::new();
    for suite in suites {
        let section = match suite {
            Suite::Http => http::run(args)?,
            Suite::Tracker if args.store == StoreKind::Redis => tracker_redis::run(args)?,
            Suite::Tracker => tracker::run(args)?,
            Suite::Proxy => proxy::run(args)?,
            Suite::P2p => p2p::run(args)?,
            Suite::Files => files::run(args)?,
        };
        sections.push(section);
    }
    report::write(&sections)
}

/// Installs the Debian packages providing `tools` when any is missing (`apt-get update` once,
/// then one `apt-get install -y`), and fails if they are still missing afterwards.
pub fn ensure_tools(tools: &[&str]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find_program(t).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("installing {} with apt-get", missing.join(", "));
    process::run(Command::new("apt-get").arg("update"))?;
    process::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y"])
            .args(&missing),
    )?;
    match missing.iter().find(|t| find_program(t).is_none()) {
        Some(tool) => Err(Error::ToolMissing((*tool).to_owned())),
        None => Ok(()),
    }
}

/// Finds `name` on `PATH` or in the sbin directories, where Debian puts nginx but a non-root
/// `PATH` does not look.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A fresh, empty `target/bench/<suite>/` directory.
pub fn scratch_dir(suite: Suite) -> Result<PathBuf> {
    let dir = process::target_dir().join("bench").join(suite.name());
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))?;
    }
    fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    Ok(dir)
}

/// A fresh `dir/root/` for backend-bin's `--static-root`, with the site's `login.html`
/// (backend-bin refuses a root without it).
pub fn static_root(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("root");
    fs::create_dir_all(&root).map_err(Error::io("create directory", &root))?;
    let login = process::project_root().join("static").join("login.html");
    let copy = root.join("login.html");
    fs::copy(&login, &copy).map_err(Error::io("copy", &login))?;
    Ok(root)
}

/// `taskset -c CORE PROGRAM`: the returned command runs `program` pinned to one core.
pub fn pinned(core: u32, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(core.to_string()).arg(program);
    command
}

/// The nginx configuration of BENCH.md around the given `server { … }` blocks: one worker,
/// no access log, and keep-alive that never closes a busy connection mid-run.
pub fn nginx_config(servers: &str) -> String {
    format!(
        "worker_processes 1;
daemon off;
pid nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  # the default (1000) closes busy connections mid-run and flatters the rival
  keepalive_requests 1000000;
  client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp; uwsgi_temp_path tmp; scgi_temp_path tmp;
{servers}
}}
"
    )
}

/// The `server` block serving `root` on `port`.
pub fn nginx_static_server(port: u16, root: &Path) -> String {
    format!(
        "  server {{ listen 127.0.0.1:{port}; root {}; }}",
        root.display()
    )
}

/// Writes `config` to `dir/nginx.conf` and starts nginx from `dir` on [`SERVER_CORE`], waiting
/// until `port` answers.
pub fn start_nginx(name: &str, dir: &Path, config: &str, port: u16) -> Result<Process> {
    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp).map_err(Error::io("create directory", &tmp))?;
    let conf = dir.join("nginx.conf");
    fs::write(&conf, config).map_err(Error::io("write", &conf))?;
    let nginx = find_program("nginx").ok_or_else(|| Error::ToolMissing("nginx".to_owned()))?;
    let mut command = pinned(SERVER_CORE, nginx);
    // `-e stderr` keeps nginx from opening /var/log/nginx/error.log before reading our config.
    command
        .arg("-e")
        .arg("stderr")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir);
    let mut nginx = Process::spawn(name, command, &dir.join(format!("{name}.log")))?;
    nginx.wait_for_port(port, START_TIMEOUT)?;
    Ok(nginx)
}

/// A response read by [`probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The status code.
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Sends one `GET path` with `Connection: close` to 127.0.0.1:`port` and reads the whole answer.
pub fn probe(port: u16, path: &str) -> Result<Probe> {
    let addr = format!("127.0.0.1:{port}");
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .map_err(Error::io("connect to", addr.clone()))?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .map_err(Error::io("set a timeout on", addr.clone()))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(Error::io("write to", addr.clone()))?;
    let mut raw = Vec::new();
    stream
        .take(PROBE_MAX_BYTES)
        .read_to_end(&mut raw)
        .map_err(Error::io("read from", addr.clone()))?;
    parse_probe(&raw).map_err(|detail| Error::BadAnswer {
        name: addr,
        url: path.to_owned(),
        detail,
    })
}

/// Probes every `(name, port)` and checks each answers 200 with exactly `expected` as its body,
/// so that no side is measured serving an error page.
pub fn verify_same_body(servers: &[(&str, u16)], path: &str, expected: &[u8]) -> Result<()> {
    for &(name, port) in servers {
        let url = format!("http://127.0.0.1:{port}{path}");
        let answer = probe(port, path)?;
        let detail = if answer.status != 200 {
            format!("status {}", answer.status)
        } else if answer.body != expected {
            format!(
                "body of {} bytes differs from the {} expected",
                answer.body.len(),
                expected.len()
            )
        } else {
            continue;
        };
        return Err(Error::BadAnswer {
            name: name.to_owned(),
            url,
            detail,
        });
    }
    Ok(())
}

/// Splits a complete `Connection: close` response into status and body, honouring
/// `Content-Length` when present and refusing chunked bodies, which no probed server should send
/// for a static file.
fn parse_probe(raw: &[u8]) -> Result<Probe, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err("truncated response head".to_owned()),
        Err(err) => return Err(format!("malformed response head: {err}")),
    };
    let status = response.code.unwrap_or_default();
    let mut body = &raw[head_len..];
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("unexpected Transfer-Encoding on a static file".to_owned());
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let length: usize = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or("unreadable Content-Length")?;
            body = body
                .get(..length)
                .ok_or_else(|| format!("body shorter than Content-Length {length}"))?;
        }
    }
    Ok(Probe {
        status,
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Result<(u16, &str), &str>) {
        let got = parse_probe(raw.as_bytes());
        let expected = expected
            .map(|(status, body)| Probe {
                status,
                body: body.as_bytes().to_vec(),
            })
            .map_err(str::to_owned);
        assert_eq!(got, expected, "input: {raw:?}");
    }

    #[test]
    fn probe_responses() {
        check(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Ok((200, "hello")),
        );
        check("HTTP/1.0 404 Not Found\r\n\r\nnope", Ok((404, "nope")));
        check(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef",
            Ok((200, "abc")),
        );
        check(
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
            Err("body shorter than Content-Length 9"),
        );
        check(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            Err("unexpected Transfer-Encoding on a static file"),
        );
        check(
            "HTTP/1.1 200 OK\r\nContent-Le",
            Err("truncated response head"),
        );
    }

    #[test]
    fn nginx_config_keeps_the_bench_settings() {
        let config = nginx_config(&nginx_static_server(8081, Path::new("/srv/root")));
        for needle in [
            "worker_processes 1;",
            "daemon off;",
            "access_log off;",
            "keepalive_requests 1000000;",
            "server { listen 127.0.0.1:8081; root /srv/root; }",
        ] {
            assert!(config.contains(needle), "missing {needle:?} in\n{config}");
        }
    }
}
