//! `loyalcast-bench`: end-to-end dispatch throughput of the delivery engine, segment count
//! time and peak memory, on SQLite or PostgreSQL. A command to run by hand (`make bench`),
//! not a test: figures go to docs/benchmarks.md.
//!
//! It makes a fresh database, a merchant and N customers, then times (1) a segment count,
//! (2) accepting a mailing to everyone (fan-out and credit reservation in one transaction)
//! and (3) draining the queue with W workers through a sender: `noop` (in-process) or
//! `http` (Telegram's Bot API answered by a local fake server on 127.0.0.1).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use chrono::{Duration as Days, Utc};
use clap::Parser;
use loyalcast::engine::links::LinkSigner;
use loyalcast::engine::worker::{Phases, Worker, WorkerConfig};
use loyalcast::entity::customer;
use loyalcast::merchants::{self, NewMerchant};
use loyalcast::{balances, customers, db, mailings, segments};
use loyalcast_delivery::retry::RetryPolicy;
use loyalcast_delivery::sandbox::NoopSender;
use loyalcast_delivery::telegram::{TelegramConfig, TelegramSender};
use loyalcast_delivery::{Channel, ChannelRouter};
use loyalcast_dto::{
    Audience, Comparison, Consent, MailingContent, NewMailing, SegmentRule, TextContent,
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
