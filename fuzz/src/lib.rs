//! Properties the fuzz targets check, one module per parser; the targets in `fuzz_targets/` are
//! one line each, so a crash reproduces with `cargo fuzz run TARGET ARTIFACT`.
//!
//! Every target but `proxy_conf` reads its input as two control bytes and the bytes under test
//! ([`Input`]): the controls choose how the bytes are cut into reads, so one input checks that a
//! parser fed the same bytes in other pieces comes to the same result. The targets only call the
//! crates' public entry points, and compare errors by their `Debug` text, so they do not depend
//! on how an error type is shaped.

#![forbid(unsafe_code)]

pub mod frame;
pub mod http;
pub mod proxy_conf;

/// A fuzz input: `data[0]` says where the first cut falls (as a fraction of the length),
/// `data[1]` how long the pieces after it are (low nibble, 0 = whole rest) and, for targets that
/// need one, a small choice (high nibble); the rest is the payload.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    cut: u8,
    step: u8,
    /// The high nibble of the second control byte, for a target-specific choice.
    pub choice: u8,
    /// The bytes under test.
    pub payload: &'a [u8],
}

impl<'a> Input<'a> {
    /// Splits raw fuzz data; `None` when there are not even the two control bytes.
    pub fn new(data: &'a [u8]) -> Option<Input<'a>> {
        let [cut, control, payload @ ..] = data else {
            return None;
        };
        Some(Input {
            cut: *cut,
            step: control & 0x0f,
            choice: control >> 4,
            payload,
        })
    }

    /// The payload in the pieces the control bytes chose: a first piece of `cut/255` of the
    /// length, then pieces of `step` bytes (or the whole rest when `step` is 0).
    pub fn pieces(&self) -> Vec<&'a [u8]> {
        let len = self.payload.len();
        let first = len * usize::from(self.cut) / 255;
        let (head, mut rest) = self.payload.split_at(first);
        let mut pieces = vec![head];
        let step = usize::from(self.step);
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(if step == 0 {
                rest.len()
            } else {
                step.min(rest.len())
            });
            pieces.push(piece);
            rest = tail;
        }
        pieces
    }
}

/// `err` as text, so outcomes compare without asking the error type for `PartialEq`.
pub(crate) fn describe(err: &impl std::fmt::Debug) -> String {
    format!("{err:?}")
}
