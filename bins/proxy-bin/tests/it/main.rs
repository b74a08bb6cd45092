//! proxy-bin over real sockets on 127.0.0.1: balancing, health and retry, keep-alive, streaming,
//! tunnels, errors, Task 1 through the proxy, and the binary's start-up.

mod balance;
mod binary;
mod errors;
mod health;
mod keepalive;
mod musts;
mod plain;
mod sticky;
mod streaming;
mod task1;
mod timeouts;

use backend::{AuthMode, Config as SiteConfig};
use http_core::Method;
use reactor::client::ClientResponse;
use router::Running as Site;
use router::auth::Credentials;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use test_support::process::{Daemon, Lines};
pub use test_support::{closed_addr, text, wait_for};

/// Parses a test config.
pub fn config(text: &str) -> proxy::Config {
    proxy::parse(text, "test.conf").unwrap()
}

/// Starts the proxy in-process on an ephemeral port.
pub fn start_proxy(text: &str) -> proxy::Running {
    proxy::spawn(config(text), "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// One `host "*"` block over `upstreams` with `policy`.
pub fn catch_all(upstreams: &[SocketAddr], policy: &str) -> String {
    let passes: String = upstreams
        .iter()
        .map(|a| format!("    proxy_pass http://{a};\n"))
        .collect();
    format!("host \"*\" {{\n{passes}    dist_policy {policy}\n}}\n")
}

/// A directory (fresh per call) holding `name.txt` that contains `name`.
pub fn named_root(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "proxy-it-{}-{name}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("name.txt"), name).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A backend-bin app serving `root` on `addr` (session mode, the default).
pub fn site_at(root: PathBuf, addr: &str) -> Site {
    site_in_mode(root, addr, AuthMode::Session)
}

/// A backend-bin app serving `root` on `addr`, guarding `/` with `auth_mode`.
pub fn site_in_mode(root: PathBuf, addr: &str, auth_mode: AuthMode) -> Site {
    let mut credentials = Credentials::new();
    credentials.add("admin", "password");
    let config = SiteConfig {
        static_root: root,
        credentials,
        auth_mode,
        cors_origins: Vec::new(),
    };
    backend::app(config).unwrap().spawn(addr).unwrap()
}

/// A backend-bin app answering `GET /name.txt` with `name`.
pub fn named_site(name: &str) -> Site {
    site_at(named_root(name), "127.0.0.1:0")
}

/// Sends one request through `proxy` with `Host: host`.
pub fn send(
    proxy: SocketAddr,
    host: &str,
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> ClientResponse {
    let mut all = vec![("Host", host)];
    all.extend_from_slice(headers);
    test_support::send(proxy, method, target, &all, body)
}

/// `GET path` through `proxy`.
pub fn get(proxy: SocketAddr, host: &str, path: &str) -> ClientResponse {
    send(proxy, host, Method::Get, path, &[], b"")
}

/// proxy-bin running as a child process, so its memory can be measured on its own.
pub struct ProxyProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    process: Daemon,
    /// Its log, read to the end so that it never blocks on a full pipe (in a mutex: the
    /// process is shared with sampler threads).
    _log: std::sync::Mutex<Lines>,
}

impl ProxyProcess {
    /// Starts the built binary with `config` on a port the kernel picks (`--port 0`) and
    /// waits until it logs where it listens.
    pub fn start(config: &str) -> ProxyProcess {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "proxy-it-{}-{}.conf",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::write(&path, config).unwrap();
        let mut process = Daemon::spawn(
            std::process::Command::new(env!("CARGO_BIN_EXE_proxy-bin"))
                .arg("--config")
                .arg(&path)
                .args(["--port", "0"])
                .env("RUST_LOG", "warn,proxy=info")
                .stderr(std::process::Stdio::piped()),
        );
        let log = process.stderr();
        let (addr, _) = log.listening(Duration::from_secs(10));
        ProxyProcess {
            addr,
            process,
            _log: std::sync::Mutex::new(log),
        }
    }

    /// Its VmRSS (resident memory now) in KiB.
    pub fn rss_kib(&self) -> u64 {
        status_kib(
            &format!("/proc/{}/status", self.process.child.id()),
            "VmRSS:",
        )
    }

    /// Its VmHWM (the most resident memory it ever had) in KiB: catches a peak between samples.
    pub fn hwm_kib(&self) -> u64 {
        status_kib(
            &format!("/proc/{}/status", self.process.child.id()),
            "VmHWM:",
        )
    }
}

fn status_kib(path: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(path).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {path}"))
}
