//! Channel-key proofs (issue 10, "private stays private"): a peer shows that it holds a key
//! channel's key without the key ever crossing a link.
//!
//! The verifier sends a fresh random nonce (`channel-challenge`); the prover answers with
//! `MAC(K, ["weaprous-channel/1", channel, nonce, prover, verifier, prover's hello challenge,
//! verifier's hello challenge])` (`channel-proof`), where `K` is derived from the channel key
//! with BLAKE3's key derivation and the MAC is BLAKE3 in keyed mode (a PRF, used as HMAC would
//! be). Binding both peer ids and both handshake challenges ties a proof to one link: it cannot
//! be replayed on another link, nor relayed by a man in the middle who answers one peer's
//! challenge with another peer's proof. The check compares in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use subtle::ConstantTimeEq;

/// Length of a challenge nonce in bytes.
pub const NONCE_LEN: usize = 32;
/// Longest nonce text accepted from a peer (ours are 43 characters of base64).
pub const MAX_NONCE_TEXT: usize = 128;

/// Domain tag of the MAC input, so a proof is never valid as anything else.
const PROOF_TAG: &str = "weaprous-channel/1";
/// BLAKE3 key-derivation context: the channel key text becomes a 32-byte MAC key.
const KDF_CONTEXT: &str = "WeApRous-rs 2026-11-29 channel key proof";

/// The MAC key derived from a channel's key. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ChannelKey([u8; 32]);

impl std::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelKey(..)")
    }
}

impl PartialEq for ChannelKey {
    fn eq(&self, other: &ChannelKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for ChannelKey {}

/// What a proof is bound to: the channel, the verifier's nonce and the link it answers on.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The key channel.
    pub channel: &'a str,
    /// The verifier's fresh nonce.
    pub nonce: &'a str,
    /// Peer id of the side that proves.
    pub prover: &'a str,
    /// Peer id of the side that checks.
    pub verifier: &'a str,
    /// The challenge of the prover's `hello` on this link.
    pub prover_challenge: &'a str,
    /// The challenge of the verifier's `hello` on this link.
    pub verifier_challenge: &'a str,
}

impl ChannelKey {
    /// Derives the MAC key of a channel key as the user typed it.
    pub fn new(key: &str) -> ChannelKey {
        ChannelKey(blake3::derive_key(KDF_CONTEXT, key.as_bytes()))
    }

    /// The proof for `binding`; base64.
    pub fn prove(&self, binding: &Binding<'_>) -> String {
        B64.encode(self.mac(binding))
    }

    /// Whether `proof` (base64) is the proof for `binding`, compared in constant time.
    pub fn verifies(&self, binding: &Binding<'_>, proof: &str) -> bool {
        let Some(given) = B64
            .decode(proof)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return false;
        };
        self.mac(binding).ct_eq(&given).into()
    }

    fn mac(&self, b: &Binding<'_>) -> [u8; 32] {
        let input = serde_json::to_vec(&(
            PROOF_TAG,
            b.channel,
            b.nonce,
            b.prover,
            b.verifier,
            b.prover_challenge,
            b.verifier_challenge,
        ))
        .expect("strings serialize");
        *blake3::keyed_hash(&self.0, &input).as_bytes()
    }
}

/// A fresh random challenge nonce; base64.
pub fn new_nonce() -> String {
    B64.encode(rand::random::<[u8; NONCE_LEN]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding<'a>(nonce: &'a str) -> Binding<'a> {
        Binding {
            channel: "vault",
            nonce,
            prover: "bob",
            verifier: "alice",
            prover_challenge: "cb",
            verifier_challenge: "ca",
        }
    }

    #[test]
    fn proofs_verify_only_with_the_key_and_the_exact_binding() {
        let key = ChannelKey::new("k1");
        let nonce = new_nonce();
        assert_ne!(nonce, new_nonce());
        let b = binding(&nonce);
        let proof = key.prove(&b);
        assert!(key.verifies(&b, &proof));
        assert!(ChannelKey::new("k1").verifies(&b, &proof), "same key text");
        assert!(!ChannelKey::new("k2").verifies(&b, &proof), "wrong key");
        let changed: [fn(&mut Binding<'_>); 6] = [
            |b| b.channel = "other",
            |b| b.nonce = "another nonce",
            |b| b.prover = "mallory",
            |b| b.verifier = "carol",
            |b| b.prover_challenge = "cx",
            |b| b.verifier_challenge = "cy",
        ];
        for change in changed {
            let mut other = b;
            change(&mut other);
            assert!(!key.verifies(&other, &proof), "{other:?}");
        }
        // Prover and verifier swapped (a reflected proof) is another binding.
        let reflected = Binding {
            prover: b.verifier,
            verifier: b.prover,
            prover_challenge: b.verifier_challenge,
            verifier_challenge: b.prover_challenge,
            ..b
        };
        assert!(!key.verifies(&reflected, &proof));
        for garbage in ["", "not base64!", "AAAA"] {
            assert!(!key.verifies(&b, garbage));
        }
    }

    #[test]
    fn the_derived_key_never_shows() {
        let key = ChannelKey::new("hunter2");
        assert_eq!(format!("{key:?}"), "ChannelKey(..)");
        assert_eq!(key, ChannelKey::new("hunter2"));
        assert_ne!(key, ChannelKey::new("hunter3"));
    }
}
