//! The tracker's operator console (SPEC §5): one command per line, answers written to any
//! `Write`. It runs on its own thread, never the loop's, because `ping` blocks on the network.

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_core::{Method, Request};
use reactor::Handle;
use reactor::client::blocking_request;
use router::console;

use crate::api::Tracker;
use tracker_core::paging::{MAX_PAGE_LIMIT, Page, Paged};
use tracker_core::{ListQuery, Registry};

/// How long `ping` waits for a peer's answer.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The commands, for `/help` and for an unknown command. The course's bare names
/// (`list_peers`, `exit`) work too; the slash is the style the peer's console uses.
pub const HELP: &str = "\
/help                 this list
/list_peers           live peers with their address, channels and last heartbeat
/list_channels        channels with their policy and members
/discover <peer_id>   one peer and the files it holds
/ping <peer_id>       time a round trip to a peer's /p2p/ping
/list_files           published files and their holders
/list_chunkinfo       which chunks each holder has
/exit                 stop the tracker (also /quit)";

/// What the console does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read the next command.
    Continue,
    /// The operator asked to stop the tracker.
    Exit,
}

/// Runs one command line and writes its answer to `out`.
pub fn execute(tracker: &Tracker, line: &str, out: &mut dyn Write) -> io::Result<Outcome> {
    let mut words = line.split_whitespace();
    let Some(command) = words.next() else {
        return Ok(Outcome::Continue);
    };
    let command = command.strip_prefix('/').unwrap_or(command);
    let arg = words.next();
    match (command, arg) {
        ("list_peers", _) => list_peers(tracker, out)?,
        ("list_channels", _) => list_channels(tracker, out)?,
        ("discover", Some(peer)) => discover(tracker, peer, out)?,
        ("ping", Some(peer)) => ping(tracker, peer, out)?,
        ("list_files", _) => list_files(tracker, out)?,
        ("list_chunkinfo", _) => list_chunkinfo(tracker, out)?,
        ("exit" | "quit", _) => return Ok(Outcome::Exit),
        ("discover" | "ping", None) => writeln!(out, "usage: /{command} <peer_id>")?,
        ("help", _) => writeln!(out, "{HELP}")?,
        _ => writeln!(out, "unknown command {command:?}; /help lists them")?,
    }
    Ok(Outcome::Continue)
}

/// Reads commands from `input` until `/exit` (which shuts the loop down gracefully through
/// `handle`) or end of input, which stops the tracker too when `stop_at_end` (the console was
/// asked for with `--console`, so it is the session) and otherwise leaves it running, saying so.
pub fn run(
    tracker: &Tracker,
    handle: &Handle,
    input: impl BufRead,
    mut out: impl Write,
    stop_at_end: bool,
) {
    let _ = writeln!(out, "tracker console; /help lists the commands");
    let _ = out.flush();
    for line in input.lines() {
        let Ok(line) = line else { break };
        match execute(tracker, &line, &mut out) {
            Ok(Outcome::Continue) => {}
            Ok(Outcome::Exit) => {
                log::info!("exit from the console: shutting down");
                handle.shutdown();
                return;
            }
            Err(e) => {
                log::warn!("console output failed: {e}");
                return;
            }
        }
        let _ = out.flush();
    }
    if stop_at_end {
        let _ = writeln!(out, "{} end of input: stopping the tracker", console::now());
        handle.shutdown();
    } else {
        let _ = writeln!(
            out,
            "{} end of input: the console is closed, the tracker keeps running; stop it with \
             Ctrl-C or `kill {}`",
            console::now(),
            std::process::id()
        );
    }
    let _ = out.flush();
}

/// `N nouns`, then the rows as a table under `headers` when there are any.
fn counted(
    out: &mut dyn Write,
    noun: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> io::Result<()> {
    writeln!(out, "{}", console::count(rows.len(), noun))?;
    if !rows.is_empty() {
        writeln!(out, "{}", console::table(headers, rows))?;
    }
    Ok(())
}

/// Every item of a paged list, taking the registry's lock once per page so that the loop,
/// which shares it, is never held up for the whole list (the console and the dashboard).
pub(crate) fn every<T>(
    tracker: &Tracker,
    fetch: impl Fn(&Registry, &Page, u64) -> Paged<T>,
) -> Vec<T> {
    let mut items = Vec::new();
    let mut page = Page::after(None, MAX_PAGE_LIMIT);
    loop {
        // Each `next` sorts after the cursor it came from, so this ends.
        let got = tracker.with(|reg, now| fetch(reg, &page, now));
        items.extend(got.items);
        match got.next {
            Some(next) => page = Page::after(Some(&next), MAX_PAGE_LIMIT),
            None => return items,
        }
    }
}

fn list_peers(tracker: &Tracker, out: &mut dyn Write) -> io::Result<()> {
    let peers = every(tracker, |reg, page, now| {
        reg.list(&ListQuery::default(), page, now)
    });
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.peer_id.clone(),
                format!("{}:{}", p.ip, p.port),
                p.channels.join(","),
                format!("{} s ago", p.last_seen),
            ]
        })
        .collect();
    let headers = ["name", "peer id", "address", "channels", "last seen"];
    counted(out, "peer", &headers, &rows)
}

fn list_channels(tracker: &Tracker, out: &mut dyn Write) -> io::Result<()> {
    let channels = every(tracker, |reg, page, now| reg.channels(page, now));
    let rows: Vec<Vec<String>> = channels
        .iter()
        .map(|c| {
            let policy = serde_json::to_value(c.policy).unwrap_or_default();
            vec![
                format!("#{}", c.name),
                policy.as_str().unwrap_or_default().to_owned(),
                c.members.join(", "),
            ]
        })
        .collect();
    counted(out, "channel", &["channel", "policy", "members"], &rows)
}

fn discover(tracker: &Tracker, peer: &str, out: &mut dyn Write) -> io::Result<()> {
    let found: crate::Result<_> =
        tracker.with(|reg, now| Ok((reg.peer(peer, now)?, reg.peer_files(peer, now)?)));
    match found {
        Ok((p, files)) => {
            let rows = vec![
                vec!["name".to_owned(), p.name.clone()],
                vec!["address".to_owned(), format!("{}:{}", p.ip, p.port)],
                vec!["channels".to_owned(), p.channels.join(", ")],
                vec!["roles".to_owned(), p.roles.join(", ")],
                vec!["last seen".to_owned(), format!("{} s ago", p.last_seen)],
            ];
            writeln!(out, "{}", console::table(&["peer", &p.peer_id], &rows))?;
            let rows: Vec<Vec<String>> = files
                .iter()
                .map(|f| {
                    vec![
                        f.name.clone(),
                        format!("{} bytes", f.size),
                        format!("{}/{} chunks", f.have, f.chunks),
                        f.file_id.clone(),
                    ]
                })
                .collect();
            counted(out, "file", &["file", "size", "held", "file id"], &rows)?;
        }
        Err(e) => writeln!(out, "{e}")?,
    }
    Ok(())
}

fn ping(tracker: &Tracker, peer: &str, out: &mut dyn Write) -> io::Result<()> {
    let target = match tracker.with(|reg, now| reg.lookup(peer, now)) {
        Ok(addr) => SocketAddr::new(addr.ip, addr.port),
        Err(e) => return writeln!(out, "{e}"),
    };
    let request = Request::new(Method::Get, "/p2p/ping");
    let started = Instant::now();
    match blocking_request(target, &request, PING_TIMEOUT) {
        Ok(response) => {
            let rtt = started.elapsed();
            writeln!(
                out,
                "{peer} at {target}: {} in {:.3} ms",
                response.status.code(),
                rtt.as_secs_f64() * 1000.0
            )
        }
        Err(e) => writeln!(out, "{peer} at {target}: {e}"),
    }
}

fn list_files(tracker: &Tracker, out: &mut dyn Write) -> io::Result<()> {
    let files = every(tracker, |reg, page, now| reg.files(page, now));
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                format!("{} bytes", f.size),
                format!("{} chunks", f.chunks),
                f.holders.join(", "),
                f.file_id.clone(),
            ]
        })
        .collect();
    let headers = ["file", "size", "chunks", "holders", "file id"];
    counted(out, "file", &headers, &rows)
}

fn list_chunkinfo(tracker: &Tracker, out: &mut dyn Write) -> io::Result<()> {
    let views: Vec<_> = every(tracker, |reg, page, now| {
        let files = reg.files(page, now);
        Paged {
            items: files
                .items
                .iter()
                .filter_map(|f| reg.file(&f.file_id, now).ok())
                .collect(),
            next: files.next,
        }
    });
    writeln!(out, "{}", console::count(views.len(), "file"))?;
    for v in views {
        writeln!(
            out,
            "  {} {} ({} chunks of {} bytes)",
            v.file_id, v.name, v.chunks, v.chunk_size
        )?;
        for h in v.holders {
            let have = if h.complete {
                "all".to_owned()
            } else {
                ranges(&h.chunks)
            };
            writeln!(out, "    {} at {}:{}: {have}", h.peer_id, h.ip, h.port)?;
        }
    }
    Ok(())
}

/// `[0,1,2,5,7,8]` as `0-2,5,7-8`: a holder of thousands of chunks stays one readable line.
fn ranges(chunks: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chunks.len() {
        let start = chunks[i];
        let mut end = start;
        while i + 1 < chunks.len() && chunks[i + 1] == end + 1 {
            i += 1;
            end = chunks[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JoinParams, PublishParams};
    use tracker_core::{Config, RegisterParams};

    fn tracker() -> Tracker {
        let t = Tracker::new(Config::default(), router::auth::Credentials::new());
        let ip = "10.0.0.7".parse().unwrap();
        t.with(|reg, now| {
            let params = RegisterParams {
                port: 5001,
                name: Some("alice".into()),
                ..Default::default()
            };
            let alice = reg.register(params, ip, now).unwrap();
            let join = JoinParams {
                peer_id: alice.peer_id.clone(),
                token: Some(alice.token.clone()),
                channel: "general".into(),
                key: None,
            };
            reg.join(join, now).unwrap();
            let publish = PublishParams {
                peer_id: alice.peer_id,
                token: Some(alice.token),
                name: "notes.txt".into(),
                size: 3,
                chunk_size: 1,
                chunk_hashes: (0..3u8).map(|i| format!("{i:064x}")).collect(),
            };
            reg.publish(publish, now).unwrap();
        });
        t
    }

    fn check(line: &str, expected: &[&str], outcome: Outcome) {
        let t = tracker();
        let mut out = Vec::new();
        assert_eq!(execute(&t, line, &mut out).unwrap(), outcome, "{line}");
        let text = String::from_utf8(out).unwrap();
        for needle in expected {
            assert!(text.contains(needle), "{line}: {needle:?} not in\n{text}");
        }
    }

    #[test]
    fn commands() {
        let c = Outcome::Continue;
        check(
            "list_peers",
            &[
                "1 peer\n",
                "name   peer id        address        channels  last seen",
                "alice  10.0.0.7:5001  10.0.0.7:5001  general   0 s ago",
            ],
            c,
        );
        check("/list_peers", &["1 peer\n"], c);
        check(
            "list_channels",
            &["1 channel\n", "#general  open    10.0.0.7:5001"],
            c,
        );
        check(
            "/discover 10.0.0.7:5001",
            &[
                "peer       10.0.0.7:5001",
                "name       alice",
                "notes.txt  3 bytes  3/3 chunks",
            ],
            c,
        );
        check(
            "discover nobody",
            &["not found: peer nobody is not registered"],
            c,
        );
        check("discover", &["usage: /discover <peer_id>"], c);
        check("ping nobody", &["not found"], c);
        check(
            "list_files",
            &["1 file\n", "notes.txt  3 bytes  3 chunks  10.0.0.7:5001"],
            c,
        );
        check(
            "list_chunkinfo",
            &[
                "notes.txt (3 chunks of 1 bytes)",
                "10.0.0.7:5001 at 10.0.0.7:5001: all",
            ],
            c,
        );
        check("   ", &[], c);
        check("/help", &["/list_chunkinfo"], c);
        check("frobnicate", &["unknown command \"frobnicate\"; /help"], c);
        check("exit", &[], Outcome::Exit);
        check("/quit", &[], Outcome::Exit);
    }

    #[test]
    fn chunk_ranges() {
        let check = |chunks: &[u32], expected: &str| assert_eq!(ranges(chunks), expected);
        check(&[], "none");
        check(&[4], "4");
        check(&[0, 1, 2, 5, 7, 8], "0-2,5,7-8");
    }
}
