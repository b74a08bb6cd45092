//! Paging over HTTP: `?limit=&after=` on `/get-list` (query or POST body), `/files` and
//! `/channels`; the `next` cursor (or `Link` header) walks the whole set exactly once with the
//! filters applied, the course shape is capped at 1,000 without parameters, and a bad `limit`
//! or `after` is a clear 400.

use crate::{get, ids_of, post, send, start_default};
use http_core::Method;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use tracker::RegisterParams;
use tracker::server::Running;

const PEERS: usize = 2_500;

/// A tracker with [`PEERS`] peers `p0000`… registered directly (not over HTTP, which the rate
/// limit would slow): every third in channel `general`, every fifth with role `seed`.
fn populated() -> Running {
    let running = start_default();
    // Loopback: not held to the per-address peer limit.
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    running.tracker.with(|reg, now| {
        for i in 0..PEERS {
            let params = RegisterParams {
                port: 5000 + i as u32,
                peer_id: Some(format!("p{i:04}")),
                channels: if i % 3 == 0 {
                    vec!["general".into()]
                } else {
                    vec![]
                },
                roles: if i % 5 == 0 {
                    vec!["seed".into()]
                } else {
                    vec![]
                },
                ..Default::default()
            };
            reg.register(params, ip, now).unwrap();
        }
    });
    running
}

fn expected(keep: impl Fn(usize) -> bool) -> Vec<String> {
    (0..PEERS)
        .filter(|&i| keep(i))
        .map(|i| format!("p{i:04}"))
        .collect()
}

/// Follows `next` from `first` (a target ending in a query) through GETs, at most
/// [`PEERS`] + 1 pages; answers every id in order.
pub(crate) fn walk_get(addr: SocketAddr, first: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut target = first.to_owned();
    for _ in 0..=PEERS {
        let (status, body) = get(addr, &target);
        assert_eq!(status, 200, "{target}: {body}");
        let page = ids_of(&body);
        assert_eq!(body["count"], page.len(), "{body}");
        all.extend(page);
        match body["next"].as_str() {
            Some(next) => target = format!("{first}&after={next}"),
            None => return all,
        }
    }
    panic!("{first}: the cursor never reached the end");
}

#[test]
fn the_cursor_walks_every_peer_once_with_filters_applied() {
    let tracker = populated();
    let addr = tracker.addr;
    let cases = [
        ("/get-list?limit=333", expected(|_| true)),
        ("/get-list?limit=1000", expected(|_| true)),
        (
            "/tracker/peers?limit=97&channel=general",
            expected(|i| i % 3 == 0),
        ),
        ("/get-list?role=seed&limit=50", expected(|i| i % 5 == 0)),
        (
            "/get-list?channel=general&role=seed&limit=7",
            expected(|i| i % 15 == 0),
        ),
        ("/get-list?channel=nowhere&limit=10", vec![]),
    ];
    for (first, want) in cases {
        assert_eq!(walk_get(addr, first), want, "{first}");
    }
}

#[test]
fn without_parameters_the_course_shape_is_capped_with_next() {
    let tracker = populated();
    let (status, body) = get(tracker.addr, "/get-list");
    assert_eq!(status, 200);
    let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["count", "next", "peers", "status"], "{fields:?}");
    assert_eq!(body["count"], 1000);
    assert_eq!(ids_of(&body), expected(|i| i < 1000));
    assert_eq!(body["next"], "p0999");
    // A list that fits has no `next`: exactly the course's fields.
    let (_, body) = get(tracker.addr, "/get-list?channel=general&role=seed");
    let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["count", "peers", "status"]);
    assert_eq!(body["count"], PEERS.div_ceil(15));
}

#[test]
fn post_get_list_pages_from_its_body() {
    let tracker = populated();
    let mut all = Vec::new();
    let mut after = Value::Null;
    for _ in 0..=PEERS {
        let query = json!({"channel": "general", "limit": 400, "after": after});
        let (status, body) = post(tracker.addr, "/get-list", &query);
        assert_eq!(status, 200, "{body}");
        all.extend(ids_of(&body));
        match &body["next"] {
            Value::String(next) => after = json!(next),
            _ => break,
        }
    }
    assert_eq!(all, expected(|i| i % 3 == 0));
}

#[test]
fn a_bad_limit_or_after_is_a_clear_400() {
    let tracker = populated();
    let limit =
        |got: &str| format!("bad request: limit must be a whole number in 1..=1000, got \"{got}\"");
    let cases = [
        ("/get-list?limit=0", limit("0")),
        ("/get-list?limit=1001", limit("1001")),
        ("/get-list?limit=ten", limit("ten")),
        ("/get-list?limit=-1", limit("-1")),
        ("/files?limit=0", limit("0")),
        (
            "/get-list?after=a%20b",
            "bad request: after \"a b\" has ' '; allowed are letters, digits and ._-:@[]".into(),
        ),
        (
            "/files?after=%2Fetc",
            "bad request: after \"/etc\" has '/'; allowed are letters, digits and ._-:@[]".into(),
        ),
    ];
    for (target, message) in cases {
        let (status, body) = get(tracker.addr, target);
        assert_eq!((status, body), (400, json!({"error": message})), "{target}");
    }
    let (status, body) = post(tracker.addr, "/get-list", &json!({"limit": 2.5}));
    assert_eq!((status, body["error"].clone()), (400, json!(limit("2.5"))));
}

/// The `Link: <target>; rel="next"` of a `/files` answer, if any.
fn next_link(headers: &http_core::Headers) -> Option<String> {
    let link = std::str::from_utf8(headers.get("link")?).unwrap();
    assert!(link.ends_with(">; rel=\"next\""), "{link}");
    Some(link[1..link.find('>').unwrap()].to_owned())
}

/// Follows the `Link` headers from `first` (at most `most` pages); answers the `key` field of
/// every item, in order.
pub(crate) fn walk_links(addr: SocketAddr, first: &str, key: &str, most: usize) -> Vec<String> {
    let mut got = Vec::new();
    let mut target = first.to_owned();
    for _ in 0..=most {
        let response = send(addr, Method::Get, &target, &[], b"");
        assert_eq!(response.status.code(), 200, "{target}");
        let items: Value = serde_json::from_slice(&response.body).unwrap();
        let items = items.as_array().expect("the answer stays a bare array");
        got.extend(items.iter().map(|f| f[key].as_str().unwrap().to_owned()));
        match next_link(&response.headers) {
            Some(next) => target = next,
            None => return got,
        }
    }
    panic!("{first}: the links never reached the end");
}

#[test]
fn files_page_with_a_link_to_the_next() {
    let tracker = start_default();
    let addr = tracker.addr;
    let (id, token) = crate::register(addr, 5001);
    let mut want = Vec::new();
    for n in 0..30u64 {
        let hashes = [format!("{:064x}", n + 1)];
        let publish = json!({"peer_id": id, "token": token, "name": format!("f{n}"),
                             "size": 10, "chunk_size": 16, "chunk_hashes": hashes});
        let (status, body) = post(addr, "/files/publish", &publish);
        assert_eq!(status, 200, "{body}");
        want.push(body["file_id"].as_str().unwrap().to_owned());
    }
    want.sort();
    assert_eq!(walk_links(addr, "/files?limit=7", "file_id", 30), want);
    let whole = send(addr, Method::Get, "/files", &[], b"");
    assert!(next_link(&whole.headers).is_none());
    let files: Value = serde_json::from_slice(&whole.body).unwrap();
    assert_eq!(files.as_array().unwrap().len(), 30);
}

#[test]
fn channels_page_with_a_link_to_the_next() {
    let tracker = populated();
    let ip: IpAddr = "10.0.0.2".parse().unwrap();
    let want: Vec<String> = (0..30).map(|i| format!("ch{i:02}")).collect();
    tracker.tracker.with(|reg, now| {
        for (i, name) in want.iter().enumerate() {
            let params = RegisterParams {
                port: 6000 + i as u32,
                peer_id: Some(format!("q{i:02}")),
                channels: vec![name.clone()],
                ..Default::default()
            };
            reg.register(params, ip, now).unwrap();
        }
    });
    let mut all = want.clone();
    all.push("general".to_owned());
    assert_eq!(
        walk_links(tracker.addr, "/channels?limit=4", "name", 31),
        all
    );
    let (status, body) = get(tracker.addr, "/channels?after=ch29");
    assert_eq!(status, 200);
    assert_eq!(
        body[0]["members"].as_array().unwrap().len(),
        PEERS.div_ceil(3)
    );
}
