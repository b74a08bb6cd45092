//! The peer's console (SPEC §6): slash commands read from a terminal or a pipe, new messages
//! printed as `HH:MM:SS [#channel] name: text` and `HH:MM:SS [DM] name: text`, our own ones
//! included. It runs on its own thread and reaches the loop only through the [`Node`] handle;
//! incoming events come through a sink that hands them to a printer thread, so the loop never
//! waits on the terminal.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_core::{Method, Request};
use p2p::{Event, Node, TrackerStatus, UiEvent};
use router::console::{clock, count, table};
use serde_json::Value;

/// How long `/join` waits for the tracker's answer.
const JOIN_WAIT: Duration = Duration::from_secs(10);
/// How long `/connect` tries to reach the address before reporting it unreachable.
const CONNECT_WAIT: Duration = Duration::from_secs(3);
/// How long `/tracker` waits for the tracker's list.
const TRACKER_WAIT: Duration = Duration::from_secs(5);

const HELP: &str = "\
/help                  this list
/peers                 linked peers, with the address each one listens on
/tracker               the peers the tracker lists
/discover              ask the tracker for members again and dial new ones
/channels              joined channels with unread counts
/join <ch> [key]       join a channel (a key channel needs its key)
/leave <ch>            leave a channel
/switch <ch>           send plain text to <ch> from now on
/history [n]           the last n messages of the current channel (default 20)
/direct <peer> <text>  a direct message; <peer> is a name or a peer id
/connect <ip:port>     dial a peer
/publish <path> [name] share a file
/fetch <name|id> [dest] fetch a shared file (progress bar while it runs)
/files                 what the network shares, with holders
/quit                  say bye to every peer, leave the tracker, exit
anything else          sent to the current channel";

/// What the console does when its input ends (Ctrl-D, or the end of a pipe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtEnd {
    /// Stop the peer, as `/quit` does (`--console` was given: the console is the session).
    Quit,
    /// Keep the peer running without a console, and say how to stop it.
    KeepRunning,
}

/// What the printer thread remembers between events: peer names, for lines about peers that
/// have gone (whose `PeerDown` carries only the id).
#[derive(Default)]
pub struct Renderer {
    names: HashMap<String, String>,
}

impl Renderer {
    /// How one UI event is shown, if at all (the printer stamps it with the time of day).
    pub fn render(&mut self, event: &UiEvent) -> Option<String> {
        let line = match event {
            UiEvent::Node(Event::Message(m)) => {
                let unverified = if m.unverified { " (unverified)" } else { "" };
                if m.is_direct() {
                    format!("[DM] {}{unverified}: {}", m.name, m.text)
                } else {
                    format!("[#{}] {}{unverified}: {}", m.channel, m.name, m.text)
                }
            }
            UiEvent::Undelivered {
                peer_id,
                message_id,
                error,
            } => format!("! {message_id} was not delivered to {peer_id}: {error}"),
            UiEvent::Node(Event::PeerUp { peer_id, name, .. }) => {
                self.names.insert(peer_id.clone(), name.clone());
                format!("* {name} is linked ({peer_id})")
            }
            UiEvent::Node(Event::PeerDown { peer_id, reason }) => {
                let name = self
                    .names
                    .remove(peer_id)
                    .unwrap_or_else(|| peer_id.clone());
                format!("* {name} left ({reason})")
            }
            UiEvent::Inbox(e) => format!("[{}] {}: {}", e.channel, e.name, e.msg),
            UiEvent::Tracker(status) => tracker_line(status),
            _ => return None,
        };
        Some(line)
    }
}

/// The console's line about the tracker's reachability.
pub fn tracker_line(status: &TrackerStatus) -> String {
    let addr = status.addr.as_deref().unwrap_or("-");
    match (status.checked, status.reachable) {
        (false, _) => format!("* tracker {addr}: not asked yet"),
        (true, true) => format!("* tracker {addr} reachable"),
        (true, false) => format!(
            "* tracker {addr} unreachable: links to peers keep working; joining and \
             discovery wait until it answers (retrying)"
        ),
    }
}

/// Reads commands from `input` until `/quit` or end of input; writes to `output`. With
/// `prompt` (a terminal), a `#channel> ` prompt waits after every line, and a line printed while
/// the user types clears the prompt first and writes it again after.
pub fn run<R: BufRead, W: Write + Send + 'static>(
    node: &Node,
    input: R,
    output: W,
    at_end: AtEnd,
    prompt: bool,
) {
    let out = Arc::new(Mutex::new(output));
    let shown = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel::<UiEvent>();
    node.subscribe(Box::new(move |event| tx.send(event.clone()).is_ok()));
    let (printer_out, printer_prompt) = (out.clone(), shown.clone());
    let _ = std::thread::Builder::new()
        .name("console-out".to_string())
        .spawn(move || {
            let mut renderer = Renderer::default();
            for event in rx {
                if let Some(line) = renderer.render(&event) {
                    let line = format!("{} {line}", router::console::now());
                    write_line(&printer_out, &printer_prompt, &line);
                }
            }
        });
    let mut current = node
        .channels()
        .first()
        .map_or_else(|| "general".to_string(), |c| c.name.clone());
    let set_prompt = |current: &str| {
        if prompt {
            *shown.lock().unwrap_or_else(|e| e.into_inner()) = format!("#{current}> ");
        }
    };
    let say = |text: &str| write_line(&out, &shown, text);
    set_prompt(&current);
    say(&format!("type /help for commands; writing to #{current}"));
    let status = node.tracker_status();
    if status.checked {
        say(&tracker_line(&status));
    }
    for line in input.lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/quit" {
            set_prompt_off(&shown);
            say("bye");
            node.handle().shutdown();
            return;
        }
        let answer = command(node, line, &mut current);
        set_prompt(&current);
        if !answer.is_empty() {
            say(&answer);
        } else if prompt {
            say("");
        }
    }
    set_prompt_off(&shown);
    match at_end {
        AtEnd::Quit => {
            say("end of input: leaving");
            node.handle().shutdown();
        }
        AtEnd::KeepRunning => say(&format!(
            "end of input: the console is closed, the peer keeps running; stop it with Ctrl-C \
             or `kill {}`",
            std::process::id()
        )),
    }
}

/// Writes `text` (a line, or nothing) and then the prompt, if any: `\r` and a clear-line first,
/// so a line printed while the user types does not run into the prompt.
fn write_line<W: Write>(out: &Mutex<W>, prompt: &Mutex<String>, text: &str) {
    let prompt = prompt.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
    if prompt.is_empty() {
        let _ = writeln!(w, "{text}");
    } else if text.is_empty() {
        let _ = write!(w, "{prompt}");
    } else {
        let _ = write!(w, "\r\x1b[K{text}\n{prompt}");
    }
    let _ = w.flush();
}

/// No prompt after the input has ended.
fn set_prompt_off(prompt: &Mutex<String>) {
    prompt.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Nothing for a message a link carried (it shows as it is echoed); else what became of it,
/// so the console never implies a delivery that did not happen.
fn reach(sent: &p2p::Sent) -> String {
    match sent.status {
        p2p::Delivery::Sent => String::new(),
        p2p::Delivery::Queued | p2p::Delivery::Stored => format!("* {}", sent.note()),
    }
}

/// Runs one console line and answers what to print.
pub fn command(node: &Node, line: &str, current: &mut String) -> String {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    if !cmd.starts_with('/') {
        return match node.post(current, line) {
            Ok(sent) => reach(&sent),
            Err(e) => not_sent(node, &e),
        };
    }
    match cmd {
        "/help" => HELP.to_string(),
        "/peers" => peers(node),
        "/tracker" => tracker_peers(node),
        "/discover" => {
            node.discover();
            let status = node.tracker_status();
            if status.reachable {
                "asking the tracker for members".to_string()
            } else {
                format!("{}; asked anyway", tracker_line(&status))
            }
        }
        "/channels" => {
            let rows: Vec<Vec<String>> = node
                .channels()
                .iter()
                .map(|c| {
                    vec![
                        format!("#{}", c.name),
                        c.unread.to_string(),
                        c.members.len().to_string(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                return "no channels joined: /join <ch>".to_string();
            }
            table(&["channel", "unread", "members"], &rows)
        }
        "/join" => join(node, rest, current),
        "/leave" if !rest.is_empty() => match node.leave(rest) {
            true => format!("left #{rest}"),
            false => format!("not in #{rest}"),
        },
        "/switch" if !rest.is_empty() => {
            *current = rest.to_string();
            format!("writing to #{rest}")
        }
        "/history" => {
            let n = rest.parse().unwrap_or(20);
            node.messages(current, None, n)
                .iter()
                .map(|m| format!("{} [#{}] {}: {}", clock(m.ts), m.channel, m.name, m.text))
                .collect::<Vec<_>>()
                .join("\n")
        }
        "/direct" => match rest.split_once(' ') {
            Some((peer, text)) => match node.direct(peer, text.trim()) {
                Ok(sent) => reach(&sent),
                Err(e) => format!("not sent: {e}"),
            },
            None => "usage: /direct <peer> <text>".to_string(),
        },
        "/connect" => match rest.parse::<SocketAddr>() {
            Ok(addr) => match TcpStream::connect_timeout(&addr, CONNECT_WAIT) {
                Ok(_) => {
                    node.connect(addr);
                    format!("dialling {addr}")
                }
                Err(e) => format!("cannot connect to {addr}: {e}"),
            },
            Err(_) => "usage: /connect <ip:port>".to_string(),
        },
        _ => crate::files::command(node.files(), cmd, rest)
            .unwrap_or_else(|| format!("unknown command {cmd}; /help lists them")),
    }
}

/// Why a channel message was refused, with the tracker's state when that is the reason.
fn not_sent(node: &Node, e: &p2p::Error) -> String {
    let status = node.tracker_status();
    match e {
        p2p::Error::NotJoined(_) if !status.reachable => {
            format!(
                "not sent: {e}; {}",
                tracker_line(&status).trim_start_matches("* ")
            )
        }
        _ => format!("not sent: {e}"),
    }
}

fn join(node: &Node, rest: &str, current: &mut String) -> String {
    let mut parts = rest.split_whitespace();
    let Some(channel) = parts.next() else {
        return "usage: /join <ch> [key]".to_string();
    };
    let key = parts.next().map(str::to_string);
    let (tx, rx) = mpsc::channel();
    node.join(
        channel,
        key,
        Box::new(move |result| {
            let _ = tx.send(result);
        }),
    );
    match rx.recv_timeout(JOIN_WAIT) {
        Ok(Ok(members)) => {
            *current = channel.to_string();
            format!(
                "joined #{channel} ({}); writing there",
                count(members.len(), "member")
            )
        }
        Ok(Err(e)) => format!("cannot join #{channel}: {e}"),
        Err(_) => format!("no answer about #{channel} yet"),
    }
}

/// Linked peers as a table. A peer id is the `ip:port` its owner listens on unless it chose
/// another, so that is the address shown; the connection's own address (an ephemeral port for
/// a link the other side dialled) only when the id is not an address.
fn peers(node: &Node) -> String {
    let peers = node.peers();
    if peers.is_empty() {
        return "no linked peers".to_string();
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            let listen = match p.peer_id.parse::<SocketAddr>() {
                Ok(a) => a.to_string(),
                Err(_) => p.addr.clone(),
            };
            let rtt = p
                .rtt_ms
                .map_or_else(|| "-".to_string(), |r| format!("{r} ms"));
            vec![p.name.clone(), p.peer_id.clone(), listen, rtt]
        })
        .collect();
    table(&["name", "peer id", "listens on", "rtt"], &rows)
}

/// The tracker's registry (`GET /get-list/`) as a table.
fn tracker_peers(node: &Node) -> String {
    let status = node.tracker_status();
    let Some(addr) = status
        .addr
        .as_deref()
        .and_then(|a| a.parse::<SocketAddr>().ok())
    else {
        return "this peer has no tracker".to_string();
    };
    let request = Request::new(Method::Get, "/get-list/");
    let response = match reactor::client::blocking_request(addr, &request, TRACKER_WAIT) {
        Ok(r) => r,
        Err(e) => return format!("tracker {addr} unreachable: {e}"),
    };
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let list = body
        .get("peers")
        .or(Some(&body))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let field = |p: &Value, k: &str| match &p[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            let channels = p["channels"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                field(p, "name"),
                field(p, "peer_id"),
                format!("{}:{}", field(p, "ip"), field(p, "port")),
                channels,
            ]
        })
        .collect();
    format!(
        "tracker {addr}: {}\n{}",
        count(rows.len(), "peer"),
        table(&["name", "peer id", "address", "channels"], &rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_left_is_named() {
        let mut r = Renderer::default();
        let up = UiEvent::Node(Event::PeerUp {
            peer_id: "127.0.0.1:5002".into(),
            name: "bob".into(),
            addr: "127.0.0.1:40000".into(),
        });
        assert_eq!(
            r.render(&up).as_deref(),
            Some("* bob is linked (127.0.0.1:5002)")
        );
        let down = UiEvent::Node(Event::PeerDown {
            peer_id: "127.0.0.1:5002".into(),
            reason: "bye".into(),
        });
        assert_eq!(r.render(&down).as_deref(), Some("* bob left (bye)"));
    }

    #[test]
    fn lines_clear_the_prompt_and_write_it_again() {
        let check = |prompt: &str, text: &str, expected: &str| {
            let out = Mutex::new(Vec::new());
            write_line(&out, &Mutex::new(prompt.to_string()), text);
            let got = String::from_utf8(out.into_inner().unwrap()).unwrap();
            assert_eq!(got, expected, "{prompt:?} {text:?}");
        };
        check("", "hello", "hello\n");
        check("#general> ", "hello", "\r\x1b[Khello\n#general> ");
        check("#general> ", "", "#general> ");
    }

    #[test]
    fn tracker_lines() {
        let mut status = TrackerStatus {
            addr: Some("127.0.0.1:8000".into()),
            ..TrackerStatus::default()
        };
        assert!(tracker_line(&status).contains("not asked yet"));
        status.checked = true;
        assert!(tracker_line(&status).starts_with("* tracker 127.0.0.1:8000 unreachable"));
        status.reachable = true;
        assert_eq!(tracker_line(&status), "* tracker 127.0.0.1:8000 reachable");
    }
}
