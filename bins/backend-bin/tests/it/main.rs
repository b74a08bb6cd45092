//! backend-bin over real sockets on 127.0.0.1: Task 1 as the course grades it, hostile input,
//! load and faults.

mod browser;
mod course;
mod faults;
mod files;
mod hostile;
mod redis;
mod startup;
mod task1;

use backend::{AuthMode, Config};
use router::Running;
use router::auth::Credentials;
use std::path::PathBuf;
pub use test_support::{raw, read_to_eof, send, statuses, wait_for};

/// The repository's static site.
pub fn static_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../static")
}

/// Starts the Task 1 app in-process on an ephemeral port.
pub fn start(mode: AuthMode) -> Running {
    let mut credentials = Credentials::new();
    credentials.add("admin", "password");
    let config = Config {
        static_root: static_root(),
        credentials,
        auth_mode: mode,
        cors_origins: Vec::new(),
    };
    backend::app(config).unwrap().spawn("127.0.0.1:0").unwrap()
}
