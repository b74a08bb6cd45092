//! `cargo xtask demo`: will start tracker, backends, proxy and three peers once those daemons exist.

use crate::error::{Error, Result};

/// Fails with a clear message until the tracker, proxy and peer binaries are built.
pub fn run() -> Result<()> {
    Err(Error::DemoNotBuilt)
}
