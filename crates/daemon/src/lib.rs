//! What every WeApRous daemon shares at its edge: where to listen (with the course's aliases),
//! logging set-up, and how a run ends as a process exit code.
//!
//! The daemons' libraries know nothing of command lines; their `main.rs` parses flags with clap,
//! flattens [`ListenArgs`] in, calls [`init_logging`], and ends with [`exit`].

use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// Exit status for a bad command line or configuration (clap uses the same for its errors).
pub const EXIT_USAGE: u8 = 2;

/// `--host`/`--port`, also spelled `--server-ip`/`--server-port` as in the course.
#[derive(Clone, Debug, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on.
    #[arg(long, visible_alias = "server-ip", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on (the daemon's default when omitted; each daemon's `--help` states it
    /// through [`port_help`]).
    #[arg(long, visible_alias = "server-port")]
    pub port: Option<u16>,
    /// Seconds an idle keep-alive connection is kept open (nginx's `keepalive_timeout`); 0
    /// disables keep-alive: every answer closes its connection, as the course's skeleton proxy,
    /// which reads until close, needs.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_KEEPALIVE_TIMEOUT_S)]
    pub keepalive_timeout: u64,
}

/// `--sendfile`, for the daemons that send files (backend-bin's static site, peer-bin's
/// file-sharing chunks): flatten it beside [`ListenArgs`] and pass the limits through
/// [`FileArgs::apply`].
#[derive(Clone, Debug, clap::Args)]
pub struct FileArgs {
    /// Send files with sendfile(2) (nginx's `sendfile`, off by default there too): zero-copy,
    /// which spares the server's CPU behind a real network card; off, files are read with pread
    /// through a small reused buffer, measured faster over loopback.
    #[arg(long)]
    pub sendfile: bool,
}

impl FileArgs {
    /// `limits` with `--sendfile` applied.
    pub fn apply(&self, limits: http_core::Limits) -> http_core::Limits {
        http_core::Limits {
            sendfile: self.sendfile,
            ..limits
        }
    }
}

/// Default of `--keepalive-timeout`, in seconds (nginx's default too).
pub const DEFAULT_KEEPALIVE_TIMEOUT_S: u64 = 60;

impl ListenArgs {
    /// The socket address to bind, with `default_port` when `--port` is absent.
    pub fn addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.host, self.port.unwrap_or(default_port))
    }

    /// The HTTP limits of a daemon's server: the defaults, with `--keepalive-timeout` as the
    /// idle timeout (zero turns keep-alive off).
    pub fn limits(&self) -> http_core::Limits {
        http_core::Limits {
            idle_timeout: Duration::from_secs(self.keepalive_timeout),
            ..http_core::Limits::default()
        }
    }
}

/// The `--port` help line stating a daemon's default, for its command:
/// `#[command(mut_arg("port", |a| a.help(daemon::port_help(DEFAULT_PORT))))]`.
pub fn port_help(default: u16) -> String {
    format!("Port to listen on [default: {default}]")
}

/// Logs through env_logger: `RUST_LOG` when set, else `info` (one line per request).
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    // A second call (tests starting several daemons in one process) keeps the first logger.
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .try_init();
}

/// Prints `NAME: ERROR` on stderr and answers [`EXIT_USAGE`]: for a configuration the daemon
/// refuses before it starts.
pub fn usage_error(name: &str, error: impl Display) -> ExitCode {
    eprintln!("{name}: {error}");
    ExitCode::from(EXIT_USAGE)
}

/// How a daemon's run ends: success, or one `NAME: ERROR` line on stderr and a failure status.
///
/// ```
/// let ok: Result<(), std::io::Error> = Ok(());
/// assert_eq!(daemon::exit("demo", ok), std::process::ExitCode::SUCCESS);
/// ```
pub fn exit<E: Display>(name: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        listen: ListenArgs,
        #[command(flatten)]
        files: FileArgs,
    }

    fn check(args: &[&str], expected: &str) {
        let cli = Cli::try_parse_from(std::iter::once("d").chain(args.iter().copied())).unwrap();
        assert_eq!(cli.listen.addr(8080).to_string(), expected, "{args:?}");
    }

    #[test]
    fn listen_flags_and_their_course_aliases() {
        check(&[], "127.0.0.1:8080");
        check(&["--host", "0.0.0.0", "--port", "9000"], "0.0.0.0:9000");
        check(
            &["--server-ip", "10.0.0.1", "--server-port", "1"],
            "10.0.0.1:1",
        );
        check(&["--port", "0"], "127.0.0.1:0");
    }

    #[test]
    fn keepalive_timeout_sets_the_idle_timeout() {
        let parse = |args: &[&str]| {
            let argv = std::iter::once("d").chain(args.iter().copied());
            Cli::try_parse_from(argv)
                .unwrap()
                .listen
                .limits()
                .idle_timeout
        };
        assert_eq!(parse(&[]), Duration::from_secs(60));
        assert_eq!(parse(&["--keepalive-timeout", "0"]), Duration::ZERO);
        assert_eq!(parse(&["--keepalive-timeout", "5"]), Duration::from_secs(5));
    }

    #[test]
    fn sendfile_is_off_unless_asked_for_and_keeps_the_other_limits() {
        let parse = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(std::iter::once("d").chain(args.iter().copied())).unwrap();
            cli.files.apply(cli.listen.limits())
        };
        assert!(!parse(&[]).sendfile);
        let limits = parse(&["--sendfile", "--keepalive-timeout", "5"]);
        assert!(limits.sendfile);
        assert_eq!(limits.idle_timeout, Duration::from_secs(5));
    }

    #[test]
    fn exit_maps_an_error_to_failure() {
        assert_eq!(exit("demo", Err("boom")), ExitCode::FAILURE);
        assert_eq!(usage_error("demo", "bad"), ExitCode::from(EXIT_USAGE));
    }
}
