//! The chat UI in a real browser: two peers serving static/chat, driven in headless Chromium by
//! `xtask/browser/chat-smoke.mjs` and `files-smoke.mjs` (`cargo xtask ci` installs their node
//! packages).

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
        users: router::auth::Credentials::new(),
        static_root: Some(root.join("static/chat")),
        peer_id: None,
        advertise: None,
        wall_clock: p2p::WallClock::default(),
        fsync: p2p::store::Fsync::default(),
        limits: http_core::Limits::default(),
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
    let shot = test_support::screenshot_path(dir, "chat.png");
    let alice_url = format!("http://{}/?token={TOKEN}", alice.addr());
    let bob_url = format!("http://{}/?token={TOKEN}", bob.addr());
    let text = test_support::run_browser_script(
        "chat-smoke.mjs",
        &[alice_url.as_ref(), bob_url.as_ref(), shot.as_ref()],
    );
    assert!(text.contains("all 11 checks passed"), "{text}");
}

/// Issue 13: the tracker's dashboard (sign-in, peers, channels, files with coverage, live
/// updates, sign-out) and a peer's stale-link page, driven by `xtask/browser/dashboard.mjs`.
#[test]
fn the_dashboard_and_the_stale_link_page_work_in_headless_chromium() {
    use http_core::Method;
    use serde_json::json;
    let root = test_support::repo_root();
    let mut admins = router::auth::Credentials::new();
    admins.add("admin", "password");
    let config = tracker::Config {
        max_peers: 100,
        default_ttl_s: 90,
        ..tracker::Config::default()
    };
    let any = "127.0.0.1:0".parse().unwrap();
    let t = tracker::server::spawn(tracker::Tracker::new(config, admins), any).unwrap();
    let tmp = tempdir("dashboard");
    let alice = ui_peer("alice", t.addr, tmp.path(), &root);
    wait_for(
        "alice in general at the tracker",
        Duration::from_secs(10),
        || {
            let (_, list) = crate::call(t.addr, Method::Get, "/get-list?channel=general", None);
            list["count"] == 1
        },
    );
    // A seeder with a two-chunk file, so the dashboard has a coverage to show.
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

    let shots = test_support::screenshot_path(tmp.path(), "");
    let tracker_url = format!("http://{}", t.addr);
    let stale_url = format!("http://{}/?token=from-an-earlier-run", alice.addr());
    let text = test_support::run_browser_script(
        "dashboard.mjs",
        &[
            tracker_url.as_ref(),
            "admin".as_ref(),
            "password".as_ref(),
            stale_url.as_ref(),
            shots.as_ref(),
        ],
    );
    assert!(
        text.contains("ok 7 - ") && !text.contains("not ok"),
        "{text}"
    );
    drop((alice, t));
}

/// Issue 13: the chat UI's banners in headless Chromium (`xtask/browser/banners.mjs`): a peer
/// whose tracker is down says so; a tab whose peer process was killed says so, greys its peers
/// and refuses to send with the reason.
#[test]
fn the_chat_ui_says_when_the_tracker_or_the_peer_is_gone() {
    use test_support::process::Daemon;
    let root = test_support::repo_root();
    let tmp = tempdir("banners");
    let dir = tmp.path();
    let dead = test_support::closed_addr();
    let lonely = ui_peer("lonely", dead, dir, &root);

    let t = tracker(30);
    let bob = ui_peer("bob", t.addr, dir, &root);
    let mut alice = Daemon::spawn(
        crate::daemon::peer_bin("alice", t.addr, &dir.join("alice"))
            .arg("--static-root")
            .arg(root.join("static/chat"))
            .env("WEAPROUS_TOKEN", TOKEN),
    );
    let first = alice.stdout().next(Duration::from_secs(10)).unwrap();
    let (_, port, _) = crate::daemon::parse_url(&first).unwrap();
    wait_for("bob linked to alice", Duration::from_secs(10), || {
        linked(bob.addr()).len() == 1
    });

    let shot = test_support::screenshot_path(dir, "peer-gone.png");
    let no_tracker = format!("http://{}/?token={TOKEN}", lonely.addr());
    let gone = format!("http://127.0.0.1:{port}/?token={TOKEN}");
    let pid = alice.pid();
    let text = test_support::run_browser_script(
        "banners.mjs",
        &[
            no_tracker.as_ref(),
            gone.as_ref(),
            pid.as_ref(),
            shot.as_ref(),
        ],
    );
    assert!(
        text.contains("ok 4 - ") && !text.contains("not ok"),
        "{text}"
    );
    let _ = alice.child.wait();
    drop((lonely, bob, t));
}

#[test]
fn the_files_panel_publishes_and_a_fetch_reaches_100_percent_in_headless_chromium() {
    let root = test_support::repo_root();
    let tracker = tracker(30);
    let tmp = tempdir("browser-files");
    let dir = tmp.path();
    let alice = ui_peer("alice", tracker.addr, dir, &root);
    let bob = ui_peer("bob", tracker.addr, dir, &root);
    for p in [&alice, &bob] {
        wait_for("registration", Duration::from_secs(10), || {
            p.node.tracker_status().registered
        });
    }
    // 8 MiB served at 4 MiB/s: the fetch lasts about two seconds, long enough to see progress.
    let file = dir.join("shared.bin");
    crate::files::random_file(&file, 5, 8 << 20);
    alice.node.files().set_upload_limit(4 << 20);
    let shot = test_support::screenshot_path(dir, "files.png");
    let alice_url = format!("http://{}/?token={TOKEN}", alice.addr());
    let bob_url = format!("http://{}/?token={TOKEN}", bob.addr());
    let text = test_support::run_browser_script(
        "files-smoke.mjs",
        &[
            alice_url.as_ref(),
            bob_url.as_ref(),
            file.as_os_str(),
            shot.as_ref(),
        ],
    );
    assert!(text.contains("all 5 checks passed"), "{text}");
}
