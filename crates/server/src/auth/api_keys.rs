//! API keys for integrators: `lc_<prefix>_<secret>`. The prefix finds the key; only a
//! SHA-256 of the secret is stored (the secret is 256 random bits, so a slow hash adds
//! nothing), and it is compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use loyalcast_dto::{Role, Scope};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use subtle::ConstantTimeEq;

use super::Auth;
use crate::entity::api_key;
use crate::error::ApiError;

pub const PREFIX: &str = "lc_";

/// A new key: (the prefix stored and shown, the whole secret given once, its hash).
pub fn generate() -> (String, String, String) {
    let mut id = [0u8; 9];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut id);
    rand::thread_rng().fill_bytes(&mut secret);
    let prefix = format!("{PREFIX}{}", hex::encode(id));
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let hash = hash_secret(&secret);
    (prefix.clone(), format!("{prefix}_{secret}"), hash)
}

/// Splits a presented key into its prefix (`lc_` and hex, no `_`) and its secret (base64url,
/// which may itself hold `_`).
fn split(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    Some((&presented[..PREFIX.len() + id.len()], secret))
}

fn hash_secret(secret: &str) -> String {
    crate::secrets::sha256_hex(secret)
}

/// A key's scopes as stored (space separated); a name this version does not know grants
/// nothing.
pub fn parse_scopes(stored: &str) -> BTreeSet<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

/// Scopes as stored: space separated, in their order.
pub fn write_scopes(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The caller behind a presented key, at `now`: 401 for an unknown, revoked or expired key.
pub async fn authenticate(
    db: &DatabaseConnection,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Auth, ApiError> {
    const INVALID: ApiError =
        ApiError::Unauthorized("The API key is invalid, expired or has been revoked.");
    let (prefix, secret) = split(presented).ok_or(INVALID)?;
    let key = api_key::Entity::find()
        .filter(api_key::Column::Prefix.eq(prefix))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or(INVALID)?;
    let matches: bool = hash_secret(secret)
        .as_bytes()
        .ct_eq(key.secret_hash.as_bytes())
        .into();
    if !matches || key.expires_at.is_some_and(|at| at <= now) {
        return Err(INVALID);
    }
    // Note use at most once a minute, not a write per request.
    if key
        .last_used_at
        .is_none_or(|t| now - t > Duration::minutes(1))
    {
        let mut active: api_key::ActiveModel = key.clone().into();
        active.last_used_at = Set(Some(now));
        active.update(db).await?;
    }
    Ok(Auth {
        merchant_id: key.merchant_id,
        role: Role::Agent,
        member_id: None,
        api_key_id: Some(key.id),
        scopes: Some(parse_scopes(&key.scopes)),
        session: None,
        session_generation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_carry_their_prefix_and_hash() {
        let (prefix, secret, hash) = generate();
        assert!(prefix.starts_with(PREFIX));
        assert!(secret.starts_with(&format!("{prefix}_")));
        let (found_prefix, raw) = split(&secret).unwrap_or_default();
        assert_eq!(found_prefix, prefix);
        assert_eq!(hash_secret(raw), hash);
        assert_ne!(generate().1, secret);
    }

    #[test]
    fn scopes_are_stored_space_separated_and_unknown_ones_grant_nothing() {
        let all: BTreeSet<Scope> = Scope::ALL.into_iter().collect();
        assert_eq!(parse_scopes(&write_scopes(&all)), all);
        assert_eq!(
            parse_scopes("customers:read  admin customers:*"),
            [Scope::CustomersRead].into_iter().collect()
        );
    }
}
