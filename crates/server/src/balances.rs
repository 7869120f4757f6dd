//! SMS and email credits, with a ledger of every movement. A send reserves credits when it is
//! accepted (available → reserved), commits them per message sent (reserved → spent) and
//! releases them when a message fails or is cancelled (reserved → available).
//!
//! Balances never go below zero: every decrement is a conditional update
//! (`... WHERE available >= amount`), which the database applies atomically under any
//! concurrency, and the table's CHECK constraints stand behind it.
//!
//! Credits are created only here, by [`top_up`] and [`add`]: the operator's API and command
//! line, the operator's configured trial for a new merchant, and the demo seed. No merchant
//! credential reaches them.

use chrono::{DateTime, Utc};
use loyalcast_domain::Fields;
use loyalcast_dto::{
    Balance, Balances, CreditKind, LedgerEntry, LedgerEntryKind, LedgerSource, LedgerSourceKind,
    Page, TopUpReceipt,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::engine::credits::{self, Line};
use crate::entity::{balance, balance_entry};
use crate::error::{ApiError, Result, is_unique_violation};

pub use crate::engine::credits::{Kind, thousands};

/// The most one top-up adds.
pub const MAX_TOP_UP: i64 = 10_000_000;
/// The longest top-up reference, in characters.
pub const MAX_REFERENCE: usize = 200;

/// A top-up's amount and reference as given, checked: the reference without surrounding
/// whitespace, or field errors.
pub fn check_top_up(amount: i64, reference: &str) -> Result<String> {
    let mut fields = Fields::new();
    if !(1..=MAX_TOP_UP).contains(&amount) {
        fields.push("amount", "out_of_range", "must be between 1 and 10,000,000");
    }
    let reference = reference.trim();
    if reference.is_empty() {
        fields.push(
            "reference",
            "required",
            "name the top-up (e.g. an invoice number): it is what makes it happen once",
        );
    } else if reference.chars().count() > MAX_REFERENCE {
        fields.push("reference", "too_long", "must be at most 200 characters");
    }
    fields.finish()?;
    Ok(reference.to_owned())
}

/// Adds credits once per (merchant, kind, reference): the balance, its ledger line and its
/// change-feed entry in one transaction. Sent again with the same reference and amount it
/// adds nothing and answers the first receipt (`replayed`); with another amount it is a 409.
/// An unknown merchant is a 404. `reference` must have passed [`check_top_up`].
pub async fn top_up(
    db: &DatabaseConnection,
    merchant_id: Uuid,
    kind: Kind,
    amount: i64,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<TopUpReceipt> {
    // Twice at most: a top-up with the same reference committed by someone else between our
    // look and our write makes the write fail on the unique index; the second look finds it.
    for _ in 0..2 {
        let txn = db.begin().await?;
        if let Some(first) = find_top_up(&txn, merchant_id, kind, reference).await? {
            drop(txn);
            return replay(db, first, amount).await;
        }
        match add(&txn, merchant_id, kind, amount, Some(reference), now).await {
            Ok(()) => {}
            Err(ApiError::Internal(err))
                if err
                    .downcast_ref::<sea_orm::DbErr>()
                    .is_some_and(is_unique_violation) =>
            {
                continue;
            }
            Err(other) => return Err(other),
        }
        txn.commit().await?;
        return Ok(TopUpReceipt {
            merchant_id,
            kind: CreditKind::from(kind),
            amount,
            reference: reference.to_owned(),
            created_at: now,
            replayed: false,
            balances: get(db, merchant_id).await?,
        });
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "a top-up reference was taken and then not found"
    )))
}

async fn replay(
    db: &DatabaseConnection,
    first: balance_entry::Model,
    amount: i64,
) -> Result<TopUpReceipt> {
    if first.amount != amount {
        return Err(ApiError::Conflict(format!(
            "A top-up with this reference already added {} credits; use another reference \
             for another top-up.",
            thousands(first.amount)
        )));
    }
    let kind = Kind::parse(&first.kind).unwrap_or(Kind::Sms);
    Ok(TopUpReceipt {
        merchant_id: first.merchant_id,
        kind: CreditKind::from(kind),
        amount: first.amount,
        reference: first.top_up_reference.unwrap_or_default(),
        created_at: first.created_at,
        replayed: true,
        balances: get(db, first.merchant_id).await?,
    })
}

async fn find_top_up(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    reference: &str,
) -> Result<Option<balance_entry::Model>> {
    Ok(balance_entry::Entity::find()
        .filter(balance_entry::Column::MerchantId.eq(merchant_id))
        .filter(balance_entry::Column::Kind.eq(kind.as_str()))
        .filter(balance_entry::Column::TopUpReference.eq(reference))
        .one(db)
        .await?)
}

/// Adds credits inside the caller's transaction, with a ledger line (unique per reference
/// when one is given) and a change-feed entry. A 404 when the merchant has no balance row.
pub async fn add(
    txn: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Kind,
    amount: i64,
    reference: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    // The line first: a reference already used fails here, before anything moved.
    credits::record(
        txn,
        merchant_id,
        kind,
        Line {
            entry: "top_up",
            amount,
            source: None,
            top_up_reference: reference,
        },
        now,
    )
    .await
    .map_err(|err| match err {
        crate::engine::error::EngineError::Database(db) => ApiError::from(db),
        other => ApiError::from(other),
    })?;
    let updated = balance::Entity::update_many()
        .col_expr(
            balance::Column::Available,
            Expr::col(balance::Column::Available).add(amount),
        )
        .filter(balance::Column::MerchantId.eq(merchant_id))
        .filter(balance::Column::Kind.eq(kind.as_str()))
        .exec(txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(ApiError::NotFound);
    }
    credits::announce(
        txn,
        merchant_id,
        serde_json::json!({"kind": kind.as_str(), "change": "top_up", "amount": amount}),
        now,
    )
    .await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, merchant_id: Uuid) -> Result<Balances> {
    let mut of = get_many(db, &[merchant_id]).await?;
    Ok(of.remove(&merchant_id).unwrap_or_else(zero))
}

/// The balances of each of `merchants`, in one query.
pub async fn get_many(
    db: &impl ConnectionTrait,
    merchants: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Balances>> {
    let rows = balance::Entity::find()
        .filter(balance::Column::MerchantId.is_in(merchants.iter().copied()))
        .all(db)
        .await?;
    Ok(merchants
        .iter()
        .map(|id| {
            let mine: Vec<&balance::Model> = rows.iter().filter(|b| b.merchant_id == *id).collect();
            (*id, from_rows(&mine))
        })
        .collect())
}

/// No credits of either kind.
pub fn zero() -> Balances {
    from_rows(&[])
}

/// Balances from a merchant's rows (a kind without a row is zero).
fn from_rows(rows: &[&balance::Model]) -> Balances {
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
    Balances {
        sms: of(Kind::Sms),
        email: of(Kind::Email),
    }
}

/// The merchant's ledger, newest first, of one kind or both.
pub async fn ledger(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    kind: Option<Kind>,
    (page, per_page): (u64, u64),
) -> Result<Page<LedgerEntry>> {
    let mut query =
        balance_entry::Entity::find().filter(balance_entry::Column::MerchantId.eq(merchant_id));
    if let Some(kind) = kind {
        query = query.filter(balance_entry::Column::Kind.eq(kind.as_str()));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(balance_entry::Column::CreatedAt)
        .order_by_desc(balance_entry::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok(Page {
        items: rows.iter().filter_map(ledger_entry).collect(),
        page,
        per_page,
        total,
    })
}

fn ledger_entry(row: &balance_entry::Model) -> Option<LedgerEntry> {
    let entry = match row.entry.as_str() {
        "top_up" => LedgerEntryKind::TopUp,
        "reserve" => LedgerEntryKind::Reserve,
        "commit" => LedgerEntryKind::Spend,
        "release" => LedgerEntryKind::Release,
        _ => return None,
    };
    let source = match (row.source_kind.as_deref(), row.source_id) {
        (Some("mailing"), Some(id)) => Some(LedgerSource {
            kind: LedgerSourceKind::Mailing,
            id,
        }),
        _ => None,
    };
    Some(LedgerEntry {
        id: row.id,
        kind: Kind::parse(&row.kind)?.into(),
        entry,
        amount: row.amount,
        reference: row.reference.clone(),
        source,
        created_at: row.created_at,
    })
}
