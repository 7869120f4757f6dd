//! SMS and email credits, with a ledger of every movement. A send reserves credits when it is
//! accepted (available → reserved), commits them per message sent (reserved → spent) and
//! releases them when a message fails or is cancelled (reserved → available).
//!
//! Balances never go below zero: every decrement is a conditional update
//! (`... WHERE available >= amount`), which the database applies atomically under any
//! concurrency, and the table's CHECK constraints stand behind it.

use chrono::Utc;
use loyalcast_dto::{Balance, Balances};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::engine::credits;
use crate::entity::balance;
use crate::error::Result;

pub use crate::engine::credits::{Kind, thousands};

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
    let now = Utc::now();
    credits::record(db, merchant_id, kind, "top_up", amount, reference, now).await?;
    credits::announce(
        db,
        merchant_id,
        serde_json::json!({"kind": kind.as_str(), "change": "top_up", "amount": amount}),
        now,
    )
    .await?;
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
