//! The engine through the real channel adapters against local fake providers, and real
//! `loyalcast worker` processes sharing one PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use loyalcast::engine::worker::WorkerConfig;
use loyalcast_delivery::email::{SmtpConfig, SmtpSender, SmtpTls};
use loyalcast_delivery::messenger::{MessengerConfig, MessengerSender};
use loyalcast_delivery::telegram::{TelegramConfig, TelegramSender};
use loyalcast_delivery::twilio::{TwilioConfig, TwilioSmsSender};
use loyalcast_delivery::{Channel, ChannelRouter};
use loyalcast_dto::{ImportReport, Mailing, MailingStatus};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, JWT_SECRET, Tenant, TestApp, json, spawn};
use crate::mailings::DECLARED_CONSENT;
use crate::mailings::top_up;

crate::db_tests!(
    ten_thousand_recipients_across_channels_through_local_providers_get_one_message_each
);

/// A fake Twilio, Telegram and Messenger on 127.0.0.1 that records each recipient.
#[derive(Clone, Default)]
pub struct FakeProviders {
    pub received: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl FakeProviders {
    pub async fn start(&self) -> String {
        let received = self.received.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let received = received.clone();
            App::new()
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                    let received = received.clone();
                    async move { answer(&req, &body, &received) }
                }))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        format!("http://127.0.0.1:{port}")
    }

    pub fn counts(&self, channel: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for (c, to) in self.received.lock().unwrap().iter() {
            if *c == channel {
                *counts.entry(to.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}

fn answer(
    req: &HttpRequest,
    body: &[u8],
    received: &Mutex<Vec<(&'static str, String)>>,
) -> HttpResponse {
    let path = req.path();
    let n = received.lock().unwrap().len();
    if path.ends_with("/Messages.json") {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let to = form
            .iter()
            .find(|(k, _)| k == "To")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        received.lock().unwrap().push(("sms", to));
        return HttpResponse::Created()
            .json(json!({"sid": format!("SM{n:032}"), "status": "queued"}));
    }
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if path.ends_with("/sendMessage") {
        received
            .lock()
            .unwrap()
            .push(("telegram", value["chat_id"].to_string()));
        return HttpResponse::Ok().json(json!({"ok": true, "result": {"message_id": n}}));
    }
    if path.ends_with("/me/messages") {
        let id = value["recipient"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        received.lock().unwrap().push(("messenger", id.clone()));
        return HttpResponse::Ok()
            .json(json!({"recipient_id": id, "message_id": format!("m_{n}")}));
    }
    HttpResponse::NotFound().finish()
}

/// The adapters' request timeout here. An SMS whose request times out may have been sent, so
/// the engine rightly never resends it (it waits for Twilio's status report); on a machine
/// running the whole suite on two cores the fake can take longer than the production 15 s
/// to answer, which would turn a test of delivery into one of ambiguity (that one is
/// `engine::an_ambiguous_paid_send_is_uncertain_until_the_provider_says`, and the adapters'
/// own tests).
const PATIENT_MS: u64 = 120_000;

fn router(base: &str, smtp: std::net::SocketAddr) -> Arc<ChannelRouter> {
    let twilio: TwilioConfig = serde_json::from_value(json!({
        "base_url": base, "account_sid": "AC0000", "auth_token": "token", "sender": {"from": "+15005550006"},
        "timeout_ms": PATIENT_MS
    }))
    .unwrap();
    let telegram: TelegramConfig = serde_json::from_value(
        json!({"base_url": base, "bot_token": "123:abc", "timeout_ms": PATIENT_MS}),
    )
    .unwrap();
    let messenger: MessengerConfig = serde_json::from_value(
        json!({"base_url": base, "page_id": "42", "page_access_token": "page-token", "timeout_ms": PATIENT_MS}),
    )
    .unwrap();
    let email = SmtpSender::new(SmtpConfig {
        host: smtp.ip().to_string(),
        port: smtp.port(),
        tls: SmtpTls::None,
        credentials: None,
        from_address: "mailings@loyalcast.test".to_owned(),
        timeout_ms: 10_000,
    })
    .unwrap();
    Arc::new(
        ChannelRouter::new()
            .with(Arc::new(email))
            .with(Arc::new(TwilioSmsSender::new(twilio).unwrap()))
            .with(Arc::new(TelegramSender::new(telegram).unwrap()))
            .with(Arc::new(MessengerSender::new(messenger).unwrap())),
    )
}

/// `n` customers: all with a phone (every seventh opted out of SMS), a third on Telegram, a
/// quarter on Messenger, a fifth with an email address.
async fn import(app: &TestApp, t: &Tenant, n: usize) {
    let mut csv =
        String::from("first_name,phone,email,telegram_chat_id,messenger_psid,sms_opt_in\n");
    for i in 0..n {
        csv.push_str(&format!(
            "P{i},+1415{:07},{},{},{},{}\n",
            3_000_000 + i,
            if i % 5 == 0 {
                format!("p{i}@example.com")
            } else {
                String::new()
            },
            if i % 3 == 0 {
                (700_000 + i).to_string()
            } else {
                String::new()
            },
            if i % 4 == 0 {
                (900_000_000 + i).to_string()
            } else {
                String::new()
            },
            if i % 7 == 6 { "no" } else { "yes" }
        ));
    }
    // Consent is off unless given: the sms_opt_in column gives SMS (or not), the import's
    // declaration every other channel.
    let r = app.import_csv_with(&t.token, DECLARED_CONSENT, csv).await;
    let report: ImportReport = json(r, StatusCode::OK).await;
    assert_eq!(report.created as usize, n);
}

/// How many deliveries are in each (channel, status, attempts, error): what a failure of
/// the count above reports, so a missing message says where it stopped.
async fn delivery_states(app: &TestApp) -> Vec<(i16, i16, i16, Option<String>, usize)> {
    use loyalcast::entity::delivery;
    use sea_orm::EntityTrait;
    let mut states: HashMap<(i16, i16, i16, Option<String>), usize> = HashMap::new();
    for d in delivery::Entity::find().all(&app.db).await.unwrap() {
        *states
            .entry((d.channel, d.status, d.attempts, d.error))
            .or_insert(0) += 1;
    }
    let mut states: Vec<_> = states
        .into_iter()
        .map(|((c, s, a, e), n)| (c, s, a, e, n))
        .collect();
    states.sort();
    states
}

fn body() -> serde_json::Value {
    json!({
        "name": "Everyone", "audience": {"type": "all"}, "channels": ["sms", "email", "telegram", "messenger"],
        "content": {
            "sms": {"body": "Hi {first_name}!"},
            "email": {"subject": "News for {first_name}", "body": "Hello {first_name},\n\nDouble points this week."},
            "telegram": {"text": "Hi {first_name}!"},
            "messenger": {"text": "Hi!"}
        }
    })
}

async fn ten_thousand_recipients_across_channels_through_local_providers_get_one_message_each(
    app: &TestApp,
) {
    let fake = FakeProviders::default();
    let base = fake.start().await;
    let smtp = crate::smtp_sink::SmtpSink::start().await;
    let t = app.tenant("Big Cafe").await;
    top_up(app, &t, "sms", 20_000).await;
    top_up(app, &t, "email", 2_000).await;
    import(app, &t, 10_000).await;
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body()).await,
        StatusCode::CREATED,
    )
    .await;
    let (sms, email, telegram, messenger) = (10_000 - 1_428, 2_000, 3_334, 2_500);
    assert_eq!(m.counts.total, (sms + email + telegram + messenger) as u64);
    // The worker goes by a clock of its own: a send that timed out on a busy machine is
    // retried later, and the test moves time on to that retry instead of waiting for it.
    let clock = loyalcast::clock::ManualClock::starting_at(chrono::Utc::now());
    let worker = loyalcast::engine::worker::Worker::new(
        app.db.clone(),
        router(&base, smtp.addr),
        loyalcast_delivery::retry::RetryPolicy::default(),
        loyalcast::engine::links::LinkSigner::new(&secrecy::SecretString::from(JWT_SECRET)),
        "http://127.0.0.1:9".into(),
        WorkerConfig {
            batch: 1_000,
            concurrency: 64,
            ..WorkerConfig::default()
        },
    )
    .with_clock(clock.shared());
    // Every retry the policy allows falls within a day (ten attempts, waits capped at half
    // an hour), so a day of hourly rounds takes each delivery to its end.
    crate::mailings::drain(&worker).await;
    for _ in 0..24 {
        clock.advance(chrono::Duration::hours(1));
        crate::mailings::drain(&worker).await;
    }
    // Any delivery not sent shows in the failure message by its state and error.
    let states = delivery_states(app).await;
    for (channel, expected) in [
        ("sms", sms),
        ("telegram", telegram),
        ("messenger", messenger),
    ] {
        let counts = fake.counts(channel);
        assert_eq!(
            counts.len(),
            expected,
            "{channel}: every recipient; deliveries by (channel, status, attempts, error): {states:?}"
        );
        assert!(counts.values().all(|n| *n == 1), "{channel}: once each");
    }
    let mails = smtp.received();
    let mut per_address: HashMap<String, usize> = HashMap::new();
    for mail in &mails {
        for to in &mail.rcpt_to {
            *per_address.entry(to.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(per_address.len(), email, "email: every recipient");
    assert!(per_address.values().all(|n| *n == 1), "email: once each");
    let first = mails
        .iter()
        .find(|m| m.rcpt_to == ["p0@example.com"])
        .map(|m| crate::smtp_sink::parse_mail(&m.data))
        .expect("the first customer's email");
    assert!(
        first.header("subject").unwrap().contains("News for P0"),
        "personal subject"
    );
    assert!(first.part("text/plain").unwrap().contains("Hello P0,"));
    let unsubscribe = first.header("list-unsubscribe").unwrap();
    assert!(
        unsubscribe.contains("http://127.0.0.1:9/u/"),
        "{unsubscribe}"
    );
    assert_eq!(
        first.header("list-unsubscribe-post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        first
            .part("text/html")
            .unwrap()
            .contains("http://127.0.0.1:9/o/"),
        "open-tracking pixel"
    );
    let done: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (done.status, done.counts.sent),
        (MailingStatus::Completed, m.counts.total)
    );
    let _ = Channel::Sms;
}

fn worker_process(app_db: &str, base: &str, data_dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_loyalcast"))
        .arg("worker")
        .env("LOYALCAST_DATABASE_URL", app_db)
        .env("LOYALCAST_DATA_DIR", data_dir)
        .env("LOYALCAST_JWT_SECRET", JWT_SECRET)
        .env("LOYALCAST_WORKER_BATCH", "100")
        .env("LOYALCAST_WORKER_LEASE_SECONDS", "2")
        .env("LOYALCAST_DELIVERY__TELEGRAM__PROVIDER", "telegram")
        .env("LOYALCAST_DELIVERY__TELEGRAM__BASE_URL", base)
        .env("LOYALCAST_DELIVERY__TELEGRAM__BOT_TOKEN", "123:abc")
        .env(
            "LOYALCAST_DELIVERY__RATE_LIMITS__TELEGRAM__OVERALL__COUNT",
            "100000",
        )
        .env(
            "LOYALCAST_DELIVERY__RATE_LIMITS__TELEGRAM__OVERALL__PERIOD_MS",
            "1000",
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_until_completed(
    app: &TestApp,
    t: &Tenant,
    id: uuid::Uuid,
    limit: Duration,
) -> Mailing {
    let started = Instant::now();
    loop {
        let m: Mailing = json(
            app.get(&format!("/api/v1/mailings/{id}"), &t.token).await,
            StatusCode::OK,
        )
        .await;
        if m.status == MailingStatus::Completed {
            return m;
        }
        assert!(
            started.elapsed() < limit,
            "not completed in {limit:?}: {:?}",
            m.counts
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn telegram_only() -> serde_json::Value {
    json!({"name": "Telegram", "audience": {"type": "all"}, "channels": ["telegram"], "content": {"telegram": {"text": "Hi {first_name}!"}}})
}

/// The database URL of a PostgreSQL test app.
fn url_of(app: &TestApp) -> String {
    app.config.database_url.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_one_postgres_send_each_message_once() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let fake = FakeProviders::default();
    let base = fake.start().await;
    let t = app.tenant("Two Workers Cafe").await;
    import(&app, &t, 3_000).await; // 1,000 on Telegram
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &telegram_only())
            .await,
        StatusCode::CREATED,
    )
    .await;
    let dir = std::env::temp_dir().join(format!(
        "loyalcast-workers-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut workers = [
        worker_process(&url_of(&app), &base, &dir),
        worker_process(&url_of(&app), &base, &dir),
    ];
    let done = wait_until_completed(&app, &t, m.id, Duration::from_secs(120)).await;
    for w in &mut workers {
        w.kill().ok();
        w.wait().ok();
    }
    let counts = fake.counts("telegram");
    assert_eq!(counts.len(), 1_000);
    assert!(counts.values().all(|n| *n == 1), "a message went out twice");
    assert_eq!(done.counts.sent, 1_000);
    std::fs::remove_dir_all(dir).ok();
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_killed_mid_run_loses_nothing() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let fake = FakeProviders::default();
    let base = fake.start().await;
    let t = app.tenant("Killed Worker Cafe").await;
    import(&app, &t, 6_000).await; // 2,000 on Telegram
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &telegram_only())
            .await,
        StatusCode::CREATED,
    )
    .await;
    let dir = std::env::temp_dir().join(format!(
        "loyalcast-killed-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut victim = worker_process(&url_of(&app), &base, &dir);
    // Kill it (SIGKILL: no chance to clean up) once it is under way.
    let started = Instant::now();
    while fake.counts("telegram").len() < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the worker never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let mut survivor = worker_process(&url_of(&app), &base, &dir);
    let done = wait_until_completed(&app, &t, m.id, Duration::from_secs(120)).await;
    survivor.kill().ok();
    survivor.wait().ok();
    let counts = fake.counts("telegram");
    assert_eq!(counts.len(), 2_000, "every recipient got the message");
    assert_eq!(done.counts.sent, 2_000);
    assert_eq!(done.counts.queued, 0);
    // Sends in flight when the worker died may go out again after its lease: at most one batch.
    let repeats: usize = counts.values().map(|n| n - 1).sum();
    assert!(repeats <= 100, "{repeats} repeats");
    std::fs::remove_dir_all(dir).ok();
    app.cleanup().await;
}

/// A fake Twilio that takes at most `per_second` messages a second in all (the rest wait
/// their turn, as a long code's queue would), and records each recipient.
async fn paced_twilio(
    per_second: u32,
    received: Arc<Mutex<Vec<(&'static str, String)>>>,
) -> String {
    let next = Arc::new(tokio::sync::Mutex::new(Instant::now()));
    let gap = Duration::from_secs(1) / per_second;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let (received, next) = (received.clone(), next.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (received, next) = (received.clone(), next.clone());
            async move {
                let turn = {
                    let mut next = next.lock().await;
                    let turn = (*next).max(Instant::now());
                    *next = turn + gap;
                    turn
                };
                tokio::time::sleep_until(turn.into()).await;
                answer(&req, &body, &received)
            }
        }))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// A `loyalcast worker` sending SMS through the real Twilio adapter at `base`, with the
/// account's rate shared between the processes.
fn sms_worker_process(app_db: &str, base: &str, data_dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_loyalcast"))
        .arg("worker")
        .env("LOYALCAST_DATABASE_URL", app_db)
        .env("LOYALCAST_DATA_DIR", data_dir)
        .env("LOYALCAST_JWT_SECRET", JWT_SECRET)
        .env("LOYALCAST_WORKER_BATCH", "1000")
        .env("LOYALCAST_WORKER_LEASE_SECONDS", "10")
        .env("LOYALCAST_WORKER_CONCURRENCY", "8")
        .env("LOYALCAST_DELIVERY__SMS__PROVIDER", "twilio")
        .env("LOYALCAST_DELIVERY__SMS__BASE_URL", base)
        .env("LOYALCAST_DELIVERY__SMS__ACCOUNT_SID", "AC0000")
        .env("LOYALCAST_DELIVERY__SMS__AUTH_TOKEN", "token")
        // Quoted: figment would read the bare number as an integer.
        .env("LOYALCAST_DELIVERY__SMS__SENDER__FROM", "\"+15005550006\"")
        .env("LOYALCAST_DELIVERY__RATE_LIMITS__SMS__OVERALL__COUNT", "50")
        .env(
            "LOYALCAST_DELIVERY__RATE_LIMITS__SMS__OVERALL__PERIOD_MS",
            "1000",
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn sms_only() -> serde_json::Value {
    json!({"name": "SMS", "audience": {"type": "all"}, "channels": ["sms"], "content": {"sms": {"body": "Hi {first_name}!"}}})
}

/// 3,000 SMS customers, with SMS credits for them.
async fn sms_audience(app: &TestApp, t: &Tenant) {
    top_up(app, t, "sms", 10_000).await;
    let mut csv = String::from("first_name,phone\n");
    for i in 0..3_000 {
        csv.push_str(&format!("S{i},+1415{:07}\n", 4_000_000 + i));
    }
    let report: ImportReport = json(
        app.import_csv_with(&t.token, DECLARED_CONSENT, csv).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report.created, 3_000);
}

async fn sms_balances(app: &TestApp, t: &Tenant) -> loyalcast_dto::Balances {
    json(app.get("/api/v1/balances", &t.token).await, StatusCode::OK).await
}

/// The exactly-once suite at a slow rate: 3,000 SMS through the real Twilio adapter to a
/// provider that takes 50 a second, two worker processes on one PostgreSQL, batches of up
/// to 1,000 under a 10 s lease (a batch takes 20 s to send at that rate: claims must be
/// sized by the rate and leases kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_sms_at_fifty_a_second_through_two_workers_go_out_once_each() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let received = Arc::new(Mutex::new(Vec::new()));
    let base = paced_twilio(50, received.clone()).await;
    let fake = FakeProviders {
        received: received.clone(),
    };
    let t = app.tenant("Long Code Cafe").await;
    sms_audience(&app, &t).await;
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &sms_only()).await,
        StatusCode::CREATED,
    )
    .await;
    let dir = std::env::temp_dir().join(format!("loyalcast-sms-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut workers = [
        sms_worker_process(&url_of(&app), &base, &dir),
        sms_worker_process(&url_of(&app), &base, &dir),
    ];
    let done = wait_until_completed(&app, &t, m.id, Duration::from_secs(300)).await;
    // Completed only after the last row: every message is at the provider by now.
    let counts = fake.counts("sms");
    for w in &mut workers {
        w.kill().ok();
        w.wait().ok();
    }
    assert_eq!(counts.len(), 3_000, "every recipient");
    assert!(counts.values().all(|n| *n == 1), "once each");
    assert_eq!(
        (done.counts.sent, done.counts.repeats, done.counts.queued),
        (3_000, 0, 0)
    );
    let channel = &done.per_channel[0];
    assert_eq!((channel.credits_used, channel.credits_reserved), (3_000, 0));
    let b = sms_balances(&app, &t).await;
    assert_eq!(
        (b.sms.available, b.sms.reserved),
        (7_000, 0),
        "credits spent once per segment"
    );
    std::fs::remove_dir_all(dir).ok();
    app.cleanup().await;
}

/// The same with one of the two workers SIGKILLed mid-run: nobody is missed, repeats are
/// at most what the killed worker had in flight (its concurrency, 8), and the report counts
/// at least those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_worker_killed_mid_run_repeats_at_most_its_window_and_says_so() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let received = Arc::new(Mutex::new(Vec::new()));
    let base = paced_twilio(50, received.clone()).await;
    let fake = FakeProviders {
        received: received.clone(),
    };
    let t = app.tenant("Killed Long Code Cafe").await;
    sms_audience(&app, &t).await;
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &sms_only()).await,
        StatusCode::CREATED,
    )
    .await;
    let dir = std::env::temp_dir().join(format!(
        "loyalcast-sms-kill-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut victim = sms_worker_process(&url_of(&app), &base, &dir);
    let mut survivor = sms_worker_process(&url_of(&app), &base, &dir);
    let started = Instant::now();
    while fake.counts("sms").len() < 500 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the workers never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let done = wait_until_completed(&app, &t, m.id, Duration::from_secs(300)).await;
    let counts = fake.counts("sms");
    survivor.kill().ok();
    survivor.wait().ok();
    assert_eq!(counts.len(), 3_000, "every recipient got the message");
    let repeats: u64 = counts.values().map(|n| (*n - 1) as u64).sum();
    assert!(
        repeats <= 8,
        "{repeats} repeats, more than the killed worker had in flight"
    );
    assert!(
        done.counts.repeats >= repeats && done.counts.repeats <= 8,
        "the report says {} may have gone twice; {repeats} did",
        done.counts.repeats
    );
    assert_eq!((done.counts.sent, done.counts.queued), (3_000, 0));
    let b = sms_balances(&app, &t).await;
    assert_eq!(b.sms.reserved, 0);
    assert_eq!(
        b.sms.available,
        10_000 - 3_000,
        "a repeat costs the merchant nothing more"
    );
    std::fs::remove_dir_all(dir).ok();
    app.cleanup().await;
}

/// `serve` stopped with SIGTERM drains, lets its worker finish, and removes its heartbeat
/// (so the other processes take its share of the providers' rates at once), every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_with_sigterm_leaves_the_rate_share_to_the_others() {
    let Some(app) = spawn(Backend::Postgres).await else {
        return;
    };
    let dir =
        std::env::temp_dir().join(format!("loyalcast-term-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let processes = || async {
        use sea_orm::ConnectionTrait;
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM worker_processes",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    for round in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_loyalcast"))
            .arg("serve")
            .env("LOYALCAST_DATABASE_URL", url_of(&app))
            .env("LOYALCAST_DATA_DIR", &dir)
            .env("LOYALCAST_JWT_SECRET", JWT_SECRET)
            .env("LOYALCAST_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while processes().await == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "round {round}: never registered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = server.id().to_string();
        let term = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(term.success());
        let status = server.wait().unwrap();
        assert!(status.success(), "round {round}: {status}");
        assert_eq!(
            processes().await,
            0,
            "round {round}: the heartbeat was left behind"
        );
    }
    std::fs::remove_dir_all(dir).ok();
    app.cleanup().await;
}
