//! `cargo xtask demo`: the whole stack on this machine — tracker, two backends, the proxy with a
//! generated config, and three chat peers — with each process's log lines prefixed by its name.
//! Ctrl-C (or `--for SECS`) stops them all with SIGTERM and reports how each exited.

use crate::error::{Error, Result};
use crate::process::{cargo, project_root, run as run_command, target_dir};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The ports the demo uses: the daemons' defaults (SPEC §1), so the course's URLs work.
const TRACKER: u16 = 8000;
const BACKENDS: [u16; 2] = [9000, 9001];
/// How the backends guard `/`. The proxy takes turns over both backends, and a session lives in
/// the memory of the process that created it: in the default `session` mode a login on one
/// backend followed by `GET /` on the other is a 401. `flag` is the course's literal rule (the
/// `auth=true` cookie suffices), which is what the course's proxy demo relies on; it holds on
/// either backend.
const BACKEND_AUTH_MODE: &str = "flag";
const PROXY: u16 = 8080;
const PEERS: [(&str, u16); 3] = [("alice", 5001), ("bob", 5002), ("carol", 5003)];
/// How long a daemon may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to exit after SIGTERM (its own grace is 5 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(8);

/// Options of `cargo xtask demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The two backends run --auth-mode flag (the course's rule: the auth=true \
cookie suffices). The proxy takes turns over them and a session lives in one backend's memory, \
so session mode would refuse a login made on the other backend."
)]
pub struct DemoArgs {
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long = "for", value_name = "SECS")]
    pub run_for: Option<u64>,
}

/// One running daemon.
struct Daemon {
    name: String,
    child: Child,
}

/// Builds the daemons, starts the stack, waits for Ctrl-C, stops everything.
pub fn run(args: &DemoArgs) -> Result<()> {
    run_command(cargo().args([
        "build",
        "--release",
        "-p",
        "tracker-bin",
        "-p",
        "backend-bin",
        "-p",
        "proxy-bin",
        "-p",
        "peer-bin",
    ]))?;
    let dir = target_dir().join("demo");
    fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    let config = dir.join("proxy.conf");
    fs::write(&config, proxy_config()).map_err(Error::io("write", &config))?;
    let signals = Signals::new([SIGINT, SIGTERM])
        .map_err(Error::io("install signal handlers for", "demo"))?;

    let mut daemons = Vec::new();
    let started = start_all(&mut daemons, &dir, &config);
    if let Ok(tokens) = &started {
        print_urls(tokens);
        wait_for_stop(&mut daemons, signals, args.run_for);
    }
    let clean = stop_all(&mut daemons);
    started?;
    if clean {
        Ok(())
    } else {
        Err(Error::DemoUnclean)
    }
}

fn start_all(
    daemons: &mut Vec<Daemon>,
    dir: &std::path::Path,
    config: &std::path::Path,
) -> Result<Vec<(String, u16, String)>> {
    let tracker_url = format!("http://127.0.0.1:{TRACKER}");
    start(
        daemons,
        "tracker",
        TRACKER,
        &["--port", &TRACKER.to_string()],
    )?;
    // Flag mode, not session mode: see BACKEND_AUTH_MODE.
    for (i, port) in BACKENDS.iter().enumerate() {
        start(
            daemons,
            &format!("backend{}", i + 1),
            *port,
            &[
                "--port",
                &port.to_string(),
                "--auth-mode",
                BACKEND_AUTH_MODE,
            ],
        )?;
    }
    let config = config.to_string_lossy().into_owned();
    start(
        daemons,
        "proxy",
        PROXY,
        &["--port", &PROXY.to_string(), "--config", &config],
    )?;
    let mut tokens = Vec::new();
    for (name, port) in PEERS {
        let token = format!("{:032x}", rand::random::<u128>());
        let data = dir.join("data").join(name).to_string_lossy().into_owned();
        let port_text = port.to_string();
        let peer_args = [
            "--port",
            &port_text,
            "--name",
            name,
            "--tracker",
            &tracker_url,
            "--channel",
            "general",
            "--data-dir",
            &data,
            "--token",
            &token,
        ];
        start(daemons, name, port, &peer_args)?;
        tokens.push((name.to_owned(), port, token));
    }
    Ok(tokens)
}

/// The proxy config: `localhost:8080` round-robin over the backends, `<peer>.localhost:8080` to
/// each peer, `tracker.localhost:8080` to the tracker.
fn proxy_config() -> String {
    let mut out = String::from(
        "# Generated by `cargo xtask demo`.\n\
         # The backends run --auth-mode flag: a session lives in one backend's memory, so\n\
         # session mode would need a single upstream (or sticky routing) here.\n",
    );
    for host in ["localhost:8080", "127.0.0.1:8080"] {
        out.push_str(&format!("host \"{host}\" {{\n"));
        for port in BACKENDS {
            out.push_str(&format!("    proxy_pass http://127.0.0.1:{port};\n"));
        }
        out.push_str("    dist_policy round-robin\n}\n");
    }
    out.push_str(&format!(
        "host \"tracker.localhost:8080\" {{\n    proxy_pass http://127.0.0.1:{TRACKER};\n}}\n"
    ));
    for (name, port) in PEERS {
        out.push_str(&format!(
            "host \"{name}.localhost:8080\" {{\n    proxy_set_header Host $host;\n    proxy_pass http://127.0.0.1:{port};\n}}\n"
        ));
    }
    out
}

fn start(daemons: &mut Vec<Daemon>, name: &str, port: u16, args: &[&str]) -> Result<()> {
    let program = target_dir().join("release").join(binary_of(name));
    let mut child = Command::new(&program)
        .args(args)
        .current_dir(project_root())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    prefix_lines(name, child.stdout.take());
    prefix_lines(name, child.stderr.take());
    let mut daemon = Daemon {
        name: name.to_owned(),
        child,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            return Err(Error::EarlyExit {
                name: name.to_owned(),
                status,
                log: PathBuf::from("(its lines above)"),
            });
        }
        if Instant::now() >= deadline {
            daemons.push(daemon);
            return Err(Error::PortTimeout {
                name: name.to_owned(),
                port,
                secs: START_TIMEOUT.as_secs(),
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
    daemons.push(daemon);
    Ok(())
}

fn binary_of(name: &str) -> &'static str {
    match name {
        "tracker" => "tracker-bin",
        "proxy" => "proxy-bin",
        n if n.starts_with("backend") => "backend-bin",
        _ => "peer-bin",
    }
}

/// Copies a child's output to ours, a line at a time, prefixed with its name.
fn prefix_lines(name: &str, pipe: Option<impl Read + Send + 'static>) {
    let Some(pipe) = pipe else { return };
    let prefix = format!("{name:>8} │ ");
    thread::spawn(move || {
        for line in BufReader::new(pipe)
            .lines()
            .map_while(std::result::Result::ok)
        {
            println!("{prefix}{line}");
        }
    });
}

fn print_urls(tokens: &[(String, u16, String)]) {
    println!();
    println!("WeApRous demo is up. Ctrl-C stops everything.");
    println!(
        "  Task 1 via the proxy (round-robin over two backends): http://localhost:{PROXY}/login  (admin / password)"
    );
    println!(
        "    the backends run --auth-mode {BACKEND_AUTH_MODE} (the course's rule: the auth=true cookie suffices),"
    );
    println!(
        "    because a session lives in one backend's memory and the proxy takes turns over both"
    );
    println!(
        "  tracker:        http://127.0.0.1:{TRACKER}/get-list   http://tracker.localhost:{PROXY}/status"
    );
    for (name, port, token) in tokens {
        println!("  {name:<6} chat:    http://127.0.0.1:{port}/?token={token}");
        println!("               via proxy: http://{name}.localhost:{PROXY}/?token={token}");
    }
    println!();
}

/// Returns when a signal arrives, `run_for` passes, or a daemon dies on its own.
fn wait_for_stop(daemons: &mut [Daemon], mut signals: Signals, run_for: Option<u64>) {
    let deadline = run_for.map(|secs| Instant::now() + Duration::from_secs(secs));
    loop {
        if signals.pending().next().is_some() {
            println!("stopping…");
            return;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        for daemon in daemons.iter_mut() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                eprintln!(
                    "{} exited on its own ({status}); stopping the rest",
                    daemon.name
                );
                return;
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM to every daemon, newest first, then waits; true when all exited 0.
fn stop_all(daemons: &mut [Daemon]) -> bool {
    for daemon in daemons.iter().rev() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(daemon.child.id().to_string())
            .status();
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut clean = true;
    for daemon in daemons.iter_mut().rev() {
        let status = loop {
            match daemon.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                _ if Instant::now() >= deadline => break None,
                _ => thread::sleep(Duration::from_millis(50)),
            }
        };
        match status {
            Some(status) if status.success() => println!("{} stopped cleanly", daemon.name),
            Some(status) => {
                clean = false;
                println!("{} stopped: {status}", daemon.name);
            }
            None => {
                clean = false;
                let _ = daemon.child.kill();
                let _ = daemon.child.wait();
                println!("{} did not stop in time and was killed", daemon.name);
            }
        }
    }
    clean
}
