//! The one error type of xtask: every failure ends as a single line for the user.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can stop an xtask command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system or socket operation failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What we were doing, as a verb phrase ("write", "create directory").
        action: &'static str,
        /// The path or address involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A program could not be started at all.
    #[error("could not start `{program}`")]
    Spawn {
        /// The program name.
        program: String,
        /// Why exec failed.
        #[source]
        source: io::Error,
    },
    /// A program ran and exited unsuccessfully.
    #[error("`{command}` failed ({status})")]
    Command {
        /// The command line, for the user to re-run by hand.
        command: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// A required tool is missing and could not be installed.
    #[error("`{0}` is not installed and `apt-get install` did not provide it")]
    ToolMissing(String),
    /// The nightly toolchain, which cargo-fuzz needs, is not installed.
    #[error("fuzzing needs the nightly toolchain (`cargo +nightly --version` failed)")]
    NoNightly,
    /// A child process we started exited before it was ready.
    #[error("{name} exited during start-up ({status}); see {}", log.display())]
    EarlyExit {
        /// The child's name.
        name: String,
        /// Its exit status.
        status: ExitStatus,
        /// Where its output went.
        log: PathBuf,
    },
    /// A port did not accept connections before the deadline.
    #[error("{name} did not listen on port {port} within {secs} s")]
    PortTimeout {
        /// The child's name.
        name: String,
        /// The port we waited for.
        port: u16,
        /// How long we waited.
        secs: u64,
    },
    /// wrk printed something we cannot read.
    #[error("cannot parse wrk output: {0}")]
    WrkOutput(String),
    /// A server under test gave the wrong answer before the load started.
    #[error("{name} answered wrongly on {url}: {detail}")]
    BadAnswer {
        /// Which server.
        name: String,
        /// The URL probed.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The report could not be serialised.
    #[error("cannot serialise the report")]
    Json(#[from] serde_json::Error),
    /// Ports the demo needs are in use; nothing was started.
    #[error(
        "{} already in use; stop what holds {} or pick other ports with --base-port N (seven in a row from N)",
        .0.iter().map(|(name, port)| format!("port {port} ({name})")).collect::<Vec<_>>().join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    PortsTaken(Vec<(String, u16)>),
    /// `--base-port` leaves no room for seven ports.
    #[error("--base-port {0}: the demo needs seven ports from it, between 1 and 65535")]
    BasePort(u16),
    /// A demo daemon did not exit cleanly when asked to stop.
    #[error("some demo daemons did not stop cleanly (see above)")]
    DemoUnclean,
    /// A fuzz target found an input that breaks a property (or crashed, or hung).
    #[error("fuzz target `{target}` failed; the input is in {}", artifacts.display())]
    FuzzCrash {
        /// The cargo-fuzz target.
        target: String,
        /// Where libFuzzer left the input.
        artifacts: PathBuf,
    },
    /// A seed file could not be read as expected.
    #[error("bad seed source {}: {detail}", path.display())]
    BadSeed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A CI step failed; the step's own output is above this line.
    #[error("ci failed at step `{step}`")]
    CiStep {
        /// The step's name.
        step: &'static str,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps an I/O error with what we were doing and where.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
