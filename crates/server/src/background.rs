//! Background work shared by `serve` and `worker`: the delivery worker and housekeeping
//! (expired revoked tokens and stream tickets, day-old idempotency records and change-feed
//! entries). Everything here coordinates only
//! through the database, so any number of processes may run it against one PostgreSQL.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use loyalcast_delivery::config::{
    DeliveryConfig, EmailProvider, MessengerProvider, SmsProvider, TelegramProvider,
};
use loyalcast_delivery::retry::RetryPolicy;
use loyalcast_dto::Channel;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::engine::worker::{Worker, WorkerConfig};
use crate::entity::{idempotency_key, revoked_token};

/// How often sandbox messages are confirmed (see [`crate::engine::events::confirm_sandbox`]).
const SANDBOX_CONFIRM_EVERY: Duration = Duration::from_secs(2);

/// Whether each channel is served by a sandbox provider (nothing is sent for real).
fn sandbox_channels(config: &DeliveryConfig) -> Vec<Channel> {
    Channel::ALL
        .into_iter()
        .filter(|channel| match channel {
            Channel::Sms => matches!(config.sms, SmsProvider::Sandbox),
            Channel::Email => matches!(config.email, EmailProvider::Sandbox),
            Channel::Telegram => matches!(config.telegram, TelegramProvider::Sandbox),
            Channel::Messenger => matches!(config.messenger, MessengerProvider::Sandbox),
        })
        .collect()
}

/// A running worker and the switch that stops it after its current batch.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the delivery worker and housekeeping. The process says it is alive before it
/// sends, so that it starts with its share of every provider's rate, not the whole of it.
pub async fn start(
    config: &Config,
    db: DatabaseConnection,
    keys: &crate::keys::Keys,
    clock: SharedClock,
) -> anyhow::Result<Background> {
    let sandboxed = sandbox_channels(&config.delivery);
    for channel in &sandboxed {
        tracing::info!(
            channel = channel.as_str(),
            "sandbox provider: messages are simulated, not sent"
        );
    }
    let delivery = config.delivery.clone().build()?;
    let router = Arc::new(delivery.router);
    let limits = delivery.limits;
    let id = uuid::Uuid::now_v7();
    // Processes started together register within moments of each other: count again after
    // a pause, so that none starts out believing it has an account's whole rate.
    for pause in [Duration::ZERO, JOIN_PAUSE] {
        tokio::time::sleep(pause).await;
        match heartbeat(&db, id, clock.now()).await {
            Ok(processes) => limits.share_with(processes),
            Err(err) => {
                tracing::warn!(error = %crate::error::loggable(err.as_ref()), "worker heartbeat failed; will retry")
            }
        }
    }
    let links = keys.link_signer();
    let worker = Arc::new(
        Worker::new(
            db.clone(),
            router.clone(),
            RetryPolicy::default(),
            links.clone(),
            config.public_url.clone(),
            WorkerConfig {
                batch: config.worker_batch,
                concurrency: config.worker_concurrency,
                lease: Duration::from_secs(config.worker_lease_seconds.max(1)),
                ..WorkerConfig::default()
            },
        )
        .with_clock(clock.clone())
        .with_rates(Arc::new(move |channel| router.rate_per_second(channel)))
        .with_pass_pushes(pass_pushes(config, clock.clone())?),
    );
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(supervise("signing keys", stopped.clone(), {
        let (db, stopped, clock) = (db.clone(), stopped.clone(), clock.clone());
        let config = std::sync::Arc::new(config.clone());
        move || {
            crate::keys::refresh(
                db.clone(),
                config.clone(),
                clock.clone(),
                None,
                links.clone(),
                stopped.clone(),
            )
        }
    }));
    tasks.push(supervise("delivery", stopped.clone(), {
        let stopped = stopped.clone();
        move || {
            let (worker, stop) = (worker.clone(), stopped.clone());
            async move { worker.run(stop).await }
        }
    }));
    if !sandboxed.is_empty() {
        tasks.push(supervise("sandbox confirmations", stopped.clone(), {
            let (db, stopped, clock) = (db.clone(), stopped.clone(), clock.clone());
            move || confirm_sandbox_loop(db.clone(), clock.clone(), stopped.clone())
        }));
    }
    // Each sending process says it is alive; all of them split every provider account's
    // rate evenly, so that together they keep to it.
    tasks.push(supervise("heartbeat", stopped.clone(), {
        let (db, stopped) = (db.clone(), stopped.clone());
        let clock = clock.clone();
        move || {
            heartbeat_loop(
                db.clone(),
                id,
                limits.clone(),
                clock.clone(),
                stopped.clone(),
            )
        }
    }));
    tasks.push(supervise("housekeeping", stopped.clone(), {
        let stopped = stopped.clone();
        move || housekeeping_loop(db.clone(), clock.clone(), stopped.clone())
    }));
    Ok(Background { stop, tasks })
}

/// Runs a background loop and starts it again when it panics: a bug met in one batch must
/// not end sending for the life of the process. A loop that returns (it was told to stop)
/// is not restarted.
fn supervise<F, Fut>(
    name: &'static str,
    mut stopped: watch::Receiver<bool>,
    start: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match tokio::spawn(start()).await {
                Err(err) if err.is_panic() && !*stopped.borrow() => {
                    tracing::error!(task = name, "background task panicked; restarting it");
                    tokio::select! {
                        _ = tokio::time::sleep(RESTART_AFTER) => {}
                        _ = stopped.changed() => break,
                    }
                }
                _ => break,
            }
        }
    })
}

/// How long a panicked background loop rests before it starts again, so that a bug that
/// strikes at once does not spin.
const RESTART_AFTER: Duration = Duration::from_secs(1);

async fn confirm_sandbox_loop(
    db: DatabaseConnection,
    clock: SharedClock,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SANDBOX_CONFIRM_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = clock.now();
                let confirm = crate::engine::events::confirm_sandbox(
                    &db,
                    now - chrono::Duration::seconds(2),
                    now - chrono::Duration::hours(1),
                    2_000,
                    now,
                );
                if let Err(err) = confirm.await {
                    tracing::warn!(error = %crate::error::loggable(&err), "sandbox confirmations failed; will retry");
                }
            }
            _ = stopped.changed() => break,
        }
    }
}

async fn heartbeat_loop(
    db: DatabaseConnection,
    id: uuid::Uuid,
    limits: Arc<loyalcast_delivery::rate_limit::RateLimiterRegistry>,
    clock: SharedClock,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    let mut sharing = 1;
    loop {
        tokio::select! {
            _ = tick.tick() => match heartbeat(&db, id, clock.now()).await {
                Ok(processes) => {
                    if processes.get() != sharing {
                        sharing = processes.get();
                        tracing::info!(processes = sharing, "sending processes share the providers' rate limits");
                    }
                    limits.share_with(processes);
                }
                Err(err) => tracing::warn!(error = %crate::error::loggable(err.as_ref()), "worker heartbeat failed; will retry"),
            },
            _ = stopped.changed() => {
                if let Err(err) = leave(&db, id).await {
                    tracing::warn!(error = %crate::error::loggable(err.as_ref()), "could not remove the worker heartbeat");
                }
                break;
            }
        }
    }
}

async fn housekeeping_loop(
    db: DatabaseConnection,
    clock: SharedClock,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(err) = housekeeping(&db, clock.now()).await {
                    tracing::warn!(error = %crate::error::loggable(err.as_ref()), "housekeeping failed; will retry");
                }
            }
            _ = stopped.changed() => break,
        }
    }
}

/// How long a starting process waits before counting the sending processes a second time.
const JOIN_PAUSE: Duration = Duration::from_secs(1);

/// How often a sending process says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A process not seen for this long no longer counts (it stopped or died).
const HEARTBEAT_STALE_SECONDS: i64 = 20;

/// Records that process `id` is sending at `now`, forgets processes long gone, and returns how
/// many processes send now, this one included.
pub async fn heartbeat(
    db: &DatabaseConnection,
    id: uuid::Uuid,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<NonZeroU32> {
    let backend = db.get_database_backend();
    let seen = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE worker_processes SET seen_at = $1 WHERE id = $2",
            [now.into(), id.into()],
        ))
        .await?;
    if seen.rows_affected() == 0 {
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO worker_processes (id, started_at, seen_at) VALUES ($1, $2, $2)",
            [id.into(), now.into()],
        ))
        .await?;
    }
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "DELETE FROM worker_processes WHERE seen_at < $1",
        [(now - chrono::Duration::hours(1)).into()],
    ))
    .await?;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT COUNT(*) AS n FROM worker_processes WHERE seen_at >= $1",
            [(now - chrono::Duration::seconds(HEARTBEAT_STALE_SECONDS)).into()],
        ))
        .await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 1,
    };
    Ok(u32::try_from(n)
        .ok()
        .and_then(NonZeroU32::new)
        .unwrap_or(NonZeroU32::MIN))
}

/// A process that stops says so, and the others take its share at their next heartbeat.
pub async fn leave(db: &DatabaseConnection, id: uuid::Uuid) -> anyhow::Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "DELETE FROM worker_processes WHERE id = $1",
        [id.into()],
    ))
    .await?;
    Ok(())
}

pub async fn housekeeping(db: &DatabaseConnection, now: DateTime<Utc>) -> anyhow::Result<()> {
    revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(now - chrono::Duration::hours(24)))
        .exec(db)
        .await?;
    // The change feed keeps a day: as far back as a stream can resume.
    crate::feed::forget_before(db, now - chrono::Duration::hours(crate::feed::KEEP_HOURS)).await?;
    crate::feed::tickets::forget_expired(db, now).await?;
    crate::auth::throttle::forget_before(db, now - crate::auth::throttle::MAX_WINDOW).await?;
    Ok(())
}

/// How this process wakes Apple devices: APNs through `a2` with the configured credentials,
/// or the sandbox (logged) without them.
fn pass_pushes(
    config: &Config,
    clock: SharedClock,
) -> anyhow::Result<crate::engine::worker::PassPushes> {
    use crate::wallet::apns::{A2Notifier, PassNotifier, SandboxNotifier};
    let wallet = &config.apple_wallet;
    let notifier: Arc<dyn PassNotifier> = match A2Notifier::from_config(wallet)? {
        Some(real) => Arc::new(real),
        None => {
            tracing::info!(
                channel = "apple",
                "sandbox provider: wallet pushes update passes but wake no device (no APNs credentials)"
            );
            Arc::new(SandboxNotifier)
        }
    };
    use crate::wallet::google::{GoogleWallet, GoogleWalletClient, SandboxGoogleWallet};
    let google: Arc<dyn GoogleWallet> = match GoogleWalletClient::from_config(
        &config.google_wallet,
        clock,
    )? {
        Some(real) => Arc::new(real),
        None => {
            tracing::info!(
                channel = "google",
                "sandbox provider: pushes to Google Wallet passes are simulated, not sent (no issuer configured)"
            );
            Arc::new(SandboxGoogleWallet)
        }
    };
    use crate::wallet::webpush::{SandboxWebPush, Vapid, VapidSender, WebPushSender};
    let web: Arc<dyn WebPushSender> = match Vapid::from_config(&config.web_push)? {
        Some(vapid) => Arc::new(VapidSender::new(Arc::new(vapid))?),
        None => {
            tracing::info!(
                channel = "web",
                "sandbox provider: web push messages are simulated, not sent (no VAPID key)"
            );
            Arc::new(SandboxWebPush)
        }
    };
    Ok(crate::engine::worker::PassPushes {
        notifier,
        web,
        default_topic: wallet.pass_type_id.clone(),
        gap: Duration::from_secs(wallet.push_gap_seconds),
        google,
        google_rate: Some(f64::from(config.google_wallet.requests_per_second.max(1))),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_panicking_background_loop_is_started_again_until_it_stops() {
        let starts = Arc::new(AtomicU32::new(0));
        let (stop, stopped) = watch::channel(false);
        let task = supervise("test", stopped, {
            let starts = starts.clone();
            move || {
                let starts = starts.clone();
                async move {
                    // The first two runs meet a bug; the third finishes.
                    if starts.fetch_add(1, Ordering::SeqCst) < 2 {
                        panic!("a bug in a batch");
                    }
                }
            }
        });
        // Paused time moves on by itself while every task waits.
        task.await.unwrap_or_default();
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        drop(stop);
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_panics_while_stopping_is_not_restarted() {
        let starts = Arc::new(AtomicU32::new(0));
        let (stop, stopped) = watch::channel(true);
        let task = supervise("test", stopped, {
            let starts = starts.clone();
            move || {
                let starts = starts.clone();
                async move {
                    starts.fetch_add(1, Ordering::SeqCst);
                    panic!("a bug while stopping");
                }
            }
        });
        task.await.unwrap_or_default();
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        drop(stop);
    }
}
