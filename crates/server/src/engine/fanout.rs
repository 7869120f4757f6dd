//! Expanding a mailing into deliveries inside the transaction that accepts it, and reserving
//! the credits they need. The audience is expanded in the database (`INSERT ... SELECT`);
//! only an SMS whose length depends on the recipient is rendered in Rust, in keyset-paged
//! batches, so that each delivery reserves exactly its own segments and memory stays flat.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalcast_dto::{Channel, PushStatus, SegmentRule};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::content::Prepared;
use super::credits::{self, Kind};
use super::error::Result;
use super::queue::{self, NewRow};
use super::source::{RecipientValues, Source};
use crate::entity::{customer, mailing_stat, merchant, push, push_stat, segment};
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

/// The holders a push reaches: customers of its merchant that its audience matches now.
pub fn push_holders(rule: &SegmentRule, ctx: &Context) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::Query;
    Query::select()
        .column(customer::Column::Id)
        .from(customer::Entity)
        .cond_where(segments::condition(rule, ctx))
        .to_owned()
}

/// The rule a push's audience stands for now: its segment's (a deleted segment matches no
/// one), or everyone.
pub async fn push_rule(db: &impl ConnectionTrait, p: &push::Model) -> Result<SegmentRule> {
    let Some(segment_id) = p.segment_id else {
        return Ok(SegmentRule::everyone());
    };
    let found = segment::Entity::find_by_id(segment_id)
        .filter(segment::Column::MerchantId.eq(p.merchant_id))
        .one(db)
        .await?;
    Ok(match found {
        Some(s) => serde_json::from_str(&s.rule)?,
        None => SegmentRule::Or { rules: vec![] },
    })
}

/// The segment context of a merchant at `now` (its time zone for date rules).
pub async fn merchant_context(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Context> {
    let m = merchant::Entity::find_by_id(merchant_id)
        .one(db)
        .await?
        .ok_or_else(|| super::error::EngineError::Missing(format!("merchant {merchant_id}")))?;
    Ok(Context {
        merchant_id,
        now,
        time_zone: m.time_zone.parse().unwrap_or(chrono_tz::UTC),
    })
}

/// `select` (rows of a table that hangs off passes: device registrations, browser
/// subscriptions) joined to the passes its `pass_id` column names, kept to the push's card
/// and to the holders its audience matches.
fn on_audience_passes(
    mut select: sea_orm::sea_query::SelectStatement,
    pass_id: impl sea_orm::sea_query::IntoColumnRef,
    p: &push::Model,
    holders: sea_orm::sea_query::SelectStatement,
) -> sea_orm::sea_query::SelectStatement {
    use crate::entity::pass;
    use sea_orm::sea_query::{Expr, ExprTrait};
    select
        .inner_join(
            pass::Entity,
            Expr::col((pass::Entity, pass::Column::Id)).equals(pass_id),
        )
        .and_where(Expr::col((pass::Entity, pass::Column::MerchantId)).eq(p.merchant_id))
        .and_where(Expr::col((pass::Entity, pass::Column::CardId)).eq(p.card_id))
        .and_where(Expr::col((pass::Entity, pass::Column::CustomerId)).in_subquery(holders))
        .to_owned()
}

/// A push goes out, inside `db`'s transaction: its message is written to the back of every
/// pass of its card whose holder the audience matches, moving their update tags (one
/// statement); one delivery is queued per Apple device registered for those passes, one
/// per Google pass and one per browser subscribed to them (an `INSERT ... SELECT` each); its counters start. A push that reaches no
/// device completes at once. Returns (passes, deliveries).
pub async fn launch_push(
    db: &impl ConnectionTrait,
    p: &push::Model,
    now: DateTime<Utc>,
) -> Result<(i64, i64)> {
    use crate::entity::pass;
    use sea_orm::sea_query::Expr;
    let rule = push_rule(db, p).await?;
    let ctx = merchant_context(db, p.merchant_id, now).await?;
    let passes = pass::Entity::update_many()
        .col_expr(pass::Column::Message, Expr::value(p.message.clone()))
        .col_expr(
            pass::Column::UpdateTag,
            crate::wallet::apple::next_tag_expr(now),
        )
        .col_expr(pass::Column::UpdatedAt, Expr::value(now))
        .filter(pass::Column::MerchantId.eq(p.merchant_id))
        .filter(pass::Column::CardId.eq(p.card_id))
        .filter(pass::Column::CustomerId.in_subquery(push_holders(&rule, &ctx)))
        .exec(db)
        .await?
        .rows_affected as i64;
    let devices = notify_holders(db, p, || push_holders(&rule, &ctx), passes, now).await?;
    Ok((passes, devices))
}

/// Queues a push's notifications to the passes of its card that `holders` (a sub-select of
/// customer ids) hold, whose backs already carry the message (`passes` of them): one
/// delivery per Apple device registered for them, one per Google pass and one per browser
/// subscribed (an `INSERT ... SELECT` each). Its counters and waiting count grow by them (a
/// new push starts from zero; an automation's push of the hour takes each round), and a push
/// with nothing left to send is completed. Returns the deliveries queued.
pub async fn notify_holders(
    db: &impl ConnectionTrait,
    p: &push::Model,
    holders: impl Fn() -> sea_orm::sea_query::SelectStatement,
    passes: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    use crate::entity::{pass, pass_registration, web_push_subscription};
    use sea_orm::sea_query::{Expr, ExprTrait};
    let lane = super::Lane::ApplePass;
    let select = queue::delivery_rows(
        Source::push(p.id),
        (pass::Entity, pass::Column::CustomerId),
        (pass_registration::Entity, pass_registration::Column::Id),
        lane,
        super::status::QUEUED,
        0,
        now,
    )
    .from(pass_registration::Entity)
    .and_where(Expr::col((pass_registration::Entity, pass_registration::Column::Id)).is_not_null())
    .to_owned();
    let select = on_audience_passes(
        select,
        (pass_registration::Entity, pass_registration::Column::PassId),
        p,
        holders(),
    );
    let apple = queue::insert_selected(db, select).await?;
    // Google passes: one message on each pass's loyalty object.
    let google_lane = super::Lane::GooglePass;
    let google_select = queue::delivery_rows(
        Source::push(p.id),
        pass::Column::CustomerId,
        pass::Column::Id,
        google_lane,
        super::status::QUEUED,
        0,
        now,
    )
    .from(pass::Entity)
    .and_where(Expr::col(pass::Column::MerchantId).eq(p.merchant_id))
    .and_where(Expr::col(pass::Column::CardId).eq(p.card_id))
    .and_where(Expr::col(pass::Column::Platform).eq("google"))
    .and_where(Expr::col(pass::Column::CustomerId).in_subquery(holders()))
    .to_owned();
    let google = queue::insert_selected(db, google_select).await?;
    // Browsers subscribed to those passes: one web push each.
    let web_lane = super::Lane::WebPush;
    let web_select = queue::delivery_rows(
        Source::push(p.id),
        (pass::Entity, pass::Column::CustomerId),
        (
            web_push_subscription::Entity,
            web_push_subscription::Column::Id,
        ),
        web_lane,
        super::status::QUEUED,
        0,
        now,
    )
    .from(web_push_subscription::Entity)
    .to_owned();
    let web_select = on_audience_passes(
        web_select,
        (
            web_push_subscription::Entity,
            web_push_subscription::Column::PassId,
        ),
        p,
        holders(),
    );
    let web = queue::insert_selected(db, web_select).await?;
    // Added to what the push has (an automation's push takes each round of its hour).
    for (lane, total) in [(lane, apple), (google_lane, google), (web_lane, web)] {
        push_stat::Entity::insert(push_stat::ActiveModel {
            push_id: Set(p.id),
            lane: Set(lane.code()),
            total: Set(total),
            sent: Set(0),
            delivered: Set(0),
            failed: Set(0),
            cancelled: Set(0),
            coalesced: Set(0),
            quiet: Set(0),
            repeats: Set(0),
            sandbox: Set(0),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                push_stat::Column::PushId,
                push_stat::Column::Lane,
            ])
            .value(
                push_stat::Column::Total,
                Expr::col((push_stat::Entity, push_stat::Column::Total)).add(total),
            )
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    let devices = apple + google + web;
    let waiting = Expr::col(push::Column::Pending).add(devices);
    let status = Expr::case(
        waiting.clone().gt(0),
        Expr::value(PushStatus::Sending.as_str()),
    )
    .finally(Expr::value(PushStatus::Completed.as_str()));
    let completed_at = Expr::case(waiting.clone().gt(0), Expr::value(None::<DateTime<Utc>>))
        .finally(Expr::col(push::Column::CompletedAt).if_null(now));
    let updated = push::Entity::update_many()
        .col_expr(push::Column::Status, status.into())
        .col_expr(push::Column::CompletedAt, completed_at.into())
        .col_expr(
            push::Column::Passes,
            Expr::col(push::Column::Passes).add(passes),
        )
        .col_expr(push::Column::Pending, waiting)
        .col_expr(
            push::Column::StartedAt,
            Expr::col(push::Column::StartedAt).if_null(now),
        )
        .col_expr(push::Column::UpdatedAt, Expr::value(now))
        .filter(push::Column::Id.eq(p.id))
        .exec_with_returning(db)
        .await?;
    let status = updated
        .first()
        .and_then(|p| PushStatus::parse(&p.status))
        .unwrap_or(PushStatus::Sending);
    crate::feed::record(
        db,
        &crate::feed::Change::push(
            p.merchant_id,
            p.id,
            serde_json::json!({"change": "started", "status": status.as_str(), "passes": passes, "devices": devices}),
            now,
        ),
    )
    .await?;
    Ok(devices)
}

/// Sends the scheduled pushes whose time has come, each in its own transaction; a guarded
/// status change makes each go out once, however many processes do this at once.
pub async fn start_due_pushes(
    db: &(impl ConnectionTrait + sea_orm::TransactionTrait),
    now: DateTime<Utc>,
) -> Result<u64> {
    use sea_orm::TransactionSession;
    use sea_orm::sea_query::Expr;
    let due = push::Entity::find()
        .filter(push::Column::Status.eq(PushStatus::Scheduled.as_str()))
        .filter(push::Column::ScheduledAt.lte(now))
        .order_by_asc(push::Column::ScheduledAt)
        .limit(100)
        .all(db)
        .await?;
    let mut started = 0;
    for p in due {
        let txn = db.begin().await?;
        let taken = push::Entity::update_many()
            .col_expr(
                push::Column::Status,
                Expr::value(PushStatus::Sending.as_str()),
            )
            .col_expr(push::Column::UpdatedAt, Expr::value(now))
            .filter(push::Column::Id.eq(p.id))
            .filter(push::Column::Status.eq(PushStatus::Scheduled.as_str()))
            .exec(&txn)
            .await?;
        if taken.rows_affected == 1 {
            let (passes, devices) = launch_push(&txn, &p, now).await?;
            started += 1;
            tracing::info!(push = %p.id, passes, devices, "scheduled push went out");
        }
        txn.commit().await?;
    }
    Ok(started)
}
