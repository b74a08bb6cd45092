//! proxy-bin's wiring: command-line arguments, loading the config, and starting the proxy.
//! The proxy itself lives in the `proxy` crate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use daemon::{EXIT_USAGE, ListenArgs};
use proxy::{Config, ConfigError, ProxyError};

/// Default port of proxy-bin (SPEC §1).
pub const DEFAULT_PORT: u16 = 8080;
/// Default config file, relative to the working directory.
pub const DEFAULT_CONFIG: &str = "configs/proxy.conf";

/// Reverse proxy: routes each request by its Host to the upstreams of configs/proxy.conf.
#[derive(Debug, clap::Parser)]
#[command(name = "proxy-bin", version, about, mut_arg("port", |a| a.help(daemon::port_help(DEFAULT_PORT))))]
pub struct Args {
    /// The proxy.conf to load (the course's format).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)] // clap documents the flattened arguments itself.
    pub listen: ListenArgs,
}

impl Args {
    /// Where to listen: `--host` (default 127.0.0.1) and `--port` (default [`DEFAULT_PORT`]).
    pub fn addr(&self) -> SocketAddr {
        self.listen.addr(DEFAULT_PORT)
    }
}

/// Why proxy-bin stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config was unreadable or invalid (exit code 2).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The proxy could not start on its address, or failed while running.
    #[error("proxy on {addr}: {source}")]
    Proxy {
        /// The address it was to listen on.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: ProxyError,
    },
}

impl StartError {
    /// The process exit code: 2 for a bad config (like a usage error), 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StartError::Config(_) => ExitCode::from(EXIT_USAGE),
            StartError::Proxy { .. } => ExitCode::FAILURE,
        }
    }
}

/// Loads the config and runs the proxy until SIGINT/SIGTERM.
pub fn run(args: &Args) -> Result<(), StartError> {
    let config = Config::load(&args.config)?;
    log::info!(
        "loaded {} host blocks from {}",
        config.hosts.len(),
        args.config.display()
    );
    let addr = args.addr();
    proxy::run(config, addr, args.listen.limits())
        .map_err(|source| StartError::Proxy { addr, source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn check(argv: &[&str], config: &str, addr: &str) {
        let args = Args::try_parse_from(std::iter::once("proxy-bin").chain(argv.iter().copied()))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        assert_eq!(args.config, PathBuf::from(config), "{argv:?}");
        assert_eq!(args.addr(), addr.parse::<SocketAddr>().unwrap(), "{argv:?}");
    }

    #[test]
    fn defaults_are_the_shipped_config_on_8080() {
        check(&[], "configs/proxy.conf", "127.0.0.1:8080");
    }

    #[test]
    fn flags_and_the_course_aliases_override_them() {
        check(
            &["--config", "demo.conf", "--port", "9090"],
            "demo.conf",
            "127.0.0.1:9090",
        );
        check(
            &["--server-ip", "0.0.0.0", "--server-port", "8081"],
            "configs/proxy.conf",
            "0.0.0.0:8081",
        );
    }
}
