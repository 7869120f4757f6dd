//! Background work shared by `serve` and `worker`: the delivery worker and housekeeping
//! (expired revoked tokens, day-old idempotency records). Everything here coordinates only
//! through the database, so any number of processes may run it against one PostgreSQL.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use loyalcast_delivery::config::{
    DeliveryConfig, EmailProvider, MessengerProvider, SmsProvider, TelegramProvider,
};
use loyalcast_delivery::retry::RetryPolicy;
use loyalcast_dto::Channel;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
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
    let router = Arc::new(config.delivery.clone().build_router()?);
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
    let delivery_stop = stopped.clone();
    tasks.push(tokio::spawn(async move { worker.run(delivery_stop).await }));
    if Channel::ALL.into_iter().any(is_sandbox) {
        let db = db.clone();
        let mut sandbox_stop = stopped.clone();
        tasks.push(tokio::spawn(async move {
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
                    _ = sandbox_stop.changed() => break,
                }
            }
        }));
    }
    let mut housekeeping_stop = stopped;
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(err) = housekeeping(&db).await {
                        tracing::warn!(error = %err, "housekeeping failed; will retry");
                    }
                }
                _ = housekeeping_stop.changed() => break,
            }
        }
    }));
    Ok(Background { stop, tasks })
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
    Ok(())
}
