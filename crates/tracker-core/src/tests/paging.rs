//! Pages of `list`, `files` and `channels`: a cursor walks the whole set exactly once at any
//! page size, filters and expiry still apply, the set may change between pages, and items that
//! list many ids end a page sooner.

use std::collections::BTreeSet;

use super::*;
use crate::paging::{MAX_PAGE_LIMIT, PAGE_SCAN_BUDGET, Paged};
use crate::{JoinParams, ListQuery};

/// Follows `next` from the first page until there is none; answers every item in order and
/// the number of pages. Bounded: more pages than items plus one means the cursor is stuck.
fn walk<T>(limit: usize, most: usize, mut fetch: impl FnMut(&Page) -> Paged<T>) -> (Vec<T>, usize) {
    let mut items = Vec::new();
    let mut page = Page::after(None, limit);
    for pages in 1..=most + 1 {
        let got = fetch(&page);
        assert!(got.items.len() <= limit);
        items.extend(got.items);
        match got.next {
            Some(next) => page = Page::after(Some(&next), limit),
            None => return (items, pages),
        }
    }
    panic!("the cursor did not reach the end in {} pages", most + 1)
}

/// Where the many peers of these tests register from: loopback, which the per-address peer
/// limit leaves alone.
const MANY: &str = "127.0.0.1";

fn register_many(
    r: &mut Registry,
    n: usize,
    each: impl Fn(usize, &mut RegisterParams),
) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut p = params(&format!("p{i:04}"), 5000 + i as u32);
            each(i, &mut p);
            r.register(p, ip(MANY), T0).unwrap().peer_id
        })
        .collect()
}

fn ids(list: &[crate::PeerView]) -> Vec<String> {
    list.iter().map(|p| p.peer_id.clone()).collect()
}

#[test]
fn the_cursor_walks_every_peer_exactly_once() {
    let mut r = Registry::default();
    let mut all = register_many(&mut r, 2_500, |_, _| {});
    all.sort();
    for limit in [1, 7, 999, 1000] {
        let (peers, pages) = walk(limit, all.len(), |page| {
            r.list(&ListQuery::default(), page, T0)
        });
        assert_eq!(ids(&peers), all, "limit {limit}");
        assert_eq!(pages, all.len().div_ceil(limit), "limit {limit}");
    }
    // No parameters: the first 1,000 in id order, and `next` says there is more.
    let first = r.list(&ListQuery::default(), &Page::default(), T0);
    assert_eq!(ids(&first.items), all[..1000]);
    assert_eq!(first.next.as_deref(), Some(all[999].as_str()));
}

#[test]
fn filters_apply_to_every_page() {
    let mut r = Registry::default();
    register_many(&mut r, 3_000, |i, p| {
        if i % 3 == 0 {
            p.channels = vec!["general".into()];
        }
        if i % 5 == 0 {
            p.roles = vec!["seed".into()];
        }
    });
    let expected = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..3_000)
            .filter(|&i| keep(i))
            .map(|i| format!("p{i:04}"))
            .collect()
    };
    let query = |channel: Option<&str>, role: Option<&str>| ListQuery {
        channel: channel.map(Into::into),
        role: role.map(Into::into),
    };
    let cases: [(ListQuery, Vec<String>); 4] = [
        (query(Some("general"), None), expected(&|i| i % 3 == 0)),
        (query(None, Some("seed")), expected(&|i| i % 5 == 0)),
        (
            query(Some("general"), Some("seed")),
            expected(&|i| i % 15 == 0),
        ),
        (query(Some("nowhere"), None), Vec::new()),
    ];
    for (q, want) in cases {
        for limit in [1, 100, MAX_PAGE_LIMIT] {
            let (peers, _) = walk(limit, 3_000, |page| r.list(&q, page, T0));
            assert_eq!(ids(&peers), want, "{q:?} limit {limit}");
        }
    }
}

#[test]
fn a_sparse_filter_stops_at_the_scan_budget_and_goes_on() {
    let mut r = Registry::default();
    let n = PAGE_SCAN_BUDGET * 2 + 10;
    register_many(&mut r, 0, |_, _| {});
    for i in 0..n {
        let mut p = params(&format!("q{i:06}"), 5000);
        if i == n - 1 {
            p.roles = vec!["rare".into()];
        }
        r.register(p, ip(MANY), T0).unwrap();
    }
    let q = ListQuery {
        channel: None,
        role: Some("rare".into()),
    };
    let first = r.list(&q, &Page::default(), T0);
    assert!(first.items.is_empty());
    assert_eq!(first.next, Some(format!("q{:06}", PAGE_SCAN_BUDGET - 1)));
    let (peers, pages) = walk(MAX_PAGE_LIMIT, n, |page| r.list(&q, page, T0));
    assert_eq!(ids(&peers), [format!("q{:06}", n - 1)]);
    assert_eq!(pages, 3);
}

#[test]
fn peers_that_come_and_go_between_pages_do_not_disturb_the_others() {
    let mut r = Registry::default();
    let stay = register_many(&mut r, 300, |_, _| {});
    let mut page = Page::after(None, 50);
    let mut seen = Vec::new();
    for round in 0..100 {
        let got = r.list(&ListQuery::default(), &page, T0);
        seen.extend(ids(&got.items));
        // Between pages: a newcomer before and after the cursor, and one goes away.
        r.register(params(&format!("a-new{round}"), 1), ip("10.0.0.2"), T0)
            .unwrap();
        r.register(params(&format!("z-new{round}"), 1), ip("10.0.0.2"), T0)
            .unwrap();
        let token = r
            .register(params(&format!("p0150-{round}"), 1), ip("10.0.0.3"), T0)
            .unwrap();
        r.remove(&token.peer_id, Some(&token.token), T0).unwrap();
        match got.next {
            Some(next) => page = Page::after(Some(&next), 50),
            None => break,
        }
    }
    let kept: Vec<&String> = seen
        .iter()
        .filter(|id| id.starts_with('p') && id.len() == 5)
        .collect();
    assert_eq!(
        kept,
        stay.iter().collect::<Vec<_>>(),
        "each peer present throughout, once"
    );
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no peer twice");
    assert!(r.peers.is_consistent());
    r.sweep(T0 + 3600 * S);
    assert!(r.peers.is_empty() && r.peers.is_consistent());
}

#[test]
fn expired_peers_are_skipped_on_every_page() {
    let mut r = Registry::default();
    for i in 0..40 {
        let mut p = params(&format!("p{i:02}"), 1);
        p.ttl = Some(if i % 2 == 0 { 10 } else { 100 });
        r.register(p, ip(MANY), T0).unwrap();
    }
    // Not swept (a `&self` view), yet no expired peer shows.
    let (peers, _) = walk(3, 40, |page| {
        r.list(&ListQuery::default(), page, T0 + 50 * S)
    });
    let want: Vec<String> = (0..40)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("p{i:02}"))
        .collect();
    assert_eq!(ids(&peers), want);
}

#[test]
fn files_page_by_id_and_skip_files_without_live_holders() {
    let mut r = Registry::default();
    let token = add(&mut r, "holder", 1, T0);
    let mut short = params("short-lived", 2);
    short.ttl = Some(5);
    let brief = r.register(short, ip("10.0.0.1"), T0).unwrap().token;
    let mut want = Vec::new();
    for seed in 0..60 {
        let (who, tok) = if seed % 4 == 0 {
            ("short-lived", brief.as_str())
        } else {
            ("holder", token.as_str())
        };
        let p = publish_params(who, tok, &format!("f{seed}"), 10, 4, seed + 1);
        let id = r.publish(p, T0).unwrap().file_id;
        if seed % 4 != 0 {
            want.push(id);
        }
    }
    want.sort();
    let later = T0 + 10 * S;
    for limit in [1, 8, 1000] {
        let (files, _) = walk(limit, 60, |page| r.files(page, later));
        let got: Vec<String> = files.into_iter().map(|f| f.file_id).collect();
        assert_eq!(got, want, "limit {limit}");
    }
    let join = JoinParams {
        peer_id: "holder".into(),
        token: Some(token),
        channel: "general".into(),
        key: None,
    };
    r.join(join, later).unwrap();
}

#[test]
fn channels_page_by_name_and_a_big_one_ends_its_page() {
    let mut r = Registry::default();
    // Channels c00..c29 with one member each, and "big" (sorting before them) with more
    // members than a page's work budget.
    for i in 0..30 {
        let mut p = params(&format!("m{i:02}"), 1);
        p.channels = vec![format!("c{i:02}")];
        r.register(p, ip(MANY), T0).unwrap();
    }
    register_many(&mut r, PAGE_SCAN_BUDGET + 1, |_, p| {
        p.channels = vec!["big".into()]
    });
    let first = r.channels(&Page::after(None, 1000), T0);
    let names: Vec<&str> = first.items.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["big"], "the big channel fills its page alone");
    assert_eq!(first.items[0].members.len(), PAGE_SCAN_BUDGET + 1);
    assert_eq!(first.next.as_deref(), Some("big"));
    let (channels, _) = walk(7, 40, |page| r.channels(page, T0));
    let names: Vec<String> = channels.into_iter().map(|c| c.name).collect();
    let mut want = vec!["big".to_owned()];
    want.extend((0..30).map(|i| format!("c{i:02}")));
    assert_eq!(names, want);
}
