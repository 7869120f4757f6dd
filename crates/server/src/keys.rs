//! The keys the server signs with: session tokens, and the links in messages (unsubscribe,
//! opens), each its own key so that rotating one leaves the other alone.
//!
//! A key the configuration gives is used as given, with the earlier ones it lists for
//! verification. A key it does not give is made once in the database (`signing_keys`), so
//! that every process on one database (a `serve` here, a `worker` on another host) signs and
//! verifies with the same keys. `loyalcast keys rotate` adds a generation: processes keep
//! signing with the previous one for [`ACTIVATION`] while each of them learns the new one
//! (they read the keys again every [`REFRESH`]), then all sign with it; a replaced key still
//! verifies for [`RETENTION`], so a link in a message sent just before a rotation keeps
//! working for at least that long.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use secrecy::SecretString;

use crate::auth::jwt::JwtKeys;
use crate::config::{Config, MIN_SECRET_BYTES};
use crate::engine::links::LinkSigner;
use crate::entity::signing_key;

/// How long a new generation waits before it signs.
pub const ACTIVATION: Duration = Duration::minutes(2);
/// How often a process reads the keys again.
pub const REFRESH: StdDuration = StdDuration::from_secs(30);
/// How long a replaced key still verifies.
pub const RETENTION: Duration = Duration::days(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Sessions,
    Links,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Sessions => "sessions",
            Purpose::Links => "links",
        }
    }
}

/// One key to sign with and the earlier ones that still verify.
#[derive(Clone)]
pub struct Ring {
    pub signing: SecretString,
    pub verifying: Vec<SecretString>,
}

/// Both rings.
#[derive(Clone)]
pub struct Keys {
    pub sessions: Ring,
    pub links: Ring,
}

impl Keys {
    /// One secret for both (tests and tools); the link key is derived apart from it.
    pub fn single(secret: &SecretString) -> Keys {
        let ring = Ring {
            signing: secret.clone(),
            verifying: Vec::new(),
        };
        Keys {
            sessions: ring.clone(),
            links: ring,
        }
    }

    pub fn jwt(&self, ttl_minutes: i64) -> anyhow::Result<JwtKeys> {
        JwtKeys::with_keys(
            &self.sessions.signing,
            &self.sessions.verifying,
            ttl_minutes,
        )
    }

    pub fn link_signer(&self) -> LinkSigner {
        LinkSigner::with_keys(&self.links.signing, &self.link_verifying())
    }

    /// The link keys that verify: the earlier link keys, and the session keys, which signed
    /// links before links had a key of their own (messages sent then still carry them).
    fn link_verifying(&self) -> Vec<SecretString> {
        let mut keys = self.links.verifying.clone();
        keys.push(self.sessions.signing.clone());
        keys.extend(self.sessions.verifying.iter().cloned());
        keys
    }

    /// Puts these keys into signers made earlier (and into all their clones).
    pub fn install(&self, jwt: Option<&JwtKeys>, links: &LinkSigner) {
        if let Some(jwt) = jwt {
            jwt.replace(&self.sessions.signing, &self.sessions.verifying);
        }
        links.replace(&self.links.signing, &self.link_verifying());
    }
}

/// The keys this process signs and verifies with, as the configuration and the database
/// say at `now`.
pub async fn load(
    db: &DatabaseConnection,
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<Keys> {
    let sessions = match &config.jwt_secret {
        Some(secret) => Ring {
            signing: secret.clone(),
            verifying: config.jwt_previous_secrets.clone(),
        },
        None => {
            // An install from before keys lived in the database keeps its sessions and links.
            let earlier = std::fs::read_to_string(config.data_dir.join("jwt.secret"))
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| s.len() >= MIN_SECRET_BYTES);
            stored(db, Purpose::Sessions, earlier, now).await?
        }
    };
    let links = match &config.link_secret {
        Some(secret) => Ring {
            signing: secret.clone(),
            verifying: config.link_previous_secrets.clone(),
        },
        None => stored(db, Purpose::Links, None, now).await?,
    };
    Ok(Keys { sessions, links })
}

/// The stored ring of `purpose`, made (from `first`, or at random) when there is none yet.
async fn stored(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    first: Option<String>,
    now: DateTime<Utc>,
) -> anyhow::Result<Ring> {
    let mut rows = generations(db, purpose).await?;
    if rows.is_empty() {
        // Processes starting together race here: one insert wins, all read the winner.
        let secret = first.unwrap_or_else(|| crate::secrets::random_token(48));
        insert_generation(db, purpose, 1, secret, now).await?;
        rows = generations(db, purpose).await?;
    }
    ring_at(&rows, now).ok_or_else(|| anyhow::anyhow!("no {} key", purpose.as_str()))
}

/// Adds a generation unless another process added that one first; whether this one did.
async fn insert_generation(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    generation: i32,
    secret: String,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let inserted = signing_key::Entity::insert(signing_key::ActiveModel {
        purpose: Set(purpose.as_str().to_owned()),
        generation: Set(generation),
        secret: Set(secret),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            signing_key::Column::Purpose,
            signing_key::Column::Generation,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted == 1)
}

async fn generations(
    db: &impl ConnectionTrait,
    purpose: Purpose,
) -> anyhow::Result<Vec<signing_key::Model>> {
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::Purpose.eq(purpose.as_str()))
        .order_by_desc(signing_key::Column::Generation)
        .all(db)
        .await?)
}

/// From generations newest first: the newest one old enough to sign (the first one signs at
/// once), and before it every other that was replaced less than [`RETENTION`] ago.
fn ring_at(rows: &[signing_key::Model], now: DateTime<Utc>) -> Option<Ring> {
    let oldest = rows.len().checked_sub(1)?;
    let signing = rows
        .iter()
        .position(|k| k.created_at + ACTIVATION <= now)
        .unwrap_or(oldest);
    let mut verifying = Vec::new();
    for (i, key) in rows.iter().enumerate() {
        if i == signing {
            continue;
        }
        // A newer generation than the signing one is about to sign: verify it already. An
        // older one verifies until RETENTION after the generation that replaced it signed.
        let keep = i < signing || {
            let replaced_at = rows[i - 1].created_at + ACTIVATION;
            now < replaced_at + RETENTION
        };
        if keep {
            verifying.push(SecretString::from(key.secret.clone()));
        }
    }
    Some(Ring {
        signing: SecretString::from(rows[signing].secret.clone()),
        verifying,
    })
}

/// Adds a generation of `purpose`; returns its number. Every process signs with it after
/// [`ACTIVATION`].
pub async fn rotate(
    db: &DatabaseConnection,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> anyhow::Result<i32> {
    for _ in 0..3 {
        let next = generations(db, purpose)
            .await?
            .first()
            .map_or(1, |k| k.generation + 1);
        let secret = crate::secrets::random_token(48);
        if insert_generation(db, purpose, next, secret, now).await? {
            return Ok(next);
        }
    }
    anyhow::bail!(
        "another rotation of the {} key is running",
        purpose.as_str()
    )
}

/// Reads the keys again every [`REFRESH`] and installs them, until `stop`.
pub async fn refresh(
    db: DatabaseConnection,
    config: std::sync::Arc<Config>,
    clock: crate::clock::SharedClock,
    jwt: Option<JwtKeys>,
    links: LinkSigner,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REFRESH) => {}
            _ = stop.changed() => return,
        }
        match load(&db, &config, clock.now()).await {
            Ok(keys) => keys.install(jwt.as_ref(), &links),
            Err(err) => {
                tracing::warn!(error = %err, "reading the signing keys failed; keeping the ones in use")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use secrecy::ExposeSecret;

    use super::*;

    fn key(generation: i32, created_at: DateTime<Utc>) -> signing_key::Model {
        signing_key::Model {
            purpose: "links".to_owned(),
            generation,
            secret: format!("secret-{generation}"),
            created_at,
        }
    }

    fn names(ring: &Ring) -> (String, Vec<String>) {
        (
            ring.signing.expose_secret().to_owned(),
            ring.verifying
                .iter()
                .map(|s| s.expose_secret().to_owned())
                .collect(),
        )
    }

    #[test]
    fn a_rotation_signs_after_its_activation_and_the_old_key_verifies_for_the_retention() {
        let t0 = Utc::now();
        let first = [key(1, t0)];
        assert_eq!(
            names(&ring_at(&first, t0).unwrap()),
            ("secret-1".into(), vec![])
        );
        let rotated_at = t0 + Duration::days(10);
        let both = [key(2, rotated_at), key(1, t0)];
        // Just after the rotation: the old key signs, the new one verifies already.
        assert_eq!(
            names(&ring_at(&both, rotated_at).unwrap()),
            ("secret-1".into(), vec!["secret-2".into()])
        );
        // After the activation the new key signs and the old one verifies ...
        let active = rotated_at + ACTIVATION;
        assert_eq!(
            names(&ring_at(&both, active).unwrap()),
            ("secret-2".into(), vec!["secret-1".into()])
        );
        // ... for the retention (at least the 60 days a link must work), then no more.
        assert!(RETENTION >= Duration::days(60));
        assert_eq!(
            names(&ring_at(&both, active + RETENTION - Duration::seconds(1)).unwrap()).1,
            vec!["secret-1".to_owned()]
        );
        assert!(
            ring_at(&both, active + RETENTION)
                .unwrap()
                .verifying
                .is_empty()
        );
    }
}
