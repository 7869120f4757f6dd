//! Background work shared by `serve` and `worker`: housekeeping for now (expired revoked
//! tokens, day-old idempotency records). Every statement is idempotent, so any number of
//! processes may run it against one database.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::entity::{idempotency_key, revoked_token};

pub async fn run(db: DatabaseConnection) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Err(err) = housekeeping(&db).await {
            tracing::warn!(error = %err, "housekeeping failed; will retry");
        }
    }
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
