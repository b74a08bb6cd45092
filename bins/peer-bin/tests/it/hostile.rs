//! Hostile peers over raw TCP: each misbehaviour closes only its own link with one logged
//! reason, and the peer keeps serving its real links and its API. Also a torn last line in
//! messages.jsonl.

use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use http_core::Method;
use serde_json::json;

use crate::{
    call, closed_by_peer, hello, linked, logs, peer, raw_link, raw_peer, tempdir, texts, wait_for,
};
use p2p::Identity;

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

/// The warnings that name the attacker's address `from`: exactly one, saying one of `why`.
/// Called after [`still_serving`], so a second line would have had time to show up.
fn one_reason_logged(from: SocketAddr, why: &[&str]) {
    let addr = from.to_string();
    let warnings = || logs::lines(|l| l.starts_with("WARN ") && logs::names(l, &addr));
    wait_for("the reason in the log", WAIT, || !warnings().is_empty());
    let got = warnings();
    assert_eq!(
        got.len(),
        1,
        "one reason line for the link from {addr}: {got:#?}"
    );
    assert!(
        why.iter().any(|w| got[0].contains(w)),
        "{got:?} should say {why:?}"
    );
}

#[test]
fn each_attack_closes_only_its_link() {
    logs::capture();
    let tmp = tempdir("hostile");
    let dir = tmp.path();
    let a = peer("alice", None, dir);
    let b = peer("bob", None, dir);
    a.node.connect(b.addr());
    wait_for("alice and bob linked", WAIT, || linked(a.addr()).len() == 1);
    let (addr, baddr) = (a.addr(), b.addr());

    // 1. Garbage right after the upgrade.
    let mut s = raw_link(addr);
    let from = s.local_addr().unwrap();
    s.write_all(b"this is not json at all\n").unwrap();
    assert!(closed_by_peer(&mut s, WAIT), "garbage must close the link");
    still_serving(addr, baddr, 1);
    one_reason_logged(from, &["malformed frame"]);

    // 2. A 1 MiB frame: cut off at 64 KiB, without buffering the rest.
    let (mut s, ack) = raw_peer(addr, "big:1", &["general"], &Identity::generate());
    assert!(ack.contains("hello-ack"), "{ack}");
    let from = s.local_addr().unwrap();
    let big = vec![b'a'; 1024 * 1024];
    let _ = s.write_all(&big);
    assert!(
        closed_by_peer(&mut s, WAIT),
        "an oversized frame must close the link"
    );
    still_serving(addr, baddr, 2);
    one_reason_logged(from, &["frame longer than 65536 bytes"]);

    // 3. A hello claiming alice's own id.
    let mut s = raw_link(addr);
    let from = s.local_addr().unwrap();
    s.write_all(hello(a.node.peer_id(), &["general"], &Identity::generate()).as_bytes())
        .unwrap();
    let answer = crate::read_until(&mut s, b"\n", WAIT);
    assert!(!answer.contains("hello-ack"), "{answer}");
    assert!(closed_by_peer(&mut s, WAIT), "a link to oneself must close");
    still_serving(addr, baddr, 3);
    one_reason_logged(from, &["link to self"]);

    // 4. A flood of frames from a peer that never reads what it is sent.
    let (mut s, _) = raw_peer(addr, "flood:1", &["general"], &Identity::generate());
    let from = s.local_addr().unwrap();
    let chunk = "{\"type\":\"ping\",\"token\":1}\n".repeat(2000);
    let deadline = Instant::now() + Duration::from_secs(30);
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    while Instant::now() < deadline && s.write_all(chunk.as_bytes()).is_ok() {}
    assert!(Instant::now() < deadline, "the flood was never cut off");
    assert!(closed_by_peer(&mut s, WAIT));
    wait_for("the flood link gone", WAIT, || !a.node.is_linked("flood:1"));
    still_serving(addr, baddr, 4);
    // Whichever defence fires first: the frame count, or the pongs it never reads.
    one_reason_logged(from, &["frame flood", "does not read its frames"]);

    // 5. A link dropped in the middle of a frame. Half-closed rather than dropped with unread
    // input, which would reset it and could discard the partial frame before alice reads it.
    let (mut s, _) = raw_peer(addr, "mid:1", &["general"], &Identity::generate());
    let from = s.local_addr().unwrap();
    wait_for("the half-frame peer linked", WAIT, || {
        a.node.is_linked("mid:1")
    });
    let partial = b"{\"type\":\"msg\",\"id\":\"mid:1/gen";
    s.write_all(partial).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert!(closed_by_peer(&mut s, WAIT), "alice closes her end");
    drop(s);
    wait_for("the dropped link forgotten", WAIT, || {
        !a.node.is_linked("mid:1")
    });
    still_serving(addr, baddr, 5);
    one_reason_logged(
        from,
        &[&format!(
            "dropped mid-frame: peer closed the connection, {} bytes of an unfinished frame",
            partial.len()
        )],
    );

    assert_eq!(linked(addr), [b.node.peer_id().to_string()]);
    drop((a, b));
}

#[test]
fn torn_last_line_is_skipped() {
    let tmp = tempdir("torn");
    let dir = tmp.path();
    let good = json!({"id": "x:1/general/1", "channel": "general", "from": "x:1", "name": "xavier",
        "seq": 1, "lamport": 1, "ts": 0, "text": "kept"});
    std::fs::create_dir_all(dir.join("alice")).unwrap();
    std::fs::write(
        dir.join("alice").join("messages.jsonl"),
        format!("{good}\n{{\"id\":\"x:1/general/2\",\"chan"),
    )
    .unwrap();
    let a = peer("alice", None, dir);
    assert_eq!(texts(a.addr(), "general"), ["xavier: kept"]);
    call(
        a.addr(),
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "new"})),
    );
    let addr = a.addr();
    a.shutdown().unwrap();
    let a = crate::peer_at("alice", addr, None, dir, &[("general", None)]);
    assert_eq!(texts(a.addr(), "general"), ["xavier: kept", "alice: new"]);
    drop(a);
}
