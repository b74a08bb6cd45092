//! The console's file commands (SPEC §8): `/publish PATH [NAME]`, `/fetch NAME|ID [DEST]` with
//! a progress bar (rate and ETA) while the fetch runs, and `/files`. They reach the loop only
//! through [`Files`], waiting a bounded time for each answer.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use p2p::{FetchPhase, FileError, Files};

/// How long a command waits for the peer's answer (a publish hashes the whole file first).
const ANSWER_WAIT: Duration = Duration::from_secs(120);
/// How often the progress bar is updated.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Waits for the answer a file operation gives to its reply closure.
fn ask<T: Send + 'static>(
    start: impl FnOnce(Box<dyn FnOnce(Result<T, FileError>) + Send>),
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    start(Box::new(move |result| {
        let _ = tx.send(result);
    }));
    match rx.recv_timeout(ANSWER_WAIT) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("no answer from the peer in time".to_string()),
    }
}

/// Runs a file command (`cmd` with its argument text `rest`); `None` if `cmd` is not one.
pub fn command(files: &Files, cmd: &str, rest: &str) -> Option<String> {
    let mut args = rest.split_whitespace();
    Some(match cmd {
        "/publish" => {
            let Some(path) = args.next() else {
                return Some("usage: /publish <path> [name]".to_string());
            };
            let name = args.next().map(str::to_string);
            match ask(|reply| files.publish(PathBuf::from(path), name, None, reply)) {
                Ok(p) if p.existing => format!("{} is already published as {}", p.name, p.file_id),
                Ok(p) => format!(
                    "published {} ({} bytes, {} chunks) as {}{}",
                    p.name,
                    p.size,
                    p.chunks,
                    p.file_id,
                    if p.announced {
                        ""
                    } else {
                        "; the tracker will hear of it once reachable"
                    }
                ),
                Err(e) => format!("not published: {e}"),
            }
        }
        "/fetch" => {
            let Some(target) = args.next() else {
                return Some("usage: /fetch <name|file_id> [dest]".to_string());
            };
            let dest = args.next().map(PathBuf::from);
            match ask(|reply| files.fetch(target, dest, reply)) {
                Ok(started) => match started.note {
                    Some(note) => note,
                    None => {
                        show_progress(files.clone(), started.file_id.clone(), started.size);
                        format!(
                            "fetching {} ({} bytes) to {}",
                            started.name,
                            started.size,
                            started.dest.display()
                        )
                    }
                },
                Err(e) => format!("cannot fetch {target}: {e}"),
            }
        }
        "/files" => match ask(|reply| files.list(reply)) {
            Ok(list) if list.is_empty() => "no shared files".to_string(),
            Ok(list) => list
                .iter()
                .map(|f| {
                    let here = match (f.complete, f.local) {
                        (true, _) => ", here".to_string(),
                        (false, true) => format!(", {}/{} chunks here", f.have, f.chunks),
                        _ => String::new(),
                    };
                    format!(
                        "{} {} ({} bytes, {} chunks{here}) held by {}",
                        f.file_id,
                        f.name,
                        f.size,
                        f.chunks,
                        if f.holders.is_empty() {
                            "nobody".to_string()
                        } else {
                            f.holders.join(", ")
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("cannot list files: {e}"),
        },
        _ => return None,
    })
}

/// Shows a progress bar for the fetch of `file_id` until it ends (hidden when the console is
/// not a terminal).
fn show_progress(files: Files, file_id: String, size: u64) {
    let _ = std::thread::Builder::new()
        .name("fetch-progress".to_string())
        .spawn(move || {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            loop {
                let view = files.fetches().into_iter().find(|f| f.file_id == file_id);
                let Some(view) = view else { break };
                bar.set_message(view.name.clone());
                bar.set_position(view.size * view.have as u64 / view.chunks.max(1) as u64);
                match view.state {
                    FetchPhase::Done => {
                        bar.finish_with_message(format!("{} done", view.name));
                        break;
                    }
                    FetchPhase::Failed => {
                        let why = view.error.unwrap_or_default();
                        bar.abandon_with_message(format!("{} failed: {why}", view.name));
                        break;
                    }
                    FetchPhase::Resuming | FetchPhase::Fetching => {}
                }
                std::thread::sleep(PROGRESS_EVERY);
            }
        });
}
