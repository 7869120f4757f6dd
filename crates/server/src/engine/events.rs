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

async fn bump(
    db: &impl ConnectionTrait,
    d: &delivery::Model,
    column: mailing_stat::Column,
    by: i64,
) -> Result<()> {
    let Some(channel) = channel_of(d.channel) else {
        return Ok(());
    };
    mailing_stat::Entity::update_many()
        .col_expr(column, Expr::col(column).add(by))
        .filter(mailing_stat::Column::MailingId.eq(d.mailing_id))
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
        bump(&txn, d, mailing_stat::Column::Delivered, 1).await?;
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
        bump(&txn, d, mailing_stat::Column::Sent, -1).await?;
        bump(&txn, d, mailing_stat::Column::Failed, 1).await?;
    }
    txn.commit().await?;
    Ok(moved.is_some())
}

/// The recipient opened the message (the email's tracking pixel loaded).
pub async fn opened(db: &impl TransactionTrait, id: i64) -> Result<bool> {
    let txn = db.begin().await?;
    let moved = advance(&txn, id, &[status::SENT, status::DELIVERED], status::OPENED).await?;
    if let Some(d) = &moved {
        bump(&txn, d, mailing_stat::Column::Opened, 1).await?;
    }
    txn.commit().await?;
    Ok(moved.is_some())
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
        bump(&txn, &d, mailing_stat::Column::OptedOutAfter, 1).await?;
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
