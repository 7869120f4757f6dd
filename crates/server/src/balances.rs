//! SMS and email credits, with a ledger of every movement. Balances never go below zero:
//! every decrement is a conditional update (`... WHERE available >= amount`), and the
//! table's CHECK constraints stand behind it.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entity::{balance, balance_entry};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    record(db, merchant_id, kind, "top_up", amount, reference).await
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
