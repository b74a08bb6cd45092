//! Direct messages by name or id, and the targets that are errors (issue 13): a name nobody
//! has (404), a name two linked peers share (409), a peer with no open link (409). Nothing is
//! stored for a message that was refused.

use std::time::Duration;

use http_core::Method;
use serde_json::json;

use crate::{call, peer, tempdir, wait_for};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn direct_by_name_and_every_refused_target() {
    let tmp = tempdir("direct");
    let dir = tmp.path();
    let a = peer("alice", None, dir);
    let b = peer("bob", None, dir);
    let twin = peer("bob", None, &dir.join("twin"));
    let bob = b.node.peer_id().to_string();
    a.node.connect(b.addr());
    wait_for("alice linked to bob", WAIT, || a.node.is_linked(&bob));

    // By name: the one linked "bob" gets it.
    let send = |to: &str| {
        call(
            a.addr(),
            Method::Post,
            &format!("/api/direct/{to}"),
            Some(json!({"text": format!("to {to}")})),
        )
    };
    let (status, msg) = send("bob");
    assert_eq!(status, 201, "{msg}");
    assert_eq!(msg["to"], bob);
    wait_for("bob got the message sent to his name", WAIT, || {
        let (_, dms) = call(b.addr(), Method::Get, "/api/direct/alice", None);
        dms.as_array().is_some_and(|d| d.len() == 1)
    });

    // A name nobody has: 404, and the reason.
    let (status, body) = send("nobody");
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("nobody"), "{body}");

    // Two linked peers called bob: 409 naming both ids.
    let twin_id = twin.node.peer_id().to_string();
    a.node.connect(twin.addr());
    wait_for("alice linked to the second bob", WAIT, || {
        a.node.is_linked(&twin_id)
    });
    let (status, body) = send("bob");
    assert_eq!(status, 409, "{body}");
    let why = body["error"].as_str().unwrap();
    assert!(why.contains(&bob) && why.contains(&twin_id), "{body}");

    // A peer we talked to whose process is gone: 409, not a message that never arrives.
    drop(b);
    wait_for("alice saw bob go", WAIT, || !a.node.is_linked(&bob));
    let (status, body) = send(&bob);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not reachable"),
        "{body}"
    );

    // Only the one message that was sent is in the conversation.
    let (_, dms) = call(a.addr(), Method::Get, &format!("/api/direct/{bob}"), None);
    assert_eq!(dms.as_array().unwrap().len(), 1, "{dms}");
    drop((a, twin));
}
