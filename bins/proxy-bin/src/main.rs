//! proxy-bin: the reverse proxy daemon. Argument parsing only; see the `proxy_bin` library.

use clap::Parser;
use proxy_bin::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    daemon::init_logging();
    match proxy_bin::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxy-bin: {e}");
            e.exit_code()
        }
    }
}
