//! What a delivery belongs to. Every message goes out for a source (today a mailing; a wallet
//! push, an automation run and an Inbox reply take the next codes) and the engine asks the
//! source three things: what to send (its content and the values its templates read), whether
//! it still wants to send, and what to count when its deliveries settle. Adding a kind of send
//! is a variant here and its arms below; the queue, the claims, sending and settling are the
//! same for every kind.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use loyalcast_delivery::template::TemplateValues;
use loyalcast_dto::{Channel, MailingContent, MailingStatus, PushStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::Lane;
use super::content::Prepared;
use super::error::{EngineError, Result};
use crate::entity::{card, customer, mailing, mailing_stat, merchant, push, push_stat};

/// The kinds of source, stored as small integers in `deliveries.source_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    Mailing,
    /// A wallet push: its recipients are the devices registered for the passes it updated.
    Push,
}

impl SourceKind {
    pub fn code(self) -> i16 {
        match self {
            SourceKind::Mailing => 0,
            SourceKind::Push => 1,
        }
    }

    pub fn of(code: i16) -> Option<SourceKind> {
        match code {
            0 => Some(SourceKind::Mailing),
            1 => Some(SourceKind::Push),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Mailing => "mailing",
            SourceKind::Push => "push",
        }
    }
}

/// One source: its kind and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub kind: SourceKind,
    pub id: Uuid,
}

impl Source {
    pub fn mailing(id: Uuid) -> Source {
        Source {
            kind: SourceKind::Mailing,
            id,
        }
    }

    pub fn push(id: Uuid) -> Source {
        Source {
            kind: SourceKind::Push,
            id,
        }
    }
}

/// Whether a source wants its messages sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    /// Send.
    Active,
    /// Not now: messages wait (held) until it resumes.
    Paused,
    /// Never: messages not yet sent are cancelled and their credits released.
    Stopped,
}

/// The per-recipient values of a merchant's messages.
#[derive(Debug, Clone)]
pub struct RecipientValues {
    /// Values that do not depend on the recipient (merchant name, and an unsubscribe link
    /// as long as the longest real one, for counting), the rest empty.
    pub base: TemplateValues,
    /// The card named when a customer holds none.
    pub default_card: String,
}

impl RecipientValues {
    /// The merchant's values; links are counted at the length of the longest one
    /// `public_url` can give, so that credits reserved before a delivery has its id are
    /// never too few.
    pub async fn load(
        db: &impl ConnectionTrait,
        m: &merchant::Model,
        public_url: &str,
    ) -> Result<RecipientValues> {
        let first_card = card::Entity::find()
            .filter(card::Column::MerchantId.eq(m.id))
            .order_by_asc(card::Column::Name)
            .one(db)
            .await?;
        Ok(RecipientValues {
            base: TemplateValues {
                merchant_name: m.name.clone(),
                unsubscribe_url: super::links::longest_unsubscribe_url(public_url),
                ..Default::default()
            },
            default_card: first_card.map(|c| c.name).unwrap_or_else(|| m.name.clone()),
        })
    }
}

impl RecipientValues {
    pub fn for_customer(&self, c: &customer::Model, card: Option<&String>) -> TemplateValues {
        TemplateValues {
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            card_name: card.cloned().unwrap_or_else(|| self.default_card.clone()),
            points: c.points.to_string(),
            visits: c.visits.to_string(),
            ..self.base.clone()
        }
    }

    /// The name of the card each customer installed first.
    pub async fn card_names(
        &self,
        db: &impl ConnectionTrait,
        customers: &[Uuid],
    ) -> Result<HashMap<Uuid, String>> {
        use crate::entity::pass;
        let mut names = HashMap::new();
        for chunk in customers.chunks(500) {
            let rows: Vec<(Uuid, Uuid)> = pass::Entity::find()
                .select_only()
                .column(pass::Column::CustomerId)
                .column(pass::Column::CardId)
                .filter(pass::Column::CustomerId.is_in(chunk.iter().copied()))
                .order_by_desc(pass::Column::InstalledAt)
                .into_tuple()
                .all(db)
                .await?;
            if rows.is_empty() {
                continue;
            }
            let cards: HashMap<Uuid, String> = card::Entity::find()
                .filter(card::Column::Id.is_in(rows.iter().map(|r| r.1)))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect();
            // Newest first, so the last insert per customer is the first installed.
            for (customer, card) in rows {
                if let Some(name) = cards.get(&card) {
                    names.insert(customer, name.clone());
                }
            }
        }
        Ok(names)
    }
}

/// What the engine needs to send a source's messages, read once per process.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub merchant_id: Uuid,
    pub prepared: Prepared,
    pub values: RecipientValues,
}

/// Reads what a source sends.
pub async fn info(
    db: &impl ConnectionTrait,
    source: Source,
    public_url: &str,
) -> Result<SourceInfo> {
    match source.kind {
        SourceKind::Mailing => {
            let m = mailing::Entity::find_by_id(source.id)
                .one(db)
                .await?
                .ok_or_else(|| EngineError::Missing(format!("mailing {}", source.id)))?;
            let merchant = merchant::Entity::find_by_id(m.merchant_id)
                .one(db)
                .await?
                .ok_or_else(|| EngineError::Missing(format!("merchant {}", m.merchant_id)))?;
            let content: MailingContent = serde_json::from_str(&m.content)?;
            Ok(SourceInfo {
                merchant_id: m.merchant_id,
                prepared: Prepared::from_stored(&content),
                values: RecipientValues::load(db, &merchant, public_url).await?,
            })
        }
        SourceKind::Push => Err(EngineError::Missing(format!(
            "push {} sends no customer message",
            source.id
        ))),
    }
}

/// What the devices of a push are woken for: the pass type (the APNs topic) and when the
/// push went out (a device notified since then has fetched the message already).
#[derive(Debug, Clone)]
pub struct PushInfo {
    pub merchant_id: Uuid,
    pub card_id: Uuid,
    pub topic: String,
    /// The card's APNs environment (`None`: the notifier's default).
    pub apns_environment: Option<loyalcast_dto::ApnsEnvironment>,
    pub started_at: DateTime<Utc>,
    /// What Google passes show: the card's name as the header, the message.
    pub card_name: String,
    pub message: String,
    /// Sent by an automation: each pass's back carries its own filled-in message, which is
    /// what Google passes and browsers are sent.
    pub personal: bool,
}

/// Reads what a push's notifications need; `default_topic` is the installation's pass type
/// identifier, for cards without their own.
pub async fn push_info(
    db: &impl ConnectionTrait,
    id: Uuid,
    default_topic: &str,
) -> Result<PushInfo> {
    let p = push::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| EngineError::Missing(format!("push {id}")))?;
    let card = card::Entity::find_by_id(p.card_id)
        .one(db)
        .await?
        .ok_or_else(|| EngineError::Missing(format!("card {}", p.card_id)))?;
    Ok(PushInfo {
        merchant_id: p.merchant_id,
        card_id: card.id,
        topic: card
            .apple_pass_type_id
            .unwrap_or_else(|| default_topic.to_owned()),
        apns_environment: card
            .apns_environment
            .as_deref()
            .and_then(loyalcast_dto::ApnsEnvironment::parse),
        started_at: p.started_at.unwrap_or(p.created_at),
        card_name: card.name,
        message: p.message,
        personal: p.automation_id.is_some(),
    })
}

/// The ids of the sources of one kind.
fn ids_of(sources: &[Source], kind: SourceKind) -> Vec<Uuid> {
    sources
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s| s.id)
        .collect()
}

/// Whether each source wants to send now; a source that is gone is stopped.
pub async fn states(
    db: &impl ConnectionTrait,
    sources: &[Source],
) -> Result<HashMap<Source, SourceState>> {
    let mut states: HashMap<Source, SourceState> =
        sources.iter().map(|s| (*s, SourceState::Stopped)).collect();
    let mailings = ids_of(sources, SourceKind::Mailing);
    if !mailings.is_empty() {
        for m in mailing::Entity::find()
            .filter(mailing::Column::Id.is_in(mailings))
            .all(db)
            .await?
        {
            let state = match MailingStatus::parse(&m.status) {
                Some(MailingStatus::Sending) => SourceState::Active,
                Some(MailingStatus::Paused) => SourceState::Paused,
                _ => SourceState::Stopped,
            };
            states.insert(Source::mailing(m.id), state);
        }
    }
    let pushes = ids_of(sources, SourceKind::Push);
    if !pushes.is_empty() {
        for p in push::Entity::find()
            .filter(push::Column::Id.is_in(pushes))
            .all(db)
            .await?
        {
            let state = match PushStatus::parse(&p.status) {
                Some(PushStatus::Sending) => SourceState::Active,
                _ => SourceState::Stopped,
            };
            states.insert(Source::push(p.id), state);
        }
    }
    Ok(states)
}

/// What settled for one source on one channel, in one statement group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: i64,
    pub failed: i64,
    pub unsubscribed: i64,
    pub cancelled: i64,
    /// Outcomes nobody knows (the provider may have accepted the message).
    pub uncertain: i64,
    /// Sent rows that a stopped worker may have sent before: possible second copies.
    pub repeats: i64,
    /// Sent by a sandbox provider (nothing really went out).
    pub sandbox: i64,
    /// Sent without a notification of their own (a wallet push the device had fetched).
    pub coalesced: i64,
    /// Added to a Google pass without a notification.
    pub quiet: i64,
    /// Credits spent and released.
    pub used: i64,
    pub released: i64,
}

impl Tally {
    /// Rows that left the queue for good.
    pub fn done(&self) -> i64 {
        self.sent + self.failed + self.unsubscribed + self.cancelled + self.uncertain
    }

    pub fn add(&mut self, other: &Tally) {
        self.sent += other.sent;
        self.failed += other.failed;
        self.unsubscribed += other.unsubscribed;
        self.cancelled += other.cancelled;
        self.uncertain += other.uncertain;
        self.repeats += other.repeats;
        self.sandbox += other.sandbox;
        self.coalesced += other.coalesced;
        self.quiet += other.quiet;
        self.used += other.used;
        self.released += other.released;
    }
}

/// Counts settled rows against their sources (sorted, so concurrent settles lock the same
/// rows in the same order) and completes a source whose last waiting row settled; tells each
/// source's screens what changed (the change feed). The merchant of each source counted.
pub async fn settled(
    db: &impl ConnectionTrait,
    tallies: &BTreeMap<(Source, Lane), Tally>,
    now: DateTime<Utc>,
) -> Result<HashMap<Source, Uuid>> {
    let mut merchants = HashMap::new();
    let mut per_source: BTreeMap<Source, Tally> = BTreeMap::new();
    let mut done: BTreeMap<Source, i64> = BTreeMap::new();
    for ((source, _), t) in tallies {
        per_source.entry(*source).or_default().add(t);
        *done.entry(*source).or_default() += t.done();
    }
    // The sources' own rows first, in source order, then their counters: the order a
    // cancel or a pause takes them in (the source, then its rows and counters). Counters
    // first would let a settle and a cancel each hold what the other waits for, and
    // PostgreSQL would end one of them as a deadlock.
    let mut taken = Vec::with_capacity(per_source.len());
    for (source, t) in per_source {
        let n = done.get(&source).copied().unwrap_or(0);
        if let Some(pending) = take_pending(db, source, n, now).await? {
            taken.push((source, t, n, pending));
        }
    }
    for ((source, lane), t) in tallies {
        match (source.kind, lane.channel()) {
            (SourceKind::Push, _) => {
                let changes = [
                    (push_stat::Column::Sent, t.sent),
                    (
                        push_stat::Column::Failed,
                        t.failed + t.unsubscribed + t.uncertain,
                    ),
                    (push_stat::Column::Cancelled, t.cancelled),
                    (push_stat::Column::Repeats, t.repeats),
                    (push_stat::Column::Sandbox, t.sandbox),
                    (push_stat::Column::Coalesced, t.coalesced),
                    (push_stat::Column::Quiet, t.quiet),
                ];
                bump_push_stats(db, source.id, *lane, &changes).await?;
            }
            (SourceKind::Mailing, None) => {}
            (SourceKind::Mailing, Some(channel)) => {
                let changes = [
                    (mailing_stat::Column::Sent, t.sent),
                    (mailing_stat::Column::Failed, t.failed),
                    (mailing_stat::Column::Unsubscribed, t.unsubscribed),
                    (mailing_stat::Column::Cancelled, t.cancelled),
                    (mailing_stat::Column::Uncertain, t.uncertain),
                    (mailing_stat::Column::Repeats, t.repeats),
                    (mailing_stat::Column::Sandbox, t.sandbox),
                    (mailing_stat::Column::CreditsUsed, t.used),
                    (
                        mailing_stat::Column::CreditsReserved,
                        -(t.used + t.released),
                    ),
                ];
                bump_stats(db, source.id, channel, &changes).await?;
            }
        }
    }
    for (source, t, n, (merchant_id, status, pending)) in taken {
        merchants.insert(source, merchant_id);
        let change = match source.kind {
            SourceKind::Push => {
                let body = serde_json::json!({
                    "change": if status == PushStatus::Completed.as_str() { "completed" } else { "progress" },
                    "status": status,
                    "sent": t.sent,
                    "failed": t.failed,
                });
                crate::feed::Change::push(merchant_id, source.id, body, now)
            }
            SourceKind::Mailing => {
                let change = if n > 0 && status == MailingStatus::Completed.as_str() && pending <= 0
                {
                    "completed"
                } else {
                    "progress"
                };
                let body = serde_json::json!({
                    "change": change,
                    "status": status,
                    "sent": t.sent,
                    "failed": t.failed,
                    "unsubscribed": t.unsubscribed,
                    "cancelled": t.cancelled,
                    "uncertain": t.uncertain,
                });
                crate::feed::Change::mailing(merchant_id, source.id, body, now)
            }
        };
        crate::feed::record(db, &change).await?;
    }
    Ok(merchants)
}

/// Takes `n` settled rows off a source's waiting count; the settle that takes the last one
/// completes a sending source. The merchant, the status and the count left after it;
/// `None` for a source that is gone.
async fn take_pending(
    db: &impl ConnectionTrait,
    source: Source,
    n: i64,
    now: DateTime<Utc>,
) -> Result<Option<(Uuid, String, i64)>> {
    // Mailings and pushes keep the same columns for this.
    let table = match source.kind {
        SourceKind::Mailing => "mailings",
        SourceKind::Push => "pushes",
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "UPDATE {table} SET pending = pending - $1, updated_at = $2, \
                 status = CASE WHEN pending - $1 <= 0 AND status = 'sending' THEN 'completed' ELSE status END, \
                 completed_at = CASE WHEN pending - $1 <= 0 AND status = 'sending' THEN $2 ELSE completed_at END \
                 WHERE id = $3 RETURNING merchant_id, status, pending"
            ),
            [n.into(), now.into(), source.id.into()],
        ))
        .await?;
    match row {
        Some(row) => Ok(Some((
            row.try_get("", "merchant_id")?,
            row.try_get("", "status")?,
            row.try_get("", "pending")?,
        ))),
        None => Ok(None),
    }
}

/// Tells a mailing's screens that its figures moved after it was sent (delivered, opened,
/// unsubscribed).
pub async fn announce_progress(
    db: &impl ConnectionTrait,
    source: Source,
    body: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    let merchants = merchants(db, &[source]).await?;
    if let Some(merchant_id) = merchants.get(&source) {
        crate::feed::record(
            db,
            &crate::feed::Change::mailing(*merchant_id, source.id, body, now),
        )
        .await?;
    }
    Ok(())
}

/// Adds each amount to its counter column, in one statement over the rows `filter` keeps;
/// nothing at all when every amount is zero.
async fn add_to_counters<E>(
    db: &impl ConnectionTrait,
    changes: &[(E::Column, i64)],
    filter: sea_orm::Condition,
) -> Result<()>
where
    E: EntityTrait,
    E::Column: Copy,
{
    let changes: Vec<_> = changes.iter().filter(|(_, by)| *by != 0).collect();
    if changes.is_empty() {
        return Ok(());
    }
    let mut update = E::update_many();
    for (column, by) in changes {
        update = update.col_expr(*column, Expr::col(*column).add(*by));
    }
    update.filter(filter).exec(db).await?;
    Ok(())
}

/// Adds to a mailing's report counters for one channel, in one statement.
pub async fn bump_stats(
    db: &impl ConnectionTrait,
    mailing_id: Uuid,
    channel: Channel,
    changes: &[(mailing_stat::Column, i64)],
) -> Result<()> {
    let rows = sea_orm::Condition::all()
        .add(mailing_stat::Column::MailingId.eq(mailing_id))
        .add(mailing_stat::Column::Channel.eq(channel.as_str()));
    add_to_counters::<mailing_stat::Entity>(db, changes, rows).await
}

/// Adds to a push's counters for one lane, in one statement.
pub async fn bump_push_stats(
    db: &impl ConnectionTrait,
    push_id: Uuid,
    lane: Lane,
    changes: &[(push_stat::Column, i64)],
) -> Result<()> {
    let rows = sea_orm::Condition::all()
        .add(push_stat::Column::PushId.eq(push_id))
        .add(push_stat::Column::Lane.eq(lane.code()));
    add_to_counters::<push_stat::Entity>(db, changes, rows).await
}

/// The merchant each source belongs to.
pub async fn merchants(
    db: &impl ConnectionTrait,
    sources: &[Source],
) -> Result<HashMap<Source, Uuid>> {
    let mut out = HashMap::new();
    let mailings = ids_of(sources, SourceKind::Mailing);
    if !mailings.is_empty() {
        for m in mailing::Entity::find()
            .filter(mailing::Column::Id.is_in(mailings))
            .all(db)
            .await?
        {
            out.insert(Source::mailing(m.id), m.merchant_id);
        }
    }
    let pushes = ids_of(sources, SourceKind::Push);
    if !pushes.is_empty() {
        for p in push::Entity::find()
            .filter(push::Column::Id.is_in(pushes))
            .all(db)
            .await?
        {
            out.insert(Source::push(p.id), p.merchant_id);
        }
    }
    Ok(out)
}

/// Starts the scheduled sources whose time has come: their held rows become ready.
pub async fn start_due(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> Result<u64> {
    let due = mailing::Entity::find()
        .filter(mailing::Column::Status.eq(MailingStatus::Scheduled.as_str()))
        .filter(mailing::Column::ScheduledAt.lte(now))
        .all(db)
        .await?;
    let mut started_any = 0;
    for m in due {
        let txn = db.begin().await?;
        let started = mailing::Entity::update_many()
            .col_expr(
                mailing::Column::Status,
                MailingStatus::Sending.as_str().into(),
            )
            .col_expr(mailing::Column::StartedAt, Some(now).into())
            .col_expr(mailing::Column::UpdatedAt, now.into())
            .filter(mailing::Column::Id.eq(m.id))
            .filter(mailing::Column::Status.eq(MailingStatus::Scheduled.as_str()))
            .exec(&txn)
            .await?;
        if started.rows_affected == 1 {
            super::queue::release_held(&txn, Source::mailing(m.id), now).await?;
            let body =
                serde_json::json!({"change": "started", "status": MailingStatus::Sending.as_str()});
            crate::feed::record(
                &txn,
                &crate::feed::Change::mailing(m.merchant_id, m.id, body, now),
            )
            .await?;
            started_any += 1;
            tracing::info!(mailing = %m.id, "scheduled mailing started");
        }
        txn.commit().await?;
    }
    started_any += super::fanout::start_due_pushes(db, now).await?;
    // Automations: plan what the calendar brings, then fire what is due, a few rounds at
    // most per call so that sending is never held up behind them.
    super::automate::scan(db, now).await?;
    for _ in 0..10 {
        if super::automate::fire_due(db, now).await? < super::automate::ROUND {
            break;
        }
    }
    Ok(started_any)
}
