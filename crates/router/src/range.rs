//! `Range: bytes=…` (RFC 9110 §14.2) reduced to what a static server answers: one range, the
//! whole file, or 416.

/// What a `Range` field asks of a representation of known length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable range (absent, another unit, malformed, or several ranges): answer 200 with
    /// the whole body, as RFC 9110 allows.
    Whole,
    /// Bytes `first..=last`, both inside the representation: answer 206.
    Part {
        /// First byte offset.
        first: u64,
        /// Last byte offset, inclusive.
        last: u64,
    },
    /// A well-formed range that starts past the end (or an empty suffix): answer 416.
    Unsatisfiable,
}

/// Reads a `Range` field value against a representation of `len` bytes.
pub fn parse_range(value: &str, len: u64) -> ByteRange {
    let value = value.trim();
    let Some((unit, spec)) = value.split_once('=') else {
        return ByteRange::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first, last) {
        ("", suffix) => match number(suffix) {
            None => ByteRange::Whole,
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if len == 0 => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Part {
                first: len.saturating_sub(n),
                last: len - 1,
            },
        },
        (first, "") => match number(first) {
            None => ByteRange::Whole,
            Some(first) if first >= len => ByteRange::Unsatisfiable,
            Some(first) => ByteRange::Part {
                first,
                last: len - 1,
            },
        },
        (first, last) => match (number(first), number(last)) {
            (Some(first), Some(last)) if first <= last => {
                if first >= len {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Part {
                        first,
                        last: last.min(len - 1),
                    }
                }
            }
            _ => ByteRange::Whole,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, len: u64, expected: ByteRange) {
        assert_eq!(parse_range(value, len), expected, "{value:?} of {len}");
    }

    #[test]
    fn ranges() {
        let part = |first, last| ByteRange::Part { first, last };
        check("bytes=100-199", 1000, part(100, 199));
        check("bytes=100-", 1000, part(100, 999));
        check("bytes=-100", 1000, part(900, 999));
        check("bytes=-5000", 1000, part(0, 999));
        check("bytes=900-5000", 1000, part(900, 999));
        check("BYTES = 0-0", 1000, part(0, 0));
        check("bytes=1000-", 1000, ByteRange::Unsatisfiable);
        check("bytes=5000-6000", 1000, ByteRange::Unsatisfiable);
        check("bytes=-0", 1000, ByteRange::Unsatisfiable);
        check("bytes=0-", 0, ByteRange::Unsatisfiable);
        check("bytes=-1", 0, ByteRange::Unsatisfiable);
        check("bytes=200-100", 1000, ByteRange::Whole);
        check("bytes=0-1,5-6", 1000, ByteRange::Whole);
        check("items=0-1", 1000, ByteRange::Whole);
        check("bytes=a-b", 1000, ByteRange::Whole);
        check("bytes=+1-2", 1000, ByteRange::Whole);
        check("bytes", 1000, ByteRange::Whole);
        check("bytes=99999999999999999999-", 1000, ByteRange::Whole);
    }
}
