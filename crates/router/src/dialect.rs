//! The course's field spellings: clients written for the assignment name the same thing in
//! several ways, and every daemon accepts them all by renaming them to ours before decoding.
//!
//! | ours      | also accepted                                        |
//! |-----------|------------------------------------------------------|
//! | `target`  | `to`, `target_username`, `to_peer_id`, `peer`        |
//! | `msg`     | `message`, `content`, `text`                         |
//! | `channel` | `room`                                               |
//!
//! The first spelling present wins (ours before the aliases, then in the order above); fields
//! nobody knows are left alone, and decoders ignore them.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{HttpError, Req};

/// Every spelling of each field, ours first.
pub const SPELLINGS: &[&[&str]] = &[
    &["target", "to", "target_username", "to_peer_id", "peer"],
    &["msg", "message", "content", "text"],
    &["channel", "room"],
];

/// Renames each field of [`SPELLINGS`] to our spelling: the first non-empty spelling present
/// is kept under our name, and the other spellings are removed.
///
/// ```
/// let mut fields = serde_json::json!({"message": "hi", "room": "general", "x": 1});
/// router::dialect::canonicalize(fields.as_object_mut().unwrap());
/// assert_eq!(fields, serde_json::json!({"msg": "hi", "channel": "general", "x": 1}));
/// ```
pub fn canonicalize(fields: &mut Map<String, Value>) {
    for spellings in SPELLINGS {
        let mut chosen = None;
        for name in *spellings {
            if let Some(value) = fields.remove(*name)
                && chosen.is_none()
                && !is_blank(&value)
            {
                chosen = Some(value);
            }
        }
        if let Some(value) = chosen {
            fields.insert(spellings[0].to_owned(), value);
        }
    }
}

/// The body of `req` (JSON whatever its Content-Type, or a form) decoded as `T` after
/// [`canonicalize`]; a clear 400 otherwise.
pub fn body<T: DeserializeOwned>(req: &Req) -> Result<T, HttpError> {
    let mut fields = req.fields()?;
    canonicalize(&mut fields);
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| HttpError::bad_request(format!("invalid field: {e}")))
}

/// The accepted spellings of our field `name`, as a 400 names them: `"msg, message, content or
/// text"`.
pub fn accepted(name: &str) -> String {
    match SPELLINGS
        .iter()
        .find(|s| s[0] == name)
        .map(|s| s.split_last())
    {
        Some(Some((last, rest))) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => name.to_owned(),
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: Value, expected: Value) {
        let mut fields = input.as_object().unwrap().clone();
        canonicalize(&mut fields);
        assert_eq!(Value::Object(fields), expected, "{input}");
    }

    #[test]
    fn every_spelling_becomes_ours() {
        for name in ["target", "to", "target_username", "to_peer_id", "peer"] {
            check(json!({ name: "bob" }), json!({"target": "bob"}));
        }
        for name in ["msg", "message", "content", "text"] {
            check(json!({ name: "hi" }), json!({"msg": "hi"}));
        }
        check(json!({"room": "r"}), json!({"channel": "r"}));
        check(json!({"msg": "a", "message": "b"}), json!({"msg": "a"}));
        check(json!({"msg": "", "text": "b"}), json!({"msg": "b"}));
        check(json!({"unknown": 1}), json!({"unknown": 1}));
        assert_eq!(accepted("channel"), "channel or room");
        assert_eq!(accepted("peer_id"), "peer_id");
    }
}
