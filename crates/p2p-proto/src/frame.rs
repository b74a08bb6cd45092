//! Link frames (SPEC §6): newline-delimited JSON objects tagged by `"type"`, at most 64 KiB each.

use std::collections::BTreeMap;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use crate::message::Message;

/// Largest frame in bytes, not counting its newline. A peer that sends more without a newline
/// is cut off as soon as the limit passes, so a link never buffers more than this.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// Version of the link protocol carried in `hello`'s `version`; a peer sending another is
/// refused. Version 2 added the key proofs of the handshake (`key`, `challenge`, `proof`,
/// `auth`). Later versions keep this handshake and are announced in `max_version`.
pub const PROTOCOL_VERSION: u32 = 2;

/// Highest link protocol version we speak, announced in `hello`'s `max_version`; a link speaks
/// the smaller of both sides' (a version-2 peer sends no `max_version`, and ignores ours).
/// Version 3 added channel-key proofs (`channel-challenge`, `channel-proof`) and sealed direct
/// messages (`sealed`).
pub const MAX_PROTOCOL_VERSION: u32 = 3;

/// The first version with channel-key proofs: a link below it never carries key channels.
pub const CHANNEL_PROOF_VERSION: u32 = 3;

/// The first version with sealed direct messages: a link below it never carries them.
pub const SEALED_DIRECT_VERSION: u32 = 3;

/// One link frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Frame {
    /// First frame of the dialling side.
    Hello(Hello),
    /// The accepting side's answer to `hello`, with its own details.
    HelloAck(Hello),
    /// The dialler's proof of its key, answering the challenge in `hello-ack`; the link is
    /// open once it checks out.
    Auth {
        /// The dialler's signature over the acceptor's challenge (see [`crate::identity`]).
        proof: String,
    },
    /// "Prove that you hold `channel`'s key" (version 3): answered by `channel-proof`.
    ChannelChallenge {
        /// The key channel.
        channel: String,
        /// A fresh random nonce, base64.
        nonce: String,
    },
    /// The answer to `channel-challenge`: a MAC under the channel key over the nonce, bound to
    /// this link (see [`crate::channel_key`]).
    ChannelProof {
        /// The key channel.
        channel: String,
        /// The challenge's nonce.
        nonce: String,
        /// The MAC, base64.
        proof: String,
    },
    /// A channel message from its author.
    Msg(Message),
    /// A direct message from its author to the other end of the link.
    Direct(Message),
    /// "Here is what I have of `channel`; send me the rest."
    SyncReq(SyncReq),
    /// Messages answering a `sync-req`; a long answer is split over several frames.
    Sync(SyncReply),
    /// Keep-alive; answered by `pong` with the same token.
    Ping {
        /// Echoed by the pong, so a round trip can be timed.
        #[serde(default)]
        token: u64,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's token.
        #[serde(default)]
        token: u64,
    },
    /// The sender is about to close the link.
    Bye {
        /// Why, for the other side's log.
        #[serde(default)]
        reason: String,
    },
}

impl Frame {
    /// Every frame's `"type"` tag, in the order of the variants: a line with another tag is
    /// [`FrameError::UnknownType`] (a newer peer), not [`FrameError::Malformed`].
    pub const KINDS: [&'static str; 12] = [
        "hello",
        "hello-ack",
        "auth",
        "channel-challenge",
        "channel-proof",
        "msg",
        "direct",
        "sync-req",
        "sync",
        "ping",
        "pong",
        "bye",
    ];

    /// The frame's `"type"` tag, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::HelloAck(_) => "hello-ack",
            Frame::Auth { .. } => "auth",
            Frame::ChannelChallenge { .. } => "channel-challenge",
            Frame::ChannelProof { .. } => "channel-proof",
            Frame::Msg(_) => "msg",
            Frame::Direct(_) => "direct",
            Frame::SyncReq(_) => "sync-req",
            Frame::Sync(_) => "sync",
            Frame::Ping { .. } => "ping",
            Frame::Pong { .. } => "pong",
            Frame::Bye { .. } => "bye",
        }
    }
}

/// Body of `hello` and `hello-ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's peer id.
    pub peer_id: String,
    /// The sender's display name.
    pub name: String,
    /// Random per link; with `peer_id` it ranks links in the duplicate-link rule.
    pub nonce: u64,
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The highest protocol version the sender speaks ([`MAX_PROTOCOL_VERSION`]); absent
    /// from version-2 peers, which speak only `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<u32>,
    /// Channels the sender has joined.
    #[serde(default)]
    pub channels: Vec<String>,
    /// The sender's Ed25519 public key, base64.
    #[serde(default)]
    pub key: String,
    /// A fresh random challenge the other side must sign to prove its key, base64.
    #[serde(default)]
    pub challenge: String,
    /// In `hello-ack` only: the acceptor's signature over the dialler's challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

impl Hello {
    /// The version a link with the sender of this hello speaks: the smaller of its highest
    /// and ours.
    pub fn agreed_version(&self) -> u32 {
        self.max_version
            .unwrap_or(self.version)
            .max(self.version)
            .min(MAX_PROTOCOL_VERSION)
    }
}

/// Body of `sync-req`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReq {
    /// The channel (group or direct).
    pub channel: String,
    /// Per author, the highest seq the requester holds with no gap below it.
    #[serde(default)]
    pub have: BTreeMap<String, u64>,
}

/// Body of `sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReply {
    /// The channel asked about.
    pub channel: String,
    /// Messages the requester lacked, in display order.
    #[serde(default)]
    pub messages: Vec<Message>,
}

/// Why bytes from a peer are not a frame. Any of them closes the link (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// More than [`MAX_FRAME_LEN`] bytes without a newline. The stream cannot be resynchronised,
    /// so the decoder keeps answering this.
    #[error("frame longer than {limit} bytes")]
    Oversized {
        /// [`MAX_FRAME_LEN`].
        limit: usize,
    },
    /// A well-formed JSON object whose `"type"` is not one we know; the line is consumed.
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    /// Not JSON, or JSON not shaped as a frame; the line is consumed.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Splits a byte stream into frames. Feed it the link's input buffer after every read; it
/// consumes complete lines and leaves a partial one in place.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    /// Bytes at the front of the buffer already known to hold no newline, so a frame arriving
    /// in many small reads is scanned once, not once per read.
    scanned: usize,
}

impl FrameDecoder {
    /// Takes the next complete frame out of `buf`: `Ok(None)` means more bytes are needed.
    /// Blank lines (and a `\r` before the newline) are tolerated. Always pass the same buffer.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        loop {
            let start = self.scanned.min(buf.len());
            let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') else {
                self.scanned = buf.len();
                if buf.len() > MAX_FRAME_LEN {
                    return Err(oversized());
                }
                return Ok(None);
            };
            let end = start + pos;
            if end > MAX_FRAME_LEN {
                return Err(oversized());
            }
            self.scanned = 0;
            let line = buf.split_to(end + 1);
            let body = line[..end].strip_suffix(b"\r").unwrap_or(&line[..end]);
            if body.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return parse(body).map(Some);
        }
    }
}

fn oversized() -> FrameError {
    FrameError::Oversized {
        limit: MAX_FRAME_LEN,
    }
}

fn parse(body: &[u8]) -> Result<Frame, FrameError> {
    serde_json::from_slice(body).map_err(|e| {
        // Only on the error path: look at the tag alone to tell "newer peer" from "garbage".
        #[derive(Deserialize)]
        struct Tag {
            #[serde(rename = "type")]
            kind: String,
        }
        match serde_json::from_slice::<Tag>(body) {
            Ok(tag) if !Frame::KINDS.contains(&tag.kind.as_str()) => {
                FrameError::UnknownType(tag.kind)
            }
            _ => FrameError::Malformed(e.to_string()),
        }
    })
}

/// Serializes a frame as one JSON line ending in `\n`.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = serde_json::to_vec(frame).expect("frames have only string keys and plain data");
    out.push(b'\n');
    out
}

/// Packs an answer to a `sync-req` into as many `sync` frames as needed to keep each under
/// [`MAX_FRAME_LEN`]; no frames when there is nothing to send.
pub fn sync_frames(channel: &str, messages: Vec<Message>) -> Vec<Frame> {
    // `{"type":"sync","channel":"…","messages":[]}` plus slack for escaping in the name.
    let envelope = 48 + 2 * channel.len();
    let mut frames = Vec::new();
    let mut batch = Vec::new();
    let mut size = envelope;
    for m in messages {
        let len = serde_json::to_vec(&m).map_or(MAX_FRAME_LEN, |v| v.len()) + 1;
        if !batch.is_empty() && size + len > MAX_FRAME_LEN {
            frames.push(sync_frame(channel, std::mem::take(&mut batch)));
            size = envelope;
        }
        size += len;
        batch.push(m);
    }
    if !batch.is_empty() {
        frames.push(sync_frame(channel, batch));
    }
    frames
}

fn sync_frame(channel: &str, messages: Vec<Message>) -> Frame {
    Frame::Sync(SyncReply {
        channel: channel.to_string(),
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::msg;

    fn samples() -> Vec<Frame> {
        let hello = Hello {
            peer_id: "127.0.0.1:5001".into(),
            name: "Ålice \"A\"".into(),
            nonce: u64::MAX,
            version: PROTOCOL_VERSION,
            channels: vec!["general".into()],
            key: "k".into(),
            challenge: "c".into(),
            proof: Some("p".into()),
            max_version: Some(MAX_PROTOCOL_VERSION),
        };
        let mut dm = msg("a", "dm:a+b", 1, 2, "psst");
        dm.to = Some("b".into());
        vec![
            Frame::Hello(hello.clone()),
            Frame::HelloAck(hello),
            Frame::Auth { proof: "p".into() },
            Frame::ChannelChallenge {
                channel: "vault".into(),
                nonce: "n".into(),
            },
            Frame::ChannelProof {
                channel: "vault".into(),
                nonce: "n".into(),
                proof: "p".into(),
            },
            Frame::Msg(msg("a", "general", 1, 1, "hi\nthere 名前")),
            Frame::Direct(dm),
            Frame::SyncReq(SyncReq {
                channel: "general".into(),
                have: [("a".to_string(), 3)].into(),
            }),
            Frame::Sync(SyncReply {
                channel: "general".into(),
                messages: vec![msg("a", "general", 2, 5, "x")],
            }),
            Frame::Ping { token: 7 },
            Frame::Pong { token: 7 },
            Frame::Bye {
                reason: "shutdown".into(),
            },
        ]
    }

    /// Decodes everything in `bytes`, fed in pieces of `step` bytes.
    fn decode_all(bytes: &[u8], step: usize) -> Vec<Result<Frame, FrameError>> {
        decode_pieces(bytes.chunks(step.max(1)))
    }

    /// Decodes everything in `pieces`, fed one after the other into the same buffer; stops at
    /// an oversized frame, after which the decoder would only repeat itself.
    fn decode_pieces<'a>(
        pieces: impl IntoIterator<Item = &'a [u8]>,
    ) -> Vec<Result<Frame, FrameError>> {
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(f)) => out.push(Ok(f)),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e.clone()));
                        if matches!(e, FrameError::Oversized { .. }) {
                            return out;
                        }
                    }
                }
            }
        }
        out
    }

    fn check(input: &[u8], expected: &[Result<Frame, FrameError>]) {
        for step in [1, 2, 3, 7, 100, input.len()] {
            assert_eq!(decode_all(input, step), expected, "step {step}");
        }
    }

    #[test]
    fn round_trip_every_type() {
        for f in samples() {
            let bytes = encode(&f);
            assert_eq!(bytes.last(), Some(&b'\n'));
            assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
            check(&bytes, &[Ok(f)]);
        }
    }

    #[test]
    fn wire_tags() {
        let tags: Vec<String> = samples()
            .iter()
            .map(|f| {
                serde_json::to_value(f).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let kinds: Vec<&str> = samples().iter().map(Frame::kind).collect();
        assert_eq!(tags, kinds);
        // One sample per variant, so this also says `KINDS` misses none.
        assert_eq!(kinds, Frame::KINDS);
        let ping: Frame = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(ping, Frame::Ping { token: 0 });
    }

    #[test]
    fn versions_agree_on_the_smaller() {
        let Frame::Hello(mut h) = samples().remove(0) else {
            panic!()
        };
        assert_eq!(h.agreed_version(), MAX_PROTOCOL_VERSION);
        h.max_version = None;
        assert_eq!(h.agreed_version(), PROTOCOL_VERSION, "a version-2 peer");
        h.max_version = Some(MAX_PROTOCOL_VERSION + 5);
        assert_eq!(h.agreed_version(), MAX_PROTOCOL_VERSION, "a newer peer");
        h.max_version = Some(1);
        assert_eq!(h.agreed_version(), PROTOCOL_VERSION, "never below version");
        // A version-2 peer's hello (no max_version) still decodes, and ours keeps version 2.
        let old = r#"{"type":"hello","peer_id":"a","name":"A","nonce":1,"version":2}"#;
        let Frame::Hello(h) = serde_json::from_str::<Frame>(old).unwrap() else {
            panic!()
        };
        assert_eq!(h.agreed_version(), PROTOCOL_VERSION);
    }

    #[test]
    fn split_at_every_byte() {
        let frames = samples();
        let stream: Vec<u8> = frames.iter().flat_map(encode).collect();
        let expected: Vec<Result<Frame, FrameError>> = frames.into_iter().map(Ok).collect();
        for cut in 0..=stream.len() {
            let (head, tail) = stream.split_at(cut);
            assert_eq!(decode_pieces([head, tail]), expected, "cut at {cut}");
        }
    }

    #[test]
    fn blank_lines_and_crlf() {
        check(
            b"\n\r\n  \n{\"type\":\"ping\",\"token\":1}\r\n",
            &[Ok(Frame::Ping { token: 1 })],
        );
    }

    #[test]
    fn oversized() {
        let over = Err(FrameError::Oversized {
            limit: MAX_FRAME_LEN,
        });
        // No newline at all: detected once the limit passes, not at the end of the stream.
        let endless = vec![b'x'; MAX_FRAME_LEN + 1];
        check(&endless, std::slice::from_ref(&over));
        assert_eq!(decode_all(&endless[..MAX_FRAME_LEN], 4096), []);
        // A long line arriving all at once, newline included.
        let mut long = vec![b' '; MAX_FRAME_LEN + 1];
        long.push(b'\n');
        check(&long, &[over]);
        // Exactly the limit is fine.
        let mut body = br#"{"type":"bye","reason":""#.to_vec();
        let pad = MAX_FRAME_LEN - body.len() - 2;
        body.extend(std::iter::repeat_n(b'r', pad));
        body.extend_from_slice(b"\"}\n");
        assert_eq!(body.len(), MAX_FRAME_LEN + 1);
        check(
            &body,
            &[Ok(Frame::Bye {
                reason: "r".repeat(pad),
            })],
        );
    }

    #[test]
    fn garbage_and_unknown_types() {
        let ping = Ok(Frame::Ping { token: 2 });
        let malformed = |s: &str| {
            let got = decode_all(s.as_bytes(), s.len());
            match &got[0] {
                Err(FrameError::Malformed(_)) => {}
                other => panic!("{s:?}: {other:?}"),
            }
            // The bad line is consumed; the next frame still decodes.
            assert_eq!(got[1], Ok(Frame::Ping { token: 2 }), "{s:?}");
        };
        malformed("not json\n{\"type\":\"ping\",\"token\":2}\n");
        malformed("{\"type\":\"msg\"}\n{\"type\":\"ping\",\"token\":2}\n");
        malformed("[1,2]\n{\"type\":\"ping\",\"token\":2}\n");
        malformed("{\"no_type\":1}\n{\"type\":\"ping\",\"token\":2}\n");
        malformed("\u{ff}\u{fe}\n{\"type\":\"ping\",\"token\":2}\n");
        check(
            b"{\"type\":\"teleport\",\"to\":\"mars\"}\n{\"type\":\"ping\",\"token\":2}\n",
            &[Err(FrameError::UnknownType("teleport".into())), ping],
        );
    }

    #[test]
    fn sync_frames_fit_the_limit() {
        assert!(sync_frames("general", Vec::new()).is_empty());
        let text = "\u{1}".repeat(crate::message::MAX_TEXT_LEN);
        let messages: Vec<Message> = (1..=20)
            .map(|i| msg("someone", "general", i, i, &text))
            .collect();
        let frames = sync_frames("general", messages.clone());
        assert!(frames.len() > 1);
        let mut back = Vec::new();
        for f in frames {
            assert!(encode(&f).len() <= MAX_FRAME_LEN + 1);
            let Frame::Sync(s) = f else { panic!() };
            back.extend(s.messages);
        }
        assert_eq!(back, messages);
    }
}
