//! Every bound the tracker enforces, as named constants, and the validators that enforce them.
//!
//! Bounds keep one client from growing the registry without limit: each string, list and blob a
//! peer can store has a cap here, and anything outside it is a 400 with a message naming the field.

use crate::error::{Result, TrackerError};

/// TTL given to a peer that does not ask for one, in seconds (SPEC §5).
pub const DEFAULT_TTL_S: u32 = 90;
/// Shortest TTL a peer may ask for, in seconds.
pub const MIN_TTL_S: u32 = 1;
/// Longest TTL a peer may ask for, in seconds; a dead peer lingers at most this long.
pub const MAX_TTL_S: u32 = 3600;
/// Peers held at once unless [`crate::Config::max_peers`] (tracker-bin's `--max-peers`) says
/// otherwise; beyond it → 503. At about 300 bytes per bare peer (`cargo xtask bench tracker`)
/// a full tracker holds some 300 MiB, and at most a few KiB per peer with the largest names,
/// meta and channel lists the limits here allow.
pub const DEFAULT_MAX_PEERS: usize = 1_000_000;

/// Longest peer id in bytes. Ids are `[A-Za-z0-9._:@\[\]-]` so that the default `ip:port` form
/// (including `[v6]:port`) fits and an id can sit in a URL path.
pub const MAX_PEER_ID_LEN: usize = 64;
/// Longest display name in bytes; any Unicode without control characters.
pub const MAX_NAME_LEN: usize = 64;
/// Longest channel name in bytes; channel names are `[A-Za-z0-9._-]`.
pub const MAX_CHANNEL_LEN: usize = 32;
/// Most channels one peer may be a member of.
pub const MAX_CHANNELS_PER_PEER: usize = 32;
/// Longest channel key in bytes.
pub const MAX_KEY_LEN: usize = 128;
/// Most roles one peer may carry.
pub const MAX_ROLES: usize = 8;
/// Longest role in bytes; roles use the channel alphabet.
pub const MAX_ROLE_LEN: usize = 32;
/// Largest `meta` value, measured as compact JSON, in bytes.
pub const MAX_META_BYTES: usize = 512;
/// Most peers in one heartbeat batch.
pub const MAX_BATCH: usize = 1024;

/// Longest file name in bytes; a name, not a path, so no `/`, `\` or control characters.
pub const MAX_FILE_NAME_LEN: usize = 255;
/// Largest chunk size in bytes (the peer's default is 1 MiB).
pub const MAX_CHUNK_SIZE: u64 = 64 * 1024 * 1024;
/// Most chunks in one file; with [`MAX_CHUNK_SIZE`] this bounds a file to 4 TiB.
pub const MAX_FILE_CHUNKS: u64 = 65_536;
/// Most files one peer may hold in the index.
pub const MAX_FILES_PER_PEER: usize = 256;

/// A 400 with `msg`.
pub fn bad(msg: impl Into<String>) -> TrackerError {
    TrackerError::BadRequest(msg.into())
}

/// A port, 1..=65535.
pub fn port(port: u32) -> Result<u16> {
    match u16::try_from(port) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(bad(format!("port must be in 1..=65535, got {port}"))),
    }
}

/// A TTL in seconds, [`MIN_TTL_S`]..=[`MAX_TTL_S`].
pub fn ttl(ttl: u32) -> Result<u32> {
    if (MIN_TTL_S..=MAX_TTL_S).contains(&ttl) {
        Ok(ttl)
    } else {
        Err(bad(format!(
            "ttl must be in {MIN_TTL_S}..={MAX_TTL_S} seconds, got {ttl}"
        )))
    }
}

fn token_chars(what: &str, s: &str, max: usize, extra: &[u8]) -> Result<()> {
    if s.is_empty() {
        return Err(bad(format!("{what} must not be empty")));
    }
    if s.len() > max {
        return Err(bad(format!("{what} longer than {max} bytes")));
    }
    if let Some(c) = s
        .bytes()
        .find(|b| !b.is_ascii_alphanumeric() && !extra.contains(b))
    {
        let allowed = String::from_utf8_lossy(extra);
        return Err(bad(format!(
            "{what} {s:?} has {:?}; allowed are letters, digits and {allowed}",
            char::from(c)
        )));
    }
    Ok(())
}

/// A peer id: letters, digits and `._-:@[]`, at most [`MAX_PEER_ID_LEN`] bytes.
pub fn peer_id(s: &str) -> Result<()> {
    token_chars("peer_id", s, MAX_PEER_ID_LEN, b"._-:@[]")
}

/// A paging cursor (`after`): a peer id or a file id, which share the peer id alphabet.
pub(crate) fn cursor(s: &str) -> Result<()> {
    token_chars("after", s, MAX_PEER_ID_LEN, b"._-:@[]")
}

/// A channel name: letters, digits and `._-`, at most [`MAX_CHANNEL_LEN`] bytes.
pub fn channel(s: &str) -> Result<()> {
    token_chars("channel", s, MAX_CHANNEL_LEN, b"._-")
}

/// A role: letters, digits and `._-`, at most [`MAX_ROLE_LEN`] bytes.
pub fn role(s: &str) -> Result<()> {
    token_chars("role", s, MAX_ROLE_LEN, b"._-")
}

/// A display name: trimmed, and an empty one means "none".
pub fn name(s: &str) -> Result<&str> {
    let s = s.trim();
    if s.len() > MAX_NAME_LEN {
        return Err(bad(format!("name longer than {MAX_NAME_LEN} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(bad("name has control characters"));
    }
    Ok(s)
}

/// A shared file's name: 1..=[`MAX_FILE_NAME_LEN`] bytes, a plain name, not a path.
pub fn file_name(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_FILE_NAME_LEN {
        return Err(bad(format!(
            "file name must be 1..={MAX_FILE_NAME_LEN} bytes"
        )));
    }
    if s == "." || s == ".." || s.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err(bad(format!(
            "file name {s:?} must be a plain name, not a path"
        )));
    }
    Ok(())
}

/// A role list: at most [`MAX_ROLES`], each valid, without repeats.
pub fn roles(roles: &[String]) -> Result<Box<[Box<str>]>> {
    if roles.len() > MAX_ROLES {
        return Err(bad(format!("more than {MAX_ROLES} roles")));
    }
    let mut out: Vec<Box<str>> = Vec::with_capacity(roles.len());
    for r in roles {
        role(r)?;
        if !out.iter().any(|o| **o == **r) {
            out.push(r.as_str().into());
        }
    }
    Ok(out.into_boxed_slice())
}

/// Checks `meta` and boxes it; `null` is stored as nothing so an absent meta costs no heap.
pub fn meta(meta: serde_json::Value) -> Result<Option<Box<serde_json::Value>>> {
    if meta.is_null() {
        return Ok(None);
    }
    let len = serde_json::to_vec(&meta)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if len > MAX_META_BYTES {
        return Err(bad(format!(
            "meta is {len} bytes as JSON, more than {MAX_META_BYTES}"
        )));
    }
    Ok(Some(Box::new(meta)))
}

/// A load figure: finite and not negative.
pub fn load(load: Option<f64>) -> Result<Option<f32>> {
    match load {
        None => Ok(None),
        // f32 is plenty for a load figure and keeps the peer record small.
        Some(l) if l.is_finite() && l >= 0.0 && l <= f64::from(f32::MAX) => Ok(Some(l as f32)),
        Some(l) => Err(bad(format!("load must be a finite number >= 0, got {l}"))),
    }
}

/// A channel key: an empty key means "no key", because forms send `key=` for a blank field.
pub fn key(key: Option<&str>) -> Result<Option<&str>> {
    match key {
        None | Some("") => Ok(None),
        Some(k) if k.len() > MAX_KEY_LEN => {
            Err(bad(format!("key longer than {MAX_KEY_LEN} bytes")))
        }
        Some(k) => Ok(Some(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: std::fmt::Debug + PartialEq>(got: Result<T>, expected: Result<T, &str>) {
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e),
            (Err(TrackerError::BadRequest(g)), Err(e)) => {
                assert!(g.contains(e), "message {g:?} lacks {e:?}")
            }
            (g, e) => panic!("got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn ports() {
        check(port(1), Ok(1));
        check(port(65535), Ok(65535));
        check(port(0), Err("port must be in 1..=65535, got 0"));
        check(port(65536), Err("got 65536"));
    }

    #[test]
    fn ttls() {
        check(ttl(1), Ok(1));
        check(ttl(3600), Ok(3600));
        check(ttl(0), Err("ttl must be in 1..=3600"));
        check(ttl(3601), Err("got 3601"));
    }

    #[test]
    fn identifiers() {
        check(peer_id("127.0.0.1:5001"), Ok(()));
        check(peer_id("[::1]:5001"), Ok(()));
        check(peer_id("alice@home_1-x"), Ok(()));
        check(peer_id(""), Err("peer_id must not be empty"));
        check(peer_id(&"a".repeat(65)), Err("peer_id longer than 64"));
        check(peer_id(&"a".repeat(64)), Ok(()));
        check(peer_id("a b"), Err("has ' '"));
        check(peer_id("a/b"), Err("has '/'"));
        check(peer_id("é"), Err("allowed are letters"));
        check(channel("general"), Ok(()));
        check(channel("dev.ops_2-x"), Ok(()));
        check(channel("a:b"), Err("has ':'"));
        check(channel(&"c".repeat(33)), Err("channel longer than 32"));
        check(role("admin"), Ok(()));
        check(role("a b"), Err("role \"a b\" has ' '"));
    }

    #[test]
    fn names() {
        check(name("  Alice  "), Ok("Alice"));
        check(name("Ünïcödé 名前"), Ok("Ünïcödé 名前"));
        check(name(""), Ok(""));
        check(name("a\nb"), Err("control characters"));
        check(name(&"n".repeat(65)), Err("longer than 64"));
        check(file_name("report.pdf"), Ok(()));
        check(file_name("my file (1).txt"), Ok(()));
        check(file_name(""), Err("1..=255"));
        check(file_name(".."), Err("plain name"));
        check(file_name("a/b"), Err("plain name"));
        check(file_name("a\\b"), Err("plain name"));
        check(file_name(&"f".repeat(256)), Err("1..=255"));
    }

    #[test]
    fn role_lists() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let b = |v: &[&str]| v.iter().map(|s| Box::<str>::from(*s)).collect::<Box<[_]>>();
        check(roles(&s(&[])), Ok(b(&[])));
        check(roles(&s(&["a", "b", "a"])), Ok(b(&["a", "b"])));
        check(roles(&s(&["x"; 9])), Err("more than 8 roles"));
        check(roles(&s(&["ok", ""])), Err("role must not be empty"));
    }

    #[test]
    fn metas_loads_keys() {
        use serde_json::json;
        check(meta(json!(null)), Ok(None));
        check(meta(json!({"v": 1})), Ok(Some(Box::new(json!({"v": 1})))));
        check(meta(json!("x".repeat(600))), Err("more than 512"));
        check(load(None), Ok(None));
        check(load(Some(0.5)), Ok(Some(0.5)));
        check(load(Some(-1.0)), Err("load must be"));
        check(load(Some(f64::NAN)), Err("load must be"));
        check(load(Some(f64::MAX)), Err("load must be"));
        check(key(None), Ok(None));
        check(key(Some("")), Ok(None));
        check(key(Some("s3cret")), Ok(Some("s3cret")));
        check(key(Some(&"k".repeat(129))), Err("key longer than 128"));
    }
}
