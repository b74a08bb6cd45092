//! The built tracker-bin: its console (every command of SPEC §5), `--max-peers`, and SIGTERM,
//! each ending with exit status 0.

use crate::{get, post, wait_for};
use router::App;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
}

impl Daemon {
    pub(crate) fn start(args: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracker-bin"))
            .args(["--port", "0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (addr_tx, addr_rx) = channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = addr_tx.send(addr.to_owned());
                }
            }
        });
        let (out_tx, out_rx) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(WAIT)
            .expect("the daemon logs its address");
        Daemon {
            stdin: child.stdin.take(),
            child,
            addr: addr.parse().unwrap(),
            stdout: out_rx,
        }
    }

    fn command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next console line containing `needle` (earlier lines are skipped).
    fn expect(&self, needle: &str) -> String {
        loop {
            let line = self
                .stdout
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no console line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn exit_code(&mut self) -> Option<i32> {
        let mut status = None;
        wait_for("the daemon to exit", WAIT, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap().code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn console_lists_pings_and_exits_cleanly() {
    let mut ping_app = App::new();
    ping_app.get("/p2p/ping", |_, _req: &router::Req| {
        router::Json(json!({"pong": true}))
    });
    let peer = ping_app.spawn("127.0.0.1:0").unwrap();

    let mut daemon = Daemon::start(&["--console"]);
    daemon.expect("tracker console");
    let register = json!({"ip": "127.0.0.1", "port": peer.addr.port(), "name": "alice"});
    let (status, body) = post(daemon.addr, "/submit-info", &register);
    assert_eq!(status, 200, "{body}");
    let id = body["peer_id"].as_str().unwrap().to_owned();

    daemon.command("/list_peers");
    daemon.expect("1 peer");
    let header = daemon.expect("peer id");
    assert!(
        header.starts_with("name ") && header.contains("last seen"),
        "{header}"
    );
    assert!(daemon.expect(&id).starts_with("alice "));
    daemon.command(&format!("discover {id}"));
    daemon.expect(&format!("peer       {id}"));
    daemon.expect("name       alice");
    daemon.command(&format!("ping {id}"));
    let line = daemon.expect(&format!("{id} at {}", peer.addr));
    assert!(
        line.contains(": 200 in ") && line.ends_with(" ms"),
        "{line}"
    );
    daemon.command("list_channels");
    daemon.expect("0 channels");

    let token = body["token"].as_str().unwrap();
    let hashes = [format!("{:064x}", 1), format!("{:064x}", 2)];
    let publish = json!({"peer_id": id, "token": token, "name": "notes.txt", "size": 12,
                         "chunk_size": 8, "chunk_hashes": hashes});
    let (status, body) = post(daemon.addr, "/files/publish", &publish);
    assert_eq!(status, 200, "{body}");
    let file_id = body["file_id"].as_str().unwrap();
    daemon.command("list_files");
    daemon.expect("1 file");
    let line = daemon.expect(file_id);
    assert!(
        line.starts_with("notes.txt  12 bytes  2 chunks  127.0.0.1:"),
        "{line}"
    );
    daemon.command("list_chunkinfo");
    daemon.expect("notes.txt (2 chunks of 8 bytes)");
    daemon.expect(&format!("{id} at {}: all", peer.addr));

    daemon.command("exit");
    assert_eq!(daemon.exit_code(), Some(0));
    assert!(
        TcpStream::connect(daemon.addr).is_err(),
        "no longer accepting"
    );
}

/// Issue 13: with `--console`, the end of the input (Ctrl-D, the end of a pipe) stops the
/// tracker, saying so, with exit 0.
#[test]
fn console_end_of_input_stops_a_console_tracker() {
    let mut daemon = Daemon::start(&["--console"]);
    daemon.expect("tracker console");
    daemon.stdin.take();
    daemon.expect("end of input: stopping the tracker");
    assert_eq!(daemon.exit_code(), Some(0));
}

#[test]
fn max_peers_refuses_one_more_with_503() {
    let daemon = Daemon::start(&["--max-peers", "1"]);
    let (status, body) = post(daemon.addr, "/submit-info", &json!({"port": 5001}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(daemon.addr, "/submit-info", &json!({"port": 5002}));
    assert_eq!((status, body), (503, json!({"error": "tracker is full"})));
    // The one peer may still re-register, and the tracker keeps serving.
    let (status, body) = post(daemon.addr, "/submit-info", &json!({"port": 5001}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(daemon.addr, "/status").1["peers"], 1);
}

#[test]
fn sigterm_exits_zero() {
    let mut daemon = Daemon::start(&["--ttl", "30"]);
    let (status, body) = post(daemon.addr, "/submit-info", &json!({"port": 5001}));
    assert_eq!((status, body["ttl"].clone()), (200, json!(30)));
    assert_eq!(get(daemon.addr, "/tracker/health").0, 200);
    let kill = Command::new("kill")
        .args(["-s", "TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(daemon.exit_code(), Some(0));
}

#[test]
fn bad_settings_are_refused_with_one_line() {
    for args in [
        &["--ttl", "0"][..],
        &["--max-peers", "0"],
        &["--user", "nocolon"],
        &["--register-rate", "0/s"],
        &["--register-rate", "fast"],
        &["--register-burst", "0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tracker-bin"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("tracker-bin: ") && err.lines().count() == 1,
            "{err}"
        );
    }
}
