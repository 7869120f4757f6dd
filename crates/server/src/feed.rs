//! The change feed: an outbox table (`changes`) that every state change a screen shows writes
//! to in its own transaction, so that what one process did reaches every other process and,
//! through it, every dashboard that streams it.
//!
//! - Writing: [`record`] inserts an entry in the caller's transaction; on PostgreSQL the same
//!   statement calls `pg_notify`, which PostgreSQL delivers only when (and if) the transaction
//!   commits. Callers write one entry per settled batch and source, listing what changed in
//!   `body`, never one per delivery.
//! - Reading: each `serve` process runs one [`listener::Feed`], which learns of new entries
//!   (LISTEN on PostgreSQL, with a periodic catch-up; polling on SQLite) and fans them out to
//!   its streams by merchant. Entries are always read by id after the last one seen.
//! - Entries are kept 24 hours ([`forget_before`], from housekeeping): a stream that resumes
//!   within that time misses nothing.
//!
//! A leaf: it uses the entities and the clock, never services or routes.

pub mod listener;
pub mod stream;
pub mod tickets;

use chrono::{DateTime, Utc};
use loyalcast_dto::ChangeEvent;
pub use loyalcast_dto::ChangeTopic as Topic;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use crate::entity::change;

/// The PostgreSQL notification channel entries are announced on.
pub const CHANNEL: &str = "loyalcast_changes";

/// How long entries are kept, and so how far back a stream can resume.
pub const KEEP_HOURS: i64 = 24;

/// Something that changed, as a caller records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Whose it is: only this merchant's streams see it.
    pub merchant_id: Uuid,
    pub topic: Topic,
    /// What changed (a mailing's id), or `None` for the merchant as a whole (balances).
    pub subject: Option<Uuid>,
    /// What changed about it, for the reader to decide what to load again; see
    /// [`loyalcast_dto::ChangeEvent::body`] for the shapes per topic.
    pub body: serde_json::Value,
    /// When it changed.
    pub at: DateTime<Utc>,
}

impl Change {
    /// A change of a mailing: `body` says what (see [`loyalcast_dto::ChangeEvent::body`]).
    pub fn mailing(
        merchant_id: Uuid,
        mailing_id: Uuid,
        body: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Change {
        Change {
            merchant_id,
            topic: Topic::Mailing,
            subject: Some(mailing_id),
            body,
            at,
        }
    }

    /// A change of a wallet push: `body` says what.
    pub fn push(
        merchant_id: Uuid,
        push_id: Uuid,
        body: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Change {
        Change {
            merchant_id,
            topic: Topic::Push,
            subject: Some(push_id),
            body,
            at,
        }
    }

    /// A change of an automation: its settings, or occurrences fired, skipped or deferred.
    pub fn automation(
        merchant_id: Uuid,
        automation_id: Uuid,
        body: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Change {
        Change {
            merchant_id,
            topic: Topic::Automation,
            subject: Some(automation_id),
            body,
            at,
        }
    }

    /// A change of the merchant's credits.
    pub fn balances(merchant_id: Uuid, body: serde_json::Value, at: DateTime<Utc>) -> Change {
        Change {
            merchant_id,
            topic: Topic::Balances,
            subject: None,
            body,
            at,
        }
    }
}

/// Records `change` in the caller's transaction (or as its own statement outside one).
pub async fn record(db: &impl ConnectionTrait, change: &Change) -> Result<(), DbErr> {
    let body = change.body.to_string();
    let at = crate::clock::micros(change.at);
    match db.get_database_backend() {
        // One round trip: the insert and its announcement, which PostgreSQL holds back until
        // the transaction commits and drops if it rolls back. The payload is only a wake-up
        // call (listeners read the table), so it never approaches the 8,000-byte limit.
        DbBackend::Postgres => {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "WITH entry AS (INSERT INTO changes (merchant_id, topic, subject, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id) \
                 SELECT pg_notify($6, entry.id::text) FROM entry",
                [
                    change.merchant_id.into(),
                    change.topic.as_str().into(),
                    change.subject.into(),
                    body.into(),
                    at.into(),
                    CHANNEL.into(),
                ],
            ))
            .await?;
        }
        _ => {
            change::Entity::insert(change::ActiveModel {
                id: NotSet,
                merchant_id: Set(change.merchant_id),
                topic: Set(change.topic.as_str().to_owned()),
                subject: Set(change.subject),
                body: Set(body),
                created_at: Set(at),
            })
            .exec_without_returning(db)
            .await?;
        }
    }
    Ok(())
}

/// An entry as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub merchant_id: Uuid,
    pub topic: Topic,
    pub subject: Option<Uuid>,
    pub body: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl Entry {
    /// What a stream sends of it (everything but the merchant, which is the reader's own).
    pub fn event(&self) -> ChangeEvent {
        ChangeEvent {
            id: self.id,
            topic: self.topic,
            subject: self.subject,
            body: self.body.clone(),
            at: self.at,
        }
    }

    /// `None` for a topic this version does not know (written by a newer one): skipped.
    fn of(model: change::Model) -> Option<Entry> {
        Some(Entry {
            id: model.id,
            merchant_id: model.merchant_id,
            topic: Topic::parse(&model.topic)?,
            subject: model.subject,
            body: serde_json::from_str(&model.body).unwrap_or(serde_json::Value::Null),
            at: model.created_at,
        })
    }
}

/// A row as read: its id, and the entry unless its topic is unknown to this version.
pub type Row = (i64, Option<Entry>);

fn rows(models: Vec<change::Model>) -> Vec<Row> {
    models.into_iter().map(|m| (m.id, Entry::of(m))).collect()
}

/// Up to `limit` rows of every merchant after `after`, oldest first.
pub async fn after(db: &impl ConnectionTrait, after: i64, limit: u64) -> Result<Vec<Row>, DbErr> {
    let models = change::Entity::find()
        .filter(change::Column::Id.gt(after))
        .order_by_asc(change::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows(models))
}

/// The rows among `ids` that exist now.
pub async fn with_ids(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<Row>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let models = change::Entity::find()
        .filter(change::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(change::Column::Id)
        .all(db)
        .await?;
    Ok(rows(models))
}

/// Up to `limit` of one merchant's rows with ids in `(after, up_to]`, oldest first.
pub async fn of_merchant(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    after: i64,
    up_to: i64,
    limit: u64,
) -> Result<Vec<Row>, DbErr> {
    let models = change::Entity::find()
        .filter(change::Column::MerchantId.eq(merchant_id))
        .filter(change::Column::Id.gt(after))
        .filter(change::Column::Id.lte(up_to))
        .order_by_asc(change::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows(models))
}

/// The id of the newest entry, 0 when there is none.
pub async fn last_id(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let last: Option<Option<i64>> = change::Entity::find()
        .select_only()
        .column_as(Expr::col(change::Column::Id).max(), "last")
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.flatten().unwrap_or(0))
}

/// Deletes the entries recorded before `cutoff`; returns how many.
pub async fn forget_before(db: &impl ConnectionTrait, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(change::Entity::delete_many()
        .filter(change::Column::CreatedAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}
