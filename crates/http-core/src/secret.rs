//! Secrets handed to clients: 128-bit random tokens as hex, and the constant-time compare every
//! check of a presented secret goes through.
//!
//! Backend session ids, tracker peer tokens and chat peer tokens are all a [`Secret128`]; user
//! passwords and channel keys are compared with [`ct_eq`].

use std::fmt;

use subtle::ConstantTimeEq;

/// 128 random bits, shown to the client as 32 lower-case hex digits. `Debug` never prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Secret128([u8; 16]);

impl Secret128 {
    /// A fresh secret from the operating system's random source (through `rand`).
    pub fn random() -> Secret128 {
        Secret128(rand::random::<u128>().to_be_bytes())
    }

    /// Reads 32 hex digits (either case); `None` for anything else.
    pub fn from_hex(s: &str) -> Option<Secret128> {
        let mut bytes = [0u8; 16];
        decode_hex(s, &mut bytes).then_some(Secret128(bytes))
    }

    /// The 32 lower-case hex digits handed to the client.
    pub fn to_hex(self) -> String {
        hex(&self.0)
    }

    /// Whether `presented` is this secret, in hex of either case. Constant-time in the secret;
    /// a malformed string is simply not a match.
    pub fn matches(&self, presented: &str) -> bool {
        Secret128::from_hex(presented).is_some_and(|given| ct_eq(&given.0, &self.0))
    }
}

impl fmt::Debug for Secret128 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never let a secret slip into a log line through `{:?}`.
        f.write_str("Secret128(..)")
    }
}

/// Compares without an early exit on the first differing byte (through `subtle`), so the time
/// taken does not reveal how many bytes matched. Lengths are not secret: different lengths
/// answer false at once.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Decodes exactly `out.len()` bytes of hex (either case); false if `s` is anything else.
pub fn decode_hex(s: &str, out: &mut [u8]) -> bool {
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
    fn secrets() {
        let s = Secret128::random();
        let h = s.to_hex();
        assert_eq!(h.len(), 32);
        assert_eq!(Secret128::from_hex(&h), Some(s));
        let check =
            |presented: &str, ok: bool| assert_eq!(s.matches(presented), ok, "{presented:?}");
        check(&h, true);
        check(&h.to_uppercase(), true);
        check("", false);
        check(&h[..31], false);
        check("zz", false);
        let mut flipped = h.clone().into_bytes();
        flipped[31] = if flipped[31] == b'0' { b'1' } else { b'0' };
        check(std::str::from_utf8(&flipped).unwrap(), false);
        assert_ne!(Secret128::random(), s, "secrets must differ");
        assert_eq!(format!("{s:?}"), "Secret128(..)");
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"ab", b"ab"));
        assert!(!ct_eq(b"ab", b"abc"));
        assert!(!ct_eq(b"ab", b"ac"));
        assert!(!ct_eq(b"a", b""));
    }
}
