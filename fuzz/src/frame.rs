//! p2p link frame properties: the decoder yields the same frames (and errors) whatever the reads,
//! and every frame it yields encodes to a line that decodes to the same frame.

use bytes::BytesMut;
use p2p_proto::{Frame, FrameDecoder, FrameError, encode};

use crate::{Input, describe};

/// Inputs up to this long are also fed one byte at a time.
const BYTEWISE_MAX: usize = 512;

/// Checks the properties above on one input.
pub fn frames(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let whole = decode(&[input.payload]);
    assert_eq!(whole, decode(&input.pieces()), "split changed the frames");
    if input.payload.len() <= BYTEWISE_MAX {
        let bytes: Vec<&[u8]> = input.payload.chunks(1).collect();
        assert_eq!(whole, decode(&bytes), "bytewise feed changed the frames");
    }
    for frame in whole.frames.iter().filter_map(|f| f.as_ref().ok()) {
        let line = encode(frame);
        let again = decode(&[&line]);
        assert_eq!(
            again.frames,
            [Ok(frame.clone())],
            "encoded: {:?}",
            String::from_utf8_lossy(&line)
        );
        assert!(again.rest.is_some_and(|r| r.is_empty()), "bytes left after a frame");
    }
}

/// What the decoder made of a stream.
#[derive(Debug, PartialEq)]
struct Run {
    /// Frames and the errors of lines that were consumed, in order.
    frames: Vec<Result<Frame, String>>,
    /// What is left in the buffer; `None` after an oversized frame, which ends the link.
    rest: Option<BytesMut>,
}

fn decode(pieces: &[&[u8]]) -> Run {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(Ok(frame)),
                Ok(None) => break,
                Err(e @ FrameError::Oversized { .. }) => {
                    frames.push(Err(describe(&e)));
                    return Run { frames, rest: None };
                }
                Err(e) => frames.push(Err(describe(&e))),
            }
        }
    }
    Run {
        frames,
        rest: Some(buf),
    }
}
