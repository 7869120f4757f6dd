//! Session tokens: HS256 JWTs with the algorithm pinned and issuer, audience and expiry
//! checked. Each carries a `jti` so that sign-out can revoke it, and the member's session
//! generation so that all of a member's sessions can be ended at once.

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "loyalcast";
pub const AUDIENCE: &str = "loyalcast-api";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The team member.
    pub sub: Uuid,
    /// The merchant (tenant).
    pub mid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The member's session generation when the token was issued: once the member's
    /// sessions are ended (the generation counts up) the token no longer matches.
    #[serde(rename = "sgn", default)]
    pub generation: i32,
}

/// Issues tokens with one key and accepts tokens of that key and of earlier ones (a
/// rotation does not sign everyone out). Clones share their keys, so that replacing them
/// reaches every holder.
#[derive(Clone)]
pub struct JwtKeys {
    keys: Arc<RwLock<Keys>>,
    validation: Validation,
    ttl: Duration,
}

struct Keys {
    encoding: EncodingKey,
    decoding: Vec<DecodingKey>,
}

impl Keys {
    fn of(signing: &SecretString, verifying: &[SecretString]) -> anyhow::Result<Keys> {
        let mut decoding = vec![DecodingKey::from_secret(
            signing.expose_secret().as_bytes(),
        )?];
        for secret in verifying {
            decoding.push(DecodingKey::from_secret(secret.expose_secret().as_bytes())?);
        }
        Ok(Keys {
            encoding: EncodingKey::from_secret(signing.expose_secret().as_bytes())?,
            decoding,
        })
    }
}

impl JwtKeys {
    pub fn new(secret: &SecretString, ttl_minutes: i64) -> anyhow::Result<Self> {
        Self::with_keys(secret, &[], ttl_minutes)
    }

    /// Signs with `signing`; accepts tokens signed with it or with any of `verifying`.
    pub fn with_keys(
        signing: &SecretString,
        verifying: &[SecretString],
        ttl_minutes: i64,
    ) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(JwtKeys {
            keys: Arc::new(RwLock::new(Keys::of(signing, verifying)?)),
            validation,
            ttl: Duration::minutes(ttl_minutes.max(1)),
        })
    }

    /// Replaces the keys of this set and of all its clones (keeps them when the new ones
    /// cannot be made, which HMAC keys of any length always can).
    pub fn replace(&self, signing: &SecretString, verifying: &[SecretString]) {
        if let Ok(keys) = Keys::of(signing, verifying) {
            *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        }
    }

    /// Issues a token for a member; returns it with its claims.
    pub fn issue(
        &self,
        member: Uuid,
        merchant: Uuid,
        generation: i32,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, Claims)> {
        let claims = Claims {
            sub: member,
            mid: merchant,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
            jti: Uuid::new_v4().to_string(),
            generation,
        };
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let token = encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)?;
        Ok((token, claims))
    }

    /// The claims of a valid token; `None` for anything forged, expired or malformed.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.decoding.iter().find_map(|key| {
            decode::<Claims>(token, key, &self.validation)
                .ok()
                .map(|data| data.claims)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(&SecretString::from(secret), 60).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_issued_token_verifies() -> anyhow::Result<()> {
        let keys = keys("a-test-secret-of-enough-length");
        let (member, merchant) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, _) = keys.issue(member, merchant, 0, Utc::now())?;
        let claims = keys
            .verify(&token)
            .ok_or_else(|| anyhow::anyhow!("rejected"))?;
        assert_eq!((claims.sub, claims.mid), (member, merchant));
        Ok(())
    }

    #[test]
    fn expired_and_foreign_tokens_are_rejected() -> anyhow::Result<()> {
        let keys_a = keys("a-test-secret-of-enough-length");
        let keys_b = keys("another-secret-of-enough-length");
        let (old, _) = keys_a.issue(
            Uuid::now_v7(),
            Uuid::now_v7(),
            0,
            Utc::now() - Duration::hours(3),
        )?;
        assert!(keys_a.verify(&old).is_none());
        let (token, _) = keys_b.issue(Uuid::now_v7(), Uuid::now_v7(), 0, Utc::now())?;
        assert!(keys_a.verify(&token).is_none());
        Ok(())
    }

    #[test]
    fn tokens_of_a_previous_key_verify_after_a_rotation() -> anyhow::Result<()> {
        let old = SecretString::from("the session key before the rotation");
        let new = SecretString::from("the session key after the rotation");
        let keys = JwtKeys::new(&old, 60)?;
        let (before, _) = keys.issue(Uuid::now_v7(), Uuid::now_v7(), 0, Utc::now())?;
        keys.clone().replace(&new, std::slice::from_ref(&old));
        assert!(
            keys.verify(&before).is_some(),
            "signed in before the rotation"
        );
        let (after, _) = keys.issue(Uuid::now_v7(), Uuid::now_v7(), 0, Utc::now())?;
        assert!(JwtKeys::new(&new, 60)?.verify(&after).is_some());
        keys.replace(&new, &[]);
        assert!(keys.verify(&before).is_none());
        Ok(())
    }

    #[test]
    fn alg_none_is_rejected() -> anyhow::Result<()> {
        let keys = keys("a-test-secret-of-enough-length");
        let (token, _) = keys.issue(Uuid::now_v7(), Uuid::now_v7(), 0, Utc::now())?;
        let payload = token.split('.').nth(1).unwrap_or_default();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys.verify(&format!("{header}.{payload}.")).is_none());
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        assert!(keys.verify(&format!("{hs512}.{payload}.x")).is_none());
        Ok(())
    }
}
