//! Consent that can be traced. Every change of a customer's consent on a channel is written
//! to `consent_changes` in the transaction that makes it, with its source, who made it (a
//! member or an API key, when anyone did) and when.
//!
//! An opt-out the customer made themselves (a STOP, an unsubscribe link, a provider's
//! "unsubscribed" answer) is also kept in `consent_opt_outs` while it is in force, with what
//! caused it: only the customer's own act removes it (a START undoes the opt-outs a STOP on
//! the same number caused, the re-subscribe page the one of its channel), and while it is
//! there neither a team member nor an import can turn the channel on.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalcast_dto::{Channel, ConsentChange, ConsentSource};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::error::Result;
use super::queue;
use crate::entity::{consent_change, consent_opt_out, customer, inbound_message};

/// Who made a change: a team member or an API key, or nobody (the customer, a provider).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actor {
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
}

/// One change to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub merchant_id: Uuid,
    pub customer_id: Uuid,
    pub channel: Channel,
    pub granted: bool,
    pub source: ConsentSource,
    pub actor: Actor,
    pub legal_basis: Option<String>,
}

fn channel_named(name: &str) -> Option<Channel> {
    Channel::ALL.into_iter().find(|c| c.as_str() == name)
}

/// Writes changes to the history.
pub async fn record(
    db: &impl ConnectionTrait,
    changes: &[Change],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in changes.chunks(500) {
        let rows = chunk.iter().map(|c| consent_change::ActiveModel {
            merchant_id: Set(c.merchant_id),
            customer_id: Set(c.customer_id),
            channel: Set(c.channel.as_str().to_owned()),
            granted: Set(c.granted),
            source: Set(c.source.as_str().to_owned()),
            actor_member_id: Set(c.actor.member_id),
            actor_api_key_id: Set(c.actor.api_key_id),
            legal_basis: Set(c.legal_basis.clone()),
            at: Set(now),
            ..Default::default()
        });
        consent_change::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The channels each of these customers opted out of themselves.
pub async fn opted_out(
    db: &impl ConnectionTrait,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Channel>>> {
    let mut by_customer: HashMap<Uuid, Vec<Channel>> = HashMap::new();
    for chunk in customers.chunks(500) {
        let rows = consent_opt_out::Entity::find()
            .filter(consent_opt_out::Column::CustomerId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            if let Some(channel) = channel_named(&row.channel) {
                by_customer
                    .entry(row.customer_id)
                    .or_default()
                    .push(channel);
            }
        }
    }
    for channels in by_customer.values_mut() {
        channels.sort();
    }
    Ok(by_customer)
}

/// The latest `limit` changes of a customer, newest first.
pub async fn history(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    limit: u64,
) -> Result<Vec<ConsentChange>> {
    let rows = consent_change::Entity::find()
        .filter(consent_change::Column::CustomerId.eq(customer_id))
        .order_by_desc(consent_change::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(ConsentChange {
                channel: channel_named(&r.channel)?,
                granted: r.granted,
                source: ConsentSource::parse(&r.source)?,
                actor_member_id: r.actor_member_id,
                actor_api_key_id: r.actor_api_key_id,
                legal_basis: r.legal_basis,
                at: r.at,
            })
        })
        .collect())
}

/// Sets one channel's consent of a customer, if it is not that already; whether it changed.
async fn set(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    channel: Channel,
    on: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (_, column) = crate::segments::reachable(channel);
    let changed = customer::Entity::update_many()
        .col_expr(column, on.into())
        .col_expr(customer::Column::UpdatedAt, now.into())
        .filter(customer::Column::Id.eq(customer_id))
        .filter(column.eq(!on))
        .exec(db)
        .await?;
    Ok(changed.rows_affected > 0)
}

/// The customer opted out of `channel` themselves: the channel is off, the opt-out is kept
/// (the first one in force stays, with its cause), and the history records it. `number` is
/// our number that received a STOP. Whether consent turned off.
pub async fn customer_opted_out(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    channel: Channel,
    source: ConsentSource,
    number: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (_, column) = crate::segments::reachable(channel);
    let Some((merchant_id, on)) = customer::Entity::find_by_id(customer_id)
        .select_only()
        .column(customer::Column::MerchantId)
        .column(column)
        .into_tuple::<(Uuid, bool)>()
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let kept = consent_opt_out::Entity::insert(consent_opt_out::ActiveModel {
        customer_id: Set(customer_id),
        channel: Set(channel.as_str().to_owned()),
        merchant_id: Set(merchant_id),
        source: Set(source.as_str().to_owned()),
        number: Set(number.map(str::to_owned)),
        revoked: Set(on),
        at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            consent_opt_out::Column::CustomerId,
            consent_opt_out::Column::Channel,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?
        > 0;
    let turned_off = set(db, customer_id, channel, false, now).await?;
    if kept || turned_off {
        let change = Change {
            merchant_id,
            customer_id,
            channel,
            granted: false,
            source,
            actor: Actor::default(),
            legal_basis: None,
        };
        record(db, &[change], now).await?;
    }
    Ok(turned_off)
}

/// The customer subscribed again on `channel` themselves (the re-subscribe page): their
/// opt-out on it ends and the channel is on. Whether consent turned on.
pub async fn customer_opted_in(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    channel: Channel,
    source: ConsentSource,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(merchant_id) = customer::Entity::find_by_id(customer_id)
        .select_only()
        .column(customer::Column::MerchantId)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    consent_opt_out::Entity::delete_many()
        .filter(consent_opt_out::Column::CustomerId.eq(customer_id))
        .filter(consent_opt_out::Column::Channel.eq(channel.as_str()))
        .exec(db)
        .await?;
    let turned_on = set(db, customer_id, channel, true, now).await?;
    if turned_on {
        let change = Change {
            merchant_id,
            customer_id,
            channel,
            granted: true,
            source,
            actor: Actor::default(),
            legal_basis: None,
        };
        record(db, &[change], now).await?;
    }
    Ok(turned_on)
}

/// What an inbound STOP or START did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// This MessageSid was acted on before: nothing changed.
    Replayed,
    /// How many customers' SMS consent changed.
    Applied(u64),
}

/// A STOP (`stop`) or START from `phone` to our number `to`, acted on once per MessageSid.
///
/// A STOP reaches the customers with that phone whom an SMS was ever queued for: the
/// merchants who send to that phone from our number (there is one sending number or
/// messaging service for the installation, so "from that number" is every SMS we sent). Each
/// gets an opt-out caused by a STOP on `to`. A START undoes exactly those (the opt-outs a
/// STOP on `to` caused, for customers with that phone): the channel is on again where the
/// STOP turned it off. An opt-out from an unsubscribe link, a provider's answer or a STOP on
/// another number stays.
pub async fn sms_keyword(
    db: &impl TransactionTrait,
    message_sid: &str,
    phone: &str,
    to: &str,
    stop: bool,
    now: DateTime<Utc>,
) -> Result<Keyword> {
    let txn = db.begin().await?;
    let first = inbound_message::Entity::insert(inbound_message::ActiveModel {
        message_sid: Set(message_sid.to_owned()),
        received_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(inbound_message::Column::MessageSid)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?
        > 0;
    if !first {
        txn.commit().await?;
        return Ok(Keyword::Replayed);
    }
    let mut changed = 0;
    if stop {
        for customer_id in queue::sms_recipients_with_phone(&txn, phone).await? {
            let off = customer_opted_out(
                &txn,
                customer_id,
                Channel::Sms,
                ConsentSource::Stop,
                Some(to),
                now,
            )
            .await?;
            changed += u64::from(off);
        }
    } else {
        let opt_outs = consent_opt_out::Entity::find()
            .filter(consent_opt_out::Column::Channel.eq(Channel::Sms.as_str()))
            .filter(consent_opt_out::Column::Source.eq(ConsentSource::Stop.as_str()))
            .filter(consent_opt_out::Column::Number.eq(to))
            .filter(
                consent_opt_out::Column::CustomerId.in_subquery(
                    Query::select()
                        .column(customer::Column::Id)
                        .from(customer::Entity)
                        .and_where(customer::Column::Phone.eq(phone))
                        .to_owned(),
                ),
            )
            .all(&txn)
            .await?;
        for opt_out in opt_outs {
            consent_opt_out::Entity::delete_by_id((opt_out.customer_id, opt_out.channel.clone()))
                .exec(&txn)
                .await?;
            if opt_out.revoked && set(&txn, opt_out.customer_id, Channel::Sms, true, now).await? {
                let change = Change {
                    merchant_id: opt_out.merchant_id,
                    customer_id: opt_out.customer_id,
                    channel: Channel::Sms,
                    granted: true,
                    source: ConsentSource::Start,
                    actor: Actor::default(),
                    legal_basis: None,
                };
                record(&txn, &[change], now).await?;
                changed += 1;
            }
        }
    }
    txn.commit().await?;
    Ok(Keyword::Applied(changed))
}
