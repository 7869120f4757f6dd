use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use loyalcast::clock::ManualClock;
use loyalcast::engine::links::LinkSigner;
use loyalcast::engine::worker::{Worker, WorkerConfig};
use loyalcast_delivery::message::{MessageContent, OutboundMessage};
use loyalcast_delivery::retry::RetryPolicy;
use loyalcast_delivery::{
    Channel, ChannelRouter, ChannelSender, Provider, ProviderReceipt, SendError,
};
use loyalcast_dto::{
    Balances, ImportReport, Mailing, MailingEstimate, MailingStatus, MailingSummary, Page,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, Tenant, TestApp, json, problem};

crate::db_tests!(
    a_mailing_reaches_every_recipient_once_on_each_channel_and_spends_its_credits,
    a_send_that_does_not_fit_the_balance_is_refused_and_changes_nothing,
    concurrent_mailings_never_overspend,
    a_worker_that_dies_mid_batch_loses_nothing,
    a_rate_limited_send_is_retried_after_retry_after,
    permanent_failures_are_not_retried_and_a_resend_leaves_them_out,
    cancel_releases_credits_and_pause_holds_sending,
    an_unknown_template_variable_is_a_field_error,
    sending_processes_are_counted_to_share_rate_limits,
    a_draft_is_sent_later_now_or_at_a_time,
    a_draft_is_changed_until_it_is_sent_and_sends_as_changed,
    a_customers_page_lists_every_message_with_its_status_and_reason,
    a_personal_sms_estimate_of_a_large_audience_is_bounded_and_says_so,
);

async fn a_personal_sms_estimate_of_a_large_audience_is_bounded_and_says_so(app: &TestApp) {
    let t = app.tenant("Crowded Cafe").await;
    top_up(app, &t, "sms", 100_000).await;
    // Every other customer has a name long enough to push the text into a second segment.
    let n = loyalcast::mailings::ESTIMATE_SAMPLE + 500;
    let mut csv = String::from("first_name,phone\n");
    for i in 0..n {
        let name = if i % 2 == 0 {
            "Al"
        } else {
            "Bartholomew-Maximilian-Alexander"
        };
        csv.push_str(&format!("{name},+1415{}\n", 2_000_000 + i));
    }
    let imported: ImportReport = json(
        app.import_csv_with(&t.token, DECLARED_CONSENT, csv).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(imported.created, n);
    let body = "x".repeat(125);
    let content = json!({"sms": {"body": format!("Hi {{first_name}}, {body}")}});
    let estimate: MailingEstimate = json(
        app.post(
            "/api/v1/mailings/estimate",
            &t.token,
            &json!({"audience": {"type": "all"}, "channels": ["sms"], "content": content}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(!estimate.sms_credits_exact);
    // The sent messages are counted exactly: half of them take two segments.
    let exact = i64::try_from(n + n / 2).unwrap();
    let created: Mailing = json(
        app.post(
            "/api/v1/mailings",
            &t.token,
            &json!({"name": "Crowd", "audience": {"type": "all"}, "channels": ["sms"], "content": content}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        balances(app, &t).await.sms.reserved,
        exact,
        "{}",
        created.id
    );
    // The estimate from the first 10,000 is close, and rounds up rather than down.
    assert!(
        estimate.sms_credits >= exact && estimate.sms_credits <= exact + 1,
        "estimated {} for {exact}",
        estimate.sms_credits
    );
}

/// Records what it is asked to send; can be told to fail.
#[derive(Default)]
pub struct Recorder {
    channel: Option<Channel>,
    pub sent: Mutex<Vec<(Channel, String, String)>>,
    /// Per recipient key: errors to answer before succeeding.
    pub script: Mutex<HashMap<String, Vec<SendError>>>,
    pub delay: Option<Duration>,
    /// The provider takes the message (it is recorded) and never answers.
    pub hang_after_taking: bool,
    /// Runs while each message is being sent, before the answer.
    pub during_send: Mutex<Option<Hook>>,
}

/// Something a fake provider does while it sends.
pub type Hook =
    Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

impl Recorder {
    pub fn on_send(&self, hook: Hook) {
        *self.during_send.lock().unwrap() = Some(hook);
    }
}

fn recipient(message: &OutboundMessage) -> String {
    match &message.content {
        MessageContent::Sms(m) => m.to.as_str().to_owned(),
        MessageContent::Email(m) => m.to.as_str().to_owned(),
        MessageContent::Telegram(m) => m.chat_id.0.to_string(),
        MessageContent::Messenger(m) => m.psid.as_str().to_owned(),
    }
}

fn body(message: &OutboundMessage) -> String {
    match &message.content {
        MessageContent::Sms(m) => m.body.clone(),
        MessageContent::Email(m) => format!("{}\n{}", m.subject, m.text),
        MessageContent::Telegram(m) => m.text.clone(),
        MessageContent::Messenger(m) => m.text.clone(),
    }
}

#[async_trait]
impl ChannelSender for Recorder {
    fn channel(&self) -> Channel {
        self.channel.unwrap_or(Channel::Sms)
    }
    /// It stands for each channel's real provider.
    fn provider(&self) -> Provider {
        match self.channel() {
            Channel::Sms => Provider::Twilio,
            Channel::Email => Provider::Smtp,
            Channel::Telegram => Provider::Telegram,
            Channel::Messenger => Provider::Messenger,
        }
    }
    fn account(&self) -> &str {
        "test"
    }
    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let to = recipient(message);
        let hook = self.during_send.lock().unwrap().as_ref().map(|h| h());
        if let Some(hook) = hook {
            hook.await;
        }
        if self.hang_after_taking {
            self.sent
                .lock()
                .unwrap()
                .push((message.channel(), to, body(message)));
            return std::future::pending().await;
        }
        if let Some(errors) = self.script.lock().unwrap().get_mut(&to)
            && !errors.is_empty()
        {
            return Err(errors.remove(0));
        }
        self.sent
            .lock()
            .unwrap()
            .push((message.channel(), to, body(message)));
        Ok(ProviderReceipt {
            provider: self.provider(),
            provider_message_id: format!("test-{}", message.delivery_id.as_str()),
        })
    }
}

pub struct Senders {
    pub by_channel: HashMap<Channel, Arc<Recorder>>,
}

impl Senders {
    pub fn new(delay: Option<Duration>) -> Self {
        let by_channel = Channel::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    Arc::new(Recorder {
                        channel: Some(c),
                        delay,
                        ..Default::default()
                    }),
                )
            })
            .collect();
        Senders { by_channel }
    }

    /// Providers that take each message and never answer (a lost connection after sending).
    pub fn accepting_then_hanging() -> Self {
        let by_channel = Channel::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    Arc::new(Recorder {
                        channel: Some(c),
                        hang_after_taking: true,
                        ..Default::default()
                    }),
                )
            })
            .collect();
        Senders { by_channel }
    }

    pub fn router(&self) -> Arc<ChannelRouter> {
        let mut router = ChannelRouter::new();
        for sender in self.by_channel.values() {
            router = router.with(sender.clone());
        }
        Arc::new(router)
    }

    pub fn sent(&self, channel: Channel) -> Vec<(Channel, String, String)> {
        self.by_channel[&channel].sent.lock().unwrap().clone()
    }
}

pub fn worker(app: &TestApp, senders: &Senders, config: WorkerConfig) -> Worker {
    Worker::new(
        app.db.clone(),
        senders.router(),
        RetryPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
            max_attempts: 3,
        },
        LinkSigner::new(&SecretString::from(JWT_SECRET)),
        "http://127.0.0.1:9".to_owned(),
        config,
    )
}

/// Steps a worker until the queue has nothing ready.
pub async fn drain(worker: &Worker) -> u64 {
    let mut sent = 0;
    loop {
        let report = worker.step().await.unwrap();
        sent += report.sent;
        if report.claimed == 0 {
            return sent;
        }
    }
}

/// Credits from the operator (the only way they are made), under a fresh reference.
pub async fn top_up(app: &TestApp, t: &Tenant, kind: &str, amount: i64) {
    let r = app
        .client
        .post(app.url(&format!(
            "/api/v1/operator/merchants/{}/top-ups",
            t.session.merchant.id
        )))
        .bearer_auth(crate::helpers::OPERATOR_TOKEN)
        .json(
            &json!({"kind": kind, "amount": amount, "reference": uuid::Uuid::new_v4().to_string()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Imports `n` customers: all with a phone, two in three with an email, one in three on
/// Telegram; every seventh opted out of SMS.
/// The consent declaration of the test imports: every channel, on a stated legal basis.
pub const DECLARED_CONSENT: &str =
    "consent=sms,email,telegram,messenger&legal_basis=test%20customers%20agreed";

pub async fn customers(app: &TestApp, t: &Tenant, n: usize) {
    let mut csv =
        String::from("first_name,last_name,phone,email,telegram_chat_id,sms_opt_in,tags\n");
    for i in 0..n {
        csv.push_str(&format!(
            "Cust{i},Tester,+1415{:07},{},{},{},{}\n",
            2_000_000 + i,
            if i % 3 != 0 {
                format!("c{i}@example.com")
            } else {
                String::new()
            },
            if i % 3 == 0 {
                format!("{}", 500_000 + i)
            } else {
                String::new()
            },
            if i % 7 == 6 { "no" } else { "yes" },
            if i % 2 == 0 { "even" } else { "odd" },
        ));
    }
    // Consent is off unless given: the sms_opt_in column gives SMS (or not), the import's
    // declaration every other channel.
    let r = app.import_csv_with(&t.token, DECLARED_CONSENT, csv).await;
    let report: ImportReport = json(r, StatusCode::OK).await;
    assert_eq!(report.created as usize, n, "{:?}", report.errors.first());
}

pub fn mailing_body(channels: &[&str]) -> Value {
    json!({
        "name": "November news",
        "audience": {"type": "all"},
        "channels": channels,
        "content": {
            "sms": {"body": "Hi {first_name}, double points this week at {merchant_name}!"},
            "email": {"subject": "News for {first_name}", "body": "Hello {first_name},\n\nYou have {points} points.\n\nUnsubscribe: {unsubscribe_url}"},
            "telegram": {"text": "Hi {first_name}! Double points this week."},
            "messenger": {"text": "Hi {first_name}!"}
        }
    })
}

pub async fn balances(app: &TestApp, t: &Tenant) -> Balances {
    json(app.get("/api/v1/balances", &t.token).await, StatusCode::OK).await
}

async fn a_mailing_reaches_every_recipient_once_on_each_channel_and_spends_its_credits(
    app: &TestApp,
) {
    let t = app.tenant("Mailing Cafe").await;
    top_up(app, &t, "sms", 10_000).await;
    top_up(app, &t, "email", 10_000).await;
    customers(app, &t, 300).await;
    let estimate: MailingEstimate = json(
        app.post("/api/v1/mailings/estimate", &t.token, &json!({"audience": {"type": "all"}, "channels": ["sms", "email", "telegram"], "content": mailing_body(&[])["content"]})).await,
        StatusCode::OK,
    )
    .await;
    let reach: HashMap<_, _> = estimate
        .reachable
        .iter()
        .map(|r| (r.channel, r.customers))
        .collect();
    // 300 customers; every seventh opted out of SMS; 200 have email; 100 are on Telegram.
    assert_eq!(
        (
            estimate.audience,
            reach[&Channel::Sms],
            reach[&Channel::Email],
            reach[&Channel::Telegram]
        ),
        (300, 258, 200, 100)
    );
    assert_eq!(estimate.sms_credits, 258);
    assert!(estimate.sms_credits_exact);
    let preview = estimate.sms_preview.unwrap();
    assert_eq!(
        preview.text,
        "Hi Cust0, double points this week at Mailing Cafe!"
    );
    assert_eq!(
        (
            preview.encoding.as_str(),
            preview.segments,
            preview.units_used,
            preview.units_remaining
        ),
        ("gsm7", 1, 50, 110)
    );
    // The email as the first customer with an address gets it (Cust0 has none).
    let email = estimate.email_preview.unwrap();
    assert_eq!(email.subject, "News for Cust1");
    assert!(
        email.body.starts_with("Hello Cust1,\n\nYou have 0 points."),
        "{}",
        email.body
    );
    assert!(
        !email.body.contains('{'),
        "every variable filled: {}",
        email.body
    );

    let created: Mailing = json(
        app.post(
            "/api/v1/mailings",
            &t.token,
            &mailing_body(&["sms", "email", "telegram"]),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created.status, MailingStatus::Sending);
    assert_eq!(created.counts.total, 258 + 200 + 100);
    assert_eq!(created.counts.queued, created.counts.total);
    assert_eq!(created.recipients, 300);
    let reserved = balances(app, &t).await;
    assert_eq!(
        (reserved.sms.available, reserved.sms.reserved),
        (10_000 - 258, 258)
    );
    assert_eq!(
        (reserved.email.available, reserved.email.reserved),
        (10_000 - 200, 200)
    );

    let senders = Senders::new(None);
    let w = worker(
        app,
        &senders,
        WorkerConfig {
            batch: 100,
            ..WorkerConfig::default()
        },
    );
    assert_eq!(drain(&w).await, 558);
    for (channel, expected) in [
        (Channel::Sms, 258),
        (Channel::Email, 200),
        (Channel::Telegram, 100),
    ] {
        let sent = senders.sent(channel);
        let mut recipients: Vec<&String> = sent.iter().map(|s| &s.1).collect();
        recipients.sort();
        recipients.dedup();
        assert_eq!(
            (sent.len(), recipients.len()),
            (expected, expected),
            "{channel:?} once each"
        );
    }
    let sms = senders.sent(Channel::Sms);
    assert!(
        sms.iter()
            .any(|s| s.2 == "Hi Cust1, double points this week at Mailing Cafe!"),
        "variables rendered"
    );
    let email = senders.sent(Channel::Email);
    assert!(
        email.iter().all(|s| s.2.contains("http://127.0.0.1:9/u/")),
        "unsubscribe link rendered"
    );

    let done: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", created.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done.status, MailingStatus::Completed);
    assert_eq!(
        (done.counts.sent, done.counts.queued, done.counts.failed),
        (558, 0, 0)
    );
    let sms_report = done
        .per_channel
        .iter()
        .find(|r| r.channel == Channel::Sms)
        .unwrap();
    assert_eq!(
        (sms_report.credits_used, sms_report.credits_reserved),
        (258, 0)
    );
    let after = balances(app, &t).await;
    assert_eq!((after.sms.available, after.sms.reserved), (10_000 - 258, 0));
    assert_eq!(
        (after.email.available, after.email.reserved),
        (10_000 - 200, 0)
    );
    let history: Page<MailingSummary> = json(
        app.get("/api/v1/mailings?q=novem", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history.total, 1);
    assert_eq!(history.items[0].status, MailingStatus::Completed);
    // Another merchant neither sees nor touches it.
    let other = app.tenant("Other Mailing Cafe").await;
    problem(
        app.get(&format!("/api/v1/mailings/{}", created.id), &other.token)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.post(
            &format!("/api/v1/mailings/{}/cancel", created.id),
            &other.token,
            &json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn a_send_that_does_not_fit_the_balance_is_refused_and_changes_nothing(app: &TestApp) {
    let t = app.tenant("Broke Cafe").await;
    top_up(app, &t, "sms", 50).await;
    customers(app, &t, 70).await;
    let refused = app
        .post("/api/v1/mailings", &t.token, &mailing_body(&["sms"]))
        .await;
    let p = problem(refused, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(
        p.kind,
        "https://loyalcast.dev/problems/insufficient-credits"
    );
    let b = balances(app, &t).await;
    assert_eq!((b.sms.available, b.sms.reserved), (50, 0));
    let history: Page<MailingSummary> =
        json(app.get("/api/v1/mailings", &t.token).await, StatusCode::OK).await;
    assert_eq!(history.total, 0, "nothing half-written");
}

async fn concurrent_mailings_never_overspend(app: &TestApp) {
    let t = app.tenant("Rush Cafe").await;
    customers(app, &t, 14).await; // 12 reachable by SMS, 1 credit each
    top_up(app, &t, "sms", 12 * 7).await; // room for exactly 7 mailings
    let body = mailing_body(&["sms"]);
    let attempts = (0..20).map(|_| app.post("/api/v1/mailings", &t.token, &body));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!((created, refused), (7, 13), "{statuses:?}");
    let b = balances(app, &t).await;
    assert_eq!((b.sms.available, b.sms.reserved), (0, 84));
}

async fn a_worker_that_dies_mid_batch_loses_nothing(app: &TestApp) {
    let t = app.tenant("Crash Cafe").await;
    top_up(app, &t, "sms", 1_000).await;
    customers(app, &t, 40).await; // 35 reachable by SMS
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &mailing_body(&["sms"]))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let clock = ManualClock::starting_at(chrono::Utc::now());
    // This worker claims a batch and starts sending it (the provider takes each message
    // and then never answers), then "dies": its step is dropped mid-send. It keeps five
    // messages in flight, so of its twenty rows only the first five can have gone out.
    let stuck = Senders::accepting_then_hanging();
    let doomed = worker(
        app,
        &stuck,
        WorkerConfig {
            batch: 20,
            concurrency: 5,
            lease: Duration::from_secs(10),
            ..WorkerConfig::default()
        },
    )
    .with_clock(clock.shared());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), doomed.step())
            .await
            .is_err()
    );
    drop(doomed);
    assert_eq!(stuck.sent(Channel::Sms).len(), 5, "the first five went out");
    let senders = Senders::new(None);
    let survivor = worker(
        app,
        &senders,
        WorkerConfig {
            batch: 20,
            ..WorkerConfig::default()
        },
    )
    .with_clock(clock.shared());
    let before_lease = drain(&survivor).await;
    assert_eq!(before_lease, 15, "claimed rows wait for their lease");
    clock.advance(chrono::Duration::seconds(11));
    drain(&survivor).await;
    let mut all: Vec<String> = stuck
        .sent(Channel::Sms)
        .into_iter()
        .chain(senders.sent(Channel::Sms))
        .map(|s| s.1)
        .collect();
    let messages = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        (messages, all.len()),
        (40, 35),
        "five went out twice, nobody was missed"
    );
    let done: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (done.status, done.counts.sent, done.counts.repeats),
        (MailingStatus::Completed, 35, 5),
        "the report says which may have gone out twice"
    );
    let b = balances(app, &t).await;
    assert_eq!((b.sms.reserved, b.sms.available), (0, 1_000 - 35));
}

async fn a_rate_limited_send_is_retried_after_retry_after(app: &TestApp) {
    let t = app.tenant("Busy Cafe").await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 1).await;
    let senders = Senders::new(None);
    senders.by_channel[&Channel::Sms]
        .script
        .lock()
        .unwrap()
        .insert(
            "+14152000000".into(),
            vec![SendError::retryable(
                Some(Duration::from_secs(2)),
                "429 Too Many Requests",
            )],
        );
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &mailing_body(&["sms"]))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let w = worker(app, &senders, WorkerConfig::default()).with_clock(clock.shared());
    let first = w.step().await.unwrap();
    assert_eq!((first.claimed, first.retried), (1, 1));
    // Not before Retry-After, although the policy's own backoff is a few milliseconds.
    clock.advance(chrono::Duration::milliseconds(1_900));
    assert_eq!(w.step().await.unwrap().claimed, 0);
    clock.advance(chrono::Duration::milliseconds(200));
    assert_eq!(w.step().await.unwrap().sent, 1);
    let done: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (done.status, done.counts.sent, done.counts.failed),
        (MailingStatus::Completed, 1, 0)
    );
}

/// A permanent refusal is not retried and a resend leaves it out (it would be refused
/// again, and again); a failure that may pass (the provider down through every attempt) is
/// what a resend sends. The mailing says how many a resend would reach.
async fn permanent_failures_are_not_retried_and_a_resend_leaves_them_out(app: &TestApp) {
    use loyalcast_delivery::FailureCode;
    let t = app.tenant("Bounce Cafe").await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 4).await;
    let senders = Senders::new(None);
    {
        let mut script = senders.by_channel[&Channel::Sms].script.lock().unwrap();
        script.insert(
            "+14152000001".into(),
            vec![SendError::permanent(
                FailureCode::InvalidAddress,
                Some("21211"),
                "invalid To",
            )],
        );
        script.insert(
            "+14152000002".into(),
            vec![SendError::permanent(
                FailureCode::Unsubscribed,
                Some("21610"),
                "unsubscribed",
            )],
        );
        // Down for every one of its three attempts.
        script.insert(
            "+14152000003".into(),
            (0..3)
                .map(|_| SendError::retryable(None, "503 from the provider"))
                .collect(),
        );
    }
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &mailing_body(&["sms"]))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let w = worker(app, &senders, WorkerConfig::default()).with_clock(clock.shared());
    let settle = async || {
        for _ in 0..6 {
            drain(&w).await;
            clock.advance(chrono::Duration::minutes(5));
        }
    };
    settle().await;
    let done: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            done.counts.sent,
            done.counts.failed,
            done.counts.unsubscribed,
            done.resendable
        ),
        (1, 2, 1, 1)
    );
    let attempts = |phone: &str| {
        senders
            .sent(Channel::Sms)
            .iter()
            .filter(|s| s.1 == phone)
            .count()
    };
    let b = balances(app, &t).await;
    assert_eq!(
        (b.sms.available, b.sms.reserved),
        (99, 0),
        "failed messages give their credit back"
    );
    // The unsubscribed customer is suppressed for SMS from now on.
    let opted: Page<loyalcast_dto::Customer> = json(
        app.get("/api/v1/customers?q=cust2", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(!opted.items[0].consent.sms);
    // Were the invalid number tried again, it would go through now: it must not be.
    senders.by_channel[&Channel::Sms]
        .script
        .lock()
        .unwrap()
        .remove("+14152000001");
    let resend: Mailing = json(
        app.post(
            &format!("/api/v1/mailings/{}/resend-failed", m.id),
            &t.token,
            &json!({}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!((resend.counts.total, resend.resend_of), (1, Some(m.id)));
    settle().await;
    assert_eq!(
        attempts("+14152000003"),
        1,
        "the resend reached the one that may pass"
    );
    assert_eq!(
        attempts("+14152000001"),
        0,
        "the invalid number was left out"
    );
    assert_eq!(senders.sent(Channel::Sms).len(), 2);
    let resent: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", resend.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((resent.counts.sent, resent.resendable), (1, 0));
    // Only failures for good are left: nothing a resend could fix.
    let refused = problem(
        app.post(
            &format!("/api/v1/mailings/{}/resend-failed", resend.id),
            &t.token,
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(refused.detail.unwrap_or_default().contains("No message"));
    // A resend is a mailing of its own: the original's figures do not move.
    let original: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((original.counts.failed, original.resendable), (2, 1));
}

async fn cancel_releases_credits_and_pause_holds_sending(app: &TestApp) {
    let t = app.tenant("Change Of Mind Cafe").await;
    top_up(app, &t, "email", 1_000).await;
    customers(app, &t, 30).await; // 20 with email
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &mailing_body(&["email"]))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let paused: Mailing = json(
        app.post(
            &format!("/api/v1/mailings/{}/pause", m.id),
            &t.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(paused.status, MailingStatus::Paused);
    let senders = Senders::new(None);
    let w = worker(app, &senders, WorkerConfig::default());
    assert_eq!(drain(&w).await, 0, "a paused mailing sends nothing");
    let resumed: Mailing = json(
        app.post(
            &format!("/api/v1/mailings/{}/resume", m.id),
            &t.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resumed.status, MailingStatus::Sending);
    assert_eq!(drain(&w).await, 20);

    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let mut body = mailing_body(&["email"]);
    body["send_at"] = json!(later);
    let scheduled: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(scheduled.status, MailingStatus::Scheduled);
    assert_eq!(drain(&w).await, 0, "not before its time");
    assert_eq!(balances(app, &t).await.email.reserved, 20);
    let cancelled: Mailing = json(
        app.post(
            &format!("/api/v1/mailings/{}/cancel", scheduled.id),
            &t.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (cancelled.status, cancelled.counts.cancelled),
        (MailingStatus::Cancelled, 20)
    );
    let b = balances(app, &t).await;
    assert_eq!((b.email.available, b.email.reserved), (1_000 - 20, 0));
    problem(
        app.post(
            &format!("/api/v1/mailings/{}/resume", scheduled.id),
            &t.token,
            &json!({}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
}

async fn an_unknown_template_variable_is_a_field_error(app: &TestApp) {
    let t = app.tenant("Typo Cafe").await;
    let mut body = mailing_body(&["sms", "telegram"]);
    body["content"]["sms"]["body"] = json!("Hi {firstname}!");
    body["content"]["telegram"] = Value::Null;
    let p = problem(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["content.sms.body", "content.telegram"]);
    assert!(
        p.errors[0].message.contains("firstname"),
        "{}",
        p.errors[0].message
    );
}

#[tokio::test]
async fn the_command_line_tops_up_a_balance() {
    let app = crate::helpers::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let t = app.tenant("Cli Cafe").await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_loyalcast"))
            .args(args)
            .env("LOYALCAST_DATABASE_URL", &app.config.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let merchant = t.session.merchant.id.to_string();
    let top_up = [
        "balance",
        "top-up",
        "--merchant",
        &merchant,
        "--kind",
        "sms",
        "--amount",
        "12480",
        "--reference",
        "INV-7",
    ];
    let out = run(&top_up);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SMS: 12,480 available"));
    assert_eq!(balances(&app, &t).await.sms.available, 12_480);
    // The same reference again adds nothing, and says so.
    let again = run(&top_up);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing changed"));
    assert_eq!(balances(&app, &t).await.sms.available, 12_480);
    // Without a reference each run is its own top-up.
    for _ in 0..2 {
        let out = run(&top_up[..8]);
        assert!(out.status.success());
    }
    assert_eq!(balances(&app, &t).await.sms.available, 12_480 * 3);
    let bad = run(&[
        "balance",
        "top-up",
        "--merchant",
        &merchant,
        "--kind",
        "fax",
        "--amount",
        "1",
    ]);
    assert!(!bad.status.success());
    assert_eq!(balances(&app, &t).await.sms.available, 12_480 * 3);
    app.cleanup().await;
}

/// Every sending process takes 1/N of each provider account's rate, N counted from the
/// processes' heartbeats: a silent process stops counting, a stopping one at once.
async fn sending_processes_are_counted_to_share_rate_limits(app: &TestApp) {
    use loyalcast::background::{heartbeat, leave};
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let now = chrono::Utc::now();
    let at = |seconds: i64| now + chrono::Duration::seconds(seconds);
    assert_eq!(heartbeat(&app.db, a, at(0)).await.unwrap().get(), 1);
    assert_eq!(heartbeat(&app.db, b, at(1)).await.unwrap().get(), 2);
    assert_eq!(heartbeat(&app.db, a, at(5)).await.unwrap().get(), 2);
    // b went silent (killed): after 20 s it no longer counts.
    assert_eq!(heartbeat(&app.db, a, at(30)).await.unwrap().get(), 1);
    // b comes back, then stops cleanly: a has the whole rate again at its next beat.
    assert_eq!(heartbeat(&app.db, b, at(31)).await.unwrap().get(), 2);
    leave(&app.db, b).await.unwrap();
    assert_eq!(heartbeat(&app.db, a, at(32)).await.unwrap().get(), 1);
}

/// A draft reserves nothing; `send` launches it with an empty body (now) or a time; a body
/// that cannot be read changes nothing; a mailing that is no longer a draft is a conflict.
async fn a_draft_is_sent_later_now_or_at_a_time(app: &TestApp) {
    let t = app.tenant("Drafty Cafe").await;
    top_up(app, &t, "email", 100).await;
    customers(app, &t, 30).await; // 20 with email
    let mut body = mailing_body(&["email"]);
    body["draft"] = json!(true);
    let draft: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(draft.status, MailingStatus::Draft);
    assert_eq!(balances(app, &t).await.email.reserved, 0);
    let send = format!("/api/v1/mailings/{}/send", draft.id);
    let post_send = || app.request(Method::POST, &send, Some(&t.token));

    let garbled = post_send()
        .header("content-type", "application/json")
        .body("{\"send_at\": \"tomorrow\"}")
        .send()
        .await
        .unwrap();
    problem(garbled, StatusCode::BAD_REQUEST).await;
    // A body that is sent is a SendMailing: not `null`, and JSON.
    let null = post_send()
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    problem(null, StatusCode::BAD_REQUEST).await;
    let text = post_send()
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let still: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", draft.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(still.status, MailingStatus::Draft);

    // No body at all: now.
    let sending: Mailing = json(post_send().send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(sending.status, MailingStatus::Sending);
    assert_eq!(balances(app, &t).await.email.reserved, 20);
    problem(post_send().send().await.unwrap(), StatusCode::CONFLICT).await;
    let senders = Senders::new(None);
    assert_eq!(
        drain(&worker(app, &senders, WorkerConfig::default())).await,
        20
    );

    // Another draft, scheduled through `send_at`.
    let later: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let at = chrono::Utc::now() + chrono::Duration::hours(3);
    let scheduled: Mailing = json(
        app.post(
            &format!("/api/v1/mailings/{}/send", later.id),
            &t.token,
            &json!({"send_at": at.to_rfc3339()}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(scheduled.status, MailingStatus::Scheduled);
    assert_eq!(
        scheduled.scheduled_at.map(|s| s.timestamp()),
        Some(at.timestamp())
    );
}

/// A draft's name, audience, channels and content change until it is sent; what goes out is
/// the draft as changed. A change that does not check out, names an unknown field or comes
/// after the send changes nothing; another merchant's draft is not found.
async fn a_draft_is_changed_until_it_is_sent_and_sends_as_changed(app: &TestApp) {
    let t = app.tenant("Editing Cafe").await;
    let other = app.tenant("Other Cafe").await;
    top_up(app, &t, "sms", 1_000).await;
    customers(app, &t, 30).await;
    let mut body = mailing_body(&["email"]);
    body["draft"] = json!(true);
    let draft: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/mailings/{}", draft.id);
    let segment: loyalcast_dto::Segment = json(
        app.post(
            "/api/v1/segments",
            &t.token,
            &json!({"name": "Even ones", "rule": {"type": "has_tag", "tag": "even"}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let read = || async {
        let m: Mailing = json(app.get(&path, &t.token).await, StatusCode::OK).await;
        m
    };
    let before = read().await;

    // Refused, and nothing changes: SMS without its content, an unknown field, no channel,
    // a blank name, another merchant.
    let refused = [
        (
            json!({"channels": ["sms"], "content": {"email": body["content"]["email"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"name": "Fine", "send_at": null}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"channels": []}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "   "}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"audience": {"type": "segment", "segment_id": uuid::Uuid::now_v7()}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (change, status) in refused {
        problem(app.patch(&path, &t.token, &change).await, status).await;
    }
    problem(
        app.patch(&path, &other.token, &json!({"name": "Mine now"}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let unchanged = read().await;
    assert_eq!(
        serde_json::to_value(&unchanged).unwrap(),
        serde_json::to_value(&before).unwrap()
    );

    // Renamed, moved to SMS for a segment, with new words.
    let changed: Mailing = json(
        app.patch(
            &path,
            &t.token,
            &json!({
                "name": "  Weekend offer  ",
                "audience": {"type": "segment", "segment_id": segment.id},
                "channels": ["sms"],
                "content": {"sms": {"body": "Weekend: 2 for 1, {first_name}"}},
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed.status, MailingStatus::Draft);
    assert_eq!(changed.name, "Weekend offer");
    assert_eq!(changed.channels, vec![loyalcast_dto::Channel::Sms]);
    assert_eq!(
        changed.audience,
        loyalcast_dto::Audience::Segment {
            segment_id: segment.id
        }
    );
    assert_eq!(balances(app, &t).await.sms.reserved, 0);
    // A field left out stays.
    let renamed: Mailing = json(
        app.patch(&path, &t.token, &json!({"name": "Weekend offer, final"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (renamed.channels.clone(), renamed.audience.clone()),
        (changed.channels.clone(), changed.audience.clone())
    );

    let sending: Mailing = json(
        app.post(&format!("{path}/send"), &t.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    // The even customers with SMS consent (every seventh said no).
    let expected = (0..30).filter(|i| i % 2 == 0 && i % 7 != 6).count() as u64;
    assert_eq!(sending.counts.total, expected);
    let senders = Senders::new(None);
    drain(&worker(app, &senders, WorkerConfig::default())).await;
    let sent = senders.sent(Channel::Sms);
    assert_eq!(sent.len() as u64, expected);
    assert!(
        sent.iter()
            .all(|(_, _, text)| text.starts_with("Weekend: 2 for 1, Cust")),
        "{sent:?}"
    );
    assert!(senders.sent(Channel::Email).is_empty());

    // Sent: no more changes.
    problem(
        app.patch(&path, &t.token, &json!({"name": "Too late"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(read().await.name, "Weekend offer, final");
}

/// A customer's messages: every mailing's message on each channel, newest first, with its
/// status and why it failed; paged; another merchant's customer is not found.
async fn a_customers_page_lists_every_message_with_its_status_and_reason(app: &TestApp) {
    use loyalcast_delivery::FailureCode;
    use loyalcast_dto::{CustomerMessage, MessageSource, MessageStatus};
    let t = app.tenant("History Cafe").await;
    let other = app.tenant("Nosy Cafe").await;
    top_up(app, &t, "sms", 100).await;
    top_up(app, &t, "email", 100).await;
    customers(app, &t, 3).await;
    let found: Page<loyalcast_dto::Customer> = json(
        app.get("/api/v1/customers?q=cust1", &t.token).await,
        StatusCode::OK,
    )
    .await;
    let cust1 = found.items[0].id;
    let senders = Senders::new(None);
    let w = worker(app, &senders, WorkerConfig::default());
    let mut first = mailing_body(&["sms", "email"]);
    first["name"] = json!("First news");
    let first: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &first).await,
        StatusCode::CREATED,
    )
    .await;
    drain(&w).await;
    senders.by_channel[&Channel::Sms]
        .script
        .lock()
        .unwrap()
        .insert(
            "+14152000001".into(),
            vec![SendError::permanent(
                FailureCode::InvalidAddress,
                Some("21211"),
                "invalid To",
            )],
        );
    let mut second = mailing_body(&["sms"]);
    second["name"] = json!("Second news");
    let second: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &second).await,
        StatusCode::CREATED,
    )
    .await;
    drain(&w).await;

    let path = format!("/api/v1/customers/{cust1}/messages");
    let page: Page<CustomerMessage> = json(app.get(&path, &t.token).await, StatusCode::OK).await;
    assert_eq!(page.total, 3);
    let seen: Vec<(
        uuid::Uuid,
        &str,
        Option<loyalcast_dto::Channel>,
        MessageStatus,
    )> = page
        .items
        .iter()
        .map(|m| (m.source_id, m.source_name.as_str(), m.channel, m.status))
        .collect();
    use loyalcast_dto::Channel as C;
    assert_eq!(
        seen[0],
        (
            second.id,
            "Second news",
            Some(C::Sms),
            MessageStatus::Failed
        )
    );
    assert!(
        page.items[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("invalid To")
    );
    let mut rest = seen[1..].to_vec();
    rest.sort_by_key(|m| m.2.map(|c| c.as_str()));
    assert_eq!(
        rest,
        vec![
            (first.id, "First news", Some(C::Email), MessageStatus::Sent),
            (first.id, "First news", Some(C::Sms), MessageStatus::Sent),
        ]
    );
    assert!(
        page.items
            .iter()
            .all(|m| m.source == MessageSource::Mailing && m.wallet.is_none())
    );
    assert!(
        page.items.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );

    let second_page: Page<CustomerMessage> = json(
        app.get(&format!("{path}?page=2&per_page=2"), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            second_page.total,
            second_page.items.len(),
            second_page.items[0].id
        ),
        (3, 1, page.items[2].id)
    );
    problem(app.get(&path, &other.token).await, StatusCode::NOT_FOUND).await;
    problem(
        app.get(&format!("{path}?per_page=0"), &t.token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
