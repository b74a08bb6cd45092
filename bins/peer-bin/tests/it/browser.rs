//! The chat UI in a real browser: two peers serving static/chat, driven in headless Chromium by
//! `xtask/browser/chat-smoke.mjs` (`cargo xtask ci` installs its node packages).

use crate::{TOKEN, linked, tempdir, tracker, wait_for};
use std::path::PathBuf;
use std::process::Command;
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
        users: router::auth::Credentials::new(),
        static_root: Some(root.join("static/chat")),
        peer_id: None,
        wall_clock: p2p::WallClock::default(),
        fsync: p2p::store::Fsync::default(),
    })
    .unwrap()
}

#[test]
fn the_chat_ui_works_in_headless_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let browser = root.join("xtask/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "browser test packages missing: run `npm ci --prefix xtask/browser` (cargo xtask ci does)"
    );
    let tracker = tracker(30);
    let dir = tempdir("browser");
    let alice = ui_peer("alice", tracker.addr, &dir, &root);
    let bob = ui_peer("bob", tracker.addr, &dir, &root);
    wait_for("alice and bob to link", Duration::from_secs(10), || {
        linked(alice.addr()).len() == 1 && linked(bob.addr()).len() == 1
    });
    let shot = screens_dir(&dir).join("chat.png");
    let output = Command::new("node")
        .arg(browser.join("chat-smoke.mjs"))
        .arg(format!("http://{}/?token={TOKEN}", alice.addr()))
        .arg(format!("http://{}/?token={TOKEN}", bob.addr()))
        .arg(&shot)
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("all 11 checks passed"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where a browser test leaves its screenshots: `WEAPROUS_SCREENS_DIR` (set it to
/// `docs/screens` to refresh the README's), else `dir`.
fn screens_dir(dir: &std::path::Path) -> PathBuf {
    std::env::var_os("WEAPROUS_SCREENS_DIR").map_or_else(|| dir.to_path_buf(), PathBuf::from)
}

/// Issue 13: the tracker's dashboard (sign-in, peers, channels, files with coverage, live
/// updates, sign-out) and a peer's stale-link page, driven by `xtask/browser/dashboard.mjs`.
#[test]
fn the_dashboard_and_the_stale_link_page_work_in_headless_chromium() {
    use http_core::Method;
    use serde_json::json;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let browser = root.join("xtask/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "browser test packages missing: run `npm ci --prefix xtask/browser` (cargo xtask ci does)"
    );
    let mut admins = router::auth::Credentials::new();
    admins.add("admin", "password");
    let config = tracker::Config {
        max_peers: 100,
        default_ttl_s: 90,
    };
    let any = "127.0.0.1:0".parse().unwrap();
    let t = tracker::server::spawn(tracker::Tracker::new(config, admins), any).unwrap();
    let dir = tempdir("dashboard");
    let alice = ui_peer("alice", t.addr, &dir, &root);
    wait_for(
        "alice in general at the tracker",
        Duration::from_secs(10),
        || {
            let (_, list) = crate::call(t.addr, Method::Get, "/get-list?channel=general", None);
            list["count"] == 1
        },
    );
    // A seeder with half of a two-chunk file, so the dashboard has a coverage to show.
    let (_, seeder) = crate::call(
        t.addr,
        Method::Post,
        "/submit-info",
        Some(json!({"ip": "127.0.0.1", "port": 6000, "name": "seeder"})),
    );
    let publish = json!({
        "peer_id": seeder["peer_id"], "token": seeder["token"], "name": "notes.txt",
        "size": 2, "chunk_size": 1, "chunk_hashes": [format!("{:064x}", 1), format!("{:064x}", 2)],
    });
    let (status, body) = crate::call(t.addr, Method::Post, "/files/publish", Some(publish));
    assert_eq!(status, 200, "{body}");

    let shots = screens_dir(&dir);
    let output = Command::new("node")
        .arg(browser.join("dashboard.mjs"))
        .arg(format!("http://{}", t.addr))
        .args(["admin", "password"])
        .arg(format!(
            "http://{}/?token=from-an-earlier-run",
            alice.addr()
        ))
        .arg(&shots)
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("ok 7 - ") && !text.contains("not ok"),
        "{text}"
    );
    drop((alice, t));
    let _ = std::fs::remove_dir_all(&dir);
}
