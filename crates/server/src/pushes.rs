//! Wallet pushes: accepting one (now or scheduled), estimating its reach per platform,
//! reading its figures, cancelling it, and counting the devices that fetched the pass it
//! updated. Sending is the delivery engine's (`engine::fanout::launch_push`, the
//! `ApplePass` lane of the worker).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalcast_domain::Fields;
use loyalcast_dto::{
    Audience, NewPush, PUSH_MESSAGE_MAX, PlatformCounts, Push, PushEstimate, PushEstimateRequest,
    PushFailure, PushStatus,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::engine::source::{Source, SourceKind};
use crate::engine::{Lane, fanout, queue, settle};
use crate::entity::{
    card, pass, pass_registration, push, push_stat, segment, web_push_subscription,
};
use crate::error::{ApiError, Result};
use crate::mailings;

/// A push's input, checked.
pub struct Checked {
    pub message: String,
    pub card: card::Model,
}

/// Checks a push: the card is the merchant's, the segment too, the message fits, the time
/// is possible. Every problem is reported at its field at once.
pub async fn check(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    input: &NewPush,
    now: DateTime<Utc>,
) -> Result<Checked> {
    let mut fields = Fields::new();
    let message = fields.text("message", &input.message, PUSH_MESSAGE_MAX);
    let card = find_card(db, merchant_id, input.card_id, &mut fields).await?;
    mailings::audience_rule(db, merchant_id, &input.audience, &mut fields).await?;
    mailings::check_send_at(&mut fields, input.send_at, now);
    fields.finish()?;
    match (message, card) {
        (Some(message), Some(card)) => Ok(Checked { message, card }),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "a push passed its checks without a message or card"
        ))),
    }
}

async fn find_card(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    card_id: Uuid,
    fields: &mut Fields,
) -> Result<Option<card::Model>> {
    let found = card::Entity::find_by_id(card_id)
        .filter(card::Column::MerchantId.eq(merchant_id))
        .one(db)
        .await?;
    if found.is_none() {
        fields.push("card_id", "not_found", "no such card");
    }
    Ok(found)
}

fn segment_of(audience: &Audience) -> Option<Uuid> {
    match audience {
        Audience::All => None,
        Audience::Segment { segment_id } => Some(*segment_id),
    }
}

/// Creates a push in `txn`: sent now (its passes updated and its deliveries queued in the
/// same transaction) or scheduled.
pub async fn create(
    txn: &impl ConnectionTrait,
    merchant_id: Uuid,
    created_by: Option<Uuid>,
    input: &NewPush,
    checked: &Checked,
    now: DateTime<Utc>,
) -> Result<Push> {
    let id = Uuid::now_v7();
    let scheduled = input.send_at.filter(|at| *at > now);
    let model = push::ActiveModel {
        id: Set(id),
        merchant_id: Set(merchant_id),
        card_id: Set(checked.card.id),
        segment_id: Set(segment_of(&input.audience)),
        message: Set(checked.message.clone()),
        status: Set(PushStatus::Scheduled.as_str().to_owned()),
        scheduled_at: Set(scheduled),
        created_by: Set(created_by),
        passes: Set(0),
        pending: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        started_at: Set(None),
        completed_at: Set(None),
        automation_id: Set(None),
    }
    .insert(txn)
    .await?;
    crate::feed::record(
        txn,
        &crate::feed::Change::push(
            merchant_id,
            id,
            serde_json::json!({"change": "created", "status": model.status}),
            now,
        ),
    )
    .await?;
    if scheduled.is_none() {
        fanout::launch_push(txn, &model, now).await?;
    }
    get(txn, merchant_id, id).await
}

/// Who a push would reach, per platform.
pub async fn estimate(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    input: &PushEstimateRequest,
    now: DateTime<Utc>,
) -> Result<PushEstimate> {
    let mut fields = Fields::new();
    // A blank message is one not typed yet: nothing to compare.
    let message = input
        .message
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .and_then(|m| fields.text("message", m, PUSH_MESSAGE_MAX));
    find_card(db, merchant_id, input.card_id, &mut fields).await?;
    let rule = mailings::audience_rule(db, merchant_id, &input.audience, &mut fields).await?;
    fields.finish()?;
    let ctx = fanout::merchant_context(db, merchant_id, now).await?;
    let holders = fanout::push_holders(&rule, &ctx);
    let of_audience = || {
        pass::Entity::find()
            .filter(pass::Column::MerchantId.eq(merchant_id))
            .filter(pass::Column::CardId.eq(input.card_id))
            .filter(pass::Column::CustomerId.in_subquery(holders.clone()))
    };
    let passes = of_audience().count(db).await?;
    let holder_count: i64 = of_audience()
        .select_only()
        .column_as(Expr::col(pass::Column::CustomerId).count_distinct(), "n")
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or(0);
    let same_message = match &message {
        Some(m) => {
            of_audience()
                .filter(pass::Column::Message.eq(m.clone()))
                .count(db)
                .await?
        }
        None => 0,
    };
    // The ids of the audience's passes, for what hangs off them.
    let pass_ids = || {
        Query::select()
            .column(pass::Column::Id)
            .from(pass::Entity)
            .and_where(pass::Column::MerchantId.eq(merchant_id))
            .and_where(pass::Column::CardId.eq(input.card_id))
            .and_where(pass::Column::CustomerId.in_subquery(holders.clone()))
            .to_owned()
    };
    let registered = || {
        pass_registration::Entity::find()
            .filter(pass_registration::Column::PassId.in_subquery(pass_ids()))
    };
    let apple_devices = registered().count(db).await?;
    let apple_passes: i64 = registered()
        .select_only()
        .column_as(
            Expr::col(pass_registration::Column::PassId).count_distinct(),
            "n",
        )
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or(0);
    let google_passes = of_audience()
        .filter(pass::Column::Platform.eq("google"))
        .count(db)
        .await?;
    let web_subscriptions = web_push_subscription::Entity::find()
        .filter(web_push_subscription::Column::PassId.in_subquery(pass_ids()))
        .count(db)
        .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(PushEstimate {
        holders: n(holder_count),
        passes,
        apple_passes: n(apple_passes),
        apple_devices,
        google_passes,
        web_subscriptions,
        same_message,
    })
}

fn parse_status(value: &str) -> PushStatus {
    PushStatus::parse(value).unwrap_or(PushStatus::Cancelled)
}

fn platform(s: Option<&push_stat::Model>) -> PlatformCounts {
    let Some(s) = s else {
        return PlatformCounts::default();
    };
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    PlatformCounts {
        total: n(s.total),
        queued: n(s.total - s.sent - s.failed - s.cancelled),
        accepted: n(s.sent),
        delivered: n(s.delivered),
        coalesced: n(s.coalesced),
        quiet: n(s.quiet),
        failed: n(s.failed),
        cancelled: n(s.cancelled),
        sandbox: n(s.sandbox),
    }
}

/// Pushes as the API shows them, with their card's and segment's names and figures.
async fn views(
    db: &impl ConnectionTrait,
    models: Vec<push::Model>,
    failures: bool,
) -> Result<Vec<Push>> {
    let ids: Vec<Uuid> = models.iter().map(|p| p.id).collect();
    let card_ids: Vec<Uuid> = models.iter().map(|p| p.card_id).collect();
    let segment_ids: Vec<Uuid> = models.iter().filter_map(|p| p.segment_id).collect();
    let cards: HashMap<Uuid, String> = card::Entity::find()
        .filter(card::Column::Id.is_in(card_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let segments: HashMap<Uuid, String> = if segment_ids.is_empty() {
        HashMap::new()
    } else {
        segment::Entity::find()
            .filter(segment::Column::Id.is_in(segment_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect()
    };
    let automation_ids: Vec<Uuid> = models.iter().filter_map(|p| p.automation_id).collect();
    let automations = crate::automations::names(db, automation_ids).await?;
    let mut stats: HashMap<(Uuid, i16), push_stat::Model> = HashMap::new();
    if !ids.is_empty() {
        for s in push_stat::Entity::find()
            .filter(push_stat::Column::PushId.is_in(ids))
            .all(db)
            .await?
        {
            stats.insert((s.push_id, s.lane), s);
        }
    }
    let mut out = Vec::with_capacity(models.len());
    for p in models {
        let failures = if failures {
            failure_reasons(db, p.id).await?
        } else {
            Vec::new()
        };
        out.push(Push {
            id: p.id,
            card_id: p.card_id,
            card_name: cards.get(&p.card_id).cloned().unwrap_or_default(),
            audience: match p.segment_id {
                Some(segment_id) => Audience::Segment { segment_id },
                None => Audience::All,
            },
            segment_name: p.segment_id.and_then(|s| segments.get(&s).cloned()),
            automation_id: p.automation_id,
            automation_name: p.automation_id.and_then(|a| automations.get(&a).cloned()),
            message: p.message,
            status: parse_status(&p.status),
            passes: u64::try_from(p.passes).unwrap_or(0),
            apple: platform(stats.get(&(p.id, Lane::ApplePass.code()))),
            google: platform(stats.get(&(p.id, Lane::GooglePass.code()))),
            web: platform(stats.get(&(p.id, Lane::WebPush.code()))),
            failures,
            scheduled_at: p.scheduled_at,
            created_at: p.created_at,
            started_at: p.started_at,
            completed_at: p.completed_at,
        });
    }
    Ok(out)
}

/// Why a push's deliveries failed, most frequent first.
async fn failure_reasons(db: &impl ConnectionTrait, id: Uuid) -> Result<Vec<PushFailure>> {
    let mut reasons: Vec<PushFailure> = queue::failure_reasons(db, Source::push(id))
        .await?
        .into_iter()
        .map(|(reason, n)| PushFailure {
            reason: reason.unwrap_or_else(|| "unknown".to_owned()),
            count: u64::try_from(n).unwrap_or(0),
        })
        .collect();
    reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    reasons.truncate(10);
    Ok(reasons)
}

pub async fn find(db: &impl ConnectionTrait, merchant_id: Uuid, id: Uuid) -> Result<push::Model> {
    push::Entity::find_by_id(id)
        .filter(push::Column::MerchantId.eq(merchant_id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn get(db: &impl ConnectionTrait, merchant_id: Uuid, id: Uuid) -> Result<Push> {
    let model = find(db, merchant_id, id).await?;
    views(db, vec![model], true)
        .await?
        .pop()
        .ok_or(ApiError::NotFound)
}

/// The history, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Push>, u64)> {
    let query = push::Entity::find().filter(push::Column::MerchantId.eq(merchant_id));
    let total = query.clone().count(db).await?;
    let models = query
        .order_by_desc(push::Column::CreatedAt)
        .order_by_desc(push::Column::Id)
        .offset((page - 1).saturating_mul(per_page))
        .limit(per_page)
        .all(db)
        .await?;
    Ok((views(db, models, true).await?, total))
}

/// Cancels a scheduled push (nothing has changed on the passes), or the notifications of a
/// sending one that have not gone out (its passes keep the message: devices fetch it
/// whenever they next update). A conflict once it completed or was cancelled.
pub async fn cancel(db: &impl ConnectionTrait, p: &push::Model, now: DateTime<Utc>) -> Result<()> {
    let updated = push::Entity::update_many()
        .col_expr(
            push::Column::Status,
            Expr::value(PushStatus::Cancelled.as_str()),
        )
        .col_expr(push::Column::UpdatedAt, Expr::value(now))
        .col_expr(push::Column::CompletedAt, Expr::value(Some(now)))
        .filter(push::Column::Id.eq(p.id))
        .filter(
            push::Column::Status
                .is_in([PushStatus::Scheduled.as_str(), PushStatus::Sending.as_str()]),
        )
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(ApiError::Conflict(format!(
            "The push is {}; only a scheduled or sending push can be cancelled.",
            p.status
        )));
    }
    settle::cancel_waiting(db, Source::push(p.id), now).await?;
    crate::feed::record(
        db,
        &crate::feed::Change::push(
            p.merchant_id,
            p.id,
            serde_json::json!({"change": "cancelled", "status": PushStatus::Cancelled.as_str()}),
            now,
        ),
    )
    .await?;
    Ok(())
}

/// A device fetched a pass as of its current tag: the pushes it had been sent for that pass
/// count as delivered. Only the first fetch of a tag writes anything, so the burst of fetches
/// after a push costs one indexed update per pass.
pub async fn fetched(db: &impl ConnectionTrait, p: &pass::Model, now: DateTime<Utc>) -> Result<()> {
    if p.fetched_tag.is_some_and(|t| t >= p.update_tag) {
        return Ok(());
    }
    let advanced = pass::Entity::update_many()
        .col_expr(pass::Column::FetchedTag, Expr::value(Some(p.update_tag)))
        .filter(pass::Column::Id.eq(p.id))
        .filter(
            sea_orm::Condition::any()
                .add(pass::Column::FetchedTag.is_null())
                .add(pass::Column::FetchedTag.lt(p.update_tag)),
        )
        .exec(db)
        .await?;
    if advanced.rows_affected == 0 {
        return Ok(());
    }
    let mut per_push: HashMap<Uuid, i64> = HashMap::new();
    for source in queue::mark_pass_fetched(db, p.id, now).await? {
        if source.kind == SourceKind::Push {
            *per_push.entry(source.id).or_default() += 1;
        }
    }
    let mut pushes: Vec<(Uuid, i64)> = per_push.into_iter().collect();
    pushes.sort();
    for (push_id, n) in pushes {
        crate::engine::source::bump_push_stats(
            db,
            push_id,
            Lane::ApplePass,
            &[(push_stat::Column::Delivered, n)],
        )
        .await?;
        crate::feed::record(
            db,
            &crate::feed::Change::push(
                p.merchant_id,
                push_id,
                serde_json::json!({"change": "progress", "delivered": n}),
                now,
            ),
        )
        .await?;
    }
    Ok(())
}
