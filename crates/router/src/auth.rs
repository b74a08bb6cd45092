//! Authentication any daemon can use: a credential list compared in constant time, HTTP Basic,
//! and the session guard (who is the client, if anyone).

use crate::req::Req;
use std::fs;
use std::io;
use std::path::Path;

/// Users and passwords allowed to log in.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    users: Vec<(String, String)>,
}

impl Credentials {
    /// An empty list (nobody can log in).
    pub fn new() -> Credentials {
        Credentials::default()
    }

    /// Adds (or replaces) a user.
    pub fn add(&mut self, user: &str, password: &str) {
        self.users.retain(|(u, _)| u != user);
        self.users.push((user.to_owned(), password.to_owned()));
    }

    /// Whether nobody can log in.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Parses `NAME:PASSWORD`.
    pub fn parse_pair(pair: &str) -> Option<(String, String)> {
        let (user, password) = pair.split_once(':')?;
        (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
    }

    /// Reads a users file: one `NAME:PASSWORD` a line; blank lines and `#` comments skipped.
    pub fn load(path: &Path) -> io::Result<Credentials> {
        let text = fs::read_to_string(path)?;
        let mut creds = Credentials::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, password) = Credentials::parse_pair(line).ok_or_else(|| {
                io::Error::other(format!(
                    "{}:{}: expected NAME:PASSWORD",
                    path.display(),
                    n + 1
                ))
            })?;
            creds.add(&user, &password);
        }
        Ok(creds)
    }

    /// Whether `user`/`password` is valid. Every entry is compared in full, so the time taken
    /// does not tell which part was wrong.
    pub fn check(&self, user: &str, password: &str) -> bool {
        let mut ok = false;
        for (u, p) in &self.users {
            let user_ok = constant_time_eq(u.as_bytes(), user.as_bytes());
            let password_ok = constant_time_eq(p.as_bytes(), password.as_bytes());
            ok |= user_ok & password_ok;
        }
        ok
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// The user and password of an `Authorization: Basic` header, if well formed.
pub fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let value = req.header("authorization")?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    Credentials::parse_pair(&text)
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(req: &Req) -> Option<&str> {
    let value = req.header("authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Who the client is: the user of a live session, or of valid Basic credentials.
pub fn authenticated_user(req: &Req, creds: &Credentials) -> Option<String> {
    if let Some(session) = req.session() {
        return Some(session.user);
    }
    let (user, password) = basic_credentials(req)?;
    creds.check(&user, &password).then_some(user)
}

/// Decodes standard base64 (with or without padding); `None` on any invalid character.
pub fn base64_decode(input: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = input.trim_end_matches('=').as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len() - 1;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + produced]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        for (input, expected) in [
            ("YWRtaW46cGFzc3dvcmQ=", "admin:password"),
            ("YQ", "a"),
            ("YWI=", "ab"),
            ("YWJj", "abc"),
            ("", ""),
        ] {
            assert_eq!(
                base64_decode(input).as_deref(),
                Some(expected.as_bytes()),
                "{input}"
            );
        }
        assert_eq!(base64_decode("a$=="), None);
        assert_eq!(base64_decode("a"), None);
    }

    #[test]
    fn credentials() {
        let mut c = Credentials::new();
        c.add("admin", "password");
        assert!(c.check("admin", "password"));
        assert!(!c.check("admin", "passwore"));
        assert!(!c.check("admin", "password1"));
        assert!(!c.check("admi", "password"));
        assert!(!c.check("", ""));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
    }
}
