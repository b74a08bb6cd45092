//! The peer's console (SPEC §6): slash commands read from a terminal, new messages printed as
//! `[#channel] name: text` and `[DM] name: text`. It runs on its own thread and reaches the
//! loop only through the [`Node`] handle; incoming messages come through a sink that hands
//! them to a printer thread, so the loop never waits on the terminal.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use p2p::UiEvent;
use p2p::{Event, Node};

/// How long `/join` waits for the tracker's answer.
const JOIN_WAIT: Duration = Duration::from_secs(10);

const HELP: &str = "\
/help                  this list
/peers                 linked peers
/discover              ask the tracker for members again and dial new ones
/channels              joined channels with unread counts
/join <ch> [key]       join a channel (a key channel needs its key)
/leave <ch>            leave a channel
/switch <ch>           send plain text to <ch> from now on
/history [n]           the last n messages of the current channel (default 20)
/direct <peer> <text>  a direct message
/connect <ip:port>     dial a peer
/quit                  say bye to every peer, leave the tracker, exit
anything else          sent to the current channel";

/// How one UI event is shown, if at all: messages by others only (ours were typed here).
pub fn render(event: &UiEvent, me: &str) -> Option<String> {
    match event {
        UiEvent::Node(Event::Message(m)) if m.from != me => {
            let unverified = if m.unverified { " (unverified)" } else { "" };
            Some(if m.is_direct() {
                format!("[DM] {}{unverified}: {}", m.name, m.text)
            } else {
                format!("[#{}] {}{unverified}: {}", m.channel, m.name, m.text)
            })
        }
        UiEvent::Undelivered {
            peer_id,
            message_id,
            error,
        } => Some(format!(
            "! {message_id} was not delivered to {peer_id}: {error}"
        )),
        UiEvent::Node(Event::PeerUp { peer_id, name, .. }) => {
            Some(format!("* {name} ({peer_id}) is linked"))
        }
        UiEvent::Node(Event::PeerDown { peer_id, reason }) => {
            Some(format!("* {peer_id} left ({reason})"))
        }
        _ => None,
    }
}

/// Reads commands from `input` until `/quit` or end of input; writes to `output`.
pub fn run<R: BufRead, W: Write + Send + 'static>(node: &Node, input: R, output: W) {
    let out = Arc::new(Mutex::new(output));
    let (tx, rx) = mpsc::channel::<String>();
    let me = node.peer_id().to_string();
    node.subscribe(Box::new(move |event| match render(event, &me) {
        Some(line) => tx.send(line).is_ok(),
        None => true,
    }));
    let printer_out = out.clone();
    let _ = std::thread::Builder::new()
        .name("console-out".to_string())
        .spawn(move || {
            for line in rx {
                let mut w = printer_out.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(w, "{line}");
                let _ = w.flush();
            }
        });
    let mut current = node
        .channels()
        .first()
        .map_or_else(|| "general".to_string(), |c| c.name.clone());
    let say = |text: &str| {
        let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(w, "{text}");
        let _ = w.flush();
    };
    say(&format!("type /help for commands; writing to #{current}"));
    for line in input.lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/quit" {
            say("bye");
            node.handle().shutdown();
            return;
        }
        let answer = command(node, line, &mut current);
        if !answer.is_empty() {
            say(&answer);
        }
    }
}

/// Runs one console line and answers what to print.
pub fn command(node: &Node, line: &str, current: &mut String) -> String {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    if !cmd.starts_with('/') {
        return match node.post(current, line) {
            Ok(_) => String::new(),
            Err(e) => format!("not sent: {e}"),
        };
    }
    match cmd {
        "/help" => HELP.to_string(),
        "/peers" => {
            let peers = node.peers();
            if peers.is_empty() {
                return "no linked peers".to_string();
            }
            peers
                .iter()
                .map(|p| format!("{} ({}) at {}", p.name, p.peer_id, p.addr))
                .collect::<Vec<_>>()
                .join("\n")
        }
        "/discover" => {
            node.discover();
            "asking the tracker for members".to_string()
        }
        "/channels" => node
            .channels()
            .iter()
            .map(|c| {
                format!(
                    "#{} ({} unread, {} members)",
                    c.name,
                    c.unread,
                    c.members.len()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "/join" => {
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
                        "joined #{channel} ({} members); writing there",
                        members.len()
                    )
                }
                Ok(Err(e)) => format!("cannot join #{channel}: {e}"),
                Err(_) => format!("no answer about #{channel} yet"),
            }
        }
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
                .map(|m| format!("[#{}] {}: {}", m.channel, m.name, m.text))
                .collect::<Vec<_>>()
                .join("\n")
        }
        "/direct" => match rest.split_once(' ') {
            Some((peer, text)) => match node.direct(peer, text.trim()) {
                Ok(_) => String::new(),
                Err(e) => format!("not sent: {e}"),
            },
            None => "usage: /direct <peer> <text>".to_string(),
        },
        "/connect" => match rest.parse::<SocketAddr>() {
            Ok(addr) => {
                node.connect(addr);
                format!("dialling {addr}")
            }
            Err(_) => "usage: /connect <ip:port>".to_string(),
        },
        _ => format!("unknown command {cmd}; /help lists them"),
    }
}
