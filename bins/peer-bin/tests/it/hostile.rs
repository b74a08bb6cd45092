//! Hostile peers over raw TCP: each misbehaviour closes only its own link, and the peer keeps
//! serving its real links and its API. Also a torn last line in messages.jsonl.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_core::Method;
use serde_json::json;

use crate::{
    call, closed_by_peer, hello, linked, peer, raw_link, read_until, tempdir, texts, wait_for,
};

const WAIT: Duration = Duration::from_secs(10);

/// After each attack: alice still talks to bob over their link, and still answers HTTP.
fn still_serving(a: SocketAddr, b: SocketAddr, n: usize) {
    let text = format!("after attack {n}");
    let (status, _) = call(
        a,
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": text})),
    );
    assert_eq!(status, 201);
    wait_for("the message after an attack", WAIT, || {
        texts(b, "general").last().map(String::as_str) == Some(&format!("alice: {text}"))
    });
    let (status, body) = call(a, Method::Get, "/p2p/whoami", None);
    assert_eq!(status, 200);
    assert_eq!(body["name"], "alice");
}

#[test]
fn each_attack_closes_only_its_link() {
    let dir = tempdir("hostile");
    let a = peer("alice", None, &dir);
    let b = peer("bob", None, &dir);
    a.node.connect(b.addr());
    wait_for("alice and bob linked", WAIT, || linked(a.addr()).len() == 1);
    let (addr, baddr) = (a.addr(), b.addr());

    // 1. Garbage right after the upgrade.
    let mut s = raw_link(addr);
    s.write_all(b"this is not json at all\n").unwrap();
    assert!(closed_by_peer(&mut s, WAIT), "garbage must close the link");
    still_serving(addr, baddr, 1);

    // 2. A 1 MiB frame: cut off at 64 KiB, without buffering the rest.
    let mut s = raw_link(addr);
    s.write_all(hello("big:1", &["general"]).as_bytes())
        .unwrap();
    read_until(&mut s, b"hello-ack", WAIT);
    let big = vec![b'a'; 1024 * 1024];
    let _ = s.write_all(&big);
    assert!(
        closed_by_peer(&mut s, WAIT),
        "an oversized frame must close the link"
    );
    still_serving(addr, baddr, 2);

    // 3. A hello claiming alice's own id.
    let mut s = raw_link(addr);
    s.write_all(hello(a.node.peer_id(), &["general"]).as_bytes())
        .unwrap();
    let answer = read_until(&mut s, b"\n", WAIT);
    assert!(!answer.contains("hello-ack"), "{answer}");
    assert!(closed_by_peer(&mut s, WAIT), "a link to oneself must close");
    still_serving(addr, baddr, 3);

    // 4. A flood of frames from a peer that never reads what it is sent.
    let mut s = raw_link(addr);
    s.write_all(hello("flood:1", &["general"]).as_bytes())
        .unwrap();
    let chunk = "{\"type\":\"ping\",\"token\":1}\n".repeat(2000);
    let deadline = Instant::now() + Duration::from_secs(30);
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    while Instant::now() < deadline && s.write_all(chunk.as_bytes()).is_ok() {}
    assert!(Instant::now() < deadline, "the flood was never cut off");
    assert!(closed_by_peer(&mut s, WAIT));
    wait_for("the flood link gone", WAIT, || !a.node.is_linked("flood:1"));
    still_serving(addr, baddr, 4);

    // 5. A link dropped in the middle of a frame.
    let mut s = raw_link(addr);
    s.write_all(hello("mid:1", &["general"]).as_bytes())
        .unwrap();
    read_until(&mut s, b"hello-ack", WAIT);
    wait_for("the half-frame peer linked", WAIT, || {
        a.node.is_linked("mid:1")
    });
    s.write_all(b"{\"type\":\"msg\",\"id\":\"mid:1/gen")
        .unwrap();
    drop(s);
    wait_for("the dropped link forgotten", WAIT, || {
        !a.node.is_linked("mid:1")
    });
    still_serving(addr, baddr, 5);

    assert_eq!(linked(addr), [b.node.peer_id().to_string()]);
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn torn_last_line_is_skipped() {
    let dir = tempdir("torn");
    let good = json!({"id": "x:1/general/1", "channel": "general", "from": "x:1", "name": "xavier",
        "seq": 1, "lamport": 1, "ts": 0, "text": "kept"});
    std::fs::create_dir_all(dir.join("alice")).unwrap();
    std::fs::write(
        dir.join("alice").join("messages.jsonl"),
        format!("{good}\n{{\"id\":\"x:1/general/2\",\"chan"),
    )
    .unwrap();
    let a = peer("alice", None, &dir);
    assert_eq!(texts(a.addr(), "general"), ["xavier: kept"]);
    call(
        a.addr(),
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "new"})),
    );
    let addr = a.addr();
    a.shutdown().unwrap();
    let a = crate::peer_at("alice", addr, None, &dir, &[("general", None)]);
    assert_eq!(texts(a.addr(), "general"), ["xavier: kept", "alice: new"]);
    drop(a);
    let _ = std::fs::remove_dir_all(&dir);
}
