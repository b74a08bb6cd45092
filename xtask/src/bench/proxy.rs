//! The proxy suite: proxy-bin against nginx (one worker, upstream keep-alive) as reverse proxies
//! in front of the same backend-bin, serving a 1 KiB static file; plus the backend direct, so
//! that each proxy's added p99 latency can be read off.

use std::fs;
use std::path::Path;

use super::report::Section;
use super::stats::{Ratio, Side};
use super::wrk::{self, Load, WrkResult};
use super::{BenchArgs, SERVER_CORE, START_TIMEOUT, Suite};
use crate::error::{Error, Result};
use crate::process::{self, Process, cargo};

/// The file the backend serves, under the URL `/one-k.txt`.
const FILE_NAME: &str = "one-k.txt";
/// Its size: small enough that per-request overhead, not copying, is what gets measured.
const FILE_SIZE: usize = 1024;

/// Builds proxy-bin and backend-bin, starts the backend, proxy-bin and nginx on core 0, checks
/// all three paths serve the file, measures the backend direct once, then alternates the two
/// proxies, and ends with nginx against itself for the noise floor.
pub fn run(args: &BenchArgs) -> Result<Section> {
    process::run(cargo().args(["build", "--release", "-p", "proxy-bin", "-p", "backend-bin"]))?;
    super::ensure_tools(&["wrk", "nginx"])?;

    let dir = super::scratch_dir(Suite::Proxy)?;
    let root = super::static_root(&dir)?;
    let content = one_k();
    let file = root.join(FILE_NAME);
    fs::write(&file, &content).map_err(Error::io("write", &file))?;

    let backend_port = process::free_port()?;
    let _backend = start_backend(&dir, &root, backend_port)?;

    let proxy_port = process::free_port()?;
    let _proxy = start_proxy(&dir, backend_port, proxy_port)?;

    let nginx_port = process::free_port()?;
    let config = super::nginx_config(&nginx_proxy_servers(nginx_port, backend_port));
    let _nginx = super::start_nginx("nginx", &dir.join("nginx"), &config, nginx_port)?;

    let path = format!("/{FILE_NAME}");
    super::verify_same_body(
        &[
            ("backend-bin", backend_port),
            ("proxy-bin", proxy_port),
            ("nginx", nginx_port),
        ],
        &path,
        &content,
    )?;

    let load = Load {
        connections: args.connections,
        duration: args.duration,
    };
    let direct = measure("direct: backend-bin", &url(backend_port), load)?;
    let mut our_runs = Vec::new();
    let mut nginx_runs = Vec::new();
    for round in 1..=args.rounds {
        our_runs.push(measure(
            &format!("round {round}: proxy-bin"),
            &url(proxy_port),
            load,
        )?);
        nginx_runs.push(measure(
            &format!("round {round}: nginx"),
            &url(nginx_port),
            load,
        )?);
    }
    let floor_a = measure("noise floor: nginx", &url(nginx_port), load)?;
    let floor_b = measure("noise floor: nginx again", &url(nginx_port), load)?;

    let ours = Side::new("proxy-bin", our_runs);
    let nginx = Side::new("nginx", nginx_runs);
    let direct = Side::new("backend-bin direct", vec![direct]);
    let added = |side: &Side| side.p99_us - direct.p99_us;
    let setup = format!(
        "`GET /{FILE_NAME}` ({FILE_SIZE} bytes) from backend-bin through each proxy, {} keep-alive \
         connections, wrk -t1 on core 1; backend-bin, proxy-bin and nginx (one worker, \
         `keepalive 64` to the upstream) all on core {SERVER_CORE}; {} alternating rounds of {} s \
         per side, the backend measured direct once. Added p99 over direct: proxy-bin {:.0} µs, \
         nginx {:.0} µs.",
        args.connections,
        args.rounds,
        args.duration,
        added(&ours),
        added(&nginx),
    );
    let ratios = vec![Ratio::between(&ours, &nginx)];
    let noise_floor = Ratio::between(
        &Side::new("nginx", vec![floor_b]),
        &Side::new("nginx", vec![floor_a]),
    );
    let section = Section {
        suite: Suite::Proxy.name(),
        title: "proxy-bin vs nginx in front of backend-bin, 1 KiB file".to_owned(),
        setup,
        sides: vec![ours, nginx, direct],
        ratios,
        noise_floor: Some(noise_floor),
        extra: String::new(),
        publish: true,
    };
    println!("\n{}", super::report::render(&section));
    Ok(section)
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/{FILE_NAME}")
}

/// nginx as a reverse proxy per BENCH.md: upstream keep-alive needs all three of `keepalive`,
/// `proxy_http_version 1.1` and an empty `Connection`.
fn nginx_proxy_servers(port: u16, backend: u16) -> String {
    format!(
        "  upstream be {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}"
    )
}

/// The proxy.conf routing every Host to the backend.
fn proxy_conf(backend: u16) -> String {
    format!("host \"*\" {{\n    proxy_pass http://127.0.0.1:{backend};\n}}\n")
}

/// Starts `backend-bin` pinned to the server core, serving `root`, without per-request logs.
fn start_backend(dir: &Path, root: &Path, port: u16) -> Result<Process> {
    let binary = process::target_dir().join("release").join("backend-bin");
    let mut command = super::pinned(SERVER_CORE, binary);
    command
        .args(["--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .arg("--static-root")
        .arg(root)
        .env("RUST_LOG", "warn");
    let mut backend = Process::spawn("backend-bin", command, &dir.join("backend-bin.log"))?;
    backend.wait_for_port(port, START_TIMEOUT)?;
    Ok(backend)
}

/// Starts `proxy-bin` pinned to the server core with a config routing to the backend, without
/// per-request logs (as nginx runs with `access_log off`).
fn start_proxy(dir: &Path, backend: u16, port: u16) -> Result<Process> {
    let conf = dir.join("proxy.conf");
    fs::write(&conf, proxy_conf(backend)).map_err(Error::io("write", &conf))?;
    let binary = process::target_dir().join("release").join("proxy-bin");
    let mut command = super::pinned(SERVER_CORE, binary);
    command
        .arg("--config")
        .arg(&conf)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .env("RUST_LOG", "warn");
    let mut proxy = Process::spawn("proxy-bin", command, &dir.join("proxy-bin.log"))?;
    proxy.wait_for_port(port, START_TIMEOUT)?;
    Ok(proxy)
}

fn measure(what: &str, url: &str, load: Load) -> Result<WrkResult> {
    let result = wrk::run(url, load)?;
    println!(
        "{what:<28} {:>10.0} req/s  p50 {:>8.0} µs  p99 {:>8.0} µs  failed {}",
        result.requests_per_sec, result.p50_us, result.p99_us, result.non_2xx
    );
    Ok(result)
}

/// 1 KiB of printable text in 64-byte lines, so a wrong body is easy to spot by eye.
fn one_k() -> Vec<u8> {
    let line = b"WeApRous-rs benchmark payload: the same bytes from every server\n";
    line.iter().copied().cycle().take(FILE_SIZE).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_route_to_the_backend() {
        assert_eq!(
            proxy_conf(9000),
            "host \"*\" {\n    proxy_pass http://127.0.0.1:9000;\n}\n"
        );
        let servers = nginx_proxy_servers(8081, 9000);
        for needle in [
            "upstream be { server 127.0.0.1:9000; keepalive 64; }",
            "listen 127.0.0.1:8081;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
        ] {
            assert!(servers.contains(needle), "missing {needle:?} in {servers}");
        }
    }

    #[test]
    fn payload_is_one_kib() {
        assert_eq!(one_k().len(), FILE_SIZE);
    }
}
