//! The worker's step: claim a batch of ready deliveries under a lease, send them
//! concurrently through the channel router, and settle the outcomes in one transaction.
//!
//! A worker that dies mid-batch loses nothing: its claimed rows carry a lease, and any worker
//! puts rows whose lease ran out back in the queue. Several workers on one PostgreSQL share
//! the queue through `FOR UPDATE SKIP LOCKED`; on SQLite there is one writer.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use loyalcast_delivery::message::{
    DeliveryId, EmailAddress, EmailMessage, MessageContent, MessengerMessage, OutboundMessage,
    PhoneNumber, Psid, SmsMessage, TelegramChatId, TelegramMessage, parse_web_url,
};
use loyalcast_delivery::retry::{RetryDecision, RetryPolicy};
use loyalcast_delivery::{ChannelRouter, SendError};
use loyalcast_dto::{Channel, MailingContent, MailingStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    Statement, TransactionTrait, Value,
};
use uuid::Uuid;

use super::content::{Prepared, html_from_text};
use super::fanout::RecipientValues;
use super::links::{LinkSigner, Purpose};
use super::{channel_of, credit_kind, status};
use crate::balances;
use crate::entity::{customer, mailing, merchant};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Deliveries claimed at once.
    pub batch: u64,
    /// How long a claim holds before other workers may take the rows back.
    pub lease: Duration,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Pause between empty polls.
    pub idle: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            batch: 1_000,
            lease: Duration::from_secs(120),
            concurrency: 64,
            idle: Duration::from_millis(250),
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub claimed: u64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub unsubscribed: u64,
    /// Rows put back because their mailing was paused, or dropped because it was cancelled.
    pub set_aside: u64,
    /// Where the step's time went.
    pub phases: Phases,
}

/// Wall time of a step's phases, for the benchmark and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Lease reaping and starting due scheduled mailings.
    pub upkeep: Duration,
    /// The claiming `UPDATE ... RETURNING`.
    pub claim: Duration,
    /// Reading mailing states, customers and card names, and rendering the messages.
    pub prepare: Duration,
    /// Waiting on the providers.
    pub send: Duration,
    /// Writing outcomes, counters and credits.
    pub settle: Duration,
}

impl Phases {
    /// The phases' names, in the order of [`Phases::durations`].
    pub const NAMES: [&'static str; 5] = ["upkeep", "claim", "prepare", "send", "settle"];

    pub fn durations(&self) -> [Duration; 5] {
        [
            self.upkeep,
            self.claim,
            self.prepare,
            self.send,
            self.settle,
        ]
    }

    pub fn add(&mut self, other: &Phases) {
        self.upkeep += other.upkeep;
        self.claim += other.claim;
        self.prepare += other.prepare;
        self.send += other.send;
        self.settle += other.settle;
    }
}

/// A mailing's templates and values, read once per process.
struct MailingInfo {
    prepared: Prepared,
    values: RecipientValues,
}

pub struct Worker {
    db: DatabaseConnection,
    router: Arc<ChannelRouter>,
    retry: RetryPolicy,
    links: LinkSigner,
    public_url: String,
    config: WorkerConfig,
    mailings: Mutex<HashMap<Uuid, Arc<MailingInfo>>>,
    /// Where the last full claim ended: the next claim starts after it, so it does not walk
    /// again over index entries of rows already claimed (dead until vacuum). A short claim
    /// (the end of the queue) resets it, so retries and reclaimed rows with lower ids are
    /// found on the next round.
    claim_from: std::sync::atomic::AtomicI64,
}

#[derive(Debug, Clone)]
struct Claimed {
    id: i64,
    mailing_id: Uuid,
    customer_id: Uuid,
    channel: Channel,
    attempts: i16,
    credits: i32,
}

enum Outcome {
    Sent(String),
    Retry(DateTime<Utc>, String),
    Failed(String),
    Unsubscribed(String),
}

impl Worker {
    pub fn new(
        db: DatabaseConnection,
        router: Arc<ChannelRouter>,
        retry: RetryPolicy,
        links: LinkSigner,
        public_url: String,
        config: WorkerConfig,
    ) -> Self {
        Worker {
            db,
            router,
            retry,
            links,
            public_url: public_url.trim_end_matches('/').to_owned(),
            config,
            mailings: Mutex::new(HashMap::new()),
            claim_from: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Runs steps until `stop` turns true; an in-flight batch is finished, not abandoned.
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            let idle = match self.step().await {
                Ok(report) => report.claimed == 0,
                Err(err) => {
                    tracing::warn!(error = %err, "delivery step failed; retrying");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.idle) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// One round: upkeep, claim, send, settle.
    pub async fn step(&self) -> Result<StepReport> {
        let mut clock = Clock::start();
        let mut phases = Phases::default();
        self.reap_leases().await?;
        self.start_due_mailings().await?;
        phases.upkeep = clock.lap();
        let claimed = self.claim().await?;
        phases.claim = clock.lap();
        let mut report = StepReport {
            claimed: claimed.len() as u64,
            ..Default::default()
        };
        if claimed.is_empty() {
            report.phases = phases;
            crate::metrics::record_phases(&phases);
            return Ok(report);
        }
        let mut mailing_ids: Vec<Uuid> = claimed.iter().map(|c| c.mailing_id).collect();
        mailing_ids.sort();
        mailing_ids.dedup();
        let states: HashMap<Uuid, String> = mailing::Entity::find()
            .filter(mailing::Column::Id.is_in(mailing_ids.clone()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.id, m.status))
            .collect();
        let (active, aside): (Vec<Claimed>, Vec<Claimed>) = claimed.into_iter().partition(|c| {
            states.get(&c.mailing_id).map(String::as_str) == Some(MailingStatus::Sending.as_str())
        });
        report.set_aside = self.set_aside(&aside, &states).await?;

        let (mut outcomes, to_send) = self.prepare(&active).await?;
        phases.prepare = clock.lap();
        outcomes.extend(self.send_all(to_send).await);
        phases.send = clock.lap();
        for (_, outcome) in &outcomes {
            match outcome {
                Outcome::Sent(_) => report.sent += 1,
                Outcome::Retry(..) => report.retried += 1,
                Outcome::Failed(_) => report.failed += 1,
                Outcome::Unsubscribed(_) => report.unsubscribed += 1,
            }
        }
        self.settle(&active, outcomes).await?;
        phases.settle = clock.lap();
        report.phases = phases;
        crate::metrics::record_phases(&phases);
        Ok(report)
    }

    /// Puts rows whose lease ran out (their worker died) back in the queue.
    async fn reap_leases(&self) -> Result<()> {
        let backend = self.db.get_database_backend();
        self.db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE deliveries SET status = 0 WHERE status = 1 AND lease_until < $1",
                [Utc::now().into()],
            ))
            .await?;
        Ok(())
    }

    /// Releases scheduled mailings whose time has come.
    async fn start_due_mailings(&self) -> Result<()> {
        let now = Utc::now();
        let due = mailing::Entity::find()
            .filter(mailing::Column::Status.eq(MailingStatus::Scheduled.as_str()))
            .filter(mailing::Column::ScheduledAt.lte(now))
            .all(&self.db)
            .await?;
        for m in due {
            let txn = self.db.begin().await?;
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
                release_held(&txn, m.id).await?;
                tracing::info!(mailing = %m.id, "scheduled mailing started");
            }
            txn.commit().await?;
        }
        Ok(())
    }

    async fn claim(&self) -> Result<Vec<Claimed>> {
        let backend = self.db.get_database_backend();
        let lock = if backend == DbBackend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        // The limit is inlined: a prepared `LIMIT $n` can get a generic plan that scans the
        // whole table on PostgreSQL.
        let sql = format!(
            "UPDATE deliveries SET status = 1, lease_until = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE id IN (SELECT id FROM deliveries WHERE status = 0 AND next_attempt_at <= $2 AND id > $3 \
             ORDER BY id LIMIT {} {lock}) \
             RETURNING id, mailing_id, customer_id, channel, attempts, credits",
            self.config.batch
        );
        let from = self.claim_from.load(std::sync::atomic::Ordering::Relaxed);
        let now = Utc::now();
        let lease_until = now
            + chrono::Duration::from_std(self.config.lease)
                .unwrap_or(chrono::Duration::seconds(120));
        let txn = self.db.begin().await?;
        if backend == DbBackend::Postgres {
            // The only good plan walks the ready index in id order and stops at the limit.
            // The planner's guess of how many rows are ready comes from statistics that are
            // wrong right after a fan-out (a million new ready rows) and in a long history
            // (almost none ready); with that guess it prefers a bitmap scan that collects
            // and sorts every ready row: 200 ms a claim at a million rows instead of 15.
            txn.execute_unprepared("SET LOCAL enable_bitmapscan = off")
                .await?;
        }
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                &sql,
                [lease_until.into(), now.into(), from.into()],
            ))
            .await?;
        txn.commit().await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let code: i16 = row.try_get("", "channel")?;
            let Some(channel) = channel_of(code) else {
                continue;
            };
            claimed.push(Claimed {
                id: row.try_get("", "id")?,
                mailing_id: row.try_get("", "mailing_id")?,
                customer_id: row.try_get("", "customer_id")?,
                channel,
                attempts: row.try_get("", "attempts")?,
                credits: row.try_get("", "credits")?,
            });
        }
        claimed.sort_by_key(|c| c.id);
        let next = match claimed.last() {
            Some(last) if claimed.len() as u64 >= self.config.batch => last.id,
            _ => 0,
        };
        self.claim_from
            .store(next, std::sync::atomic::Ordering::Relaxed);
        Ok(claimed)
    }

    /// Rows of paused mailings go back to held; rows of cancelled (or vanished) mailings are
    /// cancelled and their credits released.
    async fn set_aside(&self, rows: &[Claimed], states: &HashMap<Uuid, String>) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin().await?;
        let (paused, cancelled): (Vec<&Claimed>, Vec<&Claimed>) = rows.iter().partition(|c| {
            states.get(&c.mailing_id).map(String::as_str) == Some(MailingStatus::Paused.as_str())
        });
        let backend = txn.get_database_backend();
        if !paused.is_empty() {
            let ids: Vec<i64> = paused.iter().map(|c| c.id).collect();
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE deliveries SET status = 8, attempts = attempts - 1, lease_until = NULL WHERE id IN ({})",
                    placeholders(1, ids.len())
                ),
                ids.into_iter().map(Value::from),
            ))
            .await?;
        }
        if !cancelled.is_empty() {
            let outcomes = cancelled
                .iter()
                .map(|c| (c.id, Outcome::Failed("cancelled".to_owned())))
                .collect::<Vec<_>>();
            let owned: Vec<Claimed> = cancelled.into_iter().cloned().collect();
            settle_in(&txn, &owned, outcomes, status::CANCELLED).await?;
        }
        txn.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn info(&self, mailing_id: Uuid) -> Result<Arc<MailingInfo>> {
        if let Some(info) = self.lock_cache().get(&mailing_id) {
            return Ok(info.clone());
        }
        let m = mailing::Entity::find_by_id(mailing_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("mailing {mailing_id} vanished"))?;
        let merchant = merchant::Entity::find_by_id(m.merchant_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("merchant of mailing {mailing_id} vanished"))?;
        let content: MailingContent =
            serde_json::from_str(&m.content).map_err(anyhow::Error::from)?;
        let info = Arc::new(MailingInfo {
            prepared: Prepared::from_stored(&content),
            values: super::super::mailings::recipient_values(&self.db, &merchant).await?,
        });
        let mut cache = self.lock_cache();
        if cache.len() > 1_000 {
            cache.clear();
        }
        cache.insert(mailing_id, info.clone());
        Ok(info)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<MailingInfo>>> {
        self.mailings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads what the messages need and renders them; rows that cannot be sent get their
    /// outcome here.
    async fn prepare(
        &self,
        rows: &[Claimed],
    ) -> Result<(Vec<(i64, Outcome)>, Vec<(i64, i16, OutboundMessage)>)> {
        if rows.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let ids: Vec<Uuid> = rows.iter().map(|c| c.customer_id).collect();
        let mut customers: HashMap<Uuid, customer::Model> = HashMap::new();
        for chunk in ids.chunks(500) {
            for c in customer::Entity::find()
                .filter(customer::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?
            {
                customers.insert(c.id, c);
            }
        }
        let mut infos: HashMap<Uuid, Arc<MailingInfo>> = HashMap::new();
        for row in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = infos.entry(row.mailing_id) {
                slot.insert(self.info(row.mailing_id).await?);
            }
        }
        let any_info = infos.values().next().cloned();
        let card_names = match any_info {
            Some(info) => info.values.card_names(&self.db, &ids).await?,
            None => HashMap::new(),
        };

        let mut outcomes = Vec::with_capacity(rows.len());
        let mut to_send = Vec::with_capacity(rows.len());
        for row in rows {
            let (Some(info), Some(customer)) =
                (infos.get(&row.mailing_id), customers.get(&row.customer_id))
            else {
                outcomes.push((
                    row.id,
                    Outcome::Unsubscribed("the customer was deleted".to_owned()),
                ));
                continue;
            };
            // Suppression is checked again just before sending: an opt-out since the mailing
            // was accepted wins.
            match self.message(row, info, customer, card_names.get(&customer.id)) {
                Ok(message) => to_send.push((row.id, row.attempts, message)),
                Err(outcome) => outcomes.push((row.id, outcome)),
            }
        }
        Ok((outcomes, to_send))
    }

    /// Sends concurrently, at most `concurrency` in flight.
    async fn send_all(&self, to_send: Vec<(i64, i16, OutboundMessage)>) -> Vec<(i64, Outcome)> {
        let router = self.router.clone();
        let retry = self.retry;
        futures::stream::iter(to_send)
            .map(|(id, attempts, message)| {
                let router = router.clone();
                async move {
                    let started = std::time::Instant::now();
                    let result = router.send(&message).await;
                    crate::metrics::record_send(
                        super::channel_code(message.channel()),
                        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                        result.is_ok(),
                    );
                    let outcome = match result {
                        Ok(receipt) => Outcome::Sent(receipt.provider_message_id),
                        Err(error) => outcome_of_error(&retry, attempts, &error),
                    };
                    (id, outcome)
                }
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await
    }

    fn message(
        &self,
        row: &Claimed,
        info: &MailingInfo,
        c: &customer::Model,
        card: Option<&String>,
    ) -> std::result::Result<OutboundMessage, Outcome> {
        let opted_out =
            || Outcome::Unsubscribed(format!("the customer opted out of {}", row.channel.label()));
        let missing = |what: &str| Outcome::Failed(format!("the customer has no {what}"));
        let mut values = info.values.for_customer(c, card);
        let unsubscribe = format!(
            "{}/u/{}",
            self.public_url,
            self.links.token(Purpose::Unsubscribe, row.id)
        );
        values.unsubscribe_url = unsubscribe.clone();
        let no_content = || {
            Outcome::Failed(format!(
                "the mailing has no {} content",
                row.channel.label()
            ))
        };
        let content = match row.channel {
            Channel::Sms => {
                if !c.sms_consent {
                    return Err(opted_out());
                }
                let phone = c.phone.as_deref().ok_or_else(|| missing("phone number"))?;
                let to = PhoneNumber::parse(phone).map_err(|e| Outcome::Failed(e.to_string()))?;
                let body = info
                    .prepared
                    .sms
                    .as_ref()
                    .ok_or_else(no_content)?
                    .render_text(&values);
                MessageContent::Sms(SmsMessage { to, body })
            }
            Channel::Email => {
                if !c.email_consent {
                    return Err(opted_out());
                }
                let email = c.email.as_deref().ok_or_else(|| missing("email address"))?;
                let to = EmailAddress::parse(email).map_err(|e| Outcome::Failed(e.to_string()))?;
                let (subject, body) = info.prepared.email.as_ref().ok_or_else(no_content)?;
                let text = body.render_text(&values);
                let open = format!(
                    "{}/o/{}",
                    self.public_url,
                    self.links.token(Purpose::Open, row.id)
                );
                MessageContent::Email(Box::new(EmailMessage {
                    to,
                    to_name: Some(
                        format!("{} {}", c.first_name, c.last_name)
                            .trim()
                            .to_owned(),
                    ),
                    from_name: info.values.base.merchant_name.clone(),
                    reply_to: None,
                    subject: subject.render_text(&values),
                    html: html_from_text(&text),
                    text,
                    unsubscribe_url: parse_web_url(&unsubscribe)
                        .map_err(|e| Outcome::Failed(e.to_string()))?,
                    open_tracking_url: parse_web_url(&open).ok(),
                }))
            }
            Channel::Telegram => {
                if !c.telegram_consent {
                    return Err(opted_out());
                }
                let chat: i64 = c
                    .telegram_chat_id
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| missing("Telegram chat"))?;
                let text = info
                    .prepared
                    .telegram
                    .as_ref()
                    .ok_or_else(no_content)?
                    .render_text(&values);
                MessageContent::Telegram(TelegramMessage {
                    chat_id: TelegramChatId(chat),
                    text,
                })
            }
            Channel::Messenger => {
                if !c.messenger_consent {
                    return Err(opted_out());
                }
                let psid = c
                    .messenger_psid
                    .as_deref()
                    .ok_or_else(|| missing("Messenger id"))?;
                let psid = Psid::parse(psid).map_err(|e| Outcome::Failed(e.to_string()))?;
                let text = info
                    .prepared
                    .messenger
                    .as_ref()
                    .ok_or_else(no_content)?
                    .render_text(&values);
                MessageContent::Messenger(MessengerMessage { psid, text })
            }
        };
        Ok(OutboundMessage::new(DeliveryId::from(row.id), content))
    }

    async fn settle(&self, rows: &[Claimed], outcomes: Vec<(i64, Outcome)>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin().await?;
        settle_in(&txn, rows, outcomes, status::FAILED).await?;
        // Suppress a channel at once when the provider says the customer opted out or
        // blocked us; the outcome text carries it.
        txn.commit().await?;
        Ok(())
    }
}

fn outcome_of_error(retry: &RetryPolicy, attempts: i16, error: &SendError) -> Outcome {
    let failed_attempts = u32::try_from(attempts.max(1)).unwrap_or(1);
    match error {
        SendError::Permanent { code, .. } if code.suppresses_channel() => {
            Outcome::Unsubscribed(error.to_string())
        }
        _ => match retry.after_error(failed_attempts, error, &mut rand::thread_rng()) {
            RetryDecision::RetryAfter(delay) => Outcome::Retry(
                Utc::now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60)),
                error.to_string(),
            ),
            RetryDecision::GiveUp(_) => Outcome::Failed(error.to_string()),
        },
    }
}

/// Laps of a monotonic clock.
struct Clock(std::time::Instant);

impl Clock {
    fn start() -> Self {
        Clock(std::time::Instant::now())
    }

    /// Time since the previous lap (or the start).
    fn lap(&mut self) -> Duration {
        let now = std::time::Instant::now();
        let lap = now - self.0;
        self.0 = now;
        lap
    }
}

/// `$from, $from+1, ...` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per (mailing, channel) tallies of a batch.
#[derive(Default)]
struct Tally {
    sent: i64,
    failed: i64,
    unsubscribed: i64,
    cancelled: i64,
    used: i64,
    released: i64,
}

/// Writes a batch's outcomes: delivery rows, counters, mailing progress and credits, in a
/// fixed lock order (stats, mailings, balances; each sorted) so concurrent workers cannot
/// deadlock. `failed_status` is what a failure is recorded as (failed, or cancelled).
async fn settle_in(
    txn: &impl ConnectionTrait,
    rows: &[Claimed],
    outcomes: Vec<(i64, Outcome)>,
    failed_status: i16,
) -> Result<()> {
    let backend = txn.get_database_backend();
    let by_id: HashMap<i64, &Claimed> = rows.iter().map(|c| (c.id, c)).collect();
    let now = Utc::now();
    let mut sent: Vec<(i64, String)> = Vec::new();
    let mut failed: Vec<(i64, String)> = Vec::new();
    let mut unsubscribed: Vec<(i64, String)> = Vec::new();
    let mut retries: Vec<(i64, DateTime<Utc>, String)> = Vec::new();
    let mut tallies: BTreeMap<(Uuid, &'static str), Tally> = BTreeMap::new();
    let mut suppress: Vec<(Uuid, Channel)> = Vec::new();
    for (id, outcome) in outcomes {
        let Some(row) = by_id.get(&id) else { continue };
        let tally = tallies
            .entry((row.mailing_id, row.channel.as_str()))
            .or_default();
        let credits = i64::from(row.credits);
        match outcome {
            Outcome::Sent(provider_id) => {
                tally.sent += 1;
                tally.used += credits;
                sent.push((id, provider_id));
            }
            Outcome::Retry(at, error) => retries.push((id, at, error)),
            Outcome::Failed(error) => {
                if failed_status == status::CANCELLED {
                    tally.cancelled += 1;
                } else {
                    tally.failed += 1;
                }
                tally.released += credits;
                failed.push((id, error));
            }
            Outcome::Unsubscribed(error) => {
                tally.unsubscribed += 1;
                tally.released += credits;
                suppress.push((row.customer_id, row.channel));
                unsubscribed.push((id, error));
            }
        }
    }

    // Each kind of outcome is one statement whatever the batch size, with the batch as one
    // JSON parameter: the statement is prepared once and its plan looks rows up by key.
    let source = batch_source(backend);
    if !sent.is_empty() {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE deliveries SET status = {}, lease_until = NULL, error = NULL, updated_at = $2, \
                 provider_id = v.note FROM {source} WHERE deliveries.id = v.id",
                status::SENT
            ),
            [batch_json(&sent).into(), now.into()],
        ))
        .await?;
    }
    for (list, code) in [
        (&failed, failed_status),
        (&unsubscribed, status::UNSUBSCRIBED),
    ] {
        if list.is_empty() {
            continue;
        }
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE deliveries SET status = $3, lease_until = NULL, updated_at = $2, error = v.note \
                 FROM {source} WHERE deliveries.id = v.id"
            ),
            [batch_json(list).into(), now.into(), code.into()],
        ))
        .await?;
    }
    for (id, at, error) in &retries {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE deliveries SET status = 0, lease_until = NULL, next_attempt_at = $1, error = $2, updated_at = $3 WHERE id = $4",
            [(*at).into(), truncate(error).into(), now.into(), (*id).into()],
        ))
        .await?;
    }

    let mut pending: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut credit_moves: BTreeMap<(Uuid, &'static str), (i64, i64)> = BTreeMap::new();
    let merchants = mailing_merchants(txn, tallies.keys().map(|k| k.0).collect()).await?;
    for ((mailing_id, channel), t) in &tallies {
        let done = t.sent + t.failed + t.unsubscribed + t.cancelled;
        if done == 0 {
            continue;
        }
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE mailing_stats SET sent = sent + $1, failed = failed + $2, unsubscribed = unsubscribed + $3, \
             cancelled = cancelled + $4, credits_used = credits_used + $5, credits_reserved = credits_reserved - $6 \
             WHERE mailing_id = $7 AND channel = $8",
            [
                t.sent.into(),
                t.failed.into(),
                t.unsubscribed.into(),
                t.cancelled.into(),
                t.used.into(),
                (t.used + t.released).into(),
                (*mailing_id).into(),
                (*channel).into(),
            ],
        ))
        .await?;
        *pending.entry(*mailing_id).or_default() += done;
        if let (Some(merchant_id), Some(kind)) = (
            merchants.get(mailing_id),
            Channel::ALL
                .iter()
                .find(|c| c.as_str() == *channel)
                .and_then(|c| credit_kind(*c)),
        ) {
            let entry = credit_moves
                .entry((*merchant_id, kind.as_str()))
                .or_default();
            entry.0 += t.used;
            entry.1 += t.released;
        }
    }
    for (mailing_id, done) in &pending {
        // The batch that settles the last pending delivery completes a sending mailing.
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE mailings SET pending = pending - $1, updated_at = $2, \
             status = CASE WHEN pending - $1 <= 0 AND status = 'sending' THEN 'completed' ELSE status END, \
             completed_at = CASE WHEN pending - $1 <= 0 AND status = 'sending' THEN $2 ELSE completed_at END \
             WHERE id = $3",
            [(*done).into(), now.into(), (*mailing_id).into()],
        ))
        .await?;
    }
    for ((merchant_id, kind), (used, released)) in credit_moves {
        let kind = if kind == "sms" {
            balances::Kind::Sms
        } else {
            balances::Kind::Email
        };
        balances::settle(txn, merchant_id, kind, used, released, "deliveries").await?;
    }
    for (customer_id, channel) in suppress {
        let (_, consent) = crate::segments::reachable(channel);
        customer::Entity::update_many()
            .col_expr(consent, false.into())
            .filter(customer::Column::Id.eq(customer_id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

async fn mailing_merchants(
    txn: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Uuid>> {
    Ok(mailing::Entity::find()
        .filter(mailing::Column::Id.is_in(ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| (m.id, m.merchant_id))
        .collect())
}

/// Rows `v(id, note)` read from a JSON array of `[id, note]` pairs bound as `$1`.
fn batch_source(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "(SELECT (e->>0)::bigint AS id, e->>1 AS note FROM jsonb_array_elements($1::jsonb) AS e) AS v"
        }
        _ => {
            "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS note FROM json_each($1)) AS v"
        }
    }
}

/// `[[id, note], ...]` with notes cut to the stored length.
fn batch_json(rows: &[(i64, String)]) -> String {
    serde_json::Value::Array(
        rows.iter()
            .map(|(id, note)| serde_json::json!([id, truncate(note)]))
            .collect(),
    )
    .to_string()
}

fn truncate(text: &str) -> String {
    text.chars().take(500).collect()
}

/// Held deliveries of a mailing become ready.
pub async fn release_held(db: &impl ConnectionTrait, mailing_id: Uuid) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE deliveries SET status = 0, next_attempt_at = $1 WHERE mailing_id = $2 AND status = 8",
        [Utc::now().into(), mailing_id.into()],
    ))
    .await?;
    Ok(())
}

/// Ready deliveries of a mailing are held (pause).
pub async fn hold_ready(db: &impl ConnectionTrait, mailing_id: Uuid) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE deliveries SET status = 8 WHERE mailing_id = $1 AND status = 0",
        [mailing_id.into()],
    ))
    .await?;
    Ok(())
}
