//! Server-side sessions: 128-bit random ids, sliding expiry, a bounded store.

use http_core::cookie::{SameSite, SetCookie};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a session lives without being used.
pub const SESSION_TTL: Duration = Duration::from_secs(60 * 60);
/// Most sessions held at once; beyond it, expired ones are purged and, if still full, the
/// oldest is evicted, so a client creating sessions in a loop cannot exhaust memory.
pub const MAX_SESSIONS: usize = 100_000;

/// One logged-in client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The session id (32 hex digits).
    pub id: String,
    /// Who logged in.
    pub user: String,
}

struct Entry {
    user: String,
    expires: Instant,
    created: Instant,
}

/// The sessions of one app. Thread-safe; lookups are O(1).
pub struct SessionStore {
    ttl: Duration,
    max: usize,
    cookie: String,
    sessions: Mutex<HashMap<String, Entry>>,
}

impl Default for SessionStore {
    fn default() -> SessionStore {
        SessionStore::new(SESSION_TTL, MAX_SESSIONS)
    }
}

impl SessionStore {
    /// A store whose sessions expire after `ttl` unused, holding at most `max`.
    pub fn new(ttl: Duration, max: usize) -> SessionStore {
        SessionStore {
            ttl,
            max: max.max(1),
            cookie: crate::req::SESSION_COOKIE.to_owned(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The same store with its cookie called `name`. Cookies are per host, not per port, so
    /// daemons sharing a host (peers on 127.0.0.1:5001 and :5002) need different names.
    pub fn with_cookie_name(mut self, name: &str) -> SessionStore {
        self.cookie = name.to_owned();
        self
    }

    /// The name of the session cookie.
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }

    /// The `Set-Cookie` value that hands `session` to the browser:
    /// `Path=/; HttpOnly; SameSite=Lax`.
    pub fn cookie(&self, session: &Session) -> SetCookie {
        SetCookie::new(self.cookie.clone(), session.id.clone())
            .path("/")
            .http_only()
            .same_site(SameSite::Lax)
    }

    /// The `Set-Cookie` value that deletes the session cookie.
    pub fn expired_cookie(&self) -> SetCookie {
        SetCookie::new(self.cookie.clone(), "").path("/").expired()
    }

    /// Starts a session for `user` and returns it.
    pub fn create(&self, user: &str) -> Session {
        let id = http_core::secret::Secret128::random().to_hex();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().expect("session store");
        if sessions.len() >= self.max {
            sessions.retain(|_, e| e.expires > now);
            if sessions.len() >= self.max
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, e)| e.created)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Entry {
                user: user.to_owned(),
                expires: now + self.ttl,
                created: now,
            },
        );
        Session {
            id,
            user: user.to_owned(),
        }
    }

    /// The live session `id`, extending its life; `None` if unknown or expired.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut sessions = self.sessions.lock().expect("session store");
        let entry = sessions.get_mut(id)?;
        if entry.expires <= now {
            sessions.remove(id);
            return None;
        }
        entry.expires = now + self.ttl;
        Some(Session {
            id: id.to_owned(),
            user: entry.user.clone(),
        })
    }

    /// Ends session `id`; returns whether it existed.
    pub fn remove(&self, id: &str) -> bool {
        self.sessions
            .lock()
            .expect("session store")
            .remove(id)
            .is_some()
    }

    /// Sessions currently held (live or not yet purged).
    pub fn len(&self) -> usize {
        self.sessions.lock().expect("session store").len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_and_end() {
        let store = SessionStore::default();
        let a = store.create("admin");
        let b = store.create("admin");
        assert_eq!(a.id.len(), 32);
        assert_ne!(a.id, b.id);
        assert_eq!(store.get(&a.id).unwrap().user, "admin");
        assert!(store.remove(&a.id));
        assert!(store.get(&a.id).is_none());
        assert!(store.get("0123").is_none());
    }

    #[test]
    fn expired_sessions_are_refused() {
        let store = SessionStore::new(Duration::ZERO, 10);
        let s = store.create("u");
        assert!(store.get(&s.id).is_none());
    }

    #[test]
    fn the_store_is_bounded() {
        let store = SessionStore::new(SESSION_TTL, 3);
        let first = store.create("a");
        for _ in 0..10 {
            store.create("b");
        }
        assert_eq!(store.len(), 3);
        assert!(store.get(&first.id).is_none());
    }
}
