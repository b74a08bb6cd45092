//! `cargo xtask bench tracker` (being written).

use super::report::Section;
use super::{BenchArgs, Suite};
use crate::error::{Error, Result};

/// Runs the tracker suite.
pub fn run(_args: &BenchArgs) -> Result<Section> {
    Err(Error::SuiteNotBuilt(Suite::Tracker.name()))
}
