//! Peer tokens and channel key hashes, on http-core's [`Secret128`] and constant-time compare.

use http_core::secret::{Secret128, ct_eq};
pub(crate) use http_core::secret::{decode_hex, hex};
use sha2::{Digest, Sha256};

use crate::error::{Result, TrackerError};

/// A peer's 128-bit secret, issued at registration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token(Secret128);

impl Token {
    pub(crate) fn random() -> Token {
        Token(Secret128::random())
    }

    /// The token as the 32 lower-case hex digits handed to the peer.
    pub(crate) fn to_hex(self) -> String {
        self.0.to_hex()
    }

    /// Checks a presented token. A malformed token is simply wrong: it never reaches a 400, so
    /// a caller learns nothing about the format from the error.
    pub(crate) fn verify(&self, presented: Option<&str>, peer_id: &str) -> Result<()> {
        let Some(presented) = presented else {
            return Err(TrackerError::Forbidden(format!(
                "missing token for peer {peer_id}"
            )));
        };
        if self.0.matches(presented) {
            Ok(())
        } else {
            Err(TrackerError::Forbidden(format!(
                "wrong token for peer {peer_id}"
            )))
        }
    }
}

/// SHA-256 of a channel key; the key itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyHash([u8; 32]);

impl KeyHash {
    pub(crate) fn of(key: &str) -> KeyHash {
        KeyHash(sha256(key.as_bytes()))
    }

    pub(crate) fn matches(&self, key: &str) -> bool {
        ct_eq(&sha256(key.as_bytes()), &self.0)
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = Token::random();
        let h = t.to_hex();
        assert_eq!(h.len(), 32);
        let check = |presented: Option<&str>, ok: bool| {
            let got = t.verify(presented, "p");
            assert_eq!(got.is_ok(), ok, "{presented:?} -> {got:?}");
            if let Err(e) = got {
                assert_eq!(e.status(), 403);
            }
        };
        check(Some(&h), true);
        check(Some(&h.to_uppercase()), true);
        check(None, false);
        check(Some(""), false);
        check(Some(&h[..31]), false);
        check(Some("zz"), false);
        let mut flipped = h.clone().into_bytes();
        flipped[31] = if flipped[31] == b'0' { b'1' } else { b'0' };
        check(Some(std::str::from_utf8(&flipped).unwrap()), false);
        assert_ne!(Token::random().to_hex(), h, "tokens must differ");
        assert_eq!(format!("{t:?}"), "Token(Secret128(..))");
    }

    #[test]
    fn key_hashes() {
        let k = KeyHash::of("s3cret");
        assert!(k.matches("s3cret"));
        assert!(!k.matches("s3cre"));
        assert!(!k.matches(""));
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
