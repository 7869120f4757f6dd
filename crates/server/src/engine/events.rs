//! What happens to a message after it was sent: the provider confirms or reports a failure,
//! the recipient opens it or unsubscribes. Each change is a guarded update of the delivery
//! (`WHERE status IN ...`), so a repeated event counts once.

use loyalcast_dto::Channel;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait,
};

use super::{channel_of, status};
use crate::entity::{customer, delivery, mailing_stat};
use crate::error::Result;
use crate::segments;

/// Moves a delivery from one of `from` to `to`; the delivery when it moved.
async fn advance(
    db: &impl ConnectionTrait,
    id: i64,
    from: &[i16],
    to: i16,
) -> Result<Option<delivery::Model>> {
    let moved = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, to.into())
        .col_expr(delivery::Column::UpdatedAt, chrono::Utc::now().into())
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Status.is_in(from.iter().copied()))
        .exec(db)
        .await?;
    if moved.rows_affected == 0 {
        return Ok(None);
    }
    Ok(delivery::Entity::find_by_id(id).one(db).await?)
}

/// Adds to a mailing's report counters for one channel (by its code), in one statement.
async fn bump(
    db: &impl ConnectionTrait,
    mailing_id: uuid::Uuid,
    channel: i16,
    changes: &[(mailing_stat::Column, i64)],
) -> Result<()> {
    let Some(channel) = channel_of(channel) else {
        return Ok(());
    };
    let mut update = mailing_stat::Entity::update_many();
    for (column, by) in changes {
        update = update.col_expr(*column, Expr::col(*column).add(*by));
    }
    update
        .filter(mailing_stat::Column::MailingId.eq(mailing_id))
        .filter(mailing_stat::Column::Channel.eq(channel.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// The provider confirmed delivery.
pub async fn delivered(db: &impl TransactionTrait, id: i64) -> Result<bool> {
    let txn = db.begin().await?;
    let moved = advance(&txn, id, &[status::SENT], status::DELIVERED).await?;
    if let Some(d) = &moved {
        bump(
            &txn,
            d.mailing_id,
            d.channel,
            &[(mailing_stat::Column::Delivered, 1)],
        )
        .await?;
    }
    txn.commit().await?;
    Ok(moved.is_some())
}

/// The provider reported, after accepting it, that the message could not be delivered.
pub async fn failed_after_send(db: &impl TransactionTrait, id: i64, reason: &str) -> Result<bool> {
    let txn = db.begin().await?;
    let moved = advance(&txn, id, &[status::SENT], status::FAILED).await?;
    if let Some(d) = &moved {
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Error,
                Some(reason.chars().take(500).collect::<String>()).into(),
            )
            .filter(delivery::Column::Id.eq(d.id))
            .exec(&txn)
            .await?;
        bump(
            &txn,
            d.mailing_id,
            d.channel,
            &[
                (mailing_stat::Column::Sent, -1),
                (mailing_stat::Column::Failed, 1),
            ],
        )
        .await?;
    }
    txn.commit().await?;
    Ok(moved.is_some())
}

/// The recipient opened the message (the email's tracking pixel loaded). An opened message
/// was delivered, so one no provider had confirmed counts as delivered too: the report's
/// figures nest (sent ⊇ delivered ⊇ opened).
pub async fn opened(db: &impl TransactionTrait, id: i64) -> Result<bool> {
    let txn = db.begin().await?;
    let opened = (mailing_stat::Column::Opened, 1);
    let moved = match advance(&txn, id, &[status::SENT], status::OPENED).await? {
        Some(d) => {
            let delivered = (mailing_stat::Column::Delivered, 1);
            bump(&txn, d.mailing_id, d.channel, &[delivered, opened]).await?;
            Some(d)
        }
        None => {
            let d = advance(&txn, id, &[status::DELIVERED], status::OPENED).await?;
            if let Some(d) = &d {
                bump(&txn, d.mailing_id, d.channel, &[opened]).await?;
            }
            d
        }
    };
    txn.commit().await?;
    Ok(moved.is_some())
}

/// The channel an unsubscribe link of this delivery turns off, or `None` for a delivery that
/// is not (or no longer) there. Reads only: the page that asks to confirm shows it.
pub async fn unsubscribe_channel(db: &impl ConnectionTrait, id: i64) -> Result<Option<Channel>> {
    let found = delivery::Entity::find_by_id(id).one(db).await?;
    Ok(found.and_then(|d| channel_of(d.channel)))
}

/// The recipient used the message's unsubscribe link: that channel is off for them at
/// once, and the mailing's report counts it. Returns the channel, or `None` for an unknown
/// delivery.
pub async fn unsubscribe(db: &impl TransactionTrait, id: i64) -> Result<Option<Channel>> {
    let txn = db.begin().await?;
    let Some(d) = delivery::Entity::find_by_id(id).one(&txn).await? else {
        return Ok(None);
    };
    let Some(channel) = channel_of(d.channel) else {
        return Ok(None);
    };
    let (_, consent) = segments::reachable(channel);
    let changed = customer::Entity::update_many()
        .col_expr(consent, false.into())
        .filter(customer::Column::Id.eq(d.customer_id))
        .filter(consent.eq(true))
        .exec(&txn)
        .await?;
    if changed.rows_affected > 0 {
        bump(
            &txn,
            d.mailing_id,
            d.channel,
            &[(mailing_stat::Column::OptedOutAfter, 1)],
        )
        .await?;
    }
    txn.commit().await?;
    Ok(Some(channel))
}

/// A STOP (or START) from a phone: SMS consent off (or on) for every customer with that
/// number. Providers block a sender for a number that said STOP, whichever merchant it
/// was, so the suppression follows the number.
pub async fn sms_consent_for_phone(
    db: &impl ConnectionTrait,
    phone: &str,
    consent: bool,
) -> Result<u64> {
    let changed = customer::Entity::update_many()
        .col_expr(customer::Column::SmsConsent, consent.into())
        .col_expr(customer::Column::UpdatedAt, chrono::Utc::now().into())
        .filter(customer::Column::Phone.eq(phone))
        .exec(db)
        .await?;
    Ok(changed.rows_affected)
}

/// Sandbox providers send nothing, so no provider would ever confirm their messages and the
/// report of a `make run` mailing would stop at "sent". This plays the provider's part for
/// messages a sandbox accepted (provider ids `sandbox-...`) at least `settled_before`: each
/// is marked delivered, and every third email (by id) also opened, as if its tracking pixel
/// had loaded. Only mailings active since `active_since` are looked at, so the scan stays
/// within recent deliveries. Returns how many deliveries moved.
pub async fn confirm_sandbox(
    db: &impl TransactionTrait,
    settled_before: chrono::DateTime<chrono::Utc>,
    active_since: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> Result<u64> {
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    // The outer `status = SENT` is checked again on the locked row, so two processes doing
    // this at once count each delivery once.
    let sql = format!(
        "UPDATE deliveries SET status = CASE WHEN channel = {email} AND id % 3 = 0 THEN {opened} ELSE {delivered} END, \
         updated_at = $1 \
         WHERE status = {sent} AND id IN (SELECT id FROM deliveries WHERE status = {sent} AND provider_id LIKE 'sandbox-%' \
         AND updated_at <= $2 AND mailing_id IN (SELECT id FROM mailings WHERE updated_at >= $3) ORDER BY id LIMIT {limit}) \
         RETURNING mailing_id, channel, status",
        email = super::channel_code(Channel::Email),
        opened = status::OPENED,
        delivered = status::DELIVERED,
        sent = status::SENT,
    );
    let rows = txn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [
                chrono::Utc::now().into(),
                settled_before.into(),
                active_since.into(),
            ],
        ))
        .await?;
    let mut moved: std::collections::BTreeMap<(uuid::Uuid, i16), (i64, i64)> =
        std::collections::BTreeMap::new();
    for row in &rows {
        let mailing_id: uuid::Uuid = row.try_get("", "mailing_id")?;
        let channel: i16 = row.try_get("", "channel")?;
        let state: i16 = row.try_get("", "status")?;
        let entry = moved.entry((mailing_id, channel)).or_default();
        entry.0 += 1;
        if state == status::OPENED {
            entry.1 += 1;
        }
    }
    for ((mailing_id, channel), (delivered, opened)) in moved {
        let changes = [
            (mailing_stat::Column::Delivered, delivered),
            (mailing_stat::Column::Opened, opened),
        ];
        bump(&txn, mailing_id, channel, &changes).await?;
    }
    txn.commit().await?;
    Ok(rows.len() as u64)
}
