//! Peer tokens and channel key hashes, with constant-time comparison and hex helpers.

use sha2::{Digest, Sha256};

use crate::error::{Result, TrackerError};

/// A peer's 128-bit secret, issued at registration; held as bytes so the record stays 8-aligned.
#[derive(Clone, Copy)]
pub(crate) struct Token([u8; 16]);

impl Token {
    pub(crate) fn random() -> Token {
        Token(rand::random::<u128>().to_be_bytes())
    }

    /// The token as the 32 lower-case hex digits handed to the peer.
    pub(crate) fn to_hex(self) -> String {
        hex(&self.0)
    }

    /// Checks a presented token. A malformed token is simply wrong: it never reaches a 400, so
    /// a caller learns nothing about the format from the error.
    pub(crate) fn verify(&self, presented: Option<&str>, peer_id: &str) -> Result<()> {
        let Some(presented) = presented else {
            return Err(TrackerError::Forbidden(format!(
                "missing token for peer {peer_id}"
            )));
        };
        let mut given = [0u8; 16];
        if decode_hex(presented, &mut given) && ct_eq(&given, &self.0) {
            Ok(())
        } else {
            Err(TrackerError::Forbidden(format!(
                "wrong token for peer {peer_id}"
            )))
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never let a secret slip into a log line through `{:?}`.
        f.write_str("Token(..)")
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

/// Compares without an early exit, so the time taken does not reveal how many bytes matched.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Decodes exactly `out.len()` bytes of hex (either case); false if `s` is anything else.
pub(crate) fn decode_hex(s: &str, out: &mut [u8]) -> bool {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => *o = h << 4 | l,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let check = |s: &str, expected: Option<[u8; 2]>| {
            let mut out = [0u8; 2];
            let ok = decode_hex(s, &mut out);
            assert_eq!(ok.then_some(out), expected, "{s:?}");
        };
        check("00ff", Some([0, 255]));
        check("A0fF", Some([0xa0, 0xff]));
        check("0g00", None);
        check("00f", None);
        check("00ff0", None);
        check("", None);
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
    }

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
        assert_eq!(format!("{t:?}"), "Token(..)");
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
        assert!(ct_eq(b"ab", b"ab"));
        assert!(!ct_eq(b"ab", b"abc"));
        assert!(!ct_eq(b"ab", b"ac"));
    }
}
