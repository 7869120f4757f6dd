//! Writing what happened to claimed rows: a group of outcomes is one transaction that changes
//! only rows the claim still holds (see [`super::queue`]) and counts exactly the rows it
//! changed: the sources' counters, credits spent and released, channels a customer turned
//! off, and status reports that came early.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use loyalcast_dto::Channel;
use sea_orm::{ConnectionTrait, TransactionSession, TransactionTrait};
use uuid::Uuid;

use super::Lane;
use super::credits::{self, Kind};
use super::error::Result;
use super::queue::{self, Claim, Claimed, Reaped, SentRow, status};
use super::source::{self, Source, Tally};

/// What became of one claimed row.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The provider accepted it; `credits` is what the message as sent took.
    Sent {
        provider_id: String,
        sandbox: bool,
        credits: i32,
        /// Sent without a notification of its own: one just sent for the same pass carried it.
        coalesced: bool,
        /// Added to a Google pass without a notification (its three a day were used).
        quiet: bool,
    },
    /// Try again at `at`.
    Retry { at: DateTime<Utc>, reason: String },
    /// It will not be sent; a resend may reach it (the provider was down through every
    /// attempt, the worker kept dying).
    Failed(String),
    /// It will never go as it is: the address or the content cannot work (no contact
    /// details, an invalid number, the provider's permanent refusal). Not resent.
    Rejected(String),
    /// The customer turned the channel off (or the provider says they did).
    Unsubscribed(String),
    /// The provider may have accepted it; a status callback will tell.
    Uncertain(String),
    /// Its source stopped before it was sent.
    Cancelled,
    /// Its source paused before it was sent.
    Held,
}

/// What one group of outcomes changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub unsubscribed: u64,
    pub uncertain: u64,
    pub set_aside: u64,
    /// Outcomes for rows the claim no longer held (taken back after its lease ran out).
    pub lost: u64,
}

/// Writes a group of a claim's outcomes in one transaction.
pub async fn write(
    db: &impl TransactionTrait,
    claim: &Claim,
    group: &[(Claimed, Outcome)],
    now: DateTime<Utc>,
) -> Result<Written> {
    let txn = db.begin().await?;
    let written = write_in(&txn, claim, group, now).await?;
    txn.commit().await?;
    Ok(written)
}

async fn write_in(
    txn: &impl ConnectionTrait,
    claim: &Claim,
    group: &[(Claimed, Outcome)],
    now: DateTime<Utc>,
) -> Result<Written> {
    let mut sent = Vec::new();
    let mut ended: BTreeMap<(i16, bool), Vec<(i64, String)>> = BTreeMap::new();
    let mut retries = Vec::new();
    let mut held = Vec::new();
    for (row, outcome) in group {
        match outcome {
            Outcome::Sent {
                provider_id,
                sandbox,
                credits,
                ..
            } => sent.push(SentRow {
                id: row.id,
                provider_id: provider_id.clone(),
                sandbox: *sandbox,
                credits: *credits,
            }),
            Outcome::Retry { at, reason } => retries.push((row.id, *at, reason.clone())),
            Outcome::Failed(reason) => ended
                .entry((status::FAILED, false))
                .or_default()
                .push((row.id, reason.clone())),
            Outcome::Rejected(reason) => ended
                .entry((status::FAILED, true))
                .or_default()
                .push((row.id, reason.clone())),
            Outcome::Unsubscribed(reason) => ended
                .entry((status::UNSUBSCRIBED, false))
                .or_default()
                .push((row.id, reason.clone())),
            Outcome::Uncertain(reason) => ended
                .entry((status::UNCERTAIN, false))
                .or_default()
                .push((row.id, reason.clone())),
            Outcome::Cancelled => ended
                .entry((status::CANCELLED, false))
                .or_default()
                .push((row.id, "cancelled before it was sent".to_owned())),
            Outcome::Held => held.push(row.id),
        }
    }
    let mut changed: HashMap<i64, ()> = HashMap::new();
    let sent_ids = queue::mark_sent(txn, claim.token, &sent, now).await?;
    changed.extend(sent_ids.iter().map(|id| (*id, ())));
    let mut uncertain_ids = Vec::new();
    for ((to, permanent), rows) in &ended {
        let ids = queue::mark_ended(txn, claim.token, *to, *permanent, rows, now).await?;
        if *to == status::UNCERTAIN {
            uncertain_ids.extend(ids.iter().copied());
        }
        changed.extend(ids.into_iter().map(|id| (id, ())));
    }
    changed.extend(
        queue::mark_retry(txn, claim.token, &retries, now)
            .await?
            .into_iter()
            .map(|id| (id, ())),
    );
    changed.extend(
        queue::mark_held(txn, claim.token, &held)
            .await?
            .into_iter()
            .map(|id| (id, ())),
    );

    let mut written = Written::default();
    let mut tallies: BTreeMap<(Source, Lane), Tally> = BTreeMap::new();
    let mut suppress: Vec<(Uuid, Channel)> = Vec::new();
    for (row, outcome) in group {
        if !changed.contains_key(&row.id) {
            written.lost += 1;
            continue;
        }
        let tally = tallies.entry((row.source, row.lane)).or_default();
        let reserved = i64::from(row.credits);
        match outcome {
            Outcome::Sent {
                sandbox,
                credits,
                coalesced,
                quiet,
                ..
            } => {
                written.sent += 1;
                tally.sent += 1;
                tally.coalesced += i64::from(*coalesced);
                tally.quiet += i64::from(*quiet);
                // Reserved at the longest link; spent as sent (never more than reserved).
                let used = i64::from(*credits).min(reserved);
                tally.used += used;
                tally.released += reserved - used;
                tally.repeats += i64::from(row.doubt > 0);
                tally.sandbox += i64::from(*sandbox);
            }
            Outcome::Retry { .. } => written.retried += 1,
            Outcome::Failed(_) | Outcome::Rejected(_) => {
                written.failed += 1;
                tally.failed += 1;
                tally.released += reserved;
            }
            Outcome::Unsubscribed(_) => {
                written.unsubscribed += 1;
                tally.unsubscribed += 1;
                tally.released += reserved;
                if let Some(channel) = row.lane.channel() {
                    suppress.push((row.customer_id, channel));
                }
            }
            Outcome::Uncertain(_) => {
                // Neither sent nor failed: the credits stay reserved until it is known.
                written.uncertain += 1;
                tally.uncertain += 1;
            }
            Outcome::Cancelled => {
                written.set_aside += 1;
                tally.cancelled += 1;
                tally.released += reserved;
            }
            Outcome::Held => written.set_aside += 1,
        }
    }
    count(txn, &tallies, now).await?;
    for (customer_id, channel) in suppress {
        consent_off(txn, customer_id, channel, now).await?;
    }
    // Status reports that came before these rows were written.
    let mut settled_now = sent_ids;
    settled_now.extend(uncertain_ids);
    for (id, to, error) in queue::take_callbacks(txn, &settled_now).await? {
        super::events::apply_in(txn, id, to, error.as_deref(), now).await?;
    }
    Ok(written)
}

/// Counts tallies against their sources and moves their credits.
pub async fn count(
    txn: &impl ConnectionTrait,
    tallies: &BTreeMap<(Source, Lane), Tally>,
    now: DateTime<Utc>,
) -> Result<()> {
    let tallies: BTreeMap<(Source, Lane), Tally> = tallies
        .iter()
        .filter(|(_, t)| **t != Tally::default())
        .map(|(k, t)| (*k, *t))
        .collect();
    if tallies.is_empty() {
        return Ok(());
    }
    let merchants = source::settled(txn, &tallies, now).await?;
    // Sorted by (merchant, kind) first: concurrent settles take balance rows in the same
    // order. Each source's move is its own ledger line, so the ledger names what it was for.
    let mut moves: BTreeMap<(Uuid, Kind, Source), (i64, i64)> = BTreeMap::new();
    for ((source, lane), t) in &tallies {
        let kind = lane.channel().and_then(Kind::of);
        if let (Some(merchant), Some(kind)) = (merchants.get(source), kind) {
            let entry = moves.entry((*merchant, kind, *source)).or_default();
            entry.0 += t.used;
            entry.1 += t.released;
        }
    }
    for ((merchant, kind, source), (used, released)) in moves {
        credits::settle(txn, merchant, kind, used, released, source, now).await?;
    }
    Ok(())
}

/// Cancels a source's waiting rows (queued or held) and counts them against it, releasing
/// exactly the credits they reserved, in one guarded statement: a row a worker claimed
/// meanwhile is not among them, and the worker sets it aside (or counts it sent).
pub async fn cancel_waiting(
    db: &impl ConnectionTrait,
    source: Source,
    now: DateTime<Utc>,
) -> Result<()> {
    let tallies = queue::cancel_waiting(db, source, now)
        .await?
        .into_iter()
        .map(|(lane, (rows, credits))| {
            let tally = Tally {
                cancelled: rows,
                released: credits,
                ..Tally::default()
            };
            ((source, lane), tally)
        })
        .collect();
    count(db, &tallies, now).await
}

/// Takes back the rows of expired claims and counts those that gave up.
pub async fn reap(
    db: &impl TransactionTrait,
    now: DateTime<Utc>,
    max_attempts: i16,
) -> Result<Vec<Reaped>> {
    let txn = db.begin().await?;
    let reaped = queue::reap(&txn, now, max_attempts).await?;
    let mut tallies: BTreeMap<(Source, Lane), Tally> = BTreeMap::new();
    for row in reaped.iter().filter(|r| r.gave_up) {
        let tally = tallies.entry((row.source, row.lane)).or_default();
        tally.failed += 1;
        tally.released += i64::from(row.credits);
    }
    count(&txn, &tallies, now).await?;
    txn.commit().await?;
    Ok(reaped)
}

/// A customer's consent on a channel turns off (a provider reported an opt-out or a block):
/// the customer's own opt-out, which only they can undo.
pub async fn consent_off(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    channel: Channel,
    now: DateTime<Utc>,
) -> Result<bool> {
    super::consent::customer_opted_out(
        db,
        customer_id,
        channel,
        loyalcast_dto::ConsentSource::Provider,
        None,
        now,
    )
    .await
}
