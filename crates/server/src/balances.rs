//! SMS and email credits, with a ledger of every movement. A send reserves credits when it is
//! accepted (available → reserved), commits them per message sent (reserved → spent) and
//! releases them when a message fails or is cancelled (reserved → available).
//!
//! Balances never go below zero: every decrement is a conditional update
//! (`... WHERE available >= amount`), which the database applies atomically under any
//! concurrency, and the table's CHECK constraints stand behind it.

use chrono::Utc;
use loyalcast_dto::{Balance, Balances, CreditKind};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entity::{balance, balance_entry};
use crate::error::{ApiError, Result};
use crate::feed::{self, Change};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sms,
    Email,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sms => "sms",
            Kind::Email => "email",
        }
    }
}

impl From<CreditKind> for Kind {
    fn from(kind: CreditKind) -> Self {
        match kind {
            CreditKind::Sms => Kind::Sms,
            CreditKind::Email => Kind::Email,
        }
    }
}

/// Adds credits and records the top-up.
pub async fn top_up(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    amount: i64,
    reference: &str,
) -> Result<()> {
    balance::Entity::update_many()
        .col_expr(
            balance::Column::Available,
            Expr::col(balance::Column::Available).add(amount),
        )
        .filter(balance::Column::MerchantId.eq(merchant_id))
        .filter(balance::Column::Kind.eq(kind.as_str()))
        .exec(db)
        .await?;
    announce(
        db,
        merchant_id,
        serde_json::json!({"kind": kind.as_str(), "change": "top_up", "amount": amount}),
    )
    .await?;
    record(db, merchant_id, kind, "top_up", amount, reference).await
}

/// Moves `amount` from available to reserved, or refuses when it does not fit.
pub async fn reserve(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    amount: i64,
    reference: &str,
) -> Result<()> {
    if amount <= 0 {
        return Ok(());
    }
    let updated = balance::Entity::update_many()
        .col_expr(
            balance::Column::Available,
            Expr::col(balance::Column::Available).sub(amount),
        )
        .col_expr(
            balance::Column::Reserved,
            Expr::col(balance::Column::Reserved).add(amount),
        )
        .filter(balance::Column::MerchantId.eq(merchant_id))
        .filter(balance::Column::Kind.eq(kind.as_str()))
        .filter(balance::Column::Available.gte(amount))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        let available = get(db, merchant_id).await?;
        let have = match kind {
            Kind::Sms => available.sms.available,
            Kind::Email => available.email.available,
        };
        return Err(ApiError::InsufficientCredits(format!(
            "This needs {} {} credits; {} are available. Top up or narrow the audience.",
            thousands(amount),
            match kind {
                Kind::Sms => "SMS",
                Kind::Email => "email",
            },
            thousands(have)
        )));
    }
    announce(
        db,
        merchant_id,
        serde_json::json!({"kind": kind.as_str(), "change": "reserve", "amount": amount}),
    )
    .await?;
    record(db, merchant_id, kind, "reserve", amount, reference).await
}

/// 12480 → "12,480".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Spends reserved credits (`used`) and gives back the rest (`released`).
pub async fn settle(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    used: i64,
    released: i64,
    reference: &str,
) -> Result<()> {
    let total = used + released;
    if total <= 0 {
        return Ok(());
    }
    let updated = balance::Entity::update_many()
        .col_expr(
            balance::Column::Reserved,
            Expr::col(balance::Column::Reserved).sub(total),
        )
        .col_expr(
            balance::Column::Available,
            Expr::col(balance::Column::Available).add(released),
        )
        .filter(balance::Column::MerchantId.eq(merchant_id))
        .filter(balance::Column::Kind.eq(kind.as_str()))
        .filter(balance::Column::Reserved.gte(total))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "settling {total} {} credits that were not reserved",
            kind.as_str()
        )));
    }
    announce(db, merchant_id, serde_json::json!({"kind": kind.as_str(), "change": "settle", "used": used, "released": released})).await?;
    if used > 0 {
        record(db, merchant_id, kind, "commit", used, reference).await?;
    }
    if released > 0 {
        record(db, merchant_id, kind, "release", released, reference).await?;
    }
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, merchant_id: Uuid) -> Result<Balances> {
    let rows = balance::Entity::find()
        .filter(balance::Column::MerchantId.eq(merchant_id))
        .all(db)
        .await?;
    let of = |kind: Kind| {
        rows.iter()
            .find(|b| b.kind == kind.as_str())
            .map(|b| Balance {
                available: b.available,
                reserved: b.reserved,
            })
            .unwrap_or(Balance {
                available: 0,
                reserved: 0,
            })
    };
    Ok(Balances {
        sms: of(Kind::Sms),
        email: of(Kind::Email),
    })
}

/// Tells every process's dashboards that the merchant's credits moved (one entry per call,
/// and so per settled batch, not per message).
async fn announce(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    body: serde_json::Value,
) -> Result<()> {
    feed::record(db, &Change::balances(merchant_id, body, Utc::now())).await?;
    Ok(())
}

async fn record(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    entry: &str,
    amount: i64,
    reference: &str,
) -> Result<()> {
    balance_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(merchant_id),
        kind: Set(kind.as_str().to_owned()),
        entry: Set(entry.to_owned()),
        amount: Set(amount),
        reference: Set(reference.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(11_808), "11,808");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
    }
}
