//! `cargo xtask`: the project's automation — CI checks, side-by-side benchmarks, the demo and
//! fuzzing.

mod bench;
mod ci;
mod demo;
mod error;
mod fuzz;
mod process;

use std::error::Error as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project automation for WeApRous-rs.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Format check, clippy with warnings denied, all tests: what .ci/run runs.
    Ci,
    /// Side-by-side benchmarks against nginx; report in target/bench/.
    Bench(bench::BenchArgs),
    /// Start tracker, backends, proxy and three peers on this machine.
    Demo(demo::DemoArgs),
    /// Run the cargo-fuzz targets (nightly), seeded from the test corpora.
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Task::Ci => ci::run(),
        Task::Bench(args) => bench::run(args),
        Task::Demo(args) => demo::run(args),
        Task::Fuzz(args) => fuzz::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut line = format!("error: {err}");
            let mut source = err.source();
            while let Some(cause) = source {
                line.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}
