//! `cargo xtask bench p2p` (being written).

use super::report::Section;
use super::{BenchArgs, Suite};
use crate::error::{Error, Result};

/// Runs the p2p suite.
pub fn run(_args: &BenchArgs) -> Result<Section> {
    Err(Error::SuiteNotBuilt(Suite::P2p.name()))
}
