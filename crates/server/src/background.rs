//! Background work shared by `serve` and `worker`: the delivery worker and housekeeping
//! (expired revoked tokens and stream tickets, day-old idempotency records and change-feed
//! entries). Everything here coordinates only
//! through the database, so any number of processes may run it against one PostgreSQL.

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use loyalcast_delivery::config::{
    DeliveryConfig, EmailProvider, MessengerProvider, SmsProvider, TelegramProvider,
};
use loyalcast_delivery::retry::RetryPolicy;
use loyalcast_dto::Channel;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use secrecy::SecretString;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::engine::links::LinkSigner;
use crate::engine::worker::{Worker, WorkerConfig};
use crate::entity::{idempotency_key, revoked_token};

static SANDBOX: OnceLock<[bool; 4]> = OnceLock::new();

/// How often sandbox messages are confirmed (see [`crate::engine::events::confirm_sandbox`]).
const SANDBOX_CONFIRM_EVERY: Duration = Duration::from_secs(2);

/// Whether a channel is served by a sandbox provider (nothing is sent for real).
pub fn is_sandbox(channel: Channel) -> bool {
    let flags = SANDBOX.get_or_init(|| sandbox_flags(&DeliveryConfig::default()));
    flags[crate::engine::channel_code(channel) as usize]
}

fn sandbox_flags(config: &DeliveryConfig) -> [bool; 4] {
    [
        matches!(config.sms, SmsProvider::Sandbox),
        matches!(config.email, EmailProvider::Sandbox),
        matches!(config.telegram, TelegramProvider::Sandbox),
        matches!(config.messenger, MessengerProvider::Sandbox),
    ]
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

/// Starts the delivery worker and housekeeping.
pub fn start(
    config: &Config,
    db: DatabaseConnection,
    secret: &SecretString,
) -> anyhow::Result<Background> {
    let _ = SANDBOX.set(sandbox_flags(&config.delivery));
    for channel in Channel::ALL {
        if is_sandbox(channel) {
            tracing::info!(
                channel = channel.as_str(),
                "sandbox provider: messages are simulated, not sent"
            );
        }
    }
    let delivery = config.delivery.clone().build()?;
    let router = Arc::new(delivery.router);
    let limits = delivery.limits;
    let worker = Arc::new(Worker::new(
        db.clone(),
        router,
        RetryPolicy::default(),
        LinkSigner::new(secret),
        config.public_url.clone(),
        WorkerConfig {
            batch: config.worker_batch,
            concurrency: config.worker_concurrency,
            lease: Duration::from_secs(config.worker_lease_seconds.max(1)),
            ..WorkerConfig::default()
        },
    ));
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(supervise("delivery", stopped.clone(), {
        let stopped = stopped.clone();
        move || {
            let (worker, stop) = (worker.clone(), stopped.clone());
            async move { worker.run(stop).await }
        }
    }));
    if Channel::ALL.into_iter().any(is_sandbox) {
        tasks.push(supervise("sandbox confirmations", stopped.clone(), {
            let (db, stopped) = (db.clone(), stopped.clone());
            move || confirm_sandbox_loop(db.clone(), stopped.clone())
        }));
    }
    // Each sending process says it is alive; all of them split every provider account's
    // rate evenly, so that together they keep to it.
    let id = uuid::Uuid::now_v7();
    tasks.push(supervise("heartbeat", stopped.clone(), {
        let (db, stopped) = (db.clone(), stopped.clone());
        move || heartbeat_loop(db.clone(), id, limits.clone(), stopped.clone())
    }));
    tasks.push(supervise("housekeeping", stopped.clone(), {
        let stopped = stopped.clone();
        move || housekeeping_loop(db.clone(), stopped.clone())
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

async fn confirm_sandbox_loop(db: DatabaseConnection, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SANDBOX_CONFIRM_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Utc::now();
                let confirm = crate::engine::events::confirm_sandbox(
                    &db,
                    now - chrono::Duration::seconds(2),
                    now - chrono::Duration::hours(1),
                    2_000,
                );
                if let Err(err) = confirm.await {
                    tracing::warn!(error = %err, "sandbox confirmations failed; will retry");
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
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    let mut sharing = 1;
    loop {
        tokio::select! {
            _ = tick.tick() => match heartbeat(&db, id, Utc::now()).await {
                Ok(processes) => {
                    if processes.get() != sharing {
                        sharing = processes.get();
                        tracing::info!(processes = sharing, "sending processes share the providers' rate limits");
                    }
                    limits.share_with(processes);
                }
                Err(err) => tracing::warn!(error = %err, "worker heartbeat failed; will retry"),
            },
            _ = stopped.changed() => {
                if let Err(err) = leave(&db, id).await {
                    tracing::warn!(error = %err, "could not remove the worker heartbeat");
                }
                break;
            }
        }
    }
}

async fn housekeeping_loop(db: DatabaseConnection, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(err) = housekeeping(&db).await {
                    tracing::warn!(error = %err, "housekeeping failed; will retry");
                }
            }
            _ = stopped.changed() => break,
        }
    }
}

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

pub async fn housekeeping(db: &DatabaseConnection) -> anyhow::Result<()> {
    let now = Utc::now();
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
    Ok(())
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
