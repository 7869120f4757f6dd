//! Expanding a mailing into deliveries inside the transaction that accepts it, and reserving
//! the credits they need. The audience is expanded in the database (`INSERT ... SELECT`);
//! only an SMS whose length depends on the recipient is rendered in Rust, in keyset-paged
//! batches, so that each delivery reserves exactly its own segments and memory stays flat.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalcast_delivery::template::TemplateValues;
use loyalcast_dto::{Channel, SegmentRule};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::content::Prepared;
use super::{channel_code, credit_kind, status};
use crate::balances;
use crate::entity::{customer, delivery, mailing_stat};
use crate::error::Result;
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
/// the contact data and consent each channel needs; reserves the credits; writes the
/// counters.
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
    let now = Utc::now();
    let initial = if held { status::HELD } else { status::QUEUED };
    let mut result = HashMap::new();
    for &channel in channels {
        let (address, consent) = segments::reachable(channel);
        let mut condition = segments::condition(rule, ctx)
            .add(address.is_not_null())
            .add(consent.eq(true));
        if let Some(source) = resend_of {
            // A resend reaches the customers whose message failed on this channel.
            condition = condition.add(
                customer::Column::Id.in_subquery(
                    Query::select()
                        .column(delivery::Column::CustomerId)
                        .from(delivery::Entity)
                        .and_where(delivery::Column::MailingId.eq(source))
                        .and_where(delivery::Column::Channel.eq(channel_code(channel)))
                        .and_where(delivery::Column::Status.eq(status::FAILED))
                        .to_owned(),
                ),
            );
        }
        let fanout = if channel == Channel::Sms && prepared.sms_is_personal() {
            expand_personal_sms(db, mailing_id, condition, prepared, values, initial, now).await?
        } else {
            let credits = match channel {
                Channel::Sms => prepared.sms_segments(&values.base),
                Channel::Email => 1,
                Channel::Telegram | Channel::Messenger => 0,
            };
            expand_uniform(db, mailing_id, channel, condition, credits, initial, now).await?
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
        })
        .exec_without_returning(db)
        .await?;
        if let Some(kind) = credit_kind(channel) {
            balances::reserve(
                db,
                ctx.merchant_id,
                kind,
                fanout.credits,
                &format!("mailing {mailing_id}"),
            )
            .await?;
        }
    }
    Ok(result)
}

async fn expand_uniform(
    db: &impl ConnectionTrait,
    mailing_id: Uuid,
    channel: Channel,
    condition: Condition,
    credits: i32,
    initial: i16,
    now: DateTime<Utc>,
) -> Result<ChannelFanout> {
    use delivery::Column as D;
    let select = Query::select()
        .expr(Expr::val(mailing_id))
        .column((customer::Entity, customer::Column::Id))
        .expr(Expr::val(channel_code(channel)))
        .expr(Expr::val(initial))
        .expr(Expr::val(0i16))
        .expr(Expr::val(now))
        .expr(Expr::val(credits))
        .expr(Expr::val(now))
        .from(customer::Entity)
        .cond_where(condition)
        .to_owned();
    let insert = Query::insert()
        .into_table(delivery::Entity)
        .columns([
            D::MailingId,
            D::CustomerId,
            D::Channel,
            D::Status,
            D::Attempts,
            D::NextAttemptAt,
            D::Credits,
            D::UpdatedAt,
        ])
        .select_from(select)
        .map_err(|e| anyhow::anyhow!("building the fan-out: {e}"))?
        .on_conflict(
            OnConflict::columns([D::MailingId, D::CustomerId, D::Channel])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    let inserted = db.execute(&insert).await?.rows_affected() as i64;
    Ok(ChannelFanout {
        deliveries: inserted,
        credits: inserted * i64::from(credits),
    })
}

const PAGE: u64 = 2_000;

async fn expand_personal_sms(
    db: &impl ConnectionTrait,
    mailing_id: Uuid,
    condition: Condition,
    prepared: &Prepared,
    values: &RecipientValues,
    initial: i16,
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
            let rows: Vec<delivery::ActiveModel> = page
                .iter()
                .map(|(customer_id, credits)| delivery::ActiveModel {
                    mailing_id: Set(mailing_id),
                    customer_id: Set(*customer_id),
                    channel: Set(channel_code(Channel::Sms)),
                    status: Set(initial),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    lease_until: Set(None),
                    credits: Set(*credits),
                    provider_id: Set(None),
                    error: Set(None),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .collect();
            total.deliveries += rows.len() as i64;
            total.credits += page.iter().map(|(_, c)| i64::from(*c)).sum::<i64>();
            for chunk in rows.chunks(500) {
                delivery::Entity::insert_many(chunk.to_vec())
                    .exec_without_returning(db)
                    .await?;
            }
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

/// The per-recipient values of a merchant's messages.
#[derive(Debug, Clone)]
pub struct RecipientValues {
    /// Values that do not depend on the recipient (merchant name), the rest empty.
    pub base: TemplateValues,
    /// The card named when a customer holds none.
    pub default_card: String,
}

impl RecipientValues {
    pub fn for_customer(&self, c: &customer::Model, card: Option<&String>) -> TemplateValues {
        TemplateValues {
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            card_name: card.cloned().unwrap_or_else(|| self.default_card.clone()),
            points: c.points.to_string(),
            visits: c.visits.to_string(),
            ..self.base.clone()
        }
    }

    /// The name of the card each customer installed first.
    pub async fn card_names(
        &self,
        db: &impl ConnectionTrait,
        customers: &[Uuid],
    ) -> Result<HashMap<Uuid, String>> {
        use crate::entity::{card, pass};
        let mut names = HashMap::new();
        for chunk in customers.chunks(500) {
            let rows: Vec<(Uuid, Uuid)> = pass::Entity::find()
                .select_only()
                .column(pass::Column::CustomerId)
                .column(pass::Column::CardId)
                .filter(pass::Column::CustomerId.is_in(chunk.iter().copied()))
                .order_by_desc(pass::Column::InstalledAt)
                .into_tuple()
                .all(db)
                .await?;
            if rows.is_empty() {
                continue;
            }
            let cards: HashMap<Uuid, String> = card::Entity::find()
                .filter(card::Column::Id.is_in(rows.iter().map(|r| r.1)))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect();
            // Newest first, so the last insert per customer is the first installed.
            for (customer, card) in rows {
                if let Some(name) = cards.get(&card) {
                    names.insert(customer, name.clone());
                }
            }
        }
        Ok(names)
    }
}

/// How many distinct customers got at least one delivery of a mailing.
pub async fn recipients(db: &impl ConnectionTrait, mailing_id: Uuid) -> Result<i64> {
    let count: Option<i64> = delivery::Entity::find()
        .select_only()
        .column_as(
            Expr::col(delivery::Column::CustomerId).count_distinct(),
            "n",
        )
        .filter(delivery::Column::MailingId.eq(mailing_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(count.unwrap_or(0))
}
