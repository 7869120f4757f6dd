//! SMS and email credits as the engine moves them: reserved when a send is accepted, spent
//! when a message goes out, released when it will not. Every move is one guarded statement on
//! the merchant's balance row (a balance never goes below zero, whatever runs at once) and a
//! ledger entry in the same transaction.

use chrono::{DateTime, Utc};
use loyalcast_dto::{Channel, CreditKind};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::error::{EngineError, Result};
use super::source::Source;
use crate::entity::{balance, balance_entry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    pub fn parse(value: &str) -> Option<Kind> {
        match value {
            "sms" => Some(Kind::Sms),
            "email" => Some(Kind::Email),
            _ => None,
        }
    }

    /// The credit a channel spends, if any (Telegram and Messenger are free).
    pub fn of(channel: Channel) -> Option<Kind> {
        match channel {
            Channel::Sms => Some(Kind::Sms),
            Channel::Email => Some(Kind::Email),
            Channel::Telegram | Channel::Messenger => None,
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

impl From<Kind> for CreditKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Sms => CreditKind::Sms,
            Kind::Email => CreditKind::Email,
        }
    }
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

async fn available(db: &impl ConnectionTrait, merchant_id: Uuid, kind: Kind) -> Result<i64> {
    Ok(balance::Entity::find()
        .filter(balance::Column::MerchantId.eq(merchant_id))
        .filter(balance::Column::Kind.eq(kind.as_str()))
        .one(db)
        .await?
        .map_or(0, |b| b.available))
}

/// Moves `amount` from available to reserved, or refuses when it does not fit.
pub async fn reserve(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    amount: i64,
    source: Source,
    now: DateTime<Utc>,
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
        return Err(EngineError::InsufficientCredits {
            kind: kind.as_str(),
            needed: amount,
            available: available(db, merchant_id, kind).await?,
        });
    }
    record(
        db,
        merchant_id,
        kind,
        Line::of("reserve", amount, source),
        now,
    )
    .await?;
    announce(
        db,
        merchant_id,
        serde_json::json!({"kind": kind.as_str(), "change": "reserve", "amount": amount}),
        now,
    )
    .await
}

/// Spends reserved credits (`used`) and gives back the rest (`released`).
pub async fn settle(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    used: i64,
    released: i64,
    source: Source,
    now: DateTime<Utc>,
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
        return Err(EngineError::Other(anyhow::anyhow!(
            "settling {total} {} credits that were not reserved",
            kind.as_str()
        )));
    }
    if used > 0 {
        record(db, merchant_id, kind, Line::of("commit", used, source), now).await?;
    }
    if released > 0 {
        record(
            db,
            merchant_id,
            kind,
            Line::of("release", released, source),
            now,
        )
        .await?;
    }
    announce(
        db,
        merchant_id,
        serde_json::json!({"kind": kind.as_str(), "change": "settle", "used": used, "released": released}),
        now,
    )
    .await
}

/// Tells the merchant's screens that a balance moved (the change feed).
pub async fn announce(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    body: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    crate::feed::record(db, &crate::feed::Change::balances(merchant_id, body, now)).await?;
    Ok(())
}

/// A ledger entry.
/// One ledger line to write.
pub struct Line<'a> {
    /// `top_up`, `reserve`, `commit` (spent) or `release`.
    pub entry: &'static str,
    pub amount: i64,
    /// What the line belongs to: a send's credits name their source.
    pub source: Option<Source>,
    /// A top-up's reference (unique per merchant and kind: a repeat adds nothing).
    pub top_up_reference: Option<&'a str>,
}

impl Line<'_> {
    fn of(entry: &'static str, amount: i64, source: Source) -> Line<'static> {
        Line {
            entry,
            amount,
            source: Some(source),
            top_up_reference: None,
        }
    }
}

pub async fn record(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    line: Line<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    let reference = match (line.top_up_reference, line.source) {
        (Some(r), _) => r.to_owned(),
        (None, Some(source)) => format!("{} {}", source.kind.as_str(), source.id),
        (None, None) => String::new(),
    };
    balance_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        merchant_id: Set(merchant_id),
        kind: Set(kind.as_str().to_owned()),
        entry: Set(line.entry.to_owned()),
        amount: Set(line.amount),
        reference: Set(reference.chars().take(200).collect()),
        created_at: Set(now),
        source_kind: Set(line.source.map(|s| s.kind.as_str().to_owned())),
        source_id: Set(line.source.map(|s| s.id)),
        top_up_reference: Set(line.top_up_reference.map(str::to_owned)),
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
