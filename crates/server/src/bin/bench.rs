//! `loyalcast-bench`: end-to-end dispatch throughput of the delivery engine, segment count
//! time and peak memory, on SQLite or PostgreSQL. A command to run by hand (`make bench`),
//! not a test: figures go to docs/benchmarks.md.
//!
//! It makes a fresh database, a merchant and N customers, then times (1) a segment count,
//! (2) accepting a mailing to everyone (fan-out and credit reservation in one transaction)
//! and (3) draining the queue with W workers through a sender: `noop` (in-process) or
//! `http` (Telegram's Bot API answered by a local fake server on 127.0.0.1). `--scenario push`
//! times a wallet push instead: accepting it, the APNs notifications (to a counting
//! notifier) and the burst of authenticated pass fetches through the real HTTP server.
//! `--scenario automation` times the automation scans of one merchant (one Google pass per
//! customer, installed over three years) and the events API's ingestion rate over HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use chrono::{Duration as Days, Utc};
use clap::Parser;
use loyalcast::engine::Lane;
use loyalcast::engine::links::LinkSigner;
use loyalcast::engine::worker::{PassPushes, Phases, Worker, WorkerConfig};
use loyalcast::entity::customer;
use loyalcast::merchants::{self, NewMerchant};
use loyalcast::wallet::apns::{Accepted, NotifyError, PassNotifier};
use loyalcast::{balances, customers, db, mailings, pushes, segments};
use loyalcast_delivery::retry::RetryPolicy;
use loyalcast_delivery::sandbox::NoopSender;
use loyalcast_delivery::telegram::{TelegramConfig, TelegramSender};
use loyalcast_delivery::{Channel, ChannelRouter};
use loyalcast_dto::{
    Audience, Comparison, Consent, MailingContent, NewMailing, NewPush, SegmentRule, TextContent,
};
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Database, EntityTrait, TransactionTrait};
use secrecy::SecretString;

#[derive(Parser)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "postgres")]
    db: String,
    /// PostgreSQL server (a database `loyalcast_bench_<n>` is made and dropped there).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    #[arg(long, default_value_t = 100_000)]
    customers: usize,
    /// `noop` or `http`.
    #[arg(long, default_value = "noop")]
    sender: String,
    /// Concurrent workers (each its own claim loop).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Messages a worker keeps sent and not yet recorded (its window); the batch by default.
    #[arg(long)]
    concurrency: Option<usize>,
    #[arg(long, default_value_t = 2_000)]
    batch: u64,
    /// Keep the database afterwards (to look at plans); its name or file is printed.
    #[arg(long)]
    keep: bool,
    /// `mailing` (dispatch through a channel sender), `push`: a wallet push to one pass
    /// per customer with one Apple device each, then every device fetching its pass, or
    /// `automation`: the daily birthday, anniversary and win-back scans of one merchant, and
    /// events posted to the batch endpoint.
    #[arg(long, default_value = "mailing")]
    scenario: String,
    /// Concurrent pass fetches in the push scenario's burst.
    #[arg(long, default_value_t = 64)]
    fetchers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut sqlite_dir = None;
    let (url, cleanup) = match args.db.as_str() {
        "sqlite" => {
            let dir = std::env::temp_dir().join(format!("loyalcast-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let url = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
            sqlite_dir = Some(dir);
            (url, None)
        }
        _ => {
            let admin = Database::connect(&args.postgres)
                .await
                .context("PostgreSQL")?;
            let name = format!("loyalcast_bench_{}", std::process::id());
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            let base = args
                .postgres
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or_default();
            (format!("{base}/{name}"), Some((admin, name)))
        }
    };
    let result = run(&args, &url).await;
    if let Some(dir) = sqlite_dir {
        if args.keep {
            println!("kept database {}", dir.join("bench.db").display());
        } else {
            std::fs::remove_dir_all(&dir)?;
        }
    }
    if let Some((_, name)) = cleanup.as_ref().filter(|_| args.keep) {
        println!("kept database {name}");
    } else if let Some((admin, name)) = cleanup {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    result
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let database = db::connect(url).await?;
    db::migrate(&database).await?;
    let (merchant, _) = merchants::create(
        &database,
        &loyalcast::auth::password::Passwords::new(1, std::time::Duration::from_secs(60)),
        NewMerchant {
            name: "Bench Cafe".into(),
            time_zone: Some("UTC".into()),
            default_country: Some("US".into()),
            owner_name: "Bench".into(),
            owner_email: "bench@bench.example.com".into(),
            owner_password: SecretString::from("bench-password-123"),
            trial: Default::default(),
        },
        Utc::now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    let started = Instant::now();
    insert_customers(&database, merchant.id, args.customers).await?;
    if database.get_database_backend() == sea_orm::DbBackend::Postgres {
        database.execute_unprepared("ANALYZE").await?;
    }
    println!(
        "setup: {} customers inserted in {:.1} s",
        args.customers,
        started.elapsed().as_secs_f64()
    );

    if args.scenario == "push" {
        return push_scenario(args, url, &database, merchant.id).await;
    }
    if args.scenario == "automation" {
        return automation_scenario(args, url, &database, merchant.id).await;
    }
    let ctx = segments::Context {
        merchant_id: merchant.id,
        now: Utc::now(),
        time_zone: chrono_tz::UTC,
    };
    for (name, rule) in [
        (
            "broad: visits >= 3 and a visit within 180 days",
            SegmentRule::And {
                rules: vec![
                    SegmentRule::Visits {
                        cmp: Comparison::Gte,
                        value: 3,
                    },
                    SegmentRule::LastVisitWithinDays { days: 180 },
                ],
            },
        ),
        ("birthday month", SegmentRule::BirthdayMonth { month: 3 }),
        ("birthday today", SegmentRule::BirthdayToday),
    ] {
        let mut best = Duration::MAX;
        let mut count = 0;
        for _ in 0..5 {
            let t = Instant::now();
            count = segments::count(&database, &rule, &ctx)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            best = best.min(t.elapsed());
        }
        println!(
            "segment count ({name}): {count} matches, best of 5 {:.1} ms",
            best.as_secs_f64() * 1e3
        );
    }

    let input = NewMailing {
        name: "Bench".into(),
        audience: Audience::All,
        channels: vec![Channel::Telegram],
        content: MailingContent {
            telegram: Some(TextContent {
                text: "Double points this week!".into(),
            }),
            ..Default::default()
        },
        send_at: None,
        draft: false,
    };
    let checked = mailings::check(
        &database,
        merchant.id,
        &input.name,
        &input.audience,
        &input.channels,
        &input.content,
        None,
        chrono::Utc::now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let txn = database.begin().await?;
    let env = mailings::Env {
        now: chrono::Utc::now(),
        public_url: "http://127.0.0.1:8080",
    };
    let mailing = mailings::create(&txn, env, merchant.id, None, &input, &checked, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    txn.commit().await?;
    let fanout = t.elapsed();
    let total = mailing.counts.total;
    println!(
        "accept mailing: {total} deliveries fanned out in {:.2} s",
        fanout.as_secs_f64()
    );

    let router = Arc::new(match args.sender.as_str() {
        "http" => {
            let (base, hits) = fake_telegram().await?;
            let sender = TelegramSender::new(serde_json::from_value::<TelegramConfig>(
                serde_json::json!({
                    "base_url": base,
                    "bot_token": "123456:bench-token",
                }),
            )?)?;
            let _ = hits;
            ChannelRouter::new().with(Arc::new(sender))
        }
        _ => ChannelRouter::new().with(Arc::new(NoopSender::new(Channel::Telegram))),
    });
    let signer = LinkSigner::new(&SecretString::from("bench secret of some length"));
    let sent = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let progress = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = sent.load(Ordering::Relaxed);
                println!(
                    "  {:>5.0} s: {now} sent, {:.0}/s over the last 10 s",
                    t.elapsed().as_secs_f64(),
                    (now - last) as f64 / 10.0
                );
                last = now;
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..args.workers.max(1) {
        // Each worker has its own pool, as separate processes would.
        let db = if url.starts_with("sqlite") {
            database.clone()
        } else {
            db::connect(url).await?
        };
        let worker = Worker::new(
            db,
            router.clone(),
            RetryPolicy::default(),
            signer.clone(),
            "http://127.0.0.1".into(),
            WorkerConfig {
                batch: args.batch,
                concurrency: args.concurrency.unwrap_or(args.batch as usize),
                ..WorkerConfig::default()
            },
        );
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut phases = Phases::default();
            loop {
                match worker.step().await {
                    Ok(r) => {
                        phases.add(&r.phases);
                        if r.claimed == 0 {
                            break;
                        }
                        sent.fetch_add(r.sent, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("step failed: {e}");
                        break;
                    }
                }
            }
            phases
        }));
    }
    let mut phases = Phases::default();
    for task in tasks {
        phases.add(&task.await?);
    }
    progress.abort();
    let drain = t.elapsed();
    let sent = sent.load(Ordering::Relaxed);
    println!(
        "dispatch ({} sender, {} workers, batch {}): {sent} sent in {:.2} s = {:.0} deliveries/s",
        args.sender,
        args.workers,
        args.batch,
        drain.as_secs_f64(),
        sent as f64 / drain.as_secs_f64()
    );
    let all: Duration = phases.durations().iter().sum();
    let breakdown = Phases::NAMES
        .iter()
        .zip(phases.durations())
        .map(|(name, spent)| {
            format!(
                "{name} {:.1} s ({:.0}%)",
                spent.as_secs_f64(),
                100.0 * spent.as_secs_f64() / all.as_secs_f64().max(1e-9)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    println!("worker time (summed over workers): {breakdown}");
    println!(
        "end to end (accept + dispatch): {:.2} s; peak RSS {} MB",
        (fanout + drain).as_secs_f64(),
        peak_rss_mb()
    );
    anyhow::ensure!(sent == total, "sent {sent} of {total}");
    Ok(())
}

async fn insert_customers(
    db: &sea_orm::DatabaseConnection,
    merchant_id: uuid::Uuid,
    n: usize,
) -> anyhow::Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let now = Utc::now();
    let mut done = 0;
    while done < n {
        let chunk = (n - done).min(2_000);
        let txn = db.begin().await?;
        let rows: Vec<customer::ActiveModel> = (0..chunk)
            .map(|i| {
                let k = done + i;
                let visits = rng.gen_range(0..40);
                let record = customers::CustomerRecord {
                    first_name: format!("First{k}"),
                    last_name: "Bench".into(),
                    phone: None,
                    email: None,
                    birthday: chrono::NaiveDate::from_ymd_opt(1970 + (k % 40) as i32, 1, 1)
                        .map(|d| d + Days::days((k % 365) as i64)),
                    tags: Vec::new(),
                    telegram_chat_id: Some((1_000_000 + k).to_string()),
                    messenger_psid: None,
                    time_zone: None,
                    // Consent is off unless given: the bench's customers give Telegram.
                    consent: Consent {
                        telegram: true,
                        ..Consent::default()
                    },
                    visits,
                    last_visit_at: (visits > 0)
                        .then(|| now - Days::minutes(rng.gen_range(0..60 * 24 * 400))),
                    points: i64::from(visits) * 10,
                };
                customers::active_model(merchant_id, uuid::Uuid::now_v7(), &record, now, now)
            })
            .collect();
        for part in rows.chunks(500) {
            customer::Entity::insert_many(part.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        done += chunk;
    }
    balances::top_up(
        db,
        merchant_id,
        balances::Kind::Sms,
        1,
        "bench",
        chrono::Utc::now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// A local stand-in for Telegram's `sendMessage` on 127.0.0.1.
async fn fake_telegram() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().default_service(web::to(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                HttpResponse::Ok()
                    .json(serde_json::json!({"ok": true, "result": {"message_id": n}}))
            }
        }))
    })
    .workers(1)
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok((format!("http://127.0.0.1:{port}"), hits))
}

fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// Takes every notification at once, counting them (APNs as fast as it can be).
#[derive(Default)]
struct CountingApns {
    sent: AtomicU64,
}

#[async_trait::async_trait]
impl PassNotifier for CountingApns {
    async fn notify(
        &self,
        _topic: &str,
        _token: &str,
        _environment: Option<loyalcast_dto::ApnsEnvironment>,
    ) -> Result<Accepted, NotifyError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(Accepted {
            apns_id: None,
            sandbox: false,
        })
    }
}

/// A push to one pass per customer (one registered device each): accepting it, the
/// notifications, and the burst of pass fetches that follows, through the real HTTP server.
async fn push_scenario(
    args: &Args,
    url: &str,
    database: &sea_orm::DatabaseConnection,
    merchant_id: uuid::Uuid,
) -> anyhow::Result<()> {
    use loyalcast::entity::{card, pass, pass_registration};
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect, Set};
    let now = Utc::now();
    let card_id = uuid::Uuid::now_v7();
    card::Entity::insert(card::ActiveModel {
        id: Set(card_id),
        merchant_id: Set(merchant_id),
        name: Set("Bench card".into()),
        kind: Set("points".into()),
        description: Set(String::new()),
        background_color: Set("#112233".into()),
        foreground_color: Set("#ffffff".into()),
        label_color: Set("#eeeeee".into()),
        logo_text: Set("Bench".into()),
        apple_pass_type_id: Set(None),
        membership_period_days: Set(None),
        locations: Set("[]".into()),
        apns_environment: Set(None),
        google_class_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(database)
    .await?;
    let t = Instant::now();
    let ids: Vec<uuid::Uuid> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::MerchantId.eq(merchant_id))
        .into_tuple()
        .all(database)
        .await?;
    let mut passes = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1_000) {
        let txn = database.begin().await?;
        let rows: Vec<pass::ActiveModel> = chunk
            .iter()
            .map(|customer_id| {
                let id = uuid::Uuid::now_v7();
                let serial = id.simple().to_string();
                let token = format!("token-{serial}");
                passes.push((serial.clone(), token.clone()));
                pass::ActiveModel {
                    id: Set(id),
                    merchant_id: Set(merchant_id),
                    card_id: Set(card_id),
                    customer_id: Set(*customer_id),
                    serial_number: Set(serial),
                    authentication_token: Set(token),
                    platform: Set("apple".into()),
                    installed_at: Set(now),
                    expires_at: Set(None),
                    updated_at: Set(now),
                    update_tag: Set(now.timestamp_micros() - 10_000_000),
                    message: Set(None),
                    fetched_tag: Set(None),
                }
            })
            .collect();
        let registrations: Vec<pass_registration::ActiveModel> = rows
            .iter()
            .map(|p| pass_registration::ActiveModel {
                pass_id: p.id.clone(),
                device_library_id: Set(format!("device-{}", uuid::Uuid::new_v4().simple())),
                id: Set(Some(uuid::Uuid::now_v7())),
                push_token: Set(format!("{:064x}", rand::random::<u128>())),
                pushed_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect();
        for part in rows.chunks(500) {
            pass::Entity::insert_many(part.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        for part in registrations.chunks(500) {
            pass_registration::Entity::insert_many(part.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
    }
    if database.get_database_backend() == sea_orm::DbBackend::Postgres {
        database.execute_unprepared("ANALYZE").await?;
    }
    println!(
        "setup: {} passes with one registered device each in {:.1} s",
        passes.len(),
        t.elapsed().as_secs_f64()
    );

    let input = NewPush {
        card_id,
        audience: Audience::All,
        message: "Double points all weekend!".into(),
        send_at: None,
    };
    let t = Instant::now();
    let checked = pushes::check(database, merchant_id, &input, Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let txn = database.begin().await?;
    let push = pushes::create(&txn, merchant_id, None, &input, &checked, Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    txn.commit().await?;
    let accept = t.elapsed();
    println!(
        "accept push: {} passes updated and {} notifications queued in {:.2} s",
        push.passes,
        push.apple.total,
        accept.as_secs_f64()
    );

    let apns = Arc::new(CountingApns::default());
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.workers.max(1) {
        let db = if url.starts_with("sqlite") {
            database.clone()
        } else {
            db::connect(url).await?
        };
        let worker = Worker::new(
            db,
            Arc::new(ChannelRouter::new()),
            RetryPolicy::default(),
            LinkSigner::new(&SecretString::from("bench secret of some length")),
            "http://127.0.0.1".into(),
            WorkerConfig {
                batch: args.batch,
                concurrency: args.concurrency.unwrap_or(args.batch as usize),
                ..WorkerConfig::default()
            },
        )
        .with_pass_pushes(PassPushes {
            notifier: apns.clone(),
            default_topic: loyalcast::config::AppleWalletConfig::default().pass_type_id,
            gap: Duration::from_secs(60),
            ..PassPushes::default()
        });
        tasks.push(tokio::spawn(async move {
            loop {
                match worker.claim_and_send(Lane::ApplePass).await {
                    Ok(r) if r.claimed == 0 => break,
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("step failed: {e}");
                        break;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let notify = t.elapsed();
    let notified = apns.sent.load(Ordering::Relaxed);
    println!(
        "notifications: {notified} to the recording APNs in {:.2} s = {:.0}/s ({} workers, batch {}); accept + notify {:.2} s",
        notify.as_secs_f64(),
        notified as f64 / notify.as_secs_f64(),
        args.workers,
        args.batch,
        (accept + notify).as_secs_f64()
    );
    anyhow::ensure!(
        notified == push.apple.total,
        "notified {notified} of {}",
        push.apple.total
    );

    // The burst: every device fetches its updated pass from the real server.
    let mut config = loyalcast::config::Config::defaults()?;
    config.database_url = url.to_owned();
    config.bind = "127.0.0.1:0".into();
    config.jwt_secret = Some(SecretString::from("bench session secret of enough length"));
    config.spa_dir = std::path::PathBuf::from("/nonexistent-loyalcast-spa");
    let config = Arc::new(config);
    let keys = loyalcast::keys::load(database, &config, Utc::now()).await?;
    let app = loyalcast::startup::Application::build_with_clock(
        config.clone(),
        database.clone(),
        &keys,
        loyalcast::clock::system(),
    )?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let pass_type = config.apple_wallet.pass_type_id.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.fetchers)
        .build()?;
    let queue = Arc::new(std::sync::Mutex::new(passes));
    let t = Instant::now();
    let mut fetchers = Vec::new();
    for _ in 0..args.fetchers.max(1) {
        let (queue, client, base, pass_type) = (
            queue.clone(),
            client.clone(),
            base.clone(),
            pass_type.clone(),
        );
        fetchers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0u64;
            loop {
                let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                let Some((serial, token)) = next else { break };
                let started = Instant::now();
                let response = client
                    .get(format!("{base}/passkit/v1/passes/{pass_type}/{serial}"))
                    .header("authorization", format!("ApplePass {token}"))
                    .send()
                    .await;
                let ok = match response {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                latencies.push(started.elapsed());
                failed += u64::from(!ok);
            }
            (latencies, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for f in fetchers {
        let (l, e) = f.await?;
        latencies.extend(l);
        failed += e;
    }
    let burst = t.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "pass fetch burst: {} GETs ({} failed) with {} concurrent clients in {:.1} s = {:.0} requests/s; p50 {:.1} ms, p99 {:.1} ms; peak RSS {} MB",
        latencies.len(),
        failed,
        args.fetchers,
        burst.as_secs_f64(),
        latencies.len() as f64 / burst.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        peak_rss_mb()
    );
    let delivered = pushes::get(database, merchant_id, push.id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .apple
        .delivered;
    println!("delivered (devices that fetched the update): {delivered}");
    anyhow::ensure!(failed == 0, "{failed} fetches failed");
    Ok(())
}

/// A card for the scenarios, with one pass per customer (installed `installed(k)` for the
/// k-th customer, on `platform`); the passes' serials and tokens.
async fn card_with_passes(
    database: &sea_orm::DatabaseConnection,
    merchant_id: uuid::Uuid,
    platform: &str,
    installed: impl Fn(usize) -> chrono::DateTime<Utc>,
) -> anyhow::Result<uuid::Uuid> {
    use loyalcast::entity::{card, pass};
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect, Set};
    let now = Utc::now();
    let card_id = uuid::Uuid::now_v7();
    card::Entity::insert(card::ActiveModel {
        id: Set(card_id),
        merchant_id: Set(merchant_id),
        name: Set("Bench card".into()),
        kind: Set("points".into()),
        description: Set(String::new()),
        background_color: Set("#112233".into()),
        foreground_color: Set("#ffffff".into()),
        label_color: Set("#eeeeee".into()),
        logo_text: Set("Bench".into()),
        apple_pass_type_id: Set(None),
        membership_period_days: Set(None),
        locations: Set("[]".into()),
        apns_environment: Set(None),
        google_class_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(database)
    .await?;
    let ids: Vec<uuid::Uuid> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::MerchantId.eq(merchant_id))
        .into_tuple()
        .all(database)
        .await?;
    for (c, chunk) in ids.chunks(1_000).enumerate() {
        let txn = database.begin().await?;
        let rows: Vec<pass::ActiveModel> = chunk
            .iter()
            .enumerate()
            .map(|(i, customer_id)| {
                let id = uuid::Uuid::now_v7();
                pass::ActiveModel {
                    id: Set(id),
                    merchant_id: Set(merchant_id),
                    card_id: Set(card_id),
                    customer_id: Set(*customer_id),
                    serial_number: Set(id.simple().to_string()),
                    authentication_token: Set(format!("token-{}", id.simple())),
                    platform: Set(platform.to_owned()),
                    installed_at: Set(installed(c * 1_000 + i)),
                    expires_at: Set(None),
                    updated_at: Set(now),
                    update_tag: Set(now.timestamp_micros()),
                    message: Set(None),
                    fetched_tag: Set(None),
                }
            })
            .collect();
        for part in rows.chunks(500) {
            pass::Entity::insert_many(part.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
    }
    Ok(card_id)
}

/// The daily scans of one merchant's birthday, anniversary and win-back automations (each
/// the first time, planning what it finds, then again ten minutes later), and events
/// posted to `POST /api/v1/events` in batches of 1,000 while a feedback automation plans
/// what they trigger.
async fn automation_scenario(
    args: &Args,
    url: &str,
    database: &sea_orm::DatabaseConnection,
    merchant_id: uuid::Uuid,
) -> anyhow::Result<()> {
    use loyalcast::engine::automate;
    use loyalcast::entity::{api_key, automation, automation_run};
    use sea_orm::{ActiveModelTrait, ColumnTrait, PaginatorTrait, QueryFilter, Set};
    let now = Utc::now();
    let t = Instant::now();
    // Installed over the last three years, one a minute apart per 1,095 customers.
    let card_id = card_with_passes(database, merchant_id, "google", |k| {
        now - Days::days((k % 1_095) as i64 + 1) - Days::minutes((k / 1_095) as i64 % 1_440)
    })
    .await?;
    if database.get_database_backend() == sea_orm::DbBackend::Postgres {
        database.execute_unprepared("ANALYZE").await?;
    }
    println!(
        "setup: {} Google passes in {:.1} s",
        args.customers,
        t.elapsed().as_secs_f64()
    );
    let create = |trigger: loyalcast_dto::Trigger| loyalcast_dto::NewAutomation {
        card_id,
        name: None,
        enabled: true,
        trigger,
        message: "Hello {first_name}".into(),
        reward_points: 0,
        reward_stamps: 0,
    };
    let mut scans = Vec::new();
    for (label, trigger) in [
        (
            "birthday",
            loyalcast_dto::Trigger::Birthday {
                days_before: 0,
                send_time: "10:00".into(),
            },
        ),
        (
            "anniversary",
            loyalcast_dto::Trigger::Anniversary {
                send_time: "10:00".into(),
            },
        ),
        (
            "win-back",
            loyalcast_dto::Trigger::Winback { lapse_days: 60 },
        ),
    ] {
        let a = loyalcast::automations::create(database, merchant_id, &create(trigger), now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let model = automation::Entity::find_by_id(a.id)
            .one(database)
            .await?
            .context("the automation")?;
        let t = Instant::now();
        let first = automate::plan_calendar(database, &model, now).await?;
        let first_time = t.elapsed();
        // Ten minutes later: what a steady scan does (plans the new, skips the planned).
        let model = automation::Entity::find_by_id(a.id)
            .one(database)
            .await?
            .context("the automation")?;
        let later = now + Days::minutes(10);
        let t = Instant::now();
        let again = automate::plan_calendar(database, &model, later).await?;
        let again_time = t.elapsed();
        println!(
            "scan ({label}): first {first} occurrences planned in {:.1} ms; ten minutes later {again} more in {:.1} ms",
            first_time.as_secs_f64() * 1e3,
            again_time.as_secs_f64() * 1e3
        );
        scans.push(a.id);
    }
    let planned = automation_run::Entity::find().count(database).await?;
    println!("occurrences stored: {planned}");

    // Events through the HTTP endpoint, with a feedback automation planning per visit.
    loyalcast::automations::create(
        database,
        merchant_id,
        &create(loyalcast_dto::Trigger::Feedback {
            after: loyalcast_dto::FeedbackAfter::Visit,
            delay: loyalcast_dto::Delay {
                amount: 2,
                unit: loyalcast_dto::DelayUnit::Hours,
            },
            cooldown_days: 30,
        }),
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (prefix, secret, hash) = loyalcast::auth::api_keys::generate();
    api_key::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        merchant_id: Set(merchant_id),
        name: Set("bench".into()),
        prefix: Set(prefix),
        secret_hash: Set(hash),
        scopes: Set("events:write".into()),
        created_by: Set(None),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
        expires_at: Set(None),
    }
    .insert(database)
    .await?;
    let mut config = loyalcast::config::Config::defaults()?;
    config.database_url = url.to_owned();
    config.bind = "127.0.0.1:0".into();
    config.jwt_secret = Some(SecretString::from("bench session secret of enough length"));
    config.spa_dir = std::path::PathBuf::from("/nonexistent-loyalcast-spa");
    let config = Arc::new(config);
    let keys = loyalcast::keys::load(database, &config, Utc::now()).await?;
    let app = loyalcast::startup::Application::build_with_clock(
        config.clone(),
        database.clone(),
        &keys,
        loyalcast::clock::system(),
    )?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let ids: Vec<uuid::Uuid> = {
        use sea_orm::QuerySelect;
        customer::Entity::find()
            .select_only()
            .column(customer::Column::Id)
            .filter(customer::Column::MerchantId.eq(merchant_id))
            .into_tuple()
            .all(database)
            .await?
    };
    let events = ids.len().min(200_000);
    let batches: Vec<serde_json::Value> = ids[..events]
        .chunks(1_000)
        .enumerate()
        .map(|(b, chunk)| {
            serde_json::json!({"events": chunk.iter().enumerate().map(|(i, c)| serde_json::json!({
                "id": format!("bench-{b}-{i}"), "kind": "visit", "customer_id": c
            })).collect::<Vec<_>>()})
        })
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let client = reqwest::Client::new();
    let t = Instant::now();
    let mut posters = Vec::new();
    for _ in 0..args.fetchers.clamp(1, 8) {
        let (queue, client, base, secret) =
            (queue.clone(), client.clone(), base.clone(), secret.clone());
        posters.push(tokio::spawn(async move {
            let mut failed = 0u64;
            loop {
                let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                let Some(body) = next else { break };
                let ok = client
                    .post(format!("{base}/api/v1/events"))
                    .bearer_auth(&secret)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                failed += u64::from(!ok);
            }
            failed
        }));
    }
    let mut failed = 0;
    for p in posters {
        failed += p.await?;
    }
    let took = t.elapsed();
    let triggered = automation_run::Entity::find()
        .filter(automation_run::Column::AutomationId.is_not_in(scans))
        .count(database)
        .await?;
    println!(
        "events: {events} visits in batches of 1,000 ({} concurrent clients, {failed} batches failed) in {:.1} s = {:.0} events/s; {triggered} feedback requests planned; peak RSS {} MB",
        args.fetchers.clamp(1, 8),
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64(),
        peak_rss_mb()
    );
    anyhow::ensure!(failed == 0, "{failed} batches failed");
    Ok(())
}
