//! Signed links in messages: unsubscribe (`/u/{token}`) and the email open pixel
//! (`/o/{token}`). A token is the delivery id and an HMAC of it, so links cannot be guessed
//! or walked, and need no table.

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

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
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

impl LinkSigner {
    /// Derives the link key from the server secret (never the secret itself).
    pub fn new(secret: &SecretString) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable_mac());
        mac.update(b"loyalcast link key v1");
        LinkSigner {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, purpose: Purpose, delivery_id: i64) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_mac());
        mac.update(purpose.tag());
        mac.update(&delivery_id.to_be_bytes());
        hex::encode(&mac.finalize().into_bytes()[..12])
    }

    pub fn token(&self, purpose: Purpose, delivery_id: i64) -> String {
        format!("{delivery_id}-{}", self.mac(purpose, delivery_id))
    }

    /// The delivery a token names, if the token is genuine: exactly what [`Self::token`]
    /// wrote for that id, so `+42-…` or `042-…` (which `i64` parsing would accept) and
    /// upper-case hex are not second spellings of a link.
    pub fn verify(&self, purpose: Purpose, token: &str) -> Option<i64> {
        // No genuine token is longer (19 digits, a dash, 24 hex digits): anything else is
        // refused before it is parsed or hashed.
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (id, _) = token.split_once('-')?;
        let id: i64 = id.parse().ok()?;
        let expected = self.token(purpose, id);
        bool::from(expected.as_bytes().ct_eq(token.as_bytes())).then_some(id)
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
