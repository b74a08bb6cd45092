//! A full disk loses nothing acknowledged: the real peer-bin on a tiny tmpfs answers 500 for a
//! message it cannot store, keeps no trace of it (not shown, not sent, its seq free), answers
//! 201 again once space is back, and after `kill -9` and a restart shows exactly the messages
//! it acknowledged. Mounting the tmpfs needs root, which CI has; without it the test fails and
//! says so.

use std::fs;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use http_core::Method;
use serde_json::{Value, json};

use crate::daemon::{parse_url, peer_bin};
use crate::{TOKEN, call, tempdir, tracker, wait_for};
use test_support::process::Daemon;

const WAIT: Duration = Duration::from_secs(15);

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped (then the directory
/// goes with the `TempDir`).
struct Tmpfs(test_support::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempdir("tmpfs");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs on {} failed: this test needs root (as CI runs)",
            dir.path().display()
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Starts peer-bin with its data in `data_dir`; answers it and its address.
fn start(data_dir: &Path, tracker: SocketAddr) -> (Daemon, SocketAddr) {
    let mut daemon = Daemon::spawn(
        peer_bin("alice", tracker, data_dir)
            .args(["--fsync", "always"])
            .env("WEAPROUS_TOKEN", TOKEN),
    );
    let first = daemon.stdout().next(WAIT).expect("peer-bin printed no URL");
    let (_, port, _) = parse_url(&first).unwrap_or_else(|| panic!("{first}"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for("alice in general", WAIT, || {
        let (_, channels) = call(addr, Method::Get, "/api/channels", None);
        channels
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c["name"] == "general"))
    });
    (daemon, addr)
}

fn post(addr: SocketAddr, text: &str) -> (u16, Value) {
    call(
        addr,
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({ "text": text })),
    )
}

/// `(id, text)` of every message the peer shows in `general`.
fn shown(addr: SocketAddr) -> Vec<(String, String)> {
    let (status, body) = call(addr, Method::Get, "/api/channels/general/messages", None);
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().into(),
                m["text"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Fills the file system holding `dir` with one file, until it refuses more.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        match file.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    path
}

#[test]
fn a_full_disk_loses_nothing_acknowledged() {
    let disk = Tmpfs::mount("512k");
    let data = disk.0.path().join("alice");
    let t = tracker(90);
    let (mut daemon, addr) = start(&data, t.addr);

    let (status, first) = post(addr, "stored before the disk filled");
    assert_eq!(status, 201, "{first}");

    // A text longer than a page, so the append cannot hide in the log's last page.
    let filler = fill(disk.0.path());
    let lost = format!("lost: {}", "x".repeat(6000));
    let (status, body) = post(addr, &lost);
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "a 500 says why: {body}"
    );
    assert_eq!(shown(addr).len(), 1, "the refused message is not shown");

    fs::remove_file(filler).unwrap();
    let (status, second) = post(addr, "stored after space came back");
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        second["id"].as_str(),
        Some(format!("{}/general/2", first["from"].as_str().unwrap()).as_str()),
        "the refused message did not consume a seq"
    );

    // kill -9, then start again on the same data: exactly the two acknowledged messages.
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    let log = fs::read_to_string(data.join("messages.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
    let (_daemon, addr) = start(&data, t.addr);
    let texts: Vec<String> = shown(addr).into_iter().map(|(_, text)| text).collect();
    assert_eq!(
        texts,
        [
            "stored before the disk filled",
            "stored after space came back"
        ]
    );
}
