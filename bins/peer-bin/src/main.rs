//! peer-bin: one WeApRous chat peer. Argument parsing and wiring only; the peer lives in the
//! `p2p` crate and the console in the `peer` library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use daemon::{FileArgs, ListenArgs, init_logging};
use peer::{DEFAULT_CHANNEL, DEFAULT_PORT, DEFAULT_TRACKER};

/// A chat peer: discovery through the tracker, messages directly between peers.
#[derive(Parser, Debug)]
#[command(version, about, mut_arg("port", |a| a.help(daemon::port_help(DEFAULT_PORT))))]
struct Args {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    files: FileArgs,
    /// Display name (default: the peer id).
    #[arg(long, default_value = "", hide_default_value = true)]
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
    /// A user who may sign in to the web UI with a username and password, as NAME:PASSWORD
    /// (repeatable; default none: the printed link's token only).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// The web UI's directory (default static/chat).
    #[arg(long, value_name = "DIR")]
    static_root: Option<PathBuf>,
    /// When messages.jsonl reaches the disk: after every message (always), within a second
    /// (batch), or when the OS decides (never). A process crash loses no acknowledged message
    /// in any mode; a power cut loses none with always, at most the last second with batch.
    #[arg(long, value_name = "WHEN", default_value = "batch")]
    fsync: p2p::store::Fsync,
    /// The address other peers reach this one by, as HOST or HOST:PORT (default: the bound
    /// address, or with --host 0.0.0.0 the address the tracker sees us come from). It names the
    /// peer and is what the tracker lists: use it behind a NAT or a forwarded port.
    #[arg(long, value_name = "HOST[:PORT]", value_parser = peer::parse_advertise)]
    advertise: Option<p2p::Advertise>,
    /// Read console commands from stdin even when it is not a terminal (a pipe, a file); the
    /// peer then stops at the end of the input. Without it the console runs on a terminal only
    /// and the peer outlives Ctrl-D.
    #[arg(long)]
    console: bool,
    /// Bytes per chunk of the files this peer publishes.
    #[arg(long, default_value_t = p2p_chunk_size())]
    chunk_size: u64,
    /// Bytes per second this peer serves to others at most (0: no limit).
    #[arg(long, default_value_t = 0)]
    upload_limit: u64,
}

fn p2p_chunk_size() -> u64 {
    p2p::files::DEFAULT_CHUNK_SIZE
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
    let mut users = router::auth::Credentials::new();
    for pair in &args.users {
        match router::auth::Credentials::parse_pair(pair) {
            Some((user, password)) => users.add(&user, &password),
            None => {
                let why = format!("--user {pair:?}: expected NAME:PASSWORD");
                return daemon::usage_error("peer-bin", why);
            }
        }
    }
    if let Some(root) = &args.static_root
        && !root.is_dir()
    {
        let why = format!("--static-root {}: no such directory", root.display());
        return daemon::usage_error("peer-bin", why);
    }
    let addr = args.listen.addr(DEFAULT_PORT);
    let config = p2p::Config {
        addr,
        name: args.name.clone(),
        tracker: Some(tracker),
        channels,
        data_dir: args.data_dir.clone(),
        token: args.token.clone(),
        users,
        static_root: Some(
            args.static_root
                .clone()
                .unwrap_or_else(peer::default_static_root),
        ),
        peer_id: None,
        advertise: args.advertise,
        wall_clock: p2p::WallClock::default(),
        fsync: args.fsync,
        limits: args.files.apply(args.listen.limits()),
    };
    let (event_loop, started) = match peer::prepare(config) {
        Ok(pair) => pair,
        // The error names the address or the path itself.
        Err(e) => return daemon::exit("peer-bin", Err(e)),
    };
    let node = started.node;
    node.files().set_default_chunk_size(args.chunk_size);
    node.files().set_upload_limit(args.upload_limit);
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
    let terminal = std::io::stdin().is_terminal();
    if args.console || terminal {
        let console_node = node.clone();
        let at_end = if args.console {
            peer::console::AtEnd::Quit
        } else {
            peer::console::AtEnd::KeepRunning
        };
        // The console blocks on stdin, so it has its own thread; the process ends with the loop.
        let spawned = std::thread::Builder::new()
            .name("console".to_string())
            .spawn(move || {
                let (input, output) = (std::io::stdin().lock(), std::io::stdout());
                peer::console::run(&console_node, input, output, at_end, terminal)
            });
        if let Err(e) = spawned {
            eprintln!("peer-bin: console: {e}");
        }
    }
    daemon::exit("peer-bin", peer::run(event_loop))
}
