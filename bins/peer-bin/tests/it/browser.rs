//! The chat UI in a real browser: two peers serving static/chat, driven in headless Chromium by
//! `xtask/browser/chat-smoke.mjs` (`cargo xtask ci` installs its node packages).

use crate::{TOKEN, linked, tempdir, tracker, wait_for};
use std::time::Duration;

fn ui_peer(
    name: &str,
    tracker: std::net::SocketAddr,
    dir: &std::path::Path,
    root: &std::path::Path,
) -> p2p::Running {
    p2p::spawn(p2p::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        name: name.to_owned(),
        tracker: Some(tracker),
        channels: vec![("general".to_owned(), None)],
        data_dir: Some(dir.join(name)),
        token: Some(TOKEN.to_owned()),
        static_root: Some(root.join("static/chat")),
        peer_id: None,
        wall_clock: p2p::WallClock::default(),
        fsync: p2p::store::Fsync::default(),
    })
    .unwrap()
}

#[test]
fn the_chat_ui_works_in_headless_chromium() {
    let root = test_support::repo_root();
    let tracker = tracker(30);
    let tmp = tempdir("browser");
    let dir = tmp.path();
    let alice = ui_peer("alice", tracker.addr, dir, &root);
    let bob = ui_peer("bob", tracker.addr, dir, &root);
    wait_for("alice and bob to link", Duration::from_secs(10), || {
        linked(alice.addr()).len() == 1 && linked(bob.addr()).len() == 1
    });
    let shot = dir.join("chat.png");
    let alice_url = format!("http://{}/?token={TOKEN}", alice.addr());
    let bob_url = format!("http://{}/?token={TOKEN}", bob.addr());
    let text = test_support::run_browser_script(
        "chat-smoke.mjs",
        &[alice_url.as_ref(), bob_url.as_ref(), shot.as_ref()],
    );
    assert!(text.contains("all 11 checks passed"), "{text}");
}
