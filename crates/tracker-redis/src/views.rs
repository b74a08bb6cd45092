//! Reading the script's answers into the tracker's view types.

use redis_client::Value;
use tracker_core::channels::{ChannelView, PolicyKind};
use tracker_core::paging::Paged;
use tracker_core::registry::PeerView;

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// An array of strings.
pub(crate) fn strings(value: Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        // Lua turns an empty table into an empty array, but be lenient with nil.
        Value::Nil => Some(Vec::new()),
        _ => None,
    }
}

/// The array that is the first of `reply`, each item read with `item`, sorted by `key`.
pub(crate) fn sorted<T, K: Ord>(
    reply: Vec<Value>,
    item: fn(Value) -> Option<T>,
    key: impl FnMut(&T) -> K,
) -> Option<Vec<T>> {
    let Value::Array(items) = reply.into_iter().next()? else {
        return None;
    };
    let mut out = items.into_iter().map(item).collect::<Option<Vec<T>>>()?;
    out.sort_by_cached_key(key);
    Some(out)
}

/// A page's `next` cursor: `None` for the empty string the script gives at the end.
pub(crate) fn cursor(value: Value) -> Option<Option<String>> {
    let next = value.as_str()?;
    Some((!next.is_empty()).then(|| next.to_owned()))
}

/// A page as the script answers it, `next {items}`, each item read with `item` (the script
/// walks an ordered index, so the items come in key order).
pub(crate) fn paged<T>(reply: Vec<Value>, item: fn(Value) -> Option<T>) -> Option<Paged<T>> {
    let mut it = reply.into_iter();
    let next = cursor(it.next()?)?;
    let Value::Array(items) = it.next()? else {
        return None;
    };
    let items = items.into_iter().map(item).collect::<Option<Vec<T>>>()?;
    Some(Paged { items, next })
}

/// A peer record `id name ip port roles meta seen load {channels} key` as seen at `now`.
pub(crate) fn peer(record: Value, now: i64) -> Option<PeerView> {
    let Value::Array(f) = record else {
        return None;
    };
    let [id, name, ip, port, roles, meta, seen, load, channels, key] =
        <[Value; 10]>::try_from(f).ok()?;
    let id = id.as_str()?.to_owned();
    let name = name.as_str().unwrap_or_default();
    let seen = seen.as_int()?;
    let mut channels = strings(channels)?;
    channels.sort_unstable();
    let meta = match meta.as_str() {
        Some("") | None => serde_json::Value::Null,
        Some(json) => serde_json::from_str(json).ok()?,
    };
    Some(PeerView {
        name: if name.is_empty() {
            id.clone()
        } else {
            name.to_owned()
        },
        peer_id: id,
        ip: ip.as_str()?.parse().ok()?,
        port: port.as_str()?.parse().ok()?,
        channels,
        roles: serde_json::from_str(roles.as_str()?).ok()?,
        meta,
        last_seen: u64::try_from(now.saturating_sub(seen)).unwrap_or(0) / 1000,
        load: load.as_str().and_then(|l| l.parse().ok()),
        key: key.as_str().filter(|k| !k.is_empty()).map(str::to_owned),
    })
}

/// A channel `name policy {members}`.
pub(crate) fn channel(item: Value) -> Option<ChannelView> {
    let Value::Array(f) = item else {
        return None;
    };
    let [name, policy, members] = <[Value; 3]>::try_from(f).ok()?;
    let mut members = strings(members)?;
    members.sort_unstable();
    Some(ChannelView {
        name: name.as_str()?.to_owned(),
        policy: match policy.as_str()? {
            "key" => PolicyKind::Key,
            _ => PolicyKind::Open,
        },
        members,
    })
}
