//! Pages of long lists (`GET /get-list`, `GET /files`): `?limit=&after=`, and a `next` cursor
//! when there is more.
//!
//! A page walks an ordered index from just after its cursor, so it costs O(log n + examined)
//! whatever the size of the list, and it does at most [`PAGE_SCAN_BUDGET`] work: a filter that
//! matches few entries cannot turn one request into a scan of every peer, and items that list
//! many ids (files and their holders, channels and their members) end a page sooner. A page
//! therefore may hold fewer than `limit` items (even none) and still carry `next`; only the
//! absence of `next` means the end.

use std::ops::Bound;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::limits::{self, bad};

/// Items in a page when the client gives no `limit`: also what a course client, which knows
/// nothing of paging, gets at most.
pub const DEFAULT_PAGE_LIMIT: usize = 1000;
/// Largest `limit` a client may ask for. A page of this many peers (~170 KiB of JSON) stays
/// under the HTTP server's output high-water mark, so one answer never piles up more.
pub const MAX_PAGE_LIMIT: usize = 1000;
/// Work one page does before it stops and hands out `next`: one per entry examined (live or
/// not, matching the filter or not), plus the ids an item lists (a file's holders, a channel's
/// members). Bounds the time under the registry's lock, and the size of an answer, for any
/// filter; about 400 KiB of ids at most, besides a first item that lists more alone.
pub const PAGE_SCAN_BUDGET: usize = 16 * 1024;

/// Paging parameters as the client sent them: `?limit=&after=` in a query, or `"limit"` (a
/// number or a string) and `"after"` in a JSON body. Empty values count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    /// Most items to answer, 1..=[`MAX_PAGE_LIMIT`]; default [`DEFAULT_PAGE_LIMIT`].
    #[serde(deserialize_with = "text_or_number")]
    pub limit: Option<String>,
    /// Start after this key: the `next` of the previous page.
    pub after: Option<String>,
}

/// A checked page request; [`Page::default`] is the first page at the default limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    limit: usize,
    after: Option<String>,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            limit: DEFAULT_PAGE_LIMIT,
            after: None,
        }
    }
}

impl Page {
    /// The page after `after` (a `next` cursor), `limit` long; `limit` is clamped to
    /// 1..=[`MAX_PAGE_LIMIT`].
    pub fn after(after: Option<&str>, limit: usize) -> Page {
        Page {
            limit: limit.clamp(1, MAX_PAGE_LIMIT),
            after: after.map(str::to_owned),
        }
    }

    /// Most items in this page.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The cursor this page starts after.
    pub fn cursor(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The keys this page may show, for `BTreeMap::range` and `BTreeSet::range` over `str`
    /// keys: everything after the cursor.
    pub fn keys(&self) -> (Bound<&str>, Bound<&str>) {
        after(self.cursor())
    }
}

/// The keys after `cursor` (all of them for `None`), as a range.
pub(crate) fn after(cursor: Option<&str>) -> (Bound<&str>, Bound<&str>) {
    (
        cursor.map_or(Bound::Unbounded, Bound::Excluded),
        Bound::Unbounded,
    )
}

impl PageQuery {
    /// The page asked for; a `limit` that is not a whole number in 1..=[`MAX_PAGE_LIMIT`], or an
    /// `after` that cannot be a key, is a 400 naming the parameter.
    ///
    /// ```
    /// use tracker_core::paging::PageQuery;
    /// let q = PageQuery { limit: Some("50".into()), after: Some("10.0.0.1:5001".into()) };
    /// let page = q.page().unwrap();
    /// assert_eq!((page.limit(), page.cursor()), (50, Some("10.0.0.1:5001")));
    /// assert!(PageQuery { limit: Some("0".into()), after: None }.page().is_err());
    /// ```
    pub fn page(&self) -> Result<Page> {
        let limit = match nonempty(&self.limit) {
            None => DEFAULT_PAGE_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
                _ => {
                    return Err(bad(format!(
                        "limit must be a whole number in 1..={MAX_PAGE_LIMIT}, got {text:?}"
                    )));
                }
            },
        };
        let after = nonempty(&self.after);
        if let Some(key) = after {
            // Anything else was never handed out as `next`.
            limits::cursor(key)?;
        }
        Ok(Page {
            limit,
            after: after.map(str::to_owned),
        })
    }
}

/// One page of a list: its items, and the cursor to pass as `after` for the rest, absent at
/// the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paged<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// Where the next page starts (`?after=`); `None` when the list is exhausted.
    pub next: Option<String>,
}

/// Fills a page from `entries` (keys in ascending order, starting after the cursor): `view`
/// turns an entry into an item or skips it. Stops at the page's limit or once the work done
/// reaches [`PAGE_SCAN_BUDGET`], and then hands out the last key examined as `next` if any
/// entry is left. The work is one per entry examined.
pub(crate) fn collect<'a, X, T>(
    page: &Page,
    entries: impl Iterator<Item = (&'a str, X)>,
    view: impl FnMut(&'a str, X) -> Option<T>,
) -> Paged<T> {
    collect_weighted(page, entries, view, |_| 0)
}

/// [`collect`] for items that carry lists of their own (a file's holders, a channel's
/// members): each item adds `weight(item)` to the work, so a page of big items ends sooner.
/// A page always takes its first item, whatever its weight, so that a walk moves on.
pub(crate) fn collect_weighted<'a, X, T>(
    page: &Page,
    entries: impl Iterator<Item = (&'a str, X)>,
    mut view: impl FnMut(&'a str, X) -> Option<T>,
    weight: impl Fn(&T) -> usize,
) -> Paged<T> {
    let mut items = Vec::new();
    let mut entries = entries.peekable();
    let mut work = 0usize;
    while let Some((key, entry)) = entries.next() {
        work += 1;
        if let Some(item) = view(key, entry) {
            work = work.saturating_add(weight(&item));
            items.push(item);
        }
        if items.len() >= page.limit || work >= PAGE_SCAN_BUDGET {
            let next = entries.peek().is_some().then(|| key.to_owned());
            return Paged { items, next };
        }
    }
    Paged { items, next: None }
}

/// The trimmed value, `None` when absent or empty.
fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `"limit": 10` and `?limit=10` alike: a number is kept as its text, so that one parser
/// (with one error message) judges both.
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(limit: Option<&str>, after: Option<&str>, expected: Result<(usize, Option<&str>)>) {
        let query = PageQuery {
            limit: limit.map(Into::into),
            after: after.map(Into::into),
        };
        let got = query.page();
        let got = got.as_ref().map(|p| (p.limit(), p.cursor()));
        assert_eq!(got, expected.as_ref().map(|(l, a)| (*l, *a)), "{query:?}");
    }

    #[test]
    fn page_parameters() {
        let limit_err = |got: &str| {
            Err(bad(format!(
                "limit must be a whole number in 1..=1000, got {got:?}"
            )))
        };
        check(None, None, Ok((1000, None)));
        check(Some(""), Some(" "), Ok((1000, None)));
        check(Some("1"), Some("a:1"), Ok((1, Some("a:1"))));
        check(Some(" 1000 "), None, Ok((1000, None)));
        check(Some("0"), None, limit_err("0"));
        check(Some("1001"), None, limit_err("1001"));
        check(Some("-5"), None, limit_err("-5"));
        check(Some("ten"), None, limit_err("ten"));
        check(Some("99999999999999999999999"), None, {
            limit_err("99999999999999999999999")
        });
        let long = "x".repeat(65);
        for bad_after in ["a b", "é", "../x", long.as_str()] {
            let got = PageQuery {
                limit: None,
                after: Some(bad_after.into()),
            }
            .page();
            let msg = got.unwrap_err().to_string();
            assert!(
                msg.starts_with("bad request: after "),
                "{bad_after:?}: {msg}"
            );
        }
    }

    #[test]
    fn limit_as_json_number_or_string() {
        for (json, limit) in [
            (r#"{"limit": 7}"#, Some("7")),
            (r#"{"limit": "7"}"#, Some("7")),
            (r#"{"limit": null}"#, None),
            (r#"{"limit": 2.5}"#, Some("2.5")),
            (r#"{}"#, None),
        ] {
            let q: PageQuery = serde_json::from_str(json).unwrap();
            assert_eq!(q.limit.as_deref(), limit, "{json}");
        }
        let q: PageQuery = serde_json::from_str(r#"{"limit": 2.5}"#).unwrap();
        assert!(q.page().is_err());
    }

    #[test]
    fn collect_stops_at_limit_budget_or_end() {
        let keys: Vec<String> = (0..40_000).map(|i| format!("k{i:05}")).collect();
        let all = || keys.iter().map(|k| (k.as_str(), ()));
        let page = Page::after(None, 3);
        let got = collect(&page, all(), |k, ()| Some(k));
        assert_eq!(
            (got.items, got.next.as_deref()),
            (vec!["k00000", "k00001", "k00002"], Some("k00002"))
        );
        // The last item of the list: no `next`.
        let got = collect(&page, all().skip(39_998), |k, ()| Some(k));
        assert_eq!((got.items.len(), got.next), (2, None));
        // Exactly `limit` left: full page, and nothing after it.
        let got = collect(&page, all().skip(39_997), |k, ()| Some(k));
        assert_eq!((got.items.len(), got.next), (3, None));
        // A filter matching nothing examines the budget, then points past what it examined.
        let got = collect(&page, all(), |_, ()| None::<&str>);
        let last = format!("k{:05}", PAGE_SCAN_BUDGET - 1);
        assert_eq!((got.items.len(), got.next), (0, Some(last)));
    }

    #[test]
    fn heavy_items_end_a_page_sooner_but_never_before_the_first() {
        let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let all = || keys.iter().map(|k| (k.as_str(), ()));
        let page = Page::after(None, 1000);
        let by_weight = |w: usize| collect_weighted(&page, all(), |k, ()| Some(k), move |_| w);
        let got = by_weight(PAGE_SCAN_BUDGET * 3);
        assert_eq!((got.items, got.next.as_deref()), (vec!["k0"], Some("k0")));
        let got = by_weight(PAGE_SCAN_BUDGET / 4);
        assert_eq!(got.items.len(), 4);
        assert_eq!(got.next.as_deref(), Some("k3"));
        let got = by_weight(1);
        assert_eq!((got.items.len(), got.next), (10, None));
    }
}
