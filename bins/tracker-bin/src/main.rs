//! tracker-bin: the WeApRous tracker daemon. Argument parsing only; the wiring lives in the
//! `tracker_daemon` library and the logic in the `tracker` crate.

use clap::Parser;
use daemon::{ListenArgs, init_logging};
use router::auth::Credentials;
use std::process::ExitCode;
use tracker::RegisterRate;
use tracker::rate::{DEFAULT_REGISTER_BURST, DEFAULT_REGISTER_RATE_PER_S};
use tracker_daemon::{Config, DEFAULT_MAX_PEERS, DEFAULT_PORT};

/// Peer tracker: registration, heartbeats, channels and the file index over HTTP.
#[derive(Parser, Debug)]
#[command(version, about, mut_arg("port", |a| a.help(daemon::port_help(DEFAULT_PORT))))]
struct Args {
    #[command(flatten)]
    listen: ListenArgs,
    /// Seconds without a heartbeat before a peer expires (heartbeat interval: a third of it).
    #[arg(long, value_name = "SECONDS", default_value_t = tracker::limits::DEFAULT_TTL_S)]
    ttl: u32,
    /// Most peers held at once; registrations beyond it answer 503.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PEERS)]
    max_peers: usize,
    /// Registrations one source address may make per second, as N/s, or off; beyond it (and
    /// the burst) → 429 with Retry-After. IPv6 addresses count per /64.
    #[arg(long, value_name = "N/s", default_value_t = format!("{DEFAULT_REGISTER_RATE_PER_S}/s"))]
    register_rate: String,
    /// Registrations one source address may make at once before the rate applies.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_REGISTER_BURST)]
    register_burst: u32,
    /// Run the console on stdin even when it is not a terminal (a pipe, a file); the tracker
    /// then stops at the end of the input.
    #[arg(long)]
    console: bool,
    /// An admin allowed to sign in to the dashboard at / (through /login), as NAME:PASSWORD
    /// (repeatable; default admin:password).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// Accept a registered `ip` other than the request's source address (NAT set-ups).
    #[arg(long)]
    allow_advertised_ip: bool,
    /// Read the client's address from X-Forwarded-For on requests from this proxy only.
    #[arg(long, value_name = "ADDR")]
    trusted_proxy: Option<std::net::IpAddr>,
    /// Most live peers one source address may register (loopback is not limited).
    #[arg(long, value_name = "N", default_value_t = tracker::identity::DEFAULT_MAX_PEERS_PER_IP)]
    max_peers_per_ip: usize,
    /// Require the token on every mutating call, even from a peer's own address.
    #[arg(long)]
    require_tokens: bool,
    /// Where peers and channels live: `memory` (this process) or `redis://HOST[:PORT][/DB]`,
    /// shared by every tracker given the same URL (put them behind proxy-bin).
    #[arg(long, value_name = "STORE", default_value = "memory", value_parser = parse_store)]
    store: Store,
    /// Allow browser front-ends on ORIGIN (or any origin with `*`) to call the API
    /// (repeatable; default: same origin only).
    #[arg(long, value_name = "ORIGIN|*")]
    cors: Vec<String>,
}

/// `--store`.
#[derive(Clone, Debug)]
enum Store {
    Memory,
    Redis(redis_client::Url),
}

fn parse_store(arg: &str) -> Result<Store, String> {
    match arg {
        "memory" => Ok(Store::Memory),
        url => redis_client::Url::parse(url).map(Store::Redis),
    }
}

fn admins(users: &[String]) -> Result<Credentials, String> {
    let mut creds = Credentials::new();
    for pair in users {
        let (user, password) = Credentials::parse_pair(pair)
            .ok_or_else(|| format!("--user {pair:?}: expected NAME:PASSWORD"))?;
        creds.add(&user, &password);
    }
    if users.is_empty() {
        creds.add("admin", "password");
    }
    Ok(creds)
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let settings = admins(&args.users).and_then(|admins| {
        if args.register_burst == 0 {
            return Err("--register-burst must be at least 1".to_owned());
        }
        let rate = RegisterRate::parse(&args.register_rate, args.register_burst)
            .map_err(|e| format!("--register-rate {}: {e}", args.register_rate))?;
        Ok((admins, rate))
    });
    let config = match settings {
        Ok((admins, register_rate)) => Config {
            addr: args.listen.addr(DEFAULT_PORT),
            ttl_s: args.ttl,
            max_peers: args.max_peers,
            register_rate,
            admins,
            force_console: args.console,
            identity: tracker::identity::Rules {
                allow_advertised_ip: args.allow_advertised_ip,
                max_peers_per_ip: args.max_peers_per_ip,
                require_tokens: args.require_tokens,
                trusted_proxy: args.trusted_proxy,
            },
            store: match &args.store {
                Store::Memory => None,
                Store::Redis(url) => Some(url.clone()),
            },
            http: tracker::server::HttpOptions {
                limits: args.listen.limits(),
                cors: args.cors.clone(),
            },
        },
        Err(e) => return daemon::usage_error("tracker-bin", e),
    };
    if let Err(e) = tracker_daemon::registry_config(&config) {
        return daemon::usage_error("tracker-bin", e);
    }
    let result = tracker_daemon::run(&config);
    daemon::exit(&format!("tracker-bin: {}", config.addr), result)
}
