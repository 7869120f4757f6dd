//! Creating merchants with their owner, and reading them: used by sign-up, the
//! `merchant create` command and the demo seed.

use chrono::{DateTime, Utc};
use loyalcast_domain::{Email, Fields, validation};
use loyalcast_dto::{Merchant, Role, TeamMember};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::auth::{parse_role, password};
use crate::entity::{balance, merchant, team_member};
use crate::error::{ApiError, Result};

/// A merchant to create, as typed by a person; parsed by [`create`].
pub struct NewMerchant {
    pub name: String,
    pub time_zone: Option<String>,
    pub default_country: Option<String>,
    pub owner_name: String,
    pub owner_email: String,
    pub owner_password: SecretString,
    /// Credits it starts with, as the operator's configuration grants (a trial); 0 and 0
    /// unless the operator says otherwise.
    pub trial: Trial,
}

/// Credits a new merchant starts with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trial {
    pub sms: i64,
    pub email: i64,
}

impl Trial {
    pub fn of(config: &crate::config::Config) -> Trial {
        Trial {
            sms: config.trial_sms_credits.max(0),
            email: config.trial_email_credits.max(0),
        }
    }
}

/// Creates the merchant, its owner and its balances (empty, or the trial's) in one
/// transaction.
pub async fn create(
    db: &impl TransactionTrait,
    passwords: &password::Passwords,
    input: NewMerchant,
    now: DateTime<Utc>,
) -> Result<(Merchant, TeamMember)> {
    let mut fields = Fields::new();
    let name = fields.text("merchant_name", &input.name, 120);
    let time_zone = fields.check(
        "time_zone",
        validation::time_zone(input.time_zone.as_deref().unwrap_or("UTC")),
    );
    let country = fields.check(
        "default_country",
        validation::country(input.default_country.as_deref().unwrap_or("US")),
    );
    let owner_name = fields.text("owner_name", &input.owner_name, 120);
    let email = fields.check("email", Email::parse(&input.owner_email));
    if let Err(message) = password::check_strength(input.owner_password.expose_secret()) {
        fields.push("password", "too_weak", message);
    }
    fields.finish()?;
    let (Some(name), Some(time_zone), Some(country), Some(owner_name), Some(email)) =
        (name, time_zone, country, owner_name, email)
    else {
        return Err(ApiError::Internal(anyhow::anyhow!("parsed fields missing")));
    };
    let hash = passwords.hash(input.owner_password).await?;

    let txn = db.begin().await?;
    ensure_email_free(&txn, email.as_str(), "email").await?;
    let merchant = merchant::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        time_zone: Set(time_zone.name().to_owned()),
        default_country: Set(format!("{country:?}")),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let owner = team_member::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(merchant.id),
        name: Set(owner_name),
        email: Set(email.into_inner()),
        password_hash: Set(hash),
        role: Set(Role::Owner.as_str().to_owned()),
        created_at: Set(now),
        session_generation: Set(0),
    }
    .insert(&txn)
    .await?;
    for kind in ["sms", "email"] {
        balance::ActiveModel {
            merchant_id: Set(merchant.id),
            kind: Set(kind.to_owned()),
            available: Set(0),
            reserved: Set(0),
        }
        .insert(&txn)
        .await?;
    }
    for (kind, amount) in [
        (crate::balances::Kind::Sms, input.trial.sms),
        (crate::balances::Kind::Email, input.trial.email),
    ] {
        if amount > 0 {
            crate::balances::add(&txn, merchant.id, kind, amount, Some("trial"), now).await?;
        }
    }
    txn.commit().await?;
    Ok((to_dto(&merchant), member_dto(&owner)))
}

/// Refuses an email that already signs in somewhere (emails are global sign-in names).
pub async fn ensure_email_free(db: &impl ConnectionTrait, email: &str, field: &str) -> Result<()> {
    let taken = team_member::Entity::find()
        .filter(team_member::Column::Email.eq(email))
        .one(db)
        .await?
        .is_some();
    if taken {
        return Err(ApiError::taken(field, "is already used by a team member"));
    }
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<merchant::Model> {
    merchant::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

pub fn to_dto(m: &merchant::Model) -> Merchant {
    Merchant {
        id: m.id,
        name: m.name.clone(),
        time_zone: m.time_zone.clone(),
        default_country: m.default_country.clone(),
        created_at: m.created_at,
    }
}

pub fn member_dto(m: &team_member::Model) -> TeamMember {
    TeamMember {
        id: m.id,
        name: m.name.clone(),
        email: m.email.clone(),
        role: parse_role(&m.role),
        created_at: m.created_at,
    }
}

/// The merchant's time zone (UTC if the stored name no longer parses).
pub fn time_zone(m: &merchant::Model) -> chrono_tz::Tz {
    m.time_zone.parse().unwrap_or(chrono_tz::UTC)
}

/// The merchant's country for reading national phone numbers.
pub fn country(m: &merchant::Model) -> phonenumber::country::Id {
    validation::country(&m.default_country).unwrap_or(phonenumber::country::Id::US)
}
