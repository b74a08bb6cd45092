//! Peer identity (SPEC §6 "Identity and trust"): an Ed25519 key pair, the signatures it makes
//! over messages and link challenges, and the checks every receiver runs.
//!
//! Keys, challenges and signatures travel as unpadded URL-safe base64. What is signed is always
//! a JSON array that starts with a domain tag (`weaprous-msg/1`, `weaprous-link/2`), so a
//! signature made for one purpose can never be replayed as another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::message::Message;

/// Length of a secret key in bytes (the key file holds exactly this).
pub const SECRET_LEN: usize = 32;
/// Length of a link challenge in bytes: fresh random per link, never reused.
pub const CHALLENGE_LEN: usize = 32;

/// Domain tag of a message signature.
const MESSAGE_TAG: &str = "weaprous-msg/1";
/// Domain tag of a link-challenge signature.
const LINK_TAG: &str = "weaprous-link/2";
/// Domain tag of a registration signed for the tracker (its `key_proof`).
const REGISTER_TAG: &str = "weaprous-register/1";

/// A public key: its base64 text (as registered and sent) and the parsed point, so verifying
/// many messages by one author decodes the key once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    text: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// Parses a base64 public key; `None` if it is not a valid Ed25519 point.
    pub fn parse(text: &str) -> Option<PublicKey> {
        let bytes: [u8; 32] = B64.decode(text).ok()?.try_into().ok()?;
        let key = VerifyingKey::from_bytes(&bytes).ok()?;
        // Weak keys (small order) would let a forger find signatures that verify for anything.
        if key.is_weak() {
            return None;
        }
        Some(PublicKey {
            text: text.to_string(),
            key,
        })
    }

    /// The base64 text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `sig` (base64) is this key's signature of `payload`.
    pub fn verifies(&self, payload: &[u8], sig: &str) -> bool {
        let Some(bytes) = B64
            .decode(sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        let sig = Signature::from_bytes(&bytes);
        // `verify_strict`'s acceptance, without its cost: it decompresses R (a square root)
        // only to refuse a small-order R. The plain check already refuses every R that is not
        // the canonical encoding of the point it recomputes, so only the eight canonical
        // encodings of small-order points are left to refuse; our key itself was checked for
        // small order when parsed.
        self.key.verify(payload, &sig).is_ok() && !small_order_encodings().contains(sig.r_bytes())
    }

    /// Whether `msg` carries this key's signature over its signed fields.
    pub fn verifies_message(&self, msg: &Message) -> bool {
        msg.sig
            .as_deref()
            .is_some_and(|sig| self.verifies(&message_payload(msg), sig))
    }
}

/// This peer's key pair.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "Identity({})", self.public.as_str())
    }
}

impl Identity {
    /// A fresh random key pair.
    pub fn generate() -> Identity {
        Identity::from_secret(&rand::random::<[u8; SECRET_LEN]>())
    }

    /// The key pair of a stored secret.
    pub fn from_secret(secret: &[u8; SECRET_LEN]) -> Identity {
        let signing = SigningKey::from_bytes(secret);
        let vk = signing.verifying_key();
        let public = PublicKey {
            text: B64.encode(vk.to_bytes()),
            key: vk,
        };
        Identity { signing, public }
    }

    /// The secret, for the key file.
    pub fn secret(&self) -> [u8; SECRET_LEN] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `payload`; base64.
    pub fn sign(&self, payload: &[u8]) -> String {
        B64.encode(self.signing.sign(payload).to_bytes())
    }

    /// Signs a message we author, filling its `sig`.
    pub fn sign_message(&self, msg: &mut Message) {
        msg.sig = Some(self.sign(&message_payload(msg)));
    }

    /// The signature of our registration of `peer_id` at `port`, carrying our key, at `ts_ms`
    /// (ms since the Unix epoch): the tracker's `key_proof`, which takes a live peer id back
    /// without its token (after a restart that lost it).
    pub fn sign_registration(&self, peer_id: &str, port: u16, ts_ms: u64) -> String {
        let payload = (REGISTER_TAG, peer_id, port, self.public.as_str(), ts_ms);
        self.sign(&serde_json::to_vec(&payload).expect("plain values serialize"))
    }

    /// The X25519 shared secret with the holder of `them`: our Ed25519 secret as a Montgomery
    /// scalar times their Ed25519 key as a Montgomery point (the birational map every
    /// Ed25519-to-X25519 conversion uses), so no second key pair is needed.
    pub(crate) fn agree(&self, them: &PublicKey) -> [u8; 32] {
        them.key
            .to_montgomery()
            .mul_clamped(self.signing.to_scalar_bytes())
            .to_bytes()
    }

    /// Our proof on a link: the signature of the other side's `challenge`, bound to both ids
    /// so it cannot be replayed on a link between other peers.
    pub fn prove(&self, challenge: &str, us: &str, them: &str) -> String {
        self.sign(&link_payload(challenge, us, them))
    }
}

/// The canonical encodings of the eight points of small order, computed once.
fn small_order_encodings() -> &'static [[u8; 32]; 8] {
    static ENCODINGS: std::sync::OnceLock<[[u8; 32]; 8]> = std::sync::OnceLock::new();
    ENCODINGS.get_or_init(|| EIGHT_TORSION.map(|p| p.compress().to_bytes()))
}

/// A fresh random link challenge; base64.
pub fn new_challenge() -> String {
    B64.encode(rand::random::<[u8; CHALLENGE_LEN]>())
}

/// Whether `proof` shows that `signer` holds `key`: its signature over `challenge` (ours,
/// fresh on this link) for a link to `verifier` (us).
pub fn check_proof(
    key: &PublicKey,
    challenge: &str,
    signer: &str,
    verifier: &str,
    proof: &str,
) -> bool {
    key.verifies(&link_payload(challenge, signer, verifier), proof)
}

fn link_payload(challenge: &str, signer: &str, verifier: &str) -> Vec<u8> {
    serde_json::to_vec(&(LINK_TAG, challenge, signer, verifier)).expect("strings serialize")
}

/// The bytes an author signs: every field of the message except the signature itself.
fn message_payload(m: &Message) -> Vec<u8> {
    serde_json::to_vec(&(
        MESSAGE_TAG,
        &m.id,
        &m.channel,
        &m.from,
        &m.name,
        m.seq,
        m.lamport,
        m.ts,
        &m.text,
        &m.to,
    ))
    .expect("strings and integers serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::msg;

    #[test]
    fn messages_verify_only_unchanged_and_under_their_key() {
        let alice = Identity::generate();
        let mallory = Identity::generate();
        let mut m = msg("alice", "general", 1, 1, "hi");
        assert!(!alice.public().verifies_message(&m), "unsigned");
        alice.sign_message(&mut m);
        assert!(alice.public().verifies_message(&m));
        assert!(!mallory.public().verifies_message(&m));
        let tampered: [fn(&mut Message); 6] = [
            |m| m.text.push('!'),
            |m| m.lamport += 1,
            |m| m.seq += 1,
            |m| m.ts += 1,
            |m| m.name.push('x'),
            |m| m.to = Some("bob".into()),
        ];
        for change in tampered {
            let mut t = m.clone();
            change(&mut t);
            assert!(!alice.public().verifies_message(&t), "{t:?}");
        }
        let mut garbage = m.clone();
        garbage.sig = Some("not base64 at all!".into());
        assert!(!alice.public().verifies_message(&garbage));
    }

    #[test]
    fn proofs_are_bound_to_challenge_and_both_ids() {
        let alice = Identity::generate();
        let c = new_challenge();
        assert_ne!(c, new_challenge());
        let proof = alice.prove(&c, "alice", "bob");
        let key = alice.public();
        assert!(check_proof(key, &c, "alice", "bob", &proof));
        assert!(!check_proof(key, &new_challenge(), "alice", "bob", &proof));
        assert!(!check_proof(key, &c, "alice", "carol", &proof));
        assert!(!check_proof(key, &c, "mallory", "bob", &proof));
        // A message signature is never a link proof, even over the same bytes' fields.
        let mut m = msg("alice", "general", 1, 1, &c);
        alice.sign_message(&mut m);
        assert!(!check_proof(
            key,
            &c,
            "alice",
            "bob",
            m.sig.as_deref().unwrap()
        ));
    }

    #[test]
    fn registrations_are_signed_over_the_trackers_payload() {
        let me = Identity::generate();
        let sig = me.sign_registration("p", 5, 1_000);
        let payload = |port: u16, ts: u64| {
            serde_json::to_vec(&("weaprous-register/1", "p", port, me.public().as_str(), ts))
                .unwrap()
        };
        assert!(me.public().verifies(&payload(5, 1_000), &sig));
        assert!(!me.public().verifies(&payload(6, 1_000), &sig));
        assert!(!me.public().verifies(&payload(5, 1_001), &sig));
    }

    #[test]
    fn signature_checks_accept_exactly_what_verify_strict_accepts() {
        let alice = Identity::generate();
        let key = alice.public();
        let mut flipped = 0;
        for i in 0..64u8 {
            let payload = [i; 40];
            let mut sig = alice.signing.sign(&payload).to_bytes();
            // Untouched, then with one bit flipped in R or in s.
            for bit in [None, Some(usize::from(i) * 8 % 512)] {
                if let Some(b) = bit {
                    sig[b / 8] ^= 1 << (b % 8);
                    flipped += 1;
                }
                let strict = key
                    .key
                    .verify_strict(&payload, &Signature::from_bytes(&sig))
                    .is_ok();
                assert_eq!(
                    key.verifies(&payload, &B64.encode(sig)),
                    strict,
                    "{i} {bit:?}"
                );
            }
        }
        assert_eq!(flipped, 64);
        let small = small_order_encodings();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(small.contains(&identity), "the neutral point (0, 1)");
        for (i, a) in small.iter().enumerate() {
            assert!(
                small[..i].iter().all(|b| b != a),
                "eight distinct encodings"
            );
            let p = curve25519_dalek::edwards::CompressedEdwardsY(*a)
                .decompress()
                .unwrap();
            assert!(p.is_small_order());
        }
    }

    #[test]
    fn keys_round_trip_and_bad_keys_are_refused() {
        let a = Identity::generate();
        let b = Identity::from_secret(&a.secret());
        assert_eq!(a.public(), b.public());
        assert_eq!(
            PublicKey::parse(a.public().as_str()).as_ref(),
            Some(a.public())
        );
        assert_eq!(PublicKey::parse("short"), None);
        assert_eq!(
            PublicKey::parse(&B64.encode([0u8; 32])),
            None,
            "small-order point"
        );
        assert!(!format!("{a:?}").contains(&B64.encode(a.secret())));
    }
}
