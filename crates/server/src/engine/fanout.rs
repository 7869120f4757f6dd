//! Expanding a mailing into deliveries inside the transaction that accepts it, and reserving
//! the credits they need. The audience is expanded in the database (`INSERT ... SELECT`);
//! only an SMS whose length depends on the recipient is rendered in Rust, in keyset-paged
//! batches, so that each delivery reserves exactly its own segments and memory stays flat.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalcast_dto::{Channel, SegmentRule};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::content::Prepared;
use super::credits::{self, Kind};
use super::error::Result;
use super::queue::{self, NewRow};
use super::source::{RecipientValues, Source};
use crate::entity::{customer, mailing_stat};
use crate::segments::{self, Context};

/// What one channel of a mailing came to.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelFanout {
    pub deliveries: i64,
    pub credits: i64,
}

/// What to expand.
pub struct Plan<'a> {
    pub mailing_id: Uuid,
    /// Who: the customers this rule matches now.
    pub rule: &'a SegmentRule,
    pub channels: &'a [Channel],
    pub prepared: &'a Prepared,
    pub values: &'a RecipientValues,
    /// Deliveries start held (scheduled) rather than queued.
    pub held: bool,
    /// Only the customers whose message of this mailing failed (a resend).
    pub resend_of: Option<Uuid>,
}

/// Creates the deliveries of a mailing for the customers the plan's rule matches now, with
/// the contact data and consent each channel needs; reserves the credits (each SMS counted
/// with the longest link it can hold, so a reservation is never short); writes the counters.
pub async fn expand(
    db: &impl ConnectionTrait,
    ctx: &Context,
    plan: Plan<'_>,
) -> Result<HashMap<Channel, ChannelFanout>> {
    let Plan {
        mailing_id,
        rule,
        channels,
        prepared,
        values,
        held,
        resend_of,
    } = plan;
    let source = Source::mailing(mailing_id);
    let now = ctx.now;
    let mut result = HashMap::new();
    for &channel in channels {
        let (address, consent) = segments::reachable(channel);
        let mut condition = segments::condition(rule, ctx)
            .add(address.is_not_null())
            .add(consent.eq(true));
        if let Some(resent) = resend_of {
            // A resend reaches the customers whose message failed on this channel.
            condition = condition.add(
                customer::Column::Id
                    .in_subquery(queue::failed_customers(Source::mailing(resent), channel)),
            );
        }
        let fanout = if channel == Channel::Sms && prepared.sms_is_personal() {
            expand_personal_sms(db, source, condition, prepared, values, held, now).await?
        } else {
            let credits = match channel {
                Channel::Sms => prepared.sms_segments(&values.base),
                Channel::Email => 1,
                Channel::Telegram | Channel::Messenger => 0,
            };
            let deliveries =
                queue::insert_for_customers(db, source, channel, condition, credits, held, now)
                    .await?;
            ChannelFanout {
                deliveries,
                credits: deliveries * i64::from(credits),
            }
        };
        result.insert(channel, fanout);
        mailing_stat::Entity::insert(mailing_stat::ActiveModel {
            mailing_id: Set(mailing_id),
            channel: Set(channel.as_str().to_owned()),
            total: Set(fanout.deliveries),
            sent: Set(0),
            delivered: Set(0),
            opened: Set(0),
            failed: Set(0),
            unsubscribed: Set(0),
            opted_out_after: Set(0),
            cancelled: Set(0),
            credits_reserved: Set(fanout.credits),
            credits_used: Set(0),
            repeats: Set(0),
            uncertain: Set(0),
            sandbox: Set(0),
        })
        .exec_without_returning(db)
        .await?;
        if let Some(kind) = Kind::of(channel) {
            credits::reserve(
                db,
                ctx.merchant_id,
                kind,
                fanout.credits,
                super::source::Source::mailing(mailing_id),
                now,
            )
            .await?;
        }
    }
    Ok(result)
}

const PAGE: u64 = 2_000;

async fn expand_personal_sms(
    db: &impl ConnectionTrait,
    source: Source,
    condition: Condition,
    prepared: &Prepared,
    values: &RecipientValues,
    held: bool,
    now: DateTime<Utc>,
) -> Result<ChannelFanout> {
    let mut total = ChannelFanout::default();
    personal_sms_pages(
        db,
        condition,
        prepared,
        values,
        u64::MAX,
        async |page: Vec<(Uuid, i32)>| {
            let rows: Vec<NewRow> = page
                .iter()
                .map(|(customer_id, credits)| NewRow {
                    customer_id: *customer_id,
                    credits: *credits,
                })
                .collect();
            total.deliveries +=
                queue::insert_rows(db, source, Channel::Sms, &rows, held, now).await?;
            total.credits += page.iter().map(|(_, c)| i64::from(*c)).sum::<i64>();
            Ok(())
        },
    )
    .await?;
    Ok(total)
}

/// Walks the customers `condition` matches in keyset-ordered pages (memory stays flat) and
/// gives each page's (customer, SMS segments of their message) to `visit`, up to `at_most`
/// customers in all.
pub async fn personal_sms_pages(
    db: &impl ConnectionTrait,
    condition: Condition,
    prepared: &Prepared,
    values: &RecipientValues,
    at_most: u64,
    mut visit: impl AsyncFnMut(Vec<(Uuid, i32)>) -> Result<()>,
) -> Result<()> {
    let mut after: Option<Uuid> = None;
    let mut left = at_most;
    while left > 0 {
        let mut query = customer::Entity::find().filter(condition.clone());
        if let Some(last) = after {
            query = query.filter(customer::Column::Id.gt(last));
        }
        let page = query
            .order_by_asc(customer::Column::Id)
            .limit(std::cmp::Ord::min(PAGE, left))
            .all(db)
            .await?;
        left -= page.len() as u64;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let card_names = values
            .card_names(db, &page.iter().map(|c| c.id).collect::<Vec<_>>())
            .await?;
        let credits = page
            .iter()
            .map(|c| {
                (
                    c.id,
                    prepared.sms_segments(&values.for_customer(c, card_names.get(&c.id))),
                )
            })
            .collect();
        let full = page.len() as u64 == PAGE;
        visit(credits).await?;
        if !full {
            break;
        }
    }
    Ok(())
}
