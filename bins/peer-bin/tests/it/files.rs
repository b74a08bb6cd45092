//! File sharing (SPEC §8) between in-process peers: publish, the chunk endpoint's answers,
//! fetch by name and by id, and every error a user gets in words.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_core::Method;
use p2p::UiEvent;
use reactor::client::blocking_request;
use serde_json::{Value, json};

use crate::{call, peer, tempdir, tracker, wait_for};

pub const WAIT: Duration = Duration::from_secs(60);

/// `len` bytes from a seeded xorshift generator: random-looking, quick to make, reproducible.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` seeded random bytes to `path`, a MiB at a time.
pub fn random_file(path: &Path, seed: u64, len: usize) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut left = len;
    let mut block = 0u64;
    while left > 0 {
        let n = left.min(1 << 20);
        file.write_all(&random_bytes(seed ^ (block << 32), n))
            .unwrap();
        left -= n;
        block += 1;
    }
    file.flush().unwrap();
}

/// Whether two files have the same bytes, compared a MiB at a time.
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// Publishes `path` on the peer at `addr`; answers status and body.
pub fn publish(addr: std::net::SocketAddr, path: &Path, name: &str, chunk: u64) -> (u16, Value) {
    let body = json!({"path": path, "name": name, "chunk_size": chunk});
    call(addr, Method::Post, "/api/files/publish", Some(body))
}

/// The fetch of `file_id` as `GET /api/files` shows it.
pub fn fetch_view(addr: std::net::SocketAddr, file_id: &str) -> Option<Value> {
    let (_, body) = call(addr, Method::Get, "/api/files", None);
    body["fetches"]
        .as_array()?
        .iter()
        .find(|f| f["file_id"] == file_id)
        .cloned()
}

/// Waits until the fetch of `file_id` on `addr` is done; answers its view.
pub fn wait_done(addr: std::net::SocketAddr, file_id: &str) -> Value {
    let mut last = Value::Null;
    wait_for("the fetch to finish", WAIT, || {
        last = fetch_view(addr, file_id).unwrap_or_default();
        assert_ne!(last["state"], "failed", "{last}");
        last["state"] == "done"
    });
    last
}

/// Chunks of `file_id` that the peer at `addr` served to others.
pub fn served(addr: std::net::SocketAddr, file_id: &str) -> u64 {
    let (_, body) = call(addr, Method::Get, "/api/files", None);
    body["local"]
        .as_array()
        .and_then(|l| l.iter().find(|f| f["file_id"] == file_id))
        .and_then(|f| f["served"].as_u64())
        .unwrap_or(0)
}

fn raw_get(addr: std::net::SocketAddr, target: &str) -> (u16, Vec<u8>) {
    let req = http_core::Request::new(Method::Get, target);
    let response = blocking_request(addr, &req, Duration::from_secs(10)).unwrap();
    (response.status.code(), response.body.to_vec())
}

fn error_of(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_file_published_by_one_peer_is_served_and_fetched_by_another_with_errors_in_words() {
    let tmp = tempdir("files");
    let dir = tmp.path();
    let t = tracker(90);
    let a = peer("alice", Some(t.addr), dir);
    let b = peer("bob", Some(t.addr), dir);
    let c = peer("carol", Some(t.addr), dir);
    for p in [&a, &b, &c] {
        wait_for("registration", WAIT, || p.node.tracker_status().registered);
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    c.node.subscribe(Box::new(move |event| {
        if let UiEvent::File(f) = event {
            seen.lock().unwrap().push(f.clone());
        }
        true
    }));

    let chunk = 64 * 1024;
    let src = dir.join("report.bin");
    let data = random_bytes(7, 5 * chunk as usize + 123);
    std::fs::write(&src, &data).unwrap();
    let (status, published) = publish(a.addr(), &src, "report.bin", chunk);
    assert_eq!(status, 201, "{published}");
    assert_eq!(published["chunks"], 6);
    assert_eq!(published["announced"], true);
    let id = published["file_id"].as_str().unwrap().to_string();

    // Publishing it again answers the same id, with no second entry.
    let (status, again) = publish(a.addr(), &src, "report.bin", chunk);
    assert_eq!((status, &again["file_id"]), (200, &published["file_id"]));
    assert_eq!(a.node.files().local().len(), 1);
    // Another file under the same name: 409 naming the one already shared.
    let other = dir.join("other.bin");
    std::fs::write(&other, b"something else").unwrap();
    let (status, clash) = publish(a.addr(), &other, "report.bin", chunk);
    assert_eq!(status, 409, "{clash}");
    assert_eq!(clash["file_id"], id.as_str());
    // A path that is not a file.
    let (status, missing) = publish(a.addr(), &dir.join("nope"), "x", chunk);
    assert_eq!(status, 400);
    assert!(
        error_of(&missing).contains("not a readable file"),
        "{missing}"
    );

    // The chunk endpoint: raw bytes, 404 for what is not held, 416 past the end.
    let (status, bytes) = raw_get(a.addr(), &format!("/files/{id}/chunks/5"));
    assert_eq!(
        (status, bytes.as_slice()),
        (200, &data[5 * chunk as usize..])
    );
    assert_eq!(raw_get(a.addr(), &format!("/files/{id}/chunks/6")).0, 416);
    assert_eq!(raw_get(b.addr(), &format!("/files/{id}/chunks/0")).0, 404);
    assert_eq!(raw_get(a.addr(), "/files/abc/chunks/x").0, 400);

    // Fetch by name: 202, then complete and byte-identical.
    let dest = dir.join("carol-report.bin");
    let body = json!({"name": "report.bin", "dest": dest});
    let (status, started) = call(c.addr(), Method::Post, "/api/files/fetch", Some(body));
    assert_eq!(status, 202, "{started}");
    let view = wait_done(c.addr(), &id);
    assert_eq!(
        (view["have"].as_u64(), view["fetched"].as_u64()),
        (Some(6), Some(6))
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert!(!PathBuf::from(format!("{}.part", dest.display())).exists());
    wait_for("a file event reaching 100 %", WAIT, || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.file_id == id && e.have == 6 && e.chunks == 6)
    });

    // Fetching what one has is a no-op that says so; so is fetching one's own file.
    let body = json!({"file_id": id});
    let (status, noop) = call(
        c.addr(),
        Method::Post,
        "/api/files/fetch",
        Some(body.clone()),
    );
    assert_eq!(status, 200, "{noop}");
    assert!(
        noop["note"].as_str().unwrap().contains("already have"),
        "{noop}"
    );
    let (status, own) = call(a.addr(), Method::Post, "/api/files/fetch", Some(body));
    assert_eq!(status, 200, "{own}");
    // A destination that exists.
    let body = json!({"file_id": id, "dest": src});
    let (status, exists) = call(b.addr(), Method::Post, "/api/files/fetch", Some(body));
    assert_eq!(status, 409);
    assert!(error_of(&exists).contains("already exists"), "{exists}");
    // An unknown name, and an unknown id.
    let body = json!({"name": "nothing.bin"});
    let (status, unknown) = call(b.addr(), Method::Post, "/api/files/fetch", Some(body));
    assert_eq!(status, 404);
    assert!(error_of(&unknown).contains("no file named"), "{unknown}");
    let body = json!({"file_id": "0".repeat(64)});
    assert_eq!(
        call(b.addr(), Method::Post, "/api/files/fetch", Some(body)).0,
        404
    );
    // A name two files share: the answer lists both.
    let (status, _) = publish(b.addr(), &other, "report.bin", chunk);
    assert_eq!(status, 201);
    let body = json!({"name": "report.bin"});
    let (status, ambiguous) = call(c.addr(), Method::Post, "/api/files/fetch", Some(body));
    assert_eq!(status, 409);
    assert!(error_of(&ambiguous).contains(&id), "{ambiguous}");

    // The list: both files, with holders; carol became a holder of what she fetched.
    let (status, listed) = call(c.addr(), Method::Get, "/api/files", None);
    assert_eq!(status, 200);
    let files = listed["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{listed}");
    let report = files.iter().find(|f| f["file_id"] == id.as_str()).unwrap();
    assert_eq!(report["complete"], true);
    assert_eq!(report["holders"].as_array().unwrap().len(), 2, "{report}");
}

#[test]
fn the_console_publishes_lists_and_fetches_files() {
    let tmp = tempdir("files-console");
    let dir = tmp.path();
    let t = tracker(90);
    let a = peer("alice", Some(t.addr), dir);
    let c = peer("carol", Some(t.addr), dir);
    for p in [&a, &c] {
        wait_for("registration", WAIT, || p.node.tracker_status().registered);
    }
    let src = dir.join("notes.bin");
    let data = random_bytes(11, 3 << 20);
    std::fs::write(&src, &data).unwrap();
    let run = |node: &p2p::Node, line: &str| {
        let mut current = "general".to_string();
        peer::console::command(node, line, &mut current)
    };

    let said = run(&a.node, &format!("/publish {}", src.display()));
    assert!(
        said.starts_with("published notes.bin (3145728 bytes, 3 chunks) as "),
        "{said}"
    );
    let id = said.rsplit(' ').next().unwrap().to_string();
    let again = run(&a.node, &format!("/publish {}", src.display()));
    assert!(again.contains("already published"), "{again}");

    let listed = run(&c.node, "/files");
    assert!(
        listed.starts_with(&format!(
            "{id} notes.bin (3145728 bytes, 3 chunks) held by "
        )),
        "{listed}"
    );
    assert!(listed.contains(a.node.peer_id()), "{listed}");

    let dest = dir.join("carol-notes.bin");
    let said = run(&c.node, &format!("/fetch notes.bin {}", dest.display()));
    assert!(
        said.starts_with("fetching notes.bin (3145728 bytes) to "),
        "{said}"
    );
    wait_done(c.addr(), &id);
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let noop = run(&c.node, &format!("/fetch {id}"));
    assert!(noop.contains("already have notes.bin"), "{noop}");
    let unknown = run(&c.node, "/fetch nothing.bin");
    assert_eq!(
        unknown,
        "cannot fetch nothing.bin: no file named \"nothing.bin\" is shared on the network"
    );
    assert_eq!(
        run(&c.node, "/fetch"),
        "usage: /fetch <name|file_id> [dest]"
    );
}

#[test]
fn published_files_are_announced_again_when_the_tracker_comes_back_empty() {
    let tmp = tempdir("files-tracker-back");
    let dir = tmp.path();
    let t = tracker(3);
    let tracker_addr = t.addr;
    let a = peer("alice", Some(tracker_addr), dir);
    wait_for("registration", WAIT, || a.node.tracker_status().registered);
    let src = dir.join("kept.bin");
    std::fs::write(&src, random_bytes(3, 100_000)).unwrap();
    let (status, published) = publish(a.addr(), &src, "kept.bin", 65536);
    assert_eq!(status, 201, "{published}");

    drop(t);
    wait_for("alice noticing the outage", WAIT, || {
        !a.node.tracker_status().reachable
    });
    let _t = crate::tracker_at(tracker_addr, 3);
    wait_for("the file announced again", WAIT, || {
        let (_, files) = call(tracker_addr, Method::Get, "/files", None);
        files[0]["file_id"] == published["file_id"] && files[0]["holders"][0] == a.node.peer_id()
    });
}

#[test]
fn a_fetch_with_no_live_holder_fails_naming_the_chunks_and_keeps_its_part_file() {
    let tmp = tempdir("files-no-holder");
    let dir = tmp.path();
    let t = tracker(90);
    let a = peer("alice", Some(t.addr), dir);
    let c = peer("carol", Some(t.addr), dir);
    for p in [&a, &c] {
        wait_for("registration", WAIT, || p.node.tracker_status().registered);
    }
    let src = dir.join("gone.bin");
    std::fs::write(&src, random_bytes(4, 3 * 65536)).unwrap();
    let (status, published) = publish(a.addr(), &src, "gone.bin", 65536);
    assert_eq!(status, 201, "{published}");
    let id = published["file_id"].as_str().unwrap().to_string();
    // Alice's loop stops at once: the tracker still lists her, but nobody answers.
    drop(a);

    let dest = dir.join("carol-gone.bin");
    let body = json!({"file_id": id, "dest": dest});
    let (status, started) = call(c.addr(), Method::Post, "/api/files/fetch", Some(body));
    assert_eq!(status, 202, "{started}");
    let mut view = Value::Null;
    wait_for("the fetch to give up", WAIT, || {
        view = fetch_view(c.addr(), &id).unwrap_or_default();
        view["state"] == "failed"
    });
    let error = view["error"].as_str().unwrap();
    assert!(
        error.contains("no holder left for chunks 0-2 of gone.bin"),
        "{error}"
    );
    assert!(PathBuf::from(format!("{}.part", dest.display())).exists());
    assert!(!dest.exists());
}
