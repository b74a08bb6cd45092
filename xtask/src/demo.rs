//! `cargo xtask demo`: the whole stack on this machine — tracker, two backends, the proxy with a
//! generated config, and three chat peers.
//!
//! Every port is checked free before anything is built or started, so a clash is one clear
//! line instead of a half-started demo. Each daemon's log goes to `target/demo/logs/NAME.log`
//! (`--follow` also prints the lines here, prefixed with the name), so the banner with the URLs
//! stays on screen; it is also written to `target/demo/urls.txt`. The peers' tokens reach them
//! through the environment, not the command line, so `ps` does not show them. The demo says it
//! is up only once every port answers and every peer accepts its token. Ctrl-C (or `--for SECS`)
//! stops them all with SIGTERM and reports how each exited.
//!
//! `--scale` runs the shared-store set-up instead: a redis-server, two trackers sharing their
//! state in it (the proxy's tracker host takes turns over both; the peers register on either),
//! and the two backends in session mode with their sessions in it, so a login holds behind the
//! proxy's round-robin.

use crate::bench::probe;
use crate::error::{Error, Result};
use crate::process::{cargo, project_root, run as run_command, target_dir};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How the backends guard `/`. The proxy takes turns over both backends, and a session lives in
/// the memory of the process that created it: in `session` mode a login on one backend followed
/// by `GET /` on the other is a 401. `flag` is the course's literal rule (the `auth=true`
/// cookie suffices), which is what the course's proxy demo relies on; it holds on either backend.
const BACKEND_AUTH_MODE: &str = "flag";
/// The peers, in port order after the tracker, backends and proxy.
const PEER_NAMES: [&str; 3] = ["alice", "bob", "carol"];
/// The environment variable through which peer-bin takes its token (its `--token`).
pub const TOKEN_ENV: &str = "WEAPROUS_TOKEN";
/// How long a daemon may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to exit after SIGTERM (its own grace is 5 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(8);

/// Options of `cargo xtask demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Ports: by default the daemons' own (tracker 8000, backends 9000 and 9001, proxy \
8080, peers 5001-5003). With --base-port N: tracker N, backends N+1 and N+2, proxy N+3, peers \
N+4 to N+6.\n\nThe two backends run --auth-mode flag (the course's rule: the auth=true cookie \
suffices). The proxy takes turns over them and a session lives in one backend's memory, so \
session mode would refuse a login made on the other backend."
)]
pub struct DemoArgs {
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long = "for", value_name = "SECS")]
    pub run_for: Option<u64>,
    /// Use seven consecutive ports from this one instead of the daemons' defaults.
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,
    /// Also print every daemon's log lines here, prefixed with its name.
    #[arg(long)]
    pub follow: bool,
    /// Make the demo reachable from other machines: every daemon listens on 0.0.0.0 and the
    /// peers advertise this address (this machine's, as other hosts reach it) to the tracker,
    /// so peers started elsewhere with `--tracker http://HOST:PORT` join the same mesh.
    #[arg(long, value_name = "HOST")]
    pub advertise: Option<String>,
    /// Beyond one machine's memory: a redis-server (port 6379, or base + 7), a second tracker
    /// (8001, or base + 8) sharing the first one's state there, and session-mode backends with
    /// their sessions there.
    #[arg(long)]
    pub scale: bool,
}

/// The ports of one demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    tracker: u16,
    backends: [u16; 2],
    proxy: u16,
    peers: [u16; 3],
    /// `--scale`: the redis-server's port and the second tracker's.
    scale: Option<Scale>,
}

/// The extra ports of `--scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    redis: u16,
    tracker2: u16,
}

impl Ports {
    /// The daemons' defaults (SPEC §1, so the course's URLs work), or seven from `base`.
    pub fn new(base: Option<u16>) -> Result<Ports> {
        let Some(base) = base else {
            return Ok(Ports {
                tracker: 8000,
                backends: [9000, 9001],
                proxy: 8080,
                peers: [5001, 5002, 5003],
                scale: None,
            });
        };
        let at = |i: u16| {
            base.checked_add(i)
                .filter(|_| base != 0)
                .ok_or(Error::BasePort(base))
        };
        Ok(Ports {
            tracker: at(0)?,
            backends: [at(1)?, at(2)?],
            proxy: at(3)?,
            peers: [at(4)?, at(5)?, at(6)?],
            scale: None,
        })
    }

    /// [`Ports::new`] plus the ports of `--scale`: Redis's and the second tracker's.
    pub fn scaled(base: Option<u16>) -> Result<Ports> {
        let ports = Ports::new(base)?;
        let scale = match base {
            None => Scale {
                redis: 6379,
                tracker2: 8001,
            },
            Some(base) => {
                let at = |i: u16| base.checked_add(i).ok_or(Error::BasePort(base));
                Scale {
                    redis: at(7)?,
                    tracker2: at(8)?,
                }
            }
        };
        Ok(Ports {
            scale: Some(scale),
            ..ports
        })
    }

    /// The URL of the scaled set-up's Redis, database `db`.
    fn redis_url(&self, db: u32) -> Option<String> {
        self.scale
            .map(|s| format!("redis://127.0.0.1:{}/{db}", s.redis))
    }

    /// Every daemon's name and port, in start order.
    pub fn all(&self) -> Vec<(String, u16)> {
        let mut all = Vec::new();
        if let Some(scale) = self.scale {
            all.push(("redis".to_owned(), scale.redis));
        }
        all.push(("tracker".to_owned(), self.tracker));
        if let Some(scale) = self.scale {
            all.push(("tracker2".to_owned(), scale.tracker2));
        }
        for (i, port) in self.backends.iter().enumerate() {
            all.push((format!("backend{}", i + 1), *port));
        }
        all.push(("proxy".to_owned(), self.proxy));
        for (name, port) in PEER_NAMES.iter().zip(self.peers) {
            all.push(((*name).to_owned(), port));
        }
        all
    }
}

/// The daemons whose port on 127.0.0.1 cannot be bound now.
pub fn taken(ports: &Ports) -> Vec<(String, u16)> {
    ports
        .all()
        .into_iter()
        .filter(|(_, port)| TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_err())
        .collect()
}

/// One running daemon.
struct Daemon {
    name: String,
    child: Child,
}

/// A peer the user can open.
struct PeerUrl {
    name: &'static str,
    port: u16,
    token: String,
}

/// Checks the ports, builds the daemons, starts the stack, waits for Ctrl-C, stops everything.
pub fn run(args: &DemoArgs) -> Result<()> {
    let ports = if args.scale {
        Ports::scaled(args.base_port)?
    } else {
        Ports::new(args.base_port)?
    };
    let busy = taken(&ports);
    if !busy.is_empty() {
        return Err(Error::PortsTaken(busy));
    }
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
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).map_err(Error::io("create directory", &logs))?;
    let config = dir.join("proxy.conf");
    fs::write(&config, proxy_config(&ports)).map_err(Error::io("write", &config))?;
    let signals = Signals::new([SIGINT, SIGTERM])
        .map_err(Error::io("install signal handlers for", "demo"))?;

    let mut stack = Stack {
        daemons: Vec::new(),
        logs,
        follow: args.follow,
        host: if args.advertise.is_some() {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        },
    };
    let started = start_all(&mut stack, &ports, &dir, &config, args.advertise.as_deref());
    if let Ok(peers) = &started {
        let banner = banner(&ports, peers, &stack.logs, args.follow);
        print!("{banner}");
        let urls = dir.join("urls.txt");
        fs::write(&urls, &banner).map_err(Error::io("write", &urls))?;
        wait_for_stop(&mut stack.daemons, signals, args.run_for);
    }
    let clean = stop_all(&mut stack.daemons);
    started?;
    if clean {
        Ok(())
    } else {
        Err(Error::DemoUnclean)
    }
}

/// The daemons started so far and where their logs go.
struct Stack {
    daemons: Vec<Daemon>,
    logs: PathBuf,
    follow: bool,
    /// Where every daemon listens.
    host: &'static str,
}

fn start_all(
    stack: &mut Stack,
    ports: &Ports,
    dir: &Path,
    config: &Path,
    advertise: Option<&str>,
) -> Result<Vec<PeerUrl>> {
    // Scaled: trackers share database 1, sessions live in database 0.
    let (tracker_store, sessions) = (ports.redis_url(1), ports.redis_url(0));
    if let Some(scale) = ports.scale {
        stack.start_redis(scale.redis, dir)?;
    }
    let store_args: Vec<&str> = match &tracker_store {
        Some(url) => vec!["--store", url],
        None => Vec::new(),
    };
    stack.start("tracker", ports.tracker, &store_args, &[])?;
    if let Some(scale) = ports.scale {
        stack.start("tracker2", scale.tracker2, &store_args, &[])?;
    }
    // Flag mode unless sessions are shared: see BACKEND_AUTH_MODE.
    let backend_args: Vec<&str> = match &sessions {
        Some(url) => vec!["--auth-mode", "session", "--sessions", url],
        None => vec!["--auth-mode", BACKEND_AUTH_MODE],
    };
    for (i, port) in ports.backends.iter().enumerate() {
        let name = format!("backend{}", i + 1);
        stack.start(&name, *port, &backend_args, &[])?;
    }
    let config = config.to_string_lossy().into_owned();
    stack.start("proxy", ports.proxy, &["--config", &config], &[])?;
    let mut peers = Vec::new();
    for (i, (name, port)) in PEER_NAMES.into_iter().zip(ports.peers).enumerate() {
        // Scaled, bob registers on the second tracker and still meets the others.
        let tracker = match ports.scale {
            Some(scale) if i == 1 => scale.tracker2,
            _ => ports.tracker,
        };
        let tracker_url = format!("http://127.0.0.1:{tracker}");
        let token = format!("{:032x}", rand::random::<u128>());
        let data = dir.join("data").join(name).to_string_lossy().into_owned();
        let mut args = vec![
            "--name",
            name,
            "--tracker",
            &tracker_url,
            "--channel",
            "general",
            "--data-dir",
            &data,
        ];
        if let Some(host) = advertise {
            args.extend(["--advertise", host]);
        }
        stack.start(name, port, &args, &[(TOKEN_ENV, &token)])?;
        peers.push(PeerUrl { name, port, token });
    }
    // Up means usable: each peer opens its UI for its own token.
    for peer in &peers {
        let answer = probe(peer.port, &format!("/?token={}", peer.token))?;
        if answer.status >= 400 {
            return Err(Error::BadAnswer {
                name: peer.name.to_owned(),
                url: format!("http://127.0.0.1:{}/?token=…", peer.port),
                detail: format!("status {} for its own token", answer.status),
            });
        }
    }
    Ok(peers)
}

impl Stack {
    /// Starts daemon `name` on `port` (plus `args`, and `env`), its output to its log file.
    fn start(&mut self, name: &str, port: u16, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
        let program = target_dir().join("release").join(binary_of(name));
        let mut command = Command::new(&program);
        command
            .args(["--host", self.host, "--port", &port.to_string()])
            .args(args);
        self.launch(name, port, command, &program, env)
    }

    /// Starts redis-server on `port`, keeping nothing on disk (the demo's state is throwaway).
    fn start_redis(&mut self, port: u16, dir: &Path) -> Result<()> {
        let program = PathBuf::from("redis-server");
        let mut command = Command::new(&program);
        command
            .args(["--bind", self.host, "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir);
        self.launch("redis", port, command, &program, &[])
    }

    /// Runs `command` as daemon `name`, its output to its log file, and waits for `port`.
    fn launch(
        &mut self,
        name: &str,
        port: u16,
        mut command: Command,
        program: &Path,
        env: &[(&str, &str)],
    ) -> Result<()> {
        let log_path = self.logs.join(format!("{name}.log"));
        let log = File::create(&log_path).map_err(Error::io("create", &log_path))?;
        command
            .current_dir(project_root())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        let prefix = self.follow.then(|| format!("{name:>8} │ "));
        copy_lines(child.stdout.take(), &log, prefix.clone(), &log_path)?;
        copy_lines(child.stderr.take(), &log, prefix, &log_path)?;
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
                    log: log_path,
                });
            }
            if Instant::now() >= deadline {
                self.daemons.push(daemon);
                return Err(Error::PortTimeout {
                    name: name.to_owned(),
                    port,
                    secs: START_TIMEOUT.as_secs(),
                });
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.daemons.push(daemon);
        Ok(())
    }
}

/// The proxy config: `localhost:PROXY` round-robin over the backends, `<peer>.localhost:PROXY`
/// to each peer, `tracker.localhost:PROXY` to the tracker.
fn proxy_config(ports: &Ports) -> String {
    let proxy = ports.proxy;
    let mut out = String::from(
        "# Generated by `cargo xtask demo`.\n\
         # The backends run --auth-mode flag: a session lives in one backend's memory, so\n\
         # session mode would need a single upstream (or sticky routing) here.\n",
    );
    for host in [format!("localhost:{proxy}"), format!("127.0.0.1:{proxy}")] {
        out.push_str(&format!("host \"{host}\" {{\n"));
        for port in ports.backends {
            out.push_str(&format!("    proxy_pass http://127.0.0.1:{port};\n"));
        }
        out.push_str("    dist_policy round-robin\n}\n");
    }
    out.push_str(&format!(
        "host \"tracker.localhost:{proxy}\" {{\n    proxy_pass http://127.0.0.1:{};\n",
        ports.tracker
    ));
    if let Some(scale) = ports.scale {
        out.push_str(&format!(
            "    proxy_pass http://127.0.0.1:{};\n    dist_policy round-robin\n",
            scale.tracker2
        ));
    }
    out.push_str("}\n");
    for (name, port) in PEER_NAMES.iter().zip(ports.peers) {
        out.push_str(&format!(
            "host \"{name}.localhost:{proxy}\" {{\n    proxy_set_header Host $host;\n    proxy_pass http://127.0.0.1:{port};\n}}\n"
        ));
    }
    out
}

fn binary_of(name: &str) -> &'static str {
    match name {
        n if n.starts_with("tracker") => "tracker-bin",
        "proxy" => "proxy-bin",
        n if n.starts_with("backend") => "backend-bin",
        _ => "peer-bin",
    }
}

/// Copies a child's output into its log file, a line at a time, and with a prefix to our
/// stdout too when following.
fn copy_lines(
    pipe: Option<impl Read + Send + 'static>,
    log: &File,
    prefix: Option<String>,
    log_path: &Path,
) -> Result<()> {
    let Some(pipe) = pipe else { return Ok(()) };
    let mut log = log.try_clone().map_err(Error::io("reopen", log_path))?;
    thread::spawn(move || {
        for line in BufReader::new(pipe)
            .lines()
            .map_while(std::result::Result::ok)
        {
            // A full disk must not stop the daemon: its pipe keeps being drained.
            let _ = writeln!(log, "{line}");
            if let Some(prefix) = &prefix {
                println!("{prefix}{line}");
            }
        }
    });
    Ok(())
}

/// What the user needs: the URLs (with the peers' tokens) and where the logs are.
fn banner(ports: &Ports, peers: &[PeerUrl], logs: &Path, follow: bool) -> String {
    let proxy = ports.proxy;
    let mut out = String::new();
    out.push_str("\nWeApRous demo is up. Ctrl-C stops everything.\n");
    out.push_str(&format!(
        "  Task 1 via the proxy (round-robin over two backends): http://localhost:{proxy}/login  (admin / password)\n"
    ));
    match ports.scale {
        None => {
            out.push_str(&format!(
                "    the backends run --auth-mode {BACKEND_AUTH_MODE} (the course's rule: the auth=true cookie suffices),\n"
            ));
            out.push_str(
                "    because a session lives in one backend's memory and the proxy takes turns over both\n",
            );
        }
        Some(scale) => {
            out.push_str(&format!(
                "    the backends run session mode with their sessions in redis://127.0.0.1:{}/0\n",
                scale.redis
            ));
            out.push_str(&format!(
                "  tracker 2:      http://127.0.0.1:{}/get-list   (both trackers share redis://127.0.0.1:{}/1; bob registers here)\n",
                scale.tracker2, scale.redis
            ));
        }
    }
    out.push_str(&format!(
        "  tracker:        http://127.0.0.1:{}/get-list   http://tracker.localhost:{proxy}/status\n",
        ports.tracker
    ));
    for peer in peers {
        out.push_str(&format!(
            "  {:<6} chat:    http://127.0.0.1:{}/?token={}\n",
            peer.name, peer.port, peer.token
        ));
        out.push_str(&format!(
            "               via proxy: http://{}.localhost:{proxy}/?token={}\n",
            peer.name, peer.token
        ));
    }
    if follow {
        out.push_str(&format!("  logs: below, and in {}\n\n", logs.display()));
    } else {
        out.push_str(&format!(
            "  logs: {}/NAME.log (or run with --follow to see them here)\n\n",
            logs.display()
        ));
    }
    out
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

/// SIGTERM to every daemon still running, newest first, then waits; true when all exited 0.
fn stop_all(daemons: &mut [Daemon]) -> bool {
    for daemon in daemons.iter_mut().rev() {
        if matches!(daemon.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(daemon.child.id().to_string())
                .stderr(Stdio::null())
                .status();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_are_the_daemons_own() {
        let ports = Ports::new(None).unwrap();
        let all: Vec<u16> = ports.all().into_iter().map(|(_, p)| p).collect();
        assert_eq!(all, [8000, 9000, 9001, 8080, 5001, 5002, 5003]);
    }

    #[test]
    fn base_port_gives_seven_in_a_row_and_refuses_overflow() {
        let ports = Ports::new(Some(20000)).unwrap();
        let all: Vec<(String, u16)> = ports.all();
        assert_eq!(all[0], ("tracker".to_owned(), 20000));
        assert_eq!(all[6], ("carol".to_owned(), 20006));
        assert!(matches!(
            Ports::new(Some(65533)),
            Err(Error::BasePort(65533))
        ));
        assert!(matches!(Ports::new(Some(0)), Err(Error::BasePort(0))));
    }

    #[test]
    fn scale_adds_redis_and_a_second_tracker() {
        let ports = Ports::scaled(Some(20000)).unwrap();
        let names: Vec<String> = ports.all().into_iter().map(|(n, _)| n).collect();
        assert_eq!(&names[..3], ["redis", "tracker", "tracker2"]);
        assert_eq!(ports.redis_url(1).unwrap(), "redis://127.0.0.1:20007/1");
        let conf = proxy_config(&ports);
        assert!(conf.contains("proxy_pass http://127.0.0.1:20008;\n    dist_policy round-robin"));
        assert_eq!(
            Ports::scaled(None).unwrap().redis_url(0).unwrap(),
            "redis://127.0.0.1:6379/0"
        );
    }

    #[test]
    fn a_port_in_use_is_named_with_its_daemon() {
        let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let held = holder.local_addr().unwrap().port();
        // Base so that the proxy (base + 3) lands on the held port (ephemeral ports are high).
        let ports = Ports::new(Some(held - 3)).unwrap();
        let busy = taken(&ports);
        assert!(busy.contains(&("proxy".to_owned(), held)), "{busy:?}");
        let message = Error::PortsTaken(busy).to_string();
        assert!(message.contains(&format!("{held} (proxy)")), "{message}");
        assert!(message.contains("--base-port"), "{message}");
    }

    #[test]
    fn proxy_config_routes_the_chosen_ports() {
        let ports = Ports::new(Some(30000)).unwrap();
        let config = proxy_config(&ports);
        assert!(config.contains("host \"localhost:30003\""), "{config}");
        assert!(
            config.contains("proxy_pass http://127.0.0.1:30001;"),
            "{config}"
        );
        assert!(config.contains("host \"bob.localhost:30003\""), "{config}");
        assert!(
            config.contains("proxy_pass http://127.0.0.1:30005;"),
            "{config}"
        );
    }
}
