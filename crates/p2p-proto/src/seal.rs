//! End-to-end encryption of direct messages (issue 10): only the two parties of a `dm:`
//! channel can read its texts, whatever carries them.
//!
//! Both parties compute the same X25519 secret from their Ed25519 keys ([`Identity`] holds no
//! second key pair: its secret scalar and the other's public point are converted to the
//! Montgomery form), and BLAKE3's key derivation turns it, with both public keys, into a
//! ChaCha20-Poly1305 key for the pair. A sealed message keeps its metadata in the clear (id,
//! channel, author, name, seq, Lamport time, timestamp, recipient), authenticated as the AEAD's
//! additional data, and carries `sig || text` encrypted under a fresh random 96-bit nonce in
//! `sealed` (unpadded URL-safe base64 of `nonce || ciphertext`), with `text` empty and no
//! `sig`. So an observer cannot read the text, nor test a guess of it against the signature.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::identity::{Identity, PublicKey};
use crate::message::Message;

/// Domain tag of the additional data.
const SEAL_TAG: &str = "weaprous-dm/1";
/// BLAKE3 key-derivation context of a pair's key.
const KDF_CONTEXT: &str = "WeApRous-rs 2026-11-29 direct message key";
/// ChaCha20-Poly1305 nonce length.
const NONCE_LEN: usize = 12;
/// Ed25519 signature length.
const SIG_LEN: usize = 64;

/// The key two peers share for their direct messages. Its `Debug` never shows it.
#[derive(Clone)]
pub struct PairKey(ChaCha20Poly1305);

impl std::fmt::Debug for PairKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairKey(..)")
    }
}

impl PairKey {
    /// The key `us` shares with the holder of `them`; both sides derive the same one.
    pub fn new(us: &Identity, them: &PublicKey) -> PairKey {
        let (a, b) = (us.public().as_str(), them.as_str());
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut kdf = blake3::Hasher::new_derive_key(KDF_CONTEXT);
        kdf.update(&us.agree(them));
        kdf.update(lo.as_bytes());
        kdf.update(b"+");
        kdf.update(hi.as_bytes());
        let key = kdf.finalize();
        PairKey(ChaCha20Poly1305::new(Key::from_slice(key.as_bytes())))
    }

    /// `msg` (signed, in the clear) as it travels: text and signature sealed. `None` for a
    /// message without a valid signature, which is never sent anyway.
    pub fn seal(&self, msg: &Message) -> Option<Message> {
        let sig = B64.decode(msg.sig.as_deref()?).ok()?;
        if sig.len() != SIG_LEN {
            return None;
        }
        let mut plain = sig;
        plain.extend_from_slice(msg.text.as_bytes());
        let nonce = rand::random::<[u8; NONCE_LEN]>();
        let aad = additional_data(msg);
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Some(Message {
            text: String::new(),
            sig: None,
            sealed: Some(B64.encode(out)),
            ..msg.clone()
        })
    }

    /// A sealed message opened: its text and signature back. `None` unless it was sealed
    /// under this key with exactly these fields.
    pub fn open(&self, msg: &Message) -> Option<Message> {
        let bytes = B64.decode(msg.sealed.as_deref()?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let aad = additional_data(msg);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .ok()?;
        if plain.len() < SIG_LEN || !msg.text.is_empty() || msg.sig.is_some() {
            return None;
        }
        let (sig, text) = plain.split_at(SIG_LEN);
        Some(Message {
            text: String::from_utf8(text.to_vec()).ok()?,
            sig: Some(B64.encode(sig)),
            sealed: None,
            ..msg.clone()
        })
    }
}

/// Every field but the sealed ones, so none can be changed or moved to another message.
fn additional_data(m: &Message) -> Vec<u8> {
    serde_json::to_vec(&(
        SEAL_TAG, &m.id, &m.channel, &m.from, &m.name, m.seq, m.lamport, m.ts, &m.to,
    ))
    .expect("strings and integers serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::dm_channel;

    fn direct(from: &Identity, text: &str) -> Message {
        let channel = dm_channel("alice", "bob");
        let mut m = crate::testing::msg("alice", &channel, 1, 1, text);
        m.to = Some("bob".into());
        from.sign_message(&mut m);
        m
    }

    #[test]
    fn both_parties_derive_one_key_and_only_they_open() {
        let (alice, bob, eve) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let ab = PairKey::new(&alice, bob.public());
        let ba = PairKey::new(&bob, alice.public());
        let m = direct(&alice, "psst,名前 \"quoted\"");
        let sealed = ab.seal(&m).unwrap();
        assert_eq!(sealed.text, "");
        assert_eq!(sealed.sig, None);
        let wire = serde_json::to_string(&sealed).unwrap();
        assert!(!wire.contains("psst"), "{wire}");
        assert!(!wire.contains(m.sig.as_deref().unwrap()), "{wire}");
        assert_ne!(ab.seal(&m), Some(sealed.clone()), "a fresh nonce each time");
        assert_eq!(ba.open(&sealed), Some(m.clone()));
        assert_eq!(PairKey::new(&eve, alice.public()).open(&sealed), None);
        assert_eq!(PairKey::new(&eve, bob.public()).open(&sealed), None);
    }

    #[test]
    fn tampering_with_any_field_fails_to_open() {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let key = PairKey::new(&alice, bob.public());
        let sealed = key.seal(&direct(&alice, "hi")).unwrap();
        let changes: [fn(&mut Message); 7] = [
            |m| m.seq += 1,
            |m| m.lamport += 1,
            |m| m.ts += 1,
            |m| m.name.push('x'),
            |m| m.to = Some("carol".into()),
            |m| m.text = "visible".into(),
            |m| {
                let mut s = m.sealed.take().unwrap();
                s.replace_range(20..21, if &s[20..21] == "A" { "B" } else { "A" });
                m.sealed = Some(s);
            },
        ];
        for change in changes {
            let mut t = sealed.clone();
            change(&mut t);
            assert_eq!(key.open(&t), None, "{t:?}");
        }
        let mut unsigned = direct(&alice, "hi");
        unsigned.sig = None;
        assert_eq!(key.seal(&unsigned), None);
    }
}
