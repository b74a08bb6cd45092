//! A logger for the test binary that keeps every record at info and above in memory, so a
//! test can assert what a peer logged. Installed once per process ([`capture`]); under nextest
//! each test is its own process, under `cargo test` tests share it, so assertions pick their
//! lines by something only their test has (an address, a peer id).

use std::sync::{Mutex, Once};

use log::{Level, LevelFilter, Log, Metadata, Record};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl Log for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    }

    fn flush(&self) {}
}

/// Starts capturing log records (once per process; later calls do nothing).
pub fn capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in the test binary");
        log::set_max_level(LevelFilter::Info);
    });
}

/// The captured lines that satisfy `keep`, as `LEVEL target: message`.
pub fn lines(keep: impl Fn(&str) -> bool) -> Vec<String> {
    LINES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| keep(l))
        .cloned()
        .collect()
}

/// Whether `line` names the address `addr` (`127.0.0.1:5000` and not `127.0.0.1:50001`).
pub fn names(line: &str, addr: &str) -> bool {
    line.match_indices(addr).any(|(at, _)| {
        line[at + addr.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_digit())
    })
}
