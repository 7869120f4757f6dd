//! What happens to a message after it was sent: the provider confirms it or reports a
//! failure, the recipient opens it or unsubscribes. Each change is a guarded move of the
//! delivery (see [`queue::advance`]), so a repeated event counts once; a provider's report
//! that arrives before its delivery was written down is kept and applied when it is.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use loyalcast_dto::Channel;
use sea_orm::{ConnectionTrait, TransactionSession, TransactionTrait};

use super::credits::{self, Kind};
use super::error::Result;
use super::queue::{self, Row, status};
use super::source::{self, Source, SourceKind};
use crate::entity::mailing_stat;

/// What a provider reported about a message it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// It took the message (confirms one whose outcome was uncertain).
    Accepted,
    /// The message reached the recipient.
    Delivered,
    /// It could not be delivered, and why.
    Failed(String),
}

impl Report {
    fn status(&self) -> i16 {
        match self {
            Report::Accepted => status::SENT,
            Report::Delivered => status::DELIVERED,
            Report::Failed(_) => status::FAILED,
        }
    }
}

/// Adds to the report counters of a delivery's source on its channel, and tells the source's
/// screens.
async fn bump(
    db: &impl ConnectionTrait,
    row: &Row,
    changes: &[(mailing_stat::Column, i64)],
    now: DateTime<Utc>,
) -> Result<()> {
    match (row.source.kind, row.lane.channel()) {
        (SourceKind::Mailing, Some(channel)) => {
            source::bump_stats(db, row.source.id, channel, changes).await?
        }
        // Push figures come from the pass fetches (`wallet::pushes`), not from receipts.
        _ => return Ok(()),
    }
    let body = serde_json::json!({"change": "progress", "delivery": row.id});
    source::announce_progress(db, row.source, body, now).await
}

/// Spends or releases the credits a delivery reserved.
async fn credits_of(
    db: &impl ConnectionTrait,
    row: &Row,
    spent: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(kind) = row.lane.channel().and_then(Kind::of) else {
        return Ok(());
    };
    let merchants = source::merchants(db, &[row.source]).await?;
    let Some(merchant) = merchants.get(&row.source) else {
        return Ok(());
    };
    let credits = i64::from(row.credits);
    let (used, released) = if spent { (credits, 0) } else { (0, credits) };
    credits::settle(db, *merchant, kind, used, released, row.source, now).await
}

/// A provider's report about a delivery: applied now, or kept until the delivery's outcome
/// is written (a callback may overtake the worker that sent the message).
pub async fn provider_report(
    db: &impl TransactionTrait,
    id: i64,
    report: &Report,
    now: DateTime<Utc>,
) -> Result<bool> {
    let txn = db.begin().await?;
    let Some(row) = queue::find(&txn, id).await? else {
        return Ok(false);
    };
    let error = match report {
        Report::Failed(reason) => Some(reason.as_str()),
        _ => None,
    };
    let applied = if matches!(row.status, status::SENDING | status::QUEUED) {
        queue::keep_callback(&txn, id, report.status(), error, now).await?;
        true
    } else {
        apply_in(&txn, id, report.status(), error, now).await?
    };
    txn.commit().await?;
    Ok(applied)
}

/// Applies a report (`to`: sent, delivered or failed) to a delivery in `txn`.
pub async fn apply_in(
    txn: &impl ConnectionTrait,
    id: i64,
    to: i16,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    use mailing_stat::Column as S;
    // An uncertain outcome becomes known: it counts as sent (credits spent) or failed
    // (credits released) now.
    if let Some(row) = queue::advance(txn, id, &[status::UNCERTAIN], to, error, now).await? {
        match to {
            status::FAILED => {
                bump(
                    txn,
                    &row,
                    &[
                        (S::Uncertain, -1),
                        (S::Failed, 1),
                        (S::CreditsReserved, -i64::from(row.credits)),
                    ],
                    now,
                )
                .await?;
                credits_of(txn, &row, false, now).await?;
            }
            _ => {
                let delivered = i64::from(to == status::DELIVERED);
                let credits = i64::from(row.credits);
                bump(
                    txn,
                    &row,
                    &[
                        (S::Uncertain, -1),
                        (S::Sent, 1),
                        (S::Delivered, delivered),
                        (S::CreditsUsed, credits),
                        (S::CreditsReserved, -credits),
                    ],
                    now,
                )
                .await?;
                credits_of(txn, &row, true, now).await?;
            }
        }
        return Ok(true);
    }
    match to {
        status::DELIVERED => {
            let moved =
                queue::advance(txn, id, &[status::SENT], status::DELIVERED, None, now).await?;
            if let Some(row) = &moved {
                bump(txn, row, &[(S::Delivered, 1)], now).await?;
            }
            Ok(moved.is_some())
        }
        status::FAILED => {
            // The provider took it and could not deliver it: it counts as failed, and the
            // credit stays spent (the provider charged for it).
            let moved =
                queue::advance(txn, id, &[status::SENT], status::FAILED, error, now).await?;
            if let Some(row) = &moved {
                bump(txn, row, &[(S::Sent, -1), (S::Failed, 1)], now).await?;
            }
            Ok(moved.is_some())
        }
        _ => Ok(false),
    }
}

/// The provider confirmed delivery.
pub async fn delivered(db: &impl TransactionTrait, id: i64, now: DateTime<Utc>) -> Result<bool> {
    provider_report(db, id, &Report::Delivered, now).await
}

/// The provider reported, after accepting it, that the message could not be delivered.
pub async fn failed_after_send(
    db: &impl TransactionTrait,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    provider_report(db, id, &Report::Failed(reason.to_owned()), now).await
}

/// The recipient opened the message (the email's tracking pixel loaded). An opened message
/// was delivered, so one no provider had confirmed counts as delivered too: the report's
/// figures nest (sent ⊇ delivered ⊇ opened).
pub async fn opened(db: &impl TransactionTrait, id: i64, now: DateTime<Utc>) -> Result<bool> {
    use mailing_stat::Column as S;
    let txn = db.begin().await?;
    let moved = match queue::advance(&txn, id, &[status::SENT], status::OPENED, None, now).await? {
        Some(row) => {
            bump(&txn, &row, &[(S::Delivered, 1), (S::Opened, 1)], now).await?;
            Some(row)
        }
        None => {
            let row =
                queue::advance(&txn, id, &[status::DELIVERED], status::OPENED, None, now).await?;
            if let Some(row) = &row {
                bump(&txn, row, &[(S::Opened, 1)], now).await?;
            }
            row
        }
    };
    txn.commit().await?;
    Ok(moved.is_some())
}

/// The channel a delivery went out on, for the unsubscribe page; `None` when it is gone.
pub async fn unsubscribe_channel(db: &impl ConnectionTrait, id: i64) -> Result<Option<Channel>> {
    Ok(queue::find(db, id)
        .await?
        .and_then(|row| row.lane.channel()))
}

/// The recipient used the message's unsubscribe link: that channel is off for them at
/// once, and the source's report counts it. Returns the channel, or `None` for an unknown
/// delivery.
pub async fn unsubscribe(
    db: &impl TransactionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Channel>> {
    let txn = db.begin().await?;
    let Some((row, channel)) = queue::find(&txn, id)
        .await?
        .and_then(|row| row.lane.channel().map(|c| (row, c)))
    else {
        return Ok(None);
    };
    let source = loyalcast_dto::ConsentSource::UnsubscribeLink;
    if super::consent::customer_opted_out(&txn, row.customer_id, channel, source, None, now).await?
    {
        bump(&txn, &row, &[(mailing_stat::Column::OptedOutAfter, 1)], now).await?;
    }
    txn.commit().await?;
    Ok(Some(channel))
}

/// The recipient subscribed again on the page their unsubscribe link leads to: their opt-out
/// of that channel ends and the channel is on. Returns the channel, or `None` for an unknown
/// delivery.
pub async fn resubscribe(
    db: &impl TransactionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Channel>> {
    let txn = db.begin().await?;
    let Some((row, channel)) = queue::find(&txn, id)
        .await?
        .and_then(|row| row.lane.channel().map(|c| (row, c)))
    else {
        return Ok(None);
    };
    let source = loyalcast_dto::ConsentSource::ResubscribePage;
    super::consent::customer_opted_in(&txn, row.customer_id, channel, source, now).await?;
    txn.commit().await?;
    Ok(Some(channel))
}

/// Sandbox providers send nothing, so no provider would ever confirm their messages and the
/// report of a `make run` mailing would stop at "sent". This plays the provider's part for
/// messages a sandbox accepted at least `settled_before`: each is marked delivered, and every
/// third email (by id) also opened, as if its tracking pixel had loaded. Only mailings active
/// since `active_since` are looked at, so the scan stays within recent deliveries. Returns how
/// many deliveries moved.
pub async fn confirm_sandbox(
    db: &impl TransactionTrait,
    settled_before: DateTime<Utc>,
    active_since: DateTime<Utc>,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<u64> {
    let txn = db.begin().await?;
    let moved = queue::confirm_sandbox(&txn, settled_before, active_since, limit, now).await?;
    let mut counts: BTreeMap<(Source, Channel), (i64, i64)> = BTreeMap::new();
    for (source, channel, opened) in &moved {
        let entry = counts.entry((*source, *channel)).or_default();
        entry.0 += 1;
        entry.1 += i64::from(*opened);
    }
    for ((source, channel), (delivered, opened)) in counts {
        match source.kind {
            SourceKind::Push => {}
            SourceKind::Mailing => {
                let changes = [
                    (mailing_stat::Column::Delivered, delivered),
                    (mailing_stat::Column::Opened, opened),
                ];
                source::bump_stats(&txn, source.id, channel, &changes).await?;
            }
        }
        let body =
            serde_json::json!({"change": "progress", "delivered": delivered, "opened": opened});
        source::announce_progress(&txn, source, body, now).await?;
    }
    txn.commit().await?;
    Ok(moved.len() as u64)
}
