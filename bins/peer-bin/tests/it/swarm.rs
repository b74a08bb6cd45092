//! File sharing between real peer-bin processes (SPEC §8): a 256 MiB file fetched from two
//! holders at once while a fourth peer fetches from the third; a holder killed mid-fetch; a
//! holder serving corrupt chunks; a fetcher killed with SIGKILL that resumes; peers restarted
//! with their data directory that share their files again, less one deleted meanwhile. Holders run
//! with `--upload-limit` where a test must act in the middle of a fetch, so that the middle
//! lasts long enough to act in, whatever the machine's speed. Their files live in memory
//! (`/dev/shm`) where there is one: a shared disk may not have room for them.

use std::net::SocketAddr;
use std::path::Path;

use http_core::Method;
use serde_json::{Value, json};

use crate::daemon::{parse_url, peer_bin};
use crate::files::{WAIT, fetch_view, publish, random_file, same_bytes, served, wait_done};
use crate::{TOKEN, call, tracker, wait_for};
use test_support::process::Daemon;
use test_support::tempdir_in_memory;

const MIB: usize = 1 << 20;

/// A peer-bin process, killed when dropped.
struct Proc {
    process: Daemon,
    addr: SocketAddr,
}

impl Proc {
    /// Starts peer-bin `name` with its data in `dir/name`, its log in `dir/name.log`.
    fn start(name: &str, tracker: SocketAddr, dir: &Path, upload_limit: usize) -> Proc {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join(format!("{name}.log")))
            .unwrap();
        let mut process = Daemon::spawn(
            peer_bin(name, tracker, &dir.join(name))
                .args(["--token", TOKEN])
                .arg("--upload-limit")
                .arg(upload_limit.to_string())
                .env("RUST_LOG", "info")
                .stderr(log),
        );
        let first = process.stdout().next(WAIT).unwrap_or_default();
        let (_, port, _) = parse_url(&first).unwrap_or_else(|| panic!("no URL: {first:?}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for("registration", WAIT, || {
            call(addr, Method::Get, "/api/me", None).1["tracker"]["registered"] == true
        });
        Proc { process, addr }
    }

    fn kill(self) {
        drop(self.process);
    }
}

fn fetch(addr: SocketAddr, file_id: &str, dest: &Path) {
    let body = json!({"file_id": file_id, "dest": dest});
    let (status, started) = call(addr, Method::Post, "/api/files/fetch", Some(body));
    assert_eq!(status, 202, "{started}");
}

fn have(addr: SocketAddr, file_id: &str) -> u64 {
    fetch_view(addr, file_id).map_or(0, |v| v["have"].as_u64().unwrap_or(0))
}

fn holder<'a>(view: &'a Value, peer: &Proc) -> &'a Value {
    let id = peer.addr.to_string();
    view["holders"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["peer_id"] == id.as_str()))
        .unwrap_or_else(|| panic!("no holder {id} in {view}"))
}

/// Two holders publish `size` bytes of `src` in 1 MiB chunks; answers the file id.
fn two_holders(a: &Proc, b: &Proc, src: &Path) -> String {
    let (status, published) = publish(a.addr, src, "big.bin", MIB as u64);
    assert_eq!(status, 201, "{published}");
    let (status, again) = publish(b.addr, src, "big.bin", MIB as u64);
    assert_eq!(status, 201, "{again}");
    assert_eq!(published["file_id"], again["file_id"]);
    published["file_id"].as_str().unwrap().to_string()
}

#[test]
fn a_256_mib_file_comes_from_two_holders_at_once_and_a_fourth_peer_fetches_from_the_third() {
    let tmp = tempdir_in_memory("swarm");
    let dir = tmp.path();
    let t = tracker(90);
    let src = dir.join("big.bin");
    random_file(&src, 256, 256 * MIB);
    // Paced so that the third is still fetching when the fourth starts.
    let a = Proc::start("a", t.addr, dir, 64 * MIB);
    let b = Proc::start("b", t.addr, dir, 64 * MIB);
    let c = Proc::start("c", t.addr, dir, 0);
    let d = Proc::start("d", t.addr, dir, 0);
    let id = two_holders(&a, &b, &src);

    let c_dest = dir.join("c.bin");
    fetch(c.addr, &id, &c_dest);
    wait_for("c to hold a tenth", WAIT, || have(c.addr, &id) >= 26);
    assert!(have(c.addr, &id) < 256, "c is still fetching");
    // The tracker (`list_chunkinfo`) shows c as a partial holder while it fetches.
    let c_id = c.addr.to_string();
    let mut partial = Value::Null;
    wait_for("the tracker to list c as a partial holder", WAIT, || {
        let (_, location) = call(t.addr, Method::Get, &format!("/files/{id}"), None);
        let holders = location["holders"].as_array().cloned().unwrap_or_default();
        partial = holders
            .into_iter()
            .find(|h| h["peer_id"] == c_id.as_str())
            .unwrap_or_default();
        partial["chunks"].as_array().is_some_and(|c| !c.is_empty())
    });
    assert_eq!(partial["complete"], false, "{partial}");
    let d_dest = dir.join("d.bin");
    fetch(d.addr, &id, &d_dest);

    let c_view = wait_done(c.addr, &id);
    let d_view = wait_done(d.addr, &id);
    assert!(same_bytes(&src, &c_dest), "c's copy differs");
    assert!(same_bytes(&src, &d_dest), "d's copy differs");
    // Each holder served a share of c's fetch, and d got chunks from c.
    for h in [&a, &b] {
        let share = holder(&c_view, h)["chunks"].as_u64().unwrap();
        assert!(
            share >= 256 / 10,
            "{} sent c only {share} chunks: {c_view}",
            h.addr
        );
    }
    let from_c = holder(&d_view, &c)["chunks"].as_u64().unwrap();
    assert!(from_c > 0, "d got nothing from c: {d_view}");
    assert!(served(c.addr, &id) >= from_c);
    assert!(served(a.addr, &id) + served(b.addr, &id) >= 256);
    drop((a, b, c, d));
}

#[test]
fn a_holder_killed_mid_fetch_leaves_the_fetch_to_the_other() {
    let tmp = tempdir_in_memory("swarm-kill");
    let dir = tmp.path();
    let t = tracker(90);
    let src = dir.join("big.bin");
    random_file(&src, 32, 32 * MIB);
    let a = Proc::start("a", t.addr, dir, 4 * MIB);
    let b = Proc::start("b", t.addr, dir, 4 * MIB);
    let c = Proc::start("c", t.addr, dir, 0);
    let id = two_holders(&a, &b, &src);
    let dest = dir.join("c.bin");
    fetch(c.addr, &id, &dest);
    wait_for("c to hold a quarter", WAIT, || have(c.addr, &id) >= 8);
    assert!(have(c.addr, &id) < 32);
    a.kill();
    let view = wait_done(c.addr, &id);
    assert!(same_bytes(&src, &dest), "the copy differs");
    assert!(
        holder(&view, &b)["chunks"].as_u64().unwrap() >= 16,
        "{view}"
    );
    drop((b, c));
}

#[test]
fn a_holder_serving_corrupt_chunks_is_caught_and_penalised() {
    let tmp = tempdir_in_memory("swarm-corrupt");
    let dir = tmp.path();
    let t = tracker(90);
    let good = dir.join("good.bin");
    random_file(&good, 16, 16 * MIB);
    let bad = dir.join("bad.bin");
    std::fs::copy(&good, &bad).unwrap();
    let a = Proc::start("a", t.addr, dir, 0);
    let b = Proc::start("b", t.addr, dir, 0);
    let c = Proc::start("c", t.addr, dir, 0);
    let (status, published) = publish(a.addr, &bad, "file.bin", MIB as u64);
    assert_eq!(status, 201, "{published}");
    let id = published["file_id"].as_str().unwrap().to_string();
    assert_eq!(publish(b.addr, &good, "file.bin", MIB as u64).0, 201);
    // After publishing, a's copy changes on disk: every chunk it serves is now wrong.
    random_file(&bad, 99, 16 * MIB);

    let dest = dir.join("c.bin");
    fetch(c.addr, &id, &dest);
    let view = wait_done(c.addr, &id);
    assert!(same_bytes(&good, &dest), "a corrupt chunk got through");
    let a_record = holder(&view, &a);
    assert!(a_record["faults"].as_u64().unwrap() >= 1, "{view}");
    assert_eq!(a_record["chunks"], 0, "{view}");
    assert_eq!(a_record["state"], "dropped", "{view}");
    assert_eq!(holder(&view, &b)["chunks"], 16, "{view}");
    drop((a, b, c));
}

#[test]
fn a_fetcher_killed_with_sigkill_resumes_from_its_part_file() {
    let tmp = tempdir_in_memory("swarm-resume");
    let dir = tmp.path();
    let t = tracker(90);
    let src = dir.join("big.bin");
    random_file(&src, 48, 32 * MIB);
    let a = Proc::start("a", t.addr, dir, 4 * MIB);
    let b = Proc::start("b", t.addr, dir, 4 * MIB);
    let id = two_holders(&a, &b, &src);
    let dest = dir.join("c.bin");
    let c = Proc::start("c", t.addr, dir, 0);
    fetch(c.addr, &id, &dest);
    wait_for("c to hold over half", WAIT, || have(c.addr, &id) >= 18);
    c.kill();
    assert!(!dest.exists(), "the fetch was not complete");

    let c = Proc::start("c", t.addr, dir, 0);
    fetch(c.addr, &id, &dest);
    let view = wait_done(c.addr, &id);
    assert!(same_bytes(&src, &dest), "the resumed copy differs");
    let (resumed, fetched) = (view["resumed"].as_u64(), view["fetched"].as_u64());
    assert!(resumed >= Some(18), "{view}");
    assert!(fetched < Some(16), "downloaded half again or more: {view}");
    drop((a, b, c));
}

/// The peer ids the tracker lists as holders of `file_id`, with whether each holds it whole.
fn tracker_holders(tracker: SocketAddr, file_id: &str) -> Vec<(String, bool)> {
    let (_, location) = call(tracker, Method::Get, &format!("/files/{file_id}"), None);
    let holders = location["holders"].as_array().cloned().unwrap_or_default();
    holders
        .iter()
        .map(|h| {
            let id = h["peer_id"].as_str().unwrap_or_default().to_string();
            (id, h["complete"] == true)
        })
        .collect()
}

fn listed_whole(tracker: SocketAddr, file_id: &str, peer: &Proc) -> bool {
    let id = peer.addr.to_string();
    tracker_holders(tracker, file_id).contains(&(id, true))
}

fn local_ids(peer: &Proc) -> Vec<String> {
    let (_, body) = call(peer.addr, Method::Get, "/api/files", None);
    let local = body["local"].as_array().cloned().unwrap_or_default();
    local
        .iter()
        .map(|f| f["file_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_restarted_peer_shares_its_files_again_but_not_one_deleted_while_it_was_down() {
    let tmp = tempdir_in_memory("swarm-restart");
    let dir = tmp.path();
    let t = tracker(90);
    let kept = dir.join("kept.bin");
    random_file(&kept, 5, 8 * MIB);
    let gone = dir.join("gone.bin");
    random_file(&gone, 6, 2 * MIB);
    let a = Proc::start("a", t.addr, dir, 0);
    let (status, published) = publish(a.addr, &kept, "kept.bin", MIB as u64);
    assert_eq!(status, 201, "{published}");
    let kept_id = published["file_id"].as_str().unwrap().to_string();
    let (status, published) = publish(a.addr, &gone, "gone.bin", MIB as u64);
    assert_eq!(status, 201, "{published}");
    let gone_id = published["file_id"].as_str().unwrap().to_string();
    // Killed, not stopped: what it shares must already be on the disk.
    a.kill();
    std::fs::remove_file(&gone).unwrap();

    // Restarted with the same data directory (on a new port, so under a new peer id).
    let a = Proc::start("a", t.addr, dir, 0);
    wait_for("a to announce kept.bin again", WAIT, || {
        listed_whole(t.addr, &kept_id, &a)
    });
    assert_eq!(local_ids(&a), std::slice::from_ref(&kept_id));
    let log = std::fs::read_to_string(dir.join("a.log")).unwrap();
    assert!(
        log.contains(&format!("gone.bin ({gone_id}) is gone from")),
        "the log does not say why gone.bin is dropped:\n{log}"
    );
    let a_id = a.addr.to_string();
    assert!(
        !tracker_holders(t.addr, &gone_id)
            .iter()
            .any(|(id, _)| *id == a_id),
        "gone.bin was announced again"
    );

    // A third peer fetches from the restarted holder, byte-identical.
    let c = Proc::start("c", t.addr, dir, 0);
    let dest = dir.join("c.bin");
    fetch(c.addr, &kept_id, &dest);
    let view = wait_done(c.addr, &kept_id);
    assert!(same_bytes(&kept, &dest), "the copy differs");
    assert_eq!(holder(&view, &a)["chunks"], 8, "{view}");

    // What c fetched whole, c shares again after its own restart.
    c.kill();
    let c = Proc::start("c", t.addr, dir, 0);
    wait_for("c to announce its fetched copy again", WAIT, || {
        listed_whole(t.addr, &kept_id, &c)
    });
    let (status, chunk) = call(
        c.addr,
        Method::Get,
        &format!("/files/{kept_id}/chunks/7"),
        None,
    );
    assert_eq!(status, 200, "{chunk}");
    drop((a, c));
}
