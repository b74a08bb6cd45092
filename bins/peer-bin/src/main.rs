//! peer-bin: one WeApRous chat peer. Argument parsing and wiring only; the peer lives in the
//! `p2p` crate and the console in the `peer` library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use daemon::{ListenArgs, init_logging};
use peer::{DEFAULT_CHANNEL, DEFAULT_PORT, DEFAULT_TRACKER};

/// A chat peer: discovery through the tracker, messages directly between peers.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    listen: ListenArgs,
    /// Display name (default: the peer id).
    #[arg(long, default_value = "")]
    name: String,
    /// The tracker's URL.
    #[arg(long, default_value = DEFAULT_TRACKER)]
    tracker: String,
    /// A channel to join, as NAME or NAME:KEY (repeatable; default general).
    #[arg(long = "channel", value_name = "NAME[:KEY]")]
    channels: Vec<String>,
    /// Where messages.jsonl lives (default `data/<peer id with : replaced>`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The local user's token (default: random, printed at start). Prefer the environment
    /// variable to the flag: other users of the machine can read a command line in `ps`.
    #[arg(long, env = "WEAPROUS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The web UI's directory (default static/chat).
    #[arg(long, value_name = "DIR")]
    static_root: Option<PathBuf>,
    /// When messages.jsonl reaches the disk: after every message (always), within a second
    /// (batch), or when the OS decides (never). A process crash loses no acknowledged message
    /// in any mode; a power cut loses none with always, at most the last second with batch.
    #[arg(long, value_name = "WHEN", default_value = "batch")]
    fsync: p2p::store::Fsync,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let tracker = match peer::parse_tracker(&args.tracker) {
        Ok(addr) => addr,
        Err(e) => return daemon::usage_error("peer-bin", e),
    };
    let mut channels: Vec<_> = args
        .channels
        .iter()
        .map(|c| peer::parse_channel(c))
        .collect();
    if channels.is_empty() {
        channels.push((DEFAULT_CHANNEL.to_string(), None));
    }
    let addr = args.listen.addr(DEFAULT_PORT);
    let config = p2p::Config {
        addr,
        name: args.name.clone(),
        tracker: Some(tracker),
        channels,
        data_dir: args.data_dir.clone(),
        token: args.token.clone(),
        static_root: Some(
            args.static_root
                .clone()
                .unwrap_or_else(peer::default_static_root),
        ),
        peer_id: None,
        wall_clock: p2p::WallClock::default(),
        fsync: args.fsync,
    };
    let (event_loop, started) = match peer::prepare(config) {
        Ok(pair) => pair,
        Err(e) => return daemon::exit(&format!("peer-bin: {addr}"), Err(e)),
    };
    let node = started.node;
    let host = match node.addr().ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        ip => ip.to_string(),
    };
    println!(
        "peer {} ({}) — open http://{host}:{}/?token={}",
        node.peer_id(),
        node.name(),
        node.addr().port(),
        started.token
    );
    if std::io::stdin().is_terminal() {
        let console_node = node.clone();
        // The console blocks on stdin, so it has its own thread; the process ends with the loop.
        let spawned = std::thread::Builder::new()
            .name("console".to_string())
            .spawn(move || {
                peer::console::run(&console_node, std::io::stdin().lock(), std::io::stdout())
            });
        if let Err(e) = spawned {
            eprintln!("peer-bin: console: {e}");
        }
    }
    daemon::exit("peer-bin", peer::run(event_loop))
}
