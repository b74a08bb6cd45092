//! The http suite: backend-bin against nginx (one worker) serving the same 1 KiB static file,
//! then the large-file cases of [`large`](super::large) against the same two servers.

use std::fs;
use std::path::Path;

use super::report::Section;
use super::stats::{Ratio, Side};
use super::wrk::{self, Load, WrkResult};
use super::{BenchArgs, SERVER_CORE, START_TIMEOUT, Suite};
use crate::error::{Error, Result};
use crate::process::{self, Process, cargo};

/// The file both servers serve, under the URL `/one-k.txt`.
const FILE_NAME: &str = "one-k.txt";
/// Its size: small enough that per-request overhead, not copying, is what gets measured.
const FILE_SIZE: usize = 1024;

/// Builds backend-bin, starts it and nginx on core 0, checks both serve the file, then runs the
/// alternating wrk rounds and one nginx-against-nginx round for the noise floor.
pub fn run(args: &BenchArgs) -> Result<Section> {
    if !args.nginx_only {
        process::run(cargo().args(["build", "--release", "-p", "backend-bin"]))?;
    }
    super::ensure_tools(&["wrk", "nginx"])?;

    let dir = super::scratch_dir(Suite::Http)?;
    let root = super::static_root(&dir)?;
    let content = one_k();
    let file = root.join(FILE_NAME);
    fs::write(&file, &content).map_err(Error::io("write", &file))?;
    super::large::write_files(&root)?;

    let nginx_port = process::free_port()?;
    let nginx_dir = dir.join("nginx");
    let config = super::nginx_config(&super::nginx_static_server(nginx_port, &root));
    let nginx_process = super::start_nginx("nginx", &nginx_dir, &config, nginx_port)?;
    let nginx_url = url(nginx_port);

    let ours = if args.nginx_only {
        None
    } else {
        let port = process::free_port()?;
        let process = start_backend(&dir, &root, port)?;
        Some((process, port))
    };

    let mut servers = vec![("nginx", nginx_port)];
    if let Some((_, port)) = &ours {
        servers.push(("backend-bin", *port));
    }
    super::verify_same_body(&servers, &format!("/{FILE_NAME}"), &content)?;

    let load = Load {
        connections: args.connections,
        duration: args.duration,
    };
    let mut our_runs = Vec::new();
    let mut nginx_runs = Vec::new();
    for round in 1..=args.rounds {
        if let Some((_, port)) = &ours {
            our_runs.push(measure(&format!("round {round}: ours"), &url(*port), load)?);
        }
        nginx_runs.push(measure(&format!("round {round}: nginx"), &nginx_url, load)?);
    }
    let floor_a = measure("noise floor: nginx", &nginx_url, load)?;
    let floor_b = measure("noise floor: nginx again", &nginx_url, load)?;

    let mut large_servers = Vec::new();
    if let Some((process, port)) = &ours {
        large_servers.push(super::large::Server {
            name: "backend-bin",
            port: *port,
            pid: process.id(),
        });
    }
    large_servers.push(super::large::Server {
        name: "nginx",
        port: nginx_port,
        pid: super::large::nginx_worker(nginx_process.id())?,
    });
    let extra = super::large::run(&large_servers, args.rounds)?;

    let nginx = Side::new("nginx", nginx_runs);
    let mut sides = Vec::new();
    let mut ratios = Vec::new();
    if ours.is_some() {
        let ours = Side::new("ours", our_runs);
        ratios.push(Ratio::between(&ours, &nginx));
        sides.push(ours);
    }
    sides.push(nginx);
    let noise_floor = Ratio::between(
        &Side::new("nginx", vec![floor_b]),
        &Side::new("nginx", vec![floor_a]),
    );

    let section = Section {
        suite: Suite::Http.name(),
        title: if ours.is_some() {
            "backend-bin vs nginx, 1 KiB static file".to_owned()
        } else {
            "nginx alone, 1 KiB static file (smoke run)".to_owned()
        },
        setup: format!(
            "`GET /{FILE_NAME}` ({FILE_SIZE} bytes), {} keep-alive connections, wrk -t1 on core 1, \
             servers on core {SERVER_CORE} (nginx: one worker); {} alternating rounds of {} s per side.",
            args.connections, args.rounds, args.duration
        ),
        sides,
        ratios,
        noise_floor: Some(noise_floor),
        extra,
        publish: ours.is_some(),
    };
    println!("\n{}", super::report::render(&section));
    Ok(section)
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/{FILE_NAME}")
}

/// Starts `backend-bin` pinned to the server core, serving `root`.
fn start_backend(dir: &Path, root: &Path, port: u16) -> Result<Process> {
    let binary = process::target_dir().join("release").join("backend-bin");
    let mut command = super::pinned(SERVER_CORE, binary);
    command
        .args(["--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .arg("--static-root")
        .arg(root)
        // Like nginx's `access_log off`: no per-request log line.
        .env("RUST_LOG", "warn");
    let mut backend = Process::spawn("backend-bin", command, &dir.join("backend-bin.log"))?;
    backend.wait_for_port(port, START_TIMEOUT)?;
    Ok(backend)
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
    fn payload_is_one_kib_of_whole_lines() {
        let body = one_k();
        assert_eq!(body.len(), FILE_SIZE);
        assert_eq!(body.last(), Some(&b'\n'));
        assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), FILE_SIZE / 64);
    }
}
