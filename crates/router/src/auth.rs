//! Authentication any daemon can use: a credential list compared in constant time, HTTP Basic,
//! and the session guard (who is the client, if anyone).

use crate::req::{HttpError, Req};
use crate::session::Session;
use http_core::secret::ct_eq;
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
            let user_ok = ct_eq(u.as_bytes(), user.as_bytes());
            let password_ok = ct_eq(p.as_bytes(), password.as_bytes());
            ok |= user_ok & password_ok;
        }
        ok
    }
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

/// The one login of every daemon (`POST /login`): reads `username` and `password` from the body
/// (JSON or form; a non-empty `token` stands for the password, as the chat peer's form names it),
/// asks `check` whom they log in as, and starts a session for that user.
///
/// `Ok(None)` is a refused login (logged at info, never with the password); the caller answers
/// it in its own style (an HTML page, a JSON 401) and hands an accepted session to the client
/// with [`SessionStore::cookie`](crate::SessionStore::cookie).
pub fn login(
    req: &Req,
    check: impl FnOnce(&str, &str) -> Option<String>,
) -> Result<Option<Session>, HttpError> {
    Ok(login_user(req, check)?.map(|user| req.sessions().create(&user)))
}

/// [`login`] without the session: whom the body's credentials log in as, for a daemon that keeps
/// its sessions elsewhere (backend-bin with `--sessions redis://…`).
pub fn login_user(
    req: &Req,
    check: impl FnOnce(&str, &str) -> Option<String>,
) -> Result<Option<String>, HttpError> {
    let fields = req.fields()?;
    let field = |name: &str| {
        fields
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    };
    let user = field("username");
    let password = match field("token") {
        "" => field("password"),
        token => token,
    };
    let accepted = check(user, password);
    if accepted.is_none() {
        log::info!("login refused for {user:?} from {}", req.peer());
    }
    Ok(accepted)
}

/// Who the client is: the user of a live session, or of valid Basic credentials.
pub fn authenticated_user(req: &Req, creds: &Credentials) -> Option<String> {
    if let Some(session) = req.session() {
        return Some(session.user);
    }
    let (user, password) = basic_credentials(req)?;
    creds.check(&user, &password).then_some(user)
}

/// Decodes standard base64, with or without padding; `None` on any invalid character.
pub fn base64_decode(input: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(input).ok()
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
    }
}
