//! `cargo xtask bench proxy` (being written).

use super::report::Section;
use super::{BenchArgs, Suite};
use crate::error::{Error, Result};

/// Runs the proxy suite.
pub fn run(_args: &BenchArgs) -> Result<Section> {
    Err(Error::SuiteNotBuilt(Suite::Proxy.name()))
}
