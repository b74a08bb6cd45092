//! Command-line pieces every daemon shares: where to listen (with the course's aliases) and
//! logging set-up.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// `--host`/`--port`, also spelled `--server-ip`/`--server-port` as in the course.
#[derive(Clone, Debug, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on.
    #[arg(long, alias = "server-ip", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on (the daemon's default when omitted).
    #[arg(long, alias = "server-port")]
    pub port: Option<u16>,
}

impl ListenArgs {
    /// The socket address to bind, with `default_port` when `--port` is absent.
    pub fn addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.host, self.port.unwrap_or(default_port))
    }
}

/// Logs through env_logger: `RUST_LOG` when set, else `info` (one line per request).
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .try_init();
}
