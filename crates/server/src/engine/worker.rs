//! The worker: takes ready rows of each channel under a claim, sends them through the channel
//! router, and writes their outcomes as they come in.
//!
//! A claim never takes more than its channel's rate can send in half the lease, and the
//! lease is renewed while the worker sends, so a slow provider never outlives it. Rows go out
//! in id order with at most `concurrency` messages sent and not yet recorded; outcomes are
//! written in small groups (one transaction each) as sends complete, and a group that fails
//! to be written is retried with backoff while its outcomes wait in memory. A worker killed
//! mid-claim therefore repeats at most `concurrency` messages, and the rows it may have sent
//! are marked so that their next send is counted as a possible repeat (see
//! [`super::queue`]).
//!
//! [`Worker::step`] is one round (upkeep, then one claim per channel); the loop calls it,
//! tests drive it directly. Time comes from the worker's clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use loyalcast_delivery::retry::{RetryDecision, RetryPolicy};
use loyalcast_delivery::{ChannelRouter, SendError};
use loyalcast_dto::Channel;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use uuid::Uuid;

pub use crate::counters::Phases;

use super::Lane;
use super::compose::{Composed, Composer};
use super::error::{EngineError, Result};
use super::links::LinkSigner;
use super::queue::{self, Claim, Claimed};
use super::settle::{self, Outcome, Written};
use super::source::{self, PushInfo, Source, SourceInfo, SourceState};
use crate::clock::{self, SharedClock};
use crate::entity::{customer, pass_registration};
use crate::wallet::apns::{self, NotifyError, PassNotifier, SandboxNotifier};
use crate::wallet::google::{self, GoogleError, GoogleWallet, SandboxGoogleWallet, WalletMessage};
use crate::wallet::webpush::{self, SandboxWebPush, WebPushError, WebPushSender};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The most rows one claim takes (fewer when the channel's rate could not send them in
    /// half the lease).
    pub batch: u64,
    /// How long a claim holds before other workers may take its rows back; renewed every
    /// third of it while the worker sends.
    pub lease: Duration,
    /// Messages sent and not yet recorded, at most: what a killed worker can repeat.
    pub concurrency: usize,
    /// Pause between empty polls (in the loop only).
    pub idle: Duration,
    /// The longest an outcome waits in memory before its group is written.
    pub write_every: Duration,
    /// Claims of one row before it ends failed (each was a worker that stopped mid-send).
    pub max_attempts: i16,
    /// Failures to inject (tests).
    pub faults: Faults,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            batch: 1_000,
            lease: Duration::from_secs(120),
            concurrency: 64,
            idle: Duration::from_millis(250),
            write_every: Duration::from_millis(200),
            max_attempts: 8,
            faults: Faults::default(),
        }
    }
}

/// Faults a test can inject into a worker.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    failed_writes: Arc<AtomicU32>,
}

impl Faults {
    /// The next `n` writes of outcomes fail, as a lost connection or a lock timeout would.
    pub fn fail_writes(&self, n: u32) {
        self.failed_writes.store(n, Ordering::SeqCst);
    }

    fn take_write_failure(&self) -> bool {
        self.failed_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
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
    /// Outcomes nobody knows (a timeout after the request went out).
    pub uncertain: u64,
    /// Rows put back because their source paused, or dropped because it stopped.
    pub set_aside: u64,
    /// Outcomes the claim could not write: its rows had been taken back.
    pub lost: u64,
    /// Rows the claim gave back unsent (its lease was lost).
    pub given_back: u64,
    /// Rows taken back from claims whose lease ran out.
    pub reaped: u64,
    /// Where the step's time went.
    pub phases: Phases,
}

impl StepReport {
    fn add(&mut self, other: &StepReport) {
        self.claimed += other.claimed;
        self.sent += other.sent;
        self.retried += other.retried;
        self.failed += other.failed;
        self.unsubscribed += other.unsubscribed;
        self.uncertain += other.uncertain;
        self.set_aside += other.set_aside;
        self.lost += other.lost;
        self.given_back += other.given_back;
        self.reaped += other.reaped;
        self.phases.add(&other.phases);
    }

    fn written(&mut self, w: &Written) {
        self.sent += w.sent;
        self.retried += w.retried;
        self.failed += w.failed;
        self.unsubscribed += w.unsubscribed;
        self.uncertain += w.uncertain;
        self.set_aside += w.set_aside;
        self.lost += w.lost;
    }
}

/// How many messages a second a channel may send from this process; `None` for no limit.
pub type Rates = Arc<dyn Fn(Channel) -> Option<f64> + Send + Sync>;

/// How a worker wakes Apple devices for their updated passes.
#[derive(Clone)]
pub struct PassPushes {
    pub notifier: Arc<dyn PassNotifier>,
    /// The APNs topic of cards without a pass type identifier of their own.
    pub default_topic: String,
    /// Notifications to one device for one pass at least this far apart.
    pub gap: Duration,
    /// Adds messages to Google Wallet passes.
    pub google: Arc<dyn GoogleWallet>,
    /// Google requests a second from this process (claims are sized by it).
    pub google_rate: Option<f64>,
    /// Posts web push messages to browsers' push services.
    pub web: Arc<dyn WebPushSender>,
}

impl Default for PassPushes {
    fn default() -> Self {
        PassPushes {
            notifier: Arc::new(SandboxNotifier),
            default_topic: crate::config::AppleWalletConfig::default().pass_type_id,
            gap: Duration::from_secs(60),
            google: Arc::new(SandboxGoogleWallet),
            google_rate: None,
            web: Arc::new(SandboxWebPush),
        }
    }
}

pub struct Worker {
    db: DatabaseConnection,
    router: Arc<ChannelRouter>,
    pushes: PassPushes,
    retry: RetryPolicy,
    composer: Composer,
    public_url: String,
    config: WorkerConfig,
    clock: SharedClock,
    rates: Rates,
    process: Uuid,
    infos: Mutex<HashMap<Source, Arc<SourceInfo>>>,
    push_infos: Mutex<HashMap<Uuid, Arc<PushInfo>>>,
    /// Per lane, where the last full claim ended: the next claim starts after it, so it
    /// does not walk again over index entries of rows already claimed (dead until vacuum).
    /// A short claim (the end of the queue) resets it, so retries and rows taken back with
    /// lower ids are found on the next round.
    claim_from: [AtomicI64; Lane::ALL.len()],
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
            pushes: PassPushes::default(),
            retry,
            composer: Composer::new(&public_url, links),
            public_url,
            config,
            clock: clock::system(),
            rates: Arc::new(|_| None),
            process: Uuid::now_v7(),
            infos: Mutex::new(HashMap::new()),
            push_infos: Mutex::new(HashMap::new()),
            claim_from: [const { AtomicI64::new(0) }; Lane::ALL.len()],
        }
    }

    /// Wakes Apple devices through `pushes` (the sandbox otherwise).
    pub fn with_pass_pushes(mut self, pushes: PassPushes) -> Self {
        self.pushes = pushes;
        self
    }

    /// Reads the time from `clock` (tests move it).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sizes claims by each channel's rate for this process.
    pub fn with_rates(mut self, rates: Rates) -> Self {
        self.rates = rates;
        self
    }

    /// Runs until `stop` turns true: each channel claims and sends on its own, so a slow
    /// channel never holds up a fast one; upkeep runs beside them. An in-flight claim is
    /// finished (its outcomes written), not abandoned.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let mut loops = tokio::task::JoinSet::new();
        {
            let worker = self.clone();
            let mut stop = stop.clone();
            loops.spawn(async move {
                while !*stop.borrow() {
                    if let Err(err) = worker.upkeep().await {
                        tracing::warn!(error = %err, "delivery upkeep failed; will retry");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(UPKEEP_EVERY) => {}
                        _ = stop.changed() => {}
                    }
                }
            });
        }
        for lane in Lane::ALL {
            let worker = self.clone();
            let mut stop = stop.clone();
            loops.spawn(async move {
                while !*stop.borrow() {
                    let idle = match worker.claim_and_send(lane).await {
                        Ok(report) => report.claimed == 0,
                        Err(err) => {
                            tracing::warn!(channel = lane.as_str(), error = %err, "delivery round failed; will retry");
                            true
                        }
                    };
                    if idle {
                        tokio::select! {
                            _ = tokio::time::sleep(worker.config.idle) => {}
                            _ = stop.changed() => {}
                        }
                    }
                }
            });
        }
        while loops.join_next().await.is_some() {}
    }

    /// One round: upkeep, then one claim on every channel at once.
    pub async fn step(&self) -> Result<StepReport> {
        let started = Instant::now();
        let reaped = self.upkeep().await?;
        let mut report = StepReport {
            reaped,
            ..Default::default()
        };
        report.phases.upkeep = started.elapsed();
        let rounds = futures::future::join_all(Lane::ALL.map(|l| self.claim_and_send(l))).await;
        for round in rounds {
            report.add(&round?);
        }
        crate::counters::record_phases(&report.phases);
        Ok(report)
    }

    /// Takes back rows of expired claims and starts scheduled sources that are due; the
    /// number of rows taken back.
    pub async fn upkeep(&self) -> Result<u64> {
        let now = self.clock.now();
        let reaped = settle::reap(&self.db, now, self.config.max_attempts).await?;
        if !reaped.is_empty() {
            tracing::info!(
                rows = reaped.len(),
                gave_up = reaped.iter().filter(|r| r.gave_up).count(),
                "took back deliveries from a worker whose lease ran out"
            );
        }
        source::start_due(&self.db, now).await?;
        Ok(reaped.len() as u64)
    }

    /// The most rows a claim of `channel` takes: its batch, or what the channel's rate for
    /// this process can send in half the lease.
    fn claim_limit(&self, lane: Lane) -> u64 {
        let batch = self.config.batch.max(1);
        let rate = match lane {
            Lane::GooglePass => self.pushes.google_rate,
            _ => lane.channel().and_then(|channel| (self.rates)(channel)),
        };
        match rate {
            Some(per_second) if per_second > 0.0 => {
                let fits = per_second * self.config.lease.as_secs_f64() / 2.0;
                (fits.floor() as u64).clamp(1, batch)
            }
            _ => batch,
        }
    }

    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.config.lease)
            .unwrap_or(chrono::Duration::seconds(120))
    }

    /// One claim on `lane` and its sending, to the last outcome written.
    pub async fn claim_and_send(&self, lane: impl Into<Lane>) -> Result<StepReport> {
        let lane = lane.into();
        let mut report = StepReport::default();
        // Every lane has its place: the array is as long as `Lane::ALL`, whose codes are 0..
        let cursor = &self.claim_from[lane.index() % self.claim_from.len()];
        let from = cursor.load(Ordering::Relaxed);
        let limit = self.claim_limit(lane);
        let window = u32::try_from(self.config.concurrency.max(1)).unwrap_or(u32::MAX);
        let started = Instant::now();
        let now = self.clock.now();
        let claimed = queue::claim(
            &self.db,
            lane,
            limit,
            window,
            from,
            self.lease_until(now),
            now,
            self.process,
        )
        .await?;
        report.phases.claim = started.elapsed();
        let Some((claim, rows)) = claimed else {
            cursor.store(0, Ordering::Relaxed);
            return Ok(report);
        };
        let next = match rows.last() {
            Some(last) if rows.len() as u64 >= limit => last.id,
            _ => 0,
        };
        cursor.store(next, Ordering::Relaxed);
        report.claimed = rows.len() as u64;
        let sent = self.send_claim(claim, rows, &mut report).await;
        if let Err(err) = queue::end_claim(&self.db, claim.token).await {
            // The lease runs out and the next upkeep ends it.
            tracing::warn!(error = %err, "could not end a claim; its lease will");
        }
        sent?;
        Ok(report)
    }

    async fn info(&self, source: Source) -> Result<Arc<SourceInfo>> {
        cached(
            &self.infos,
            source,
            source::info(&self.db, source, &self.public_url),
        )
        .await
    }

    /// Renders what each row sends; rows that cannot be sent get their outcome here.
    async fn prepare(
        &self,
        rows: Vec<Claimed>,
        states: &HashMap<Source, SourceState>,
    ) -> Result<(Vec<(Claimed, Outcome)>, Vec<(Claimed, Ready)>)> {
        let mut outcomes = Vec::new();
        let mut active = Vec::with_capacity(rows.len());
        for row in rows {
            match states.get(&row.source) {
                Some(SourceState::Active) => active.push(row),
                Some(SourceState::Paused) => outcomes.push((row, Outcome::Held)),
                _ => outcomes.push((row, Outcome::Cancelled)),
            }
        }
        if active.is_empty() {
            return Ok((outcomes, Vec::new()));
        }
        // A claim holds rows of one lane.
        match active.first().map(|r| r.lane) {
            Some(Lane::ApplePass) => {
                let to_send = self.prepare_passes(active, &mut outcomes).await?;
                return Ok((outcomes, to_send));
            }
            Some(Lane::GooglePass) => {
                let to_send = self.prepare_google(active, &mut outcomes).await?;
                return Ok((outcomes, to_send));
            }
            Some(Lane::WebPush) => {
                let to_send = self.prepare_web(active, &mut outcomes).await?;
                return Ok((outcomes, to_send));
            }
            _ => {}
        }
        let ids: Vec<Uuid> = active.iter().map(|c| c.customer_id).collect();
        let customers: HashMap<Uuid, customer::Model> =
            find_by_ids::<customer::Entity>(&self.db, customer::Column::Id, &ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
        let mut infos: HashMap<Source, Arc<SourceInfo>> = HashMap::new();
        for row in &active {
            if let std::collections::hash_map::Entry::Vacant(slot) = infos.entry(row.source) {
                slot.insert(self.info(row.source).await?);
            }
        }
        let card_names = match infos.values().next() {
            Some(info) => info.values.card_names(&self.db, &ids).await?,
            None => HashMap::new(),
        };
        let mut to_send = Vec::with_capacity(active.len());
        for row in active {
            let (Some(info), Some(customer)) =
                (infos.get(&row.source), customers.get(&row.customer_id))
            else {
                outcomes.push((
                    row,
                    Outcome::Unsubscribed("the customer was deleted".to_owned()),
                ));
                continue;
            };
            // Suppression is checked again just before sending: an opt-out since the source
            // was accepted wins.
            match self
                .composer
                .message(&row, info, customer, card_names.get(&customer.id))
            {
                Ok(composed) => to_send.push((row, Ready::Message(composed))),
                Err(outcome) => outcomes.push((row, outcome)),
            }
        }
        Ok((outcomes, to_send))
    }

    async fn push_info(&self, id: Uuid) -> Result<Arc<PushInfo>> {
        cached(
            &self.push_infos,
            id,
            source::push_info(&self.db, id, &self.pushes.default_topic),
        )
        .await
    }

    /// The notifications of claimed Apple rows. A device notified since its push went out
    /// has fetched the message already (coalesced: nothing more is sent); one notified less
    /// than the gap ago waits for the gap's end; of several rows for one device in a claim,
    /// one notification goes out and the others are coalesced into it.
    async fn prepare_passes(
        &self,
        rows: Vec<Claimed>,
        outcomes: &mut Vec<(Claimed, Outcome)>,
    ) -> Result<Vec<(Claimed, Ready)>> {
        let now = self.clock.now();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.recipient_id).collect();
        let registrations: HashMap<Uuid, pass_registration::Model> =
            find_by_ids::<pass_registration::Entity>(&self.db, pass_registration::Column::Id, &ids)
                .await?
                .into_iter()
                .filter_map(|r| Some((r.id?, r)))
                .collect();
        let gap = chrono::Duration::from_std(self.pushes.gap).unwrap_or(chrono::Duration::zero());
        let coalesced = || Outcome::Sent {
            provider_id: "coalesced".to_owned(),
            sandbox: false,
            credits: 0,
            coalesced: true,
            quiet: false,
        };
        let mut to_send = Vec::with_capacity(rows.len());
        let mut claimed_devices: std::collections::HashSet<Uuid> = Default::default();
        for row in rows {
            let Some(registration) = registrations.get(&row.recipient_id) else {
                outcomes.push((
                    row,
                    Outcome::Failed(
                        "the device unregistered from the pass before the push reached it"
                            .to_owned(),
                    ),
                ));
                continue;
            };
            let info = self.push_info(row.source.id).await?;
            if let Some(pushed) = registration.pushed_at {
                if pushed >= info.started_at {
                    outcomes.push((row, coalesced()));
                    continue;
                }
                if pushed + gap > now {
                    let at = pushed + gap;
                    outcomes.push((
                        row,
                        Outcome::Retry {
                            at,
                            reason: "waiting out the least time between two pushes to this device"
                                .to_owned(),
                        },
                    ));
                    continue;
                }
            }
            if !claimed_devices.insert(row.recipient_id) {
                outcomes.push((row, coalesced()));
                continue;
            }
            let notice = PassNotice {
                topic: info.topic.clone(),
                environment: info.apns_environment,
                push_token: registration.push_token.clone(),
                registered_at: registration.updated_at,
                pass_id: registration.pass_id,
                device: registration.device_library_id.clone(),
            };
            to_send.push((row, Ready::Pass(notice)));
        }
        Ok(to_send)
    }

    /// The messages of claimed Google rows: `TEXT_AND_NOTIFY` while the pass has had fewer
    /// than three notifying messages in 24 hours (counted from its Google rows), `TEXT` after.
    async fn prepare_google(
        &self,
        rows: Vec<Claimed>,
        outcomes: &mut Vec<(Claimed, Outcome)>,
    ) -> Result<Vec<(Claimed, Ready)>> {
        use crate::entity::pass;
        let now = self.clock.now();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.recipient_id).collect();
        let passes: HashMap<Uuid, pass::Model> =
            find_by_ids::<pass::Entity>(&self.db, pass::Column::Id, &ids)
                .await?
                .into_iter()
                .map(|p| (p.id, p))
                .collect();
        let mut notified =
            queue::google_notifications_since(&self.db, &ids, now - chrono::Duration::hours(24))
                .await?;
        let mut to_send = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(p) = passes.get(&row.recipient_id) else {
                outcomes.push((
                    row,
                    Outcome::Failed("the pass was removed before the push reached it".to_owned()),
                ));
                continue;
            };
            let info = self.push_info(row.source.id).await?;
            let count = notified.entry(p.id).or_default();
            let notify = *count < google::NOTIFICATIONS_PER_DAY;
            *count += i64::from(notify);
            let notice = GoogleNotice {
                object_id: self.pushes.google.object_id(&p.serial_number),
                message: WalletMessage {
                    id: format!("loyalcast-{}", row.id),
                    header: info.card_name.clone(),
                    body: match (&p.message, info.personal) {
                        (Some(own), true) => own.clone(),
                        _ => info.message.clone(),
                    },
                    notify,
                },
            };
            to_send.push((row, Ready::Google(notice)));
        }
        Ok(to_send)
    }

    /// The messages of claimed web push rows: the card's name and the message, for each
    /// subscription that still exists.
    async fn prepare_web(
        &self,
        rows: Vec<Claimed>,
        outcomes: &mut Vec<(Claimed, Outcome)>,
    ) -> Result<Vec<(Claimed, Ready)>> {
        use crate::entity::web_push_subscription as subscription;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.recipient_id).collect();
        let subscriptions: HashMap<Uuid, subscription::Model> =
            find_by_ids::<subscription::Entity>(&self.db, subscription::Column::Id, &ids)
                .await?
                .into_iter()
                .map(|s| (s.id, s))
                .collect();
        // An automation's message is each pass's own.
        let pass_ids: Vec<Uuid> = subscriptions.values().map(|s| s.pass_id).collect();
        let own: HashMap<Uuid, String> = find_by_ids::<crate::entity::pass::Entity>(
            &self.db,
            crate::entity::pass::Column::Id,
            &pass_ids,
        )
        .await?
        .into_iter()
        .filter_map(|p| p.message.map(|m| (p.id, m)))
        .collect();
        let mut to_send = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(found) = subscriptions.get(&row.recipient_id) else {
                outcomes.push((
                    row,
                    Outcome::Failed(
                        "the browser unsubscribed before the push reached it".to_owned(),
                    ),
                ));
                continue;
            };
            let info = self.push_info(row.source.id).await?;
            let notice = WebNotice {
                id: found.id,
                subscription: webpush::Subscription {
                    endpoint: found.endpoint.clone(),
                    p256dh: found.p256dh.clone(),
                    auth: found.auth.clone(),
                },
                notification: webpush::Notification {
                    title: info.card_name.clone(),
                    body: match own.get(&found.pass_id) {
                        Some(own) if info.personal => own.clone(),
                        _ => info.message.clone(),
                    },
                    tag: format!("card-{}", info.card_id),
                },
            };
            to_send.push((row, Ready::Web(notice)));
        }
        Ok(to_send)
    }

    /// Sends a claim's rows and writes their outcomes; see the module's description.
    async fn send_claim(
        &self,
        claim: Claim,
        rows: Vec<Claimed>,
        report: &mut StepReport,
    ) -> Result<()> {
        let started = Instant::now();
        let mut sources: Vec<Source> = rows.iter().map(|r| r.source).collect();
        sources.sort();
        sources.dedup();
        let states = source::states(&self.db, &sources).await?;
        let (ready, to_send) = self.prepare(rows, &states).await?;
        report.phases.prepare = started.elapsed();

        let lease = Lease::keep(
            self.db.clone(),
            self.clock.clone(),
            claim.token,
            self.config.lease,
        );
        let window = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let states = Arc::new(Mutex::new(states));
        let (outcomes, received) = mpsc::unbounded_channel::<Done>();
        let writer = Writer {
            db: self.db.clone(),
            claim,
            clock: self.clock.clone(),
            states: states.clone(),
            sources,
            every: self.config.write_every,
            // A fast provider fills the window at once: one write for it. A slow one is written
            // every `write_every`.
            group: self.config.concurrency.max(1),
            faults: self.config.faults.clone(),
        };
        let writing = tokio::spawn(writer.run(received));
        for (row, outcome) in ready {
            let _ = outcomes.send(Done {
                row,
                outcome,
                _permit: None,
            });
        }

        let sending = Instant::now();
        // The devices notified: their last notification time is written once at the end.
        let notified: Arc<Mutex<Vec<Uuid>>> = Arc::new(Mutex::new(Vec::new()));
        let mut sends = tokio::task::JoinSet::new();
        let mut unstarted = Vec::new();
        let mut rows = to_send.into_iter();
        for (row, composed) in rows.by_ref() {
            let Ok(permit) = window.clone().acquire_owned().await else {
                unstarted.push(row.id);
                break;
            };
            if !lease.held(self.clock.now()) {
                // Another worker may take these rows now: send none of them.
                unstarted.push(row.id);
                break;
            }
            let state = lock(&states).get(&row.source).copied();
            let outcome = match state {
                Some(SourceState::Active) => None,
                Some(SourceState::Paused) => Some(Outcome::Held),
                _ => Some(Outcome::Cancelled),
            };
            if let Some(outcome) = outcome {
                let _ = outcomes.send(Done {
                    row,
                    outcome,
                    _permit: Some(permit),
                });
                continue;
            }
            let router = self.router.clone();
            let notifier = self.pushes.notifier.clone();
            let google = self.pushes.google.clone();
            let web = self.pushes.web.clone();
            let db = self.db.clone();
            let retry = self.retry;
            let clock = self.clock.clone();
            let outcomes = outcomes.clone();
            let notified = notified.clone();
            sends.spawn(async move {
                let outcome = match composed {
                    Ready::Message(composed) => {
                        send_one(&router, &retry, &clock, &row, composed).await
                    }
                    Ready::Pass(notice) => {
                        let outcome = notify_one(&*notifier, &db, &clock, &row, &notice).await;
                        if matches!(outcome, Outcome::Sent { .. }) {
                            lock(&notified).push(row.recipient_id);
                        }
                        outcome
                    }
                    Ready::Google(notice) => google_one(&*google, &clock, &row, notice).await,
                    Ready::Web(notice) => web_one(&*web, &db, &clock, &row, &notice).await,
                };
                let _ = outcomes.send(Done {
                    row,
                    outcome,
                    _permit: Some(permit),
                });
            });
        }
        unstarted.extend(rows.map(|(row, _)| row.id));
        while sends.join_next().await.is_some() {}
        drop(outcomes);
        let written = writing
            .await
            .map_err(|e| anyhow::anyhow!("the outcome writer stopped: {e}"))?;
        report.phases.send = sending.elapsed();
        report.phases.settle = written.spent;
        report.written(&written.total);
        lease.stop();
        let notified = std::mem::take(&mut *lock(&notified));
        if let Err(err) = mark_pushed(&self.db, &notified, self.clock.now()).await {
            tracing::warn!(error = %err, "could not note when devices were notified; the next push to them may not be coalesced");
        }
        if !unstarted.is_empty() {
            report.given_back += queue::give_back(&self.db, claim.token, &unstarted).await?;
        }
        Ok(())
    }
}

/// The upkeep loop's pace.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a source needs to send, read once per process: from `cache`, else by `load` (a
/// future that does nothing unless awaited). The cache is emptied past 1,000 sources.
async fn cached<K: std::hash::Hash + Eq, V>(
    cache: &Mutex<HashMap<K, Arc<V>>>,
    key: K,
    load: impl std::future::Future<Output = Result<V>>,
) -> Result<Arc<V>> {
    if let Some(value) = lock(cache).get(&key) {
        return Ok(value.clone());
    }
    let value = Arc::new(load.await?);
    let mut values = lock(cache);
    if values.len() > 1_000 {
        values.clear();
    }
    values.insert(key, value.clone());
    Ok(value)
}

/// The rows of `E` whose `column` is one of `ids`, 500 ids a statement.
async fn find_by_ids<E: EntityTrait>(
    db: &DatabaseConnection,
    column: E::Column,
    ids: &[Uuid],
) -> Result<Vec<E::Model>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        found.extend(
            E::find()
                .filter(column.is_in(chunk.iter().copied()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// Counts a provider send of `row`'s lane that began at `started`.
fn record_send(row: &Claimed, started: Instant, ok: bool) {
    crate::counters::record_send(
        row.lane.code(),
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        ok,
    );
}

/// A wallet push that may work later: tried again after the backoff, or failed once it has
/// been tried `PASS_ATTEMPTS` times.
fn retry_push(row: &Claimed, clock: &SharedClock, reason: String) -> Outcome {
    if row.attempts >= PASS_ATTEMPTS {
        Outcome::Failed(format!(
            "{reason} (gave up after {} attempts)",
            row.attempts
        ))
    } else {
        let wait = chrono::Duration::from_std(apns::backoff(row.attempts))
            .unwrap_or(chrono::Duration::seconds(60));
        Outcome::Retry {
            at: clock.now() + wait,
            reason,
        }
    }
}

/// Sends one message and says what became of it.
async fn send_one(
    router: &ChannelRouter,
    retry: &RetryPolicy,
    clock: &SharedClock,
    row: &Claimed,
    composed: Composed,
) -> Outcome {
    let started = Instant::now();
    let result = router.send(&composed.message).await;
    record_send(row, started, result.is_ok());
    match result {
        Ok(receipt) => Outcome::Sent {
            sandbox: receipt.provider.is_sandbox(),
            provider_id: receipt.provider_message_id,
            credits: composed.credits,
            coalesced: false,
            quiet: false,
        },
        Err(error) => match row.lane.channel() {
            Some(channel) => outcome_of_error(retry, channel, clock.now(), row.attempts, &error),
            None => Outcome::Failed(error.to_string()),
        },
    }
}

/// What a claimed row sends: a customer's message, or the notification that wakes a device
/// for its updated pass.
enum Ready {
    Message(Composed),
    Pass(PassNotice),
    Google(GoogleNotice),
    Web(WebNotice),
}

/// A message for one browser.
struct WebNotice {
    /// The subscription's id (removed when its push service says it is gone).
    id: Uuid,
    subscription: webpush::Subscription,
    notification: webpush::Notification,
}

/// Posts one web push message and says what became of it. A subscription its push service
/// says is gone (404, 410) is removed; 429 waits for its `Retry-After` (the backoff when
/// longer or not given).
async fn web_one(
    sender: &dyn WebPushSender,
    db: &DatabaseConnection,
    clock: &SharedClock,
    row: &Claimed,
    notice: &WebNotice,
) -> Outcome {
    use crate::entity::web_push_subscription as subscription;
    let started = Instant::now();
    let result = sender
        .send(&notice.subscription, &notice.notification)
        .await;
    record_send(row, started, result.is_ok());
    match result {
        Ok(accepted) => Outcome::Sent {
            provider_id: accepted.location.unwrap_or_else(|| "web".to_owned()),
            sandbox: accepted.sandbox,
            credits: 0,
            coalesced: false,
            quiet: false,
        },
        Err(error @ WebPushError::Gone(_)) => {
            match subscription::Entity::delete_by_id(notice.id).exec(db).await {
                Ok(_) => tracing::info!(
                    subscription = %notice.id,
                    "removed a web push subscription its push service no longer knows"
                ),
                Err(err) => {
                    tracing::warn!(error = %err, "could not remove a gone web push subscription")
                }
            }
            Outcome::Failed(error.to_string())
        }
        Err(error @ WebPushError::TooMany(retry_after)) => {
            match retry_push(row, clock, error.to_string()) {
                Outcome::Retry { at, reason } => {
                    let asked = retry_after
                        .and_then(|d| chrono::Duration::from_std(d).ok())
                        .map(|d| clock.now() + d);
                    Outcome::Retry {
                        at: asked.map_or(at, |asked| asked.max(at)),
                        reason,
                    }
                }
                other => other,
            }
        }
        Err(error @ WebPushError::Transient(_)) => retry_push(row, clock, error.to_string()),
        Err(error @ WebPushError::Permanent(_)) => Outcome::Failed(error.to_string()),
    }
}

/// A message for one Google pass.
struct GoogleNotice {
    object_id: String,
    message: WalletMessage,
}

/// Adds one message to a Google pass and says what became of it. A notifying message Google
/// refuses for its daily limit goes again at once, without the notification.
async fn google_one(
    wallet: &dyn GoogleWallet,
    clock: &SharedClock,
    row: &Claimed,
    notice: GoogleNotice,
) -> Outcome {
    let started = Instant::now();
    let mut message = notice.message;
    let mut result = wallet.add_message(&notice.object_id, &message).await;
    if matches!(result, Err(GoogleError::NotificationQuota)) && message.notify {
        message.notify = false;
        result = wallet.add_message(&notice.object_id, &message).await;
    }
    record_send(row, started, result.is_ok());
    match result {
        Ok(()) => Outcome::Sent {
            provider_id: if message.notify { "notify" } else { "text" }.to_owned(),
            sandbox: wallet.is_sandbox(),
            credits: 0,
            coalesced: false,
            quiet: !message.notify,
        },
        Err(error @ (GoogleError::Transient(_) | GoogleError::NotificationQuota)) => {
            retry_push(row, clock, error.to_string())
        }
        Err(error @ (GoogleError::NotFound(_) | GoogleError::Permanent(_))) => {
            Outcome::Failed(error.to_string())
        }
    }
}

/// The notification of one device.
struct PassNotice {
    topic: String,
    environment: Option<loyalcast_dto::ApnsEnvironment>,
    push_token: String,
    /// When the registration was last renewed: APNs saying the token stopped before that
    /// does not remove it.
    registered_at: DateTime<Utc>,
    pass_id: Uuid,
    device: String,
}

/// Pushes to a device are tried this many times before they end failed.
const PASS_ATTEMPTS: i16 = 6;

/// Wakes one device and says what became of it. A token APNs says is gone loses its
/// registration here (not before APNs says so: Apple answers 410 late on purpose).
async fn notify_one(
    notifier: &dyn PassNotifier,
    db: &DatabaseConnection,
    clock: &SharedClock,
    row: &Claimed,
    notice: &PassNotice,
) -> Outcome {
    let started = Instant::now();
    let result = notifier
        .notify(&notice.topic, &notice.push_token, notice.environment)
        .await;
    record_send(row, started, result.is_ok());
    match result {
        Ok(accepted) => Outcome::Sent {
            provider_id: accepted.apns_id.unwrap_or_else(|| "apns".to_owned()),
            sandbox: accepted.sandbox,
            credits: 0,
            coalesced: false,
            quiet: false,
        },
        Err(error @ NotifyError::Gone { since, .. }) => {
            if since.is_none_or(|since| since >= notice.registered_at) {
                let removed = pass_registration::Entity::delete_many()
                    .filter(pass_registration::Column::PassId.eq(notice.pass_id))
                    .filter(pass_registration::Column::DeviceLibraryId.eq(notice.device.clone()))
                    .filter(pass_registration::Column::PushToken.eq(notice.push_token.clone()))
                    .exec(db)
                    .await;
                match removed {
                    Ok(_) => {
                        tracing::info!(pass = %notice.pass_id, "removed a device registration APNs no longer knows")
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "could not remove a gone device registration")
                    }
                }
            }
            Outcome::Failed(error.to_string())
        }
        Err(error @ NotifyError::TooMany) | Err(error @ NotifyError::Transient(_)) => {
            retry_push(row, clock, error.to_string())
        }
        Err(error @ NotifyError::Permanent(_)) => Outcome::Failed(error.to_string()),
    }
}

/// Notes when these registrations' devices were notified (for coalescing).
async fn mark_pushed(db: &DatabaseConnection, ids: &[Uuid], now: DateTime<Utc>) -> Result<()> {
    use sea_orm::sea_query::Expr;
    for chunk in ids.chunks(500) {
        pass_registration::Entity::update_many()
            .col_expr(pass_registration::Column::PushedAt, Expr::value(Some(now)))
            .filter(pass_registration::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

fn outcome_of_error(
    retry: &RetryPolicy,
    channel: Channel,
    now: DateTime<Utc>,
    attempts: i16,
    error: &SendError,
) -> Outcome {
    let failed_attempts = u32::try_from(attempts.max(1)).unwrap_or(1);
    match error {
        SendError::Permanent { code, .. } if code.suppresses_channel() => {
            Outcome::Unsubscribed(error.to_string())
        }
        // Sending it again as it is would be refused again.
        SendError::Permanent { .. } => Outcome::Rejected(error.to_string()),
        _ => match retry.after_error(channel, failed_attempts, error, &mut rand::thread_rng()) {
            // The provider may have taken it: a paid message is not sent again on a guess.
            RetryDecision::AwaitStatus => Outcome::Uncertain(error.to_string()),
            RetryDecision::RetryAfter(delay) => Outcome::Retry {
                at: now
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60)),
                reason: error.to_string(),
            },
            RetryDecision::GiveUp(_) => Outcome::Failed(error.to_string()),
        },
    }
}

/// A row's outcome on its way to being written, with the window place it holds until then.
struct Done {
    row: Claimed,
    outcome: Outcome,
    /// Held until the outcome is written: the window place it frees then.
    _permit: Option<OwnedSemaphorePermit>,
}

/// What the writer wrote, and the time it spent writing.
struct WriterReport {
    total: Written,
    spent: Duration,
}

/// Writes a claim's outcomes in groups as they come in: when a group is full, when its
/// oldest outcome has waited `every`, or when the last one came. A group that fails to be
/// written is tried again with backoff; its rows keep their window places (so no more
/// messages go out meanwhile) and their outcomes stay in memory.
struct Writer {
    db: DatabaseConnection,
    claim: Claim,
    clock: SharedClock,
    states: Arc<Mutex<HashMap<Source, SourceState>>>,
    sources: Vec<Source>,
    every: Duration,
    group: usize,
    faults: Faults,
}

impl Writer {
    async fn run(self, mut received: mpsc::UnboundedReceiver<Done>) -> WriterReport {
        let mut report = WriterReport {
            total: Written::default(),
            spent: Duration::ZERO,
        };
        let mut pending: Vec<Done> = Vec::new();
        let mut open = true;
        while open || !pending.is_empty() {
            // Wait for the next outcome, or until the oldest waiting one is due.
            let due = if pending.is_empty() {
                None
            } else {
                Some(tokio::time::sleep(self.every))
            };
            tokio::select! {
                next = received.recv(), if open => match next {
                    Some(done) => {
                        pending.push(done);
                        // Take whatever else is already there.
                        while let Ok(done) = received.try_recv() {
                            pending.push(done);
                        }
                        if pending.len() < self.group {
                            continue;
                        }
                    }
                    None => open = false,
                },
                _ = async { match due { Some(due) => due.await, None => std::future::pending().await } } => {}
            }
            if pending.is_empty() {
                continue;
            }
            let group = std::mem::take(&mut pending);
            let started = Instant::now();
            let written = self.write(&group).await;
            report.spent += started.elapsed();
            match written {
                Some(w) => {
                    report.total.sent += w.sent;
                    report.total.retried += w.retried;
                    report.total.failed += w.failed;
                    report.total.unsubscribed += w.unsubscribed;
                    report.total.uncertain += w.uncertain;
                    report.total.set_aside += w.set_aside;
                    report.total.lost += w.lost;
                }
                None => report.total.lost += group.len() as u64,
            }
            // Written (or given up on): the window places are free again.
            drop(group);
            self.refresh_states().await;
        }
        report
    }

    /// Writes one group, trying again with backoff; `None` when it could not be written.
    async fn write(&self, group: &[Done]) -> Option<Written> {
        let rows: Vec<(Claimed, Outcome)> = group
            .iter()
            .map(|d| (d.row.clone(), d.outcome.clone()))
            .collect();
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=WRITE_ATTEMPTS {
            let result = if self.faults.take_write_failure() {
                Err(EngineError::Other(anyhow::anyhow!(
                    "an injected write failure"
                )))
            } else {
                settle::write(&self.db, &self.claim, &rows, self.clock.now()).await
            };
            match result {
                Ok(written) => {
                    if written.lost > 0 {
                        tracing::warn!(
                            rows = written.lost,
                            "outcomes for deliveries another worker had taken back were not written"
                        );
                    }
                    return Some(written);
                }
                Err(err) => {
                    tracing::warn!(attempt, error = %err, "writing delivery outcomes failed; trying again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        tracing::error!(
            rows = rows.len(),
            "delivery outcomes could not be written; the rows go back to the queue when the lease runs out"
        );
        None
    }

    /// Reads again whether the claim's sources still want to send (a cancel or pause while a
    /// slow claim is under way).
    async fn refresh_states(&self) {
        match source::states(&self.db, &self.sources).await {
            Ok(states) => *lock(&self.states) = states,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the state of delivery sources")
            }
        }
    }
}

/// How often a group's write is tried before its outcomes are given up (about a minute).
const WRITE_ATTEMPTS: u32 = 16;

/// A claim's lease, renewed every third of it; `held` says whether it may still be relied
/// on (with a margin, so a send never starts just before the lease runs out).
struct Lease {
    valid_until: Arc<Mutex<DateTime<Utc>>>,
    margin: chrono::Duration,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Lease {
    fn keep(db: DatabaseConnection, clock: SharedClock, token: i64, lease: Duration) -> Lease {
        let length = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(120));
        let valid_until = Arc::new(Mutex::new(clock.now() + length));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let until = valid_until.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(lease / 3) => {}
                    _ = &mut stopped => break,
                }
                let next = clock.now() + length;
                match queue::renew(&db, token, next).await {
                    Ok(true) => *lock(&until) = next,
                    Ok(false) => {
                        // Taken back: nothing more may be sent under this claim.
                        *lock(&until) = DateTime::<Utc>::MIN_UTC;
                        break;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "could not renew a delivery lease; will retry")
                    }
                }
            }
        });
        Lease {
            valid_until,
            margin: length / 10,
            stop: Some(stop),
            task,
        }
    }

    fn held(&self, now: DateTime<Utc>) -> bool {
        // A send takes time: none starts in the last tenth of the lease.
        now < *lock(&self.valid_until) - self.margin
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}
