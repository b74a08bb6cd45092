//! Peers on separate hosts: three network namespaces joined by a bridge (in a fourth), a
//! tracker-bin and a peer-bin on the first, a peer-bin on each of the others, every peer on
//! `--host 0.0.0.0` at the same port, as on real machines. Needs root and `ip` (iproute2): the
//! test fails, saying so, where namespaces cannot be made — it is never skipped in silence.
//!
//! Each host also has a management link to the test's own namespace (a veth pair on a /30 of
//! 198.18.0.0/15, the benchmarking range, chosen from the pid so parallel runs do not clash),
//! over which the test drives the peers' APIs. The peers talk over the bridge only: a host has
//! no route to another's management address. Every name and address is unique to the run, and
//! [`Lab`]'s `Drop` kills the daemons and deletes the namespaces (which deletes their links).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http_core::Method;
use serde_json::json;

use crate::{TOKEN, call, linked, tempdir, wait_for};

/// The peers' port on every host: the same everywhere, which is what once made them collide.
const PEER_PORT: u16 = 5001;
/// The tracker's port on the first host.
const TRACKER_PORT: u16 = 8000;
/// How long a mesh may take to form or heal.
const WAIT: Duration = Duration::from_secs(60);
/// Display names, one per host.
const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// Labs made by this process so far, so two tests of one run get different names.
static LABS: AtomicU32 = AtomicU32::new(0);

/// Runs `ip ARGS`, failing the test with what is needed when it cannot.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("the multi-host tests need `ip` (Debian: apt-get install iproute2): {e}")
    });
    assert!(
        out.status.success(),
        "`ip {}` failed: {}\nthe multi-host tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN) \
         and network namespaces (`ip netns add`); run them as root on Linux",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// A built binary of this workspace next to the test's own (`target/<profile>/NAME`), built
/// with cargo when absent (tracker-bin belongs to another package, so cargo names no path for
/// it here).
fn sibling_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", name]);
        if let Some(profile) = profile_dir.file_name().and_then(|p| p.to_str())
            && profile != "debug"
        {
            build.args(["--profile", profile]);
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build -p {name} failed");
    }
    path
}

/// Three hosts on a bridge, their management links, and the daemons started in them.
struct Lab {
    /// Namespace names: the bridge's, then one per host.
    switch: String,
    hosts: Vec<String>,
    /// Each host's management address (reached from the test's namespace).
    mgmt: Vec<Ipv4Addr>,
    daemons: Vec<Child>,
    /// Logs and data; removed on drop, after the daemons are gone.
    dir: test_support::TempDir,
}

impl Lab {
    /// Makes the namespaces and links. Half-made state is removed by `Drop` if a step fails.
    fn new() -> Lab {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag = format!("{pid:x}{n}");
        let mut lab = Lab {
            switch: format!("wr{tag}sw"),
            hosts: Vec::new(),
            mgmt: Vec::new(),
            daemons: Vec::new(),
            dir: tempdir("multihost"),
        };
        ip(&["netns", "add", &lab.switch]);
        ip(&["-n", &lab.switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lab.switch, "link", "set", "br0", "up"]);
        // A /28 of 198.18.0.0/15 per lab: a /30 per host's management link.
        let slot = (pid.wrapping_mul(8).wrapping_add(n)) % (1 << 13);
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + slot * 16;
        for i in 0..NAMES.len() {
            let host = format!("wr{tag}h{i}");
            ip(&["netns", "add", &host]);
            lab.hosts.push(host.clone());
            ip(&["-n", &host, "link", "set", "lo", "up"]);
            // The data link: eth0 on the host, port{i} on the bridge.
            let port = format!("port{i}");
            ip(&[
                "-n",
                &host,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &lab.switch,
            ]);
            ip(&["-n", &lab.switch, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &lab.switch, "link", "set", &port, "up"]);
            let data = format!("{}/24", data_ip(i));
            ip(&["-n", &host, "addr", "add", &data, "dev", "eth0"]);
            ip(&["-n", &host, "link", "set", "eth0", "up"]);
            // The management link: m<tag><i> here, mgmt on the host.
            let here = format!("m{tag}{i}");
            let ours = Ipv4Addr::from(base + 4 * i as u32 + 1);
            let theirs = Ipv4Addr::from(base + 4 * i as u32 + 2);
            ip(&[
                "link", "add", &here, "type", "veth", "peer", "name", "mgmt", "netns", &host,
            ]);
            ip(&["addr", "add", &format!("{ours}/30"), "dev", &here]);
            ip(&["link", "set", &here, "up"]);
            ip(&[
                "-n",
                &host,
                "addr",
                "add",
                &format!("{theirs}/30"),
                "dev",
                "mgmt",
            ]);
            ip(&["-n", &host, "link", "set", "mgmt", "up"]);
            lab.mgmt.push(theirs);
        }
        lab
    }

    /// Starts `binary ARGS` in host `i`'s namespace.
    fn spawn(&mut self, i: usize, binary: &Path, args: &[String], log: &str) {
        let log = std::fs::File::create(self.dir.path().join(log)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.hosts[i]])
            .arg(binary)
            .args(args)
            .env("WEAPROUS_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemons.push(child);
    }

    /// Where the test reaches host `i`'s peer.
    fn peer(&self, i: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.mgmt[i]), PEER_PORT)
    }

    /// Cuts (`false`) or heals (`true`) host `i`'s data link, on the host's side.
    fn link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.hosts[i], "link", "set", "eth0", state]);
    }

    /// The log of a daemon, for failure messages.
    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.daemons {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting a namespace deletes its interfaces, and a veth pair goes with either end.
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Host `i`'s address on the bridge.
fn data_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, i as u8 + 1)
}

/// The tracker on host 0 and a peer on every host, all on `0.0.0.0`.
fn start(lab: &mut Lab) {
    let tracker = sibling_bin("tracker-bin");
    let args = ["--host", "0.0.0.0", "--port", &TRACKER_PORT.to_string()];
    lab.spawn(0, &tracker, &args.map(String::from), "tracker.log");
    let peer = PathBuf::from(env!("CARGO_BIN_EXE_peer-bin"));
    for (i, name) in NAMES.iter().enumerate() {
        let args = [
            "--host".to_string(),
            "0.0.0.0".to_string(),
            "--port".to_string(),
            PEER_PORT.to_string(),
            "--name".to_string(),
            name.to_string(),
            "--tracker".to_string(),
            format!("http://{}:{TRACKER_PORT}", data_ip(0)),
            "--data-dir".to_string(),
            lab.dir.path().join(name).display().to_string(),
        ];
        lab.spawn(i, &peer, &args, &format!("{name}.log"));
    }
}

/// The peer id every host's peer should have: its bridge address, never 127.0.0.1 or 0.0.0.0.
fn id(i: usize) -> String {
    format!("{}:{PEER_PORT}", data_ip(i))
}

/// The ids of `general`'s messages as peer `at` orders them.
fn order(at: SocketAddr) -> Vec<String> {
    let (status, body) = call(
        at,
        Method::Get,
        "/api/channels/general/messages?limit=500",
        None,
    );
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .map(|list| {
            list.iter()
                .map(|m| m["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Posts `text` to `general` at peer `at`; the id it was acknowledged with.
fn post(at: SocketAddr, text: &str) -> String {
    let body = json!({ "text": text });
    let (status, msg) = call(
        at,
        Method::Post,
        "/api/channels/general/messages",
        Some(body),
    );
    assert_eq!(status, 201, "{msg}");
    msg["id"].as_str().unwrap().to_string()
}

/// Waits until every peer answers its API and is linked to the other two.
fn wait_for_mesh(lab: &Lab) {
    for (i, name) in NAMES.iter().enumerate() {
        let mut others: Vec<String> = (0..NAMES.len()).filter(|&j| j != i).map(id).collect();
        others.sort();
        let at = lab.peer(i);
        wait_for(&format!("{} linked to {others:?}", name), WAIT, || {
            std::net::TcpStream::connect_timeout(&at, Duration::from_secs(1)).is_ok()
                && linked(at) == others
        });
    }
}

#[test]
fn peers_on_three_hosts_on_wildcard_addresses_name_themselves_by_their_own_address() {
    let mut lab = Lab::new();
    start(&mut lab);
    let me = |i: usize| {
        let (status, body) = call(lab.peer(i), Method::Get, "/api/me", None);
        (status, body)
    };
    for (i, name) in NAMES.iter().enumerate() {
        wait_for(&format!("{} registered", name), WAIT, || {
            std::net::TcpStream::connect_timeout(&lab.peer(i), Duration::from_secs(1)).is_ok()
                && me(i).1["tracker"]["registered"] == json!(true)
        });
        let (_, body) = me(i);
        assert_eq!(body["peer_id"], json!(id(i)), "{}", lab.log("tracker.log"));
        assert_eq!(
            body["tracker"]["observed_ip"],
            json!(data_ip(i).to_string())
        );
    }
    // The tracker lists three peers at their own addresses.
    let tracker = SocketAddr::new(IpAddr::V4(lab.mgmt[0]), TRACKER_PORT);
    let (status, list) = call(tracker, Method::Get, "/get-list?channel=general", None);
    assert_eq!(status, 200, "{list}");
    let mut listed: Vec<(String, String)> = list["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let addr = format!("{}:{}", p["ip"].as_str().unwrap(), p["port"]);
            (p["peer_id"].as_str().unwrap().to_string(), addr)
        })
        .collect();
    listed.sort();
    let expected: Vec<(String, String)> = (0..3).map(|i| (id(i), id(i))).collect();
    assert_eq!(listed, expected);

    wait_for_mesh(&lab);

    // A broadcast from every host reaches every other.
    let mut sent = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        sent.push(post(lab.peer(i), &format!("hello from {}", name)));
    }
    for (i, name) in NAMES.iter().enumerate() {
        wait_for(&format!("{} has every broadcast", name), WAIT, || {
            let have = order(lab.peer(i));
            sent.iter().all(|id| have.contains(id))
        });
    }

    // A direct message from bob (host 1) to carol (host 2), and her reply.
    let dm = |from: usize, to: usize, text: &str| {
        let body = json!({ "text": text });
        let target = format!("/api/direct/{}", id(to));
        let (status, msg) = call(lab.peer(from), Method::Post, &target, Some(body));
        assert_eq!(status, 201, "{msg}");
    };
    let texts_of = |at: usize, with: usize| -> Vec<String> {
        let target = format!("/api/direct/{}?limit=100", id(with));
        let (_, body) = call(lab.peer(at), Method::Get, &target, None);
        body.as_array()
            .map(|l| {
                l.iter()
                    .map(|m| m["text"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    dm(1, 2, "psst, carol");
    wait_for("carol has bob's DM", WAIT, || {
        texts_of(2, 1) == ["psst, carol"]
    });
    dm(2, 1, "hi bob");
    wait_for("bob has carol's reply", WAIT, || {
        texts_of(1, 2) == ["psst, carol", "hi bob"]
    });
    assert!(texts_of(0, 1).is_empty(), "alice sees no DM of others");
}

#[test]
fn a_host_cut_off_and_back_loses_nothing_acknowledged_and_every_peer_agrees_on_the_order() {
    let mut lab = Lab::new();
    start(&mut lab);
    wait_for_mesh(&lab);
    post(lab.peer(0), "before the cut");

    // Carol's host goes off the network; everyone keeps talking, carol too.
    lab.link(2, false);
    let mut acknowledged = Vec::new();
    for round in 0..5 {
        for (i, name) in NAMES.iter().enumerate() {
            acknowledged.push(post(lab.peer(i), &format!("{} #{round}", name)));
        }
    }
    let alice_has = order(lab.peer(0));
    let carols: Vec<&String> = acknowledged.iter().skip(2).step_by(3).collect();
    assert!(
        carols.iter().any(|id| !alice_has.contains(id)),
        "the cut let carol's messages through at once"
    );

    lab.link(2, true);
    for (i, name) in NAMES.iter().enumerate() {
        wait_for(
            &format!("{} has every acknowledged message", name),
            WAIT,
            || {
                let have = order(lab.peer(i));
                acknowledged.iter().all(|id| have.contains(id))
            },
        );
    }
    let orders: Vec<Vec<String>> = (0..NAMES.len()).map(|i| order(lab.peer(i))).collect();
    assert_eq!(orders[0], orders[1], "alice and bob disagree on the order");
    assert_eq!(
        orders[0], orders[2],
        "alice and carol disagree on the order"
    );
    assert_eq!(orders[0].len(), acknowledged.len() + 1);
    wait_for_mesh(&lab);
}

/// The long cut: carol's host is away until every link to it has died (no word for
/// `DEAD_AFTER_MS`), so nothing comes back by TCP retransmission — carol registers again, the
/// mesh re-forms, and sync alone must bring every acknowledged message to every peer.
#[test]
fn a_host_cut_off_until_its_links_die_gets_everything_back_by_sync() {
    let mut lab = Lab::new();
    start(&mut lab);
    wait_for_mesh(&lab);
    lab.link(2, false);
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        for (i, name) in NAMES.iter().enumerate() {
            acknowledged.push(post(lab.peer(i), &format!("{name} #{round}")));
        }
    }
    let dead = Duration::from_millis(p2p_proto::link::DEAD_AFTER_MS) + WAIT;
    wait_for("alice and bob to drop their links to carol", dead, || {
        !linked(lab.peer(0)).contains(&id(2)) && !linked(lab.peer(1)).contains(&id(2))
    });
    wait_for("carol to drop her links", WAIT, || {
        linked(lab.peer(2)).is_empty()
    });
    // More on both sides while the links are down.
    acknowledged.push(post(lab.peer(0), "alice, alone"));
    acknowledged.push(post(lab.peer(2), "carol, alone"));

    lab.link(2, true);
    wait_for_mesh(&lab);
    for (i, name) in NAMES.iter().enumerate() {
        wait_for(&format!("{name} to get everything back"), WAIT, || {
            let have = order(lab.peer(i));
            acknowledged.iter().all(|id| have.contains(id))
        });
    }
    let orders: Vec<Vec<String>> = (0..NAMES.len()).map(|i| order(lab.peer(i))).collect();
    assert_eq!(orders[0], orders[1], "alice and bob disagree on the order");
    assert_eq!(
        orders[0], orders[2],
        "alice and carol disagree on the order"
    );
}
