//! Signed links in messages: unsubscribe (`/u/{token}`) and the email open pixel
//! (`/o/{token}`). A token is the delivery id and an HMAC of it, so links cannot be guessed
//! or walked, and need no table.

use std::sync::{Arc, PoisonError, RwLock};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The longest token [`LinkSigner::token`] writes: `i64::MAX` has 19 digits.
pub const MAX_TOKEN_LEN: usize = 19 + 1 + 24;

/// An unsubscribe link under `public_url` as long as the longest real one: what a message's
/// length is counted with (and previewed with) before its delivery has an id.
pub fn longest_unsubscribe_url(public_url: &str) -> String {
    let sample = format!("{}-{}", i64::MAX, "5e".repeat(12));
    debug_assert_eq!(sample.len(), MAX_TOKEN_LEN);
    format!("{}/u/{sample}", public_url.trim_end_matches('/'))
}

/// Signs links with one key and verifies them with that key and the earlier ones (after a
/// rotation, the links in messages already sent keep working). Clones share their keys, so
/// that replacing them (a rotation seen in the database) reaches every holder.
#[derive(Clone)]
pub struct LinkSigner {
    keys: Arc<RwLock<Vec<Vec<u8>>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Unsubscribe,
    Open,
}

impl Purpose {
    fn tag(self) -> &'static [u8] {
        match self {
            Purpose::Unsubscribe => b"unsubscribe",
            Purpose::Open => b"open",
        }
    }
}

/// The link key derived from a secret (never the secret itself).
fn derive(secret: &SecretString) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable_mac());
    mac.update(b"loyalcast link key v1");
    mac.finalize().into_bytes().to_vec()
}

impl LinkSigner {
    /// One key: signs and verifies.
    pub fn new(secret: &SecretString) -> Self {
        Self::with_keys(secret, &[])
    }

    /// Signs with `signing`; verifies with it and with each of `verifying`.
    pub fn with_keys(signing: &SecretString, verifying: &[SecretString]) -> Self {
        LinkSigner {
            keys: Arc::new(RwLock::new(Self::derive_all(signing, verifying))),
        }
    }

    fn derive_all(signing: &SecretString, verifying: &[SecretString]) -> Vec<Vec<u8>> {
        let mut keys = vec![derive(signing)];
        for key in verifying.iter().map(derive) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// Replaces the keys of this signer and of all its clones.
    pub fn replace(&self, signing: &SecretString, verifying: &[SecretString]) {
        let keys = Self::derive_all(signing, verifying);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    fn mac(key: &[u8], purpose: Purpose, delivery_id: i64) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_mac());
        mac.update(purpose.tag());
        mac.update(&delivery_id.to_be_bytes());
        hex::encode(&mac.finalize().into_bytes()[..12])
    }

    pub fn token(&self, purpose: Purpose, delivery_id: i64) -> String {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mac = Self::mac(&keys[0], purpose, delivery_id);
        format!("{delivery_id}-{mac}")
    }

    /// The delivery a token names, if the token is genuine under one of the keys: exactly
    /// what [`Self::token`] wrote for that id, so `+42-…` or `042-…` (which `i64` parsing
    /// would accept) and upper-case hex are not second spellings of a link.
    pub fn verify(&self, purpose: Purpose, token: &str) -> Option<i64> {
        // No genuine token is longer (19 digits, a dash, 24 hex digits): anything else is
        // refused before it is parsed or hashed.
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (id, _) = token.split_once('-')?;
        let id: i64 = id.parse().ok()?;
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mut genuine = false;
        for key in keys.iter() {
            let expected = format!("{id}-{}", Self::mac(key, purpose, id));
            genuine |= bool::from(expected.as_bytes().ct_eq(token.as_bytes()));
        }
        genuine.then_some(id)
    }
}

/// HMAC accepts keys of any length, so construction cannot fail.
fn unreachable_mac() -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).expect("HMAC takes any key length")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_verify_for_their_purpose_only() {
        let signer = LinkSigner::new(&SecretString::from("a server secret of some length"));
        let token = signer.token(Purpose::Unsubscribe, 42);
        assert_eq!(signer.verify(Purpose::Unsubscribe, &token), Some(42));
        assert_eq!(signer.verify(Purpose::Open, &token), None);
        assert_eq!(
            signer.verify(Purpose::Unsubscribe, &token.replace("42-", "43-")),
            None
        );
        let other = LinkSigner::new(&SecretString::from("another server secret entirely"));
        assert_eq!(other.verify(Purpose::Unsubscribe, &token), None);
        assert_eq!(signer.verify(Purpose::Unsubscribe, "garbage"), None);
    }

    #[test]
    fn after_a_rotation_old_links_verify_and_new_ones_are_signed_with_the_new_key() {
        let old = SecretString::from("the key before the rotation, long enough");
        let new = SecretString::from("the key after the rotation, long enough too");
        let before = LinkSigner::new(&old);
        let sent = before.token(Purpose::Unsubscribe, 7);
        let shared = before.clone();
        before.replace(&new, std::slice::from_ref(&old));
        // The clone sees the rotation too; the old link still works, new links use the new key.
        assert_eq!(shared.verify(Purpose::Unsubscribe, &sent), Some(7));
        let fresh = shared.token(Purpose::Unsubscribe, 7);
        assert_ne!(fresh, sent);
        assert_eq!(
            LinkSigner::new(&new).verify(Purpose::Unsubscribe, &fresh),
            Some(7)
        );
        // Once the old key is dropped, its links stop verifying.
        shared.replace(&new, &[]);
        assert_eq!(shared.verify(Purpose::Unsubscribe, &sent), None);
    }

    #[test]
    fn only_the_exact_spelling_of_a_token_verifies() {
        let signer = LinkSigner::new(&SecretString::from("a server secret of some length"));
        let token = signer.token(Purpose::Open, 42);
        let mac = token.strip_prefix("42-").unwrap();
        for spelling in [
            format!("+42-{mac}"),
            format!("042-{mac}"),
            format!("42-{}", mac.to_uppercase()),
            format!("42-{mac}0"),
            format!("42-{}", &mac[..23]),
            format!(" 42-{mac}"),
            format!("42-{mac}\0"),
            String::new(),
            "-".to_owned(),
            "42-".to_owned(),
            "-42-".to_owned(),
            "x".repeat(10_000),
            format!("42-{}", "f".repeat(10_000)),
        ] {
            assert_eq!(
                signer.verify(Purpose::Open, &spelling),
                None,
                "{spelling:.50}"
            );
        }
        assert_eq!(signer.verify(Purpose::Open, &token), Some(42));
        for id in [0, i64::MAX, -1, i64::MIN] {
            let token = signer.token(Purpose::Open, id);
            assert!(token.len() <= MAX_TOKEN_LEN + 1);
            let expected = (id >= 0).then_some(id);
            assert_eq!(signer.verify(Purpose::Open, &token), expected, "{token}");
        }
    }
}
