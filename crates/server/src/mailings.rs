//! Mailings: accepting one (checks, fan-out and credit reservation in one transaction),
//! reading them with their reports, and the lifecycle: send a draft, pause, resume, cancel,
//! resend to the failed recipients.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalcast_domain::Fields;
use loyalcast_dto::{
    Audience, Channel, ChannelReach, ChannelReport, DeliveryCounts, EmailPreview, Mailing,
    MailingChanges, MailingContent, MailingEstimate, MailingProblem, MailingStatus, MailingSummary,
    NewMailing, ProblemState, SegmentRule, SmsPreview,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::balances;
use crate::engine::content::{self, Prepared};
use crate::engine::fanout;
use crate::engine::queue;
use crate::engine::settle;
use crate::engine::source::{RecipientValues, Source};
use crate::entity::{customer, mailing, mailing_stat, merchant, segment};
use crate::error::{ApiError, Result};
use crate::merchants;
use crate::segments::{self, Context};

/// A mailing's input, checked.
pub struct Checked {
    pub name: String,
    pub channels: Vec<Channel>,
    pub prepared: Prepared,
    pub rule: SegmentRule,
}

/// The rule an audience stands for (a segment's rule as saved now).
pub async fn audience_rule(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    audience: &Audience,
    fields: &mut Fields,
) -> Result<SegmentRule> {
    match audience {
        Audience::All => Ok(SegmentRule::everyone()),
        Audience::Segment { segment_id } => {
            let found = segment::Entity::find_by_id(*segment_id)
                .filter(segment::Column::MerchantId.eq(merchant_id))
                .one(db)
                .await?;
            match found {
                Some(s) => serde_json::from_str(&s.rule)
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored rule: {e}"))),
                None => {
                    fields.push("audience.segment_id", "not_found", "no such segment");
                    Ok(SegmentRule::Or { rules: vec![] })
                }
            }
        }
    }
}

/// A send time: in the future (up to a minute late is tolerated) and within 366 days.
pub fn check_send_at(fields: &mut Fields, send_at: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    if let Some(at) = send_at {
        if at < now - chrono::Duration::minutes(1) {
            fields.push("send_at", "in_the_past", "must be in the future");
        } else if at > now + chrono::Duration::days(366) {
            fields.push("send_at", "too_far", "must be within a year");
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn check(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    name: &str,
    audience: &Audience,
    channels: &[Channel],
    content: &MailingContent,
    send_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Checked> {
    let mut fields = Fields::new();
    let name = fields.text("name", name, 120);
    let mut unique: Vec<Channel> = Vec::new();
    for c in channels {
        if !unique.contains(c) {
            unique.push(*c);
        }
    }
    let prepared = content::prepare(&unique, content, &mut fields);
    let rule = audience_rule(db, merchant_id, audience, &mut fields).await?;
    check_send_at(&mut fields, send_at, now);
    fields.finish()?;
    Ok(Checked {
        name: name.unwrap_or_default(),
        channels: unique,
        prepared,
        rule,
    })
}

async fn context(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(merchant::Model, Context)> {
    let m = merchants::find(db, merchant_id).await?;
    let ctx = Context {
        merchant_id,
        now,
        time_zone: merchants::time_zone(&m),
    };
    Ok((m, ctx))
}

/// Where and when a mailing is accepted: the time, and the server's public URL (its links).
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    pub now: DateTime<Utc>,
    pub public_url: &'a str,
}

/// Creates a mailing (and, unless a draft, its deliveries and reservations) in `txn`.
pub async fn create(
    txn: &impl ConnectionTrait,
    env: Env<'_>,
    merchant_id: Uuid,
    created_by: Option<Uuid>,
    input: &NewMailing,
    checked: &Checked,
    resend_of: Option<Uuid>,
) -> Result<Mailing> {
    let now = env.now;
    let id = Uuid::now_v7();
    mailing::ActiveModel {
        id: Set(id),
        merchant_id: Set(merchant_id),
        name: Set(checked.name.clone()),
        status: Set(MailingStatus::Draft.as_str().to_owned()),
        audience: Set(encode(&input.audience)?),
        channels: Set(encode(&checked.channels)?),
        content: Set(encode(&input.content)?),
        recipients: Set(0),
        pending: Set(0),
        resend_of: Set(resend_of),
        created_by: Set(created_by),
        scheduled_at: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    if !input.draft {
        launch(txn, env, merchant_id, id, checked, input.send_at, resend_of).await?;
    }
    let created = get(txn, merchant_id, id).await?;
    crate::feed::record(
        txn,
        &crate::feed::Change::mailing(
            merchant_id,
            id,
            serde_json::json!({"change": "created", "status": created.status}),
            now,
        ),
    )
    .await?;
    Ok(created)
}

/// Fans a mailing out and reserves its credits; it starts now or waits for `send_at`.
pub async fn launch(
    txn: &impl ConnectionTrait,
    env: Env<'_>,
    merchant_id: Uuid,
    id: Uuid,
    checked: &Checked,
    send_at: Option<DateTime<Utc>>,
    resend_of: Option<Uuid>,
) -> Result<()> {
    let now = env.now;
    let (m, ctx) = context(txn, merchant_id, now).await?;
    let values = RecipientValues::load(txn, &m, env.public_url).await?;
    let scheduled = send_at.filter(|at| *at > now);
    let fanned = fanout::expand(
        txn,
        &ctx,
        fanout::Plan {
            mailing_id: id,
            rule: &checked.rule,
            channels: &checked.channels,
            prepared: &checked.prepared,
            values: &values,
            held: scheduled.is_some(),
            resend_of,
        },
    )
    .await?;
    let total: i64 = fanned.values().map(|f| f.deliveries).sum();
    let recipients = queue::recipients(txn, Source::mailing(id)).await?;
    let status = match (scheduled, total) {
        (Some(_), _) => MailingStatus::Scheduled,
        (None, 0) => MailingStatus::Completed,
        (None, _) => MailingStatus::Sending,
    };
    let mut active: mailing::ActiveModel = mailing::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(ApiError::NotFound)?
        .into();
    active.status = Set(status.as_str().to_owned());
    active.recipients = Set(recipients);
    active.pending = Set(total);
    active.scheduled_at = Set(scheduled);
    active.started_at = Set((status != MailingStatus::Scheduled).then_some(now));
    active.completed_at = Set((status == MailingStatus::Completed).then_some(now));
    active.updated_at = Set(now);
    active.update(txn).await?;
    Ok(())
}

fn parse_status(value: &str) -> MailingStatus {
    MailingStatus::parse(value).unwrap_or(MailingStatus::Failed)
}

fn counts_of(stats: &[mailing_stat::Model]) -> DeliveryCounts {
    let mut total = DeliveryCounts::default();
    for s in stats {
        let c = counts(s);
        total.total += c.total;
        total.queued += c.queued;
        total.sent += c.sent;
        total.delivered += c.delivered;
        total.opened += c.opened;
        total.failed += c.failed;
        total.unsubscribed += c.unsubscribed;
        total.cancelled += c.cancelled;
        total.uncertain += c.uncertain;
        total.repeats += c.repeats;
    }
    total
}

/// A channel's report figures from its counters (also summed over mailings, for `/metrics`).
pub(crate) fn counts(s: &mailing_stat::Model) -> DeliveryCounts {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let finished = s.sent + s.failed + s.unsubscribed + s.cancelled + s.uncertain;
    DeliveryCounts {
        total: n(s.total),
        queued: n(s.total - finished),
        sent: n(s.sent),
        delivered: n(s.delivered),
        opened: n(s.opened),
        failed: n(s.failed),
        unsubscribed: n(s.unsubscribed + s.opted_out_after),
        cancelled: n(s.cancelled),
        uncertain: n(s.uncertain),
        repeats: n(s.repeats),
    }
}

async fn stats_of(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<mailing_stat::Model>>> {
    let mut map: HashMap<Uuid, Vec<mailing_stat::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    for s in mailing_stat::Entity::find()
        .filter(mailing_stat::Column::MailingId.is_in(ids.iter().copied()))
        .all(db)
        .await?
    {
        map.entry(s.mailing_id).or_default().push(s);
    }
    Ok(map)
}

fn channels_of(m: &mailing::Model) -> Vec<Channel> {
    serde_json::from_str(&m.channels).unwrap_or_default()
}

pub async fn find(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    id: Uuid,
) -> Result<mailing::Model> {
    mailing::Entity::find_by_id(id)
        .filter(mailing::Column::MerchantId.eq(merchant_id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn get(db: &impl ConnectionTrait, merchant_id: Uuid, id: Uuid) -> Result<Mailing> {
    let m = find(db, merchant_id, id).await?;
    let mut stats = stats_of(db, &[id]).await?.remove(&id).unwrap_or_default();
    let channels = channels_of(&m);
    stats.sort_by_key(|s| channels.iter().position(|c| c.as_str() == s.channel));
    let totals = counts_of(&stats);
    let resendable = if totals.failed > 0 {
        resendable_count(db, id).await?
    } else {
        0
    };
    Ok(Mailing {
        id: m.id,
        name: m.name.clone(),
        status: parse_status(&m.status),
        audience: serde_json::from_str(&m.audience).unwrap_or(Audience::All),
        content: serde_json::from_str(&m.content).unwrap_or_default(),
        recipients: u64::try_from(m.recipients).unwrap_or(0),
        counts: totals,
        resendable,
        per_channel: stats
            .iter()
            .filter_map(|s| {
                let channel = Channel::ALL.into_iter().find(|c| c.as_str() == s.channel)?;
                Some(ChannelReport {
                    channel,
                    counts: counts(s),
                    credits_reserved: s.credits_reserved,
                    credits_used: s.credits_used,
                    sandbox: s.sandbox > 0,
                })
            })
            .collect(),
        channels,
        scheduled_at: m.scheduled_at,
        started_at: m.started_at,
        completed_at: m.completed_at,
        resend_of: m.resend_of,
        created_at: m.created_at,
    })
}

pub async fn list(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    search: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<MailingSummary>, u64)> {
    let mut query = mailing::Entity::find().filter(mailing::Column::MerchantId.eq(merchant_id));
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = crate::customers::escape_like(&search.to_lowercase());
        query = query.filter(
            Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(
                mailing::Column::Name,
            )))
            .like(format!("%{pattern}%")),
        );
    }
    let total = query.clone().count(db).await?;
    let models = query
        .order_by_desc(mailing::Column::CreatedAt)
        .order_by_desc(mailing::Column::Id)
        .offset((page - 1).saturating_mul(per_page))
        .limit(per_page)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = models.iter().map(|m| m.id).collect();
    let stats = stats_of(db, &ids).await?;
    let items = models
        .iter()
        .map(|m| MailingSummary {
            id: m.id,
            name: m.name.clone(),
            status: parse_status(&m.status),
            channels: channels_of(m),
            recipients: u64::try_from(m.recipients).unwrap_or(0),
            counts: counts_of(stats.get(&m.id).map(Vec::as_slice).unwrap_or(&[])),
            scheduled_at: m.scheduled_at,
            created_at: m.created_at,
        })
        .collect();
    Ok((items, total))
}

/// Moves a mailing from one of `from` to `to`; a conflict when it is elsewhere.
async fn transition(
    db: &impl ConnectionTrait,
    m: &mailing::Model,
    from: &[MailingStatus],
    to: MailingStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    let updated = mailing::Entity::update_many()
        .col_expr(mailing::Column::Status, to.as_str().into())
        .col_expr(mailing::Column::UpdatedAt, now.into())
        .filter(mailing::Column::Id.eq(m.id))
        .filter(mailing::Column::Status.is_in(from.iter().map(|s| s.as_str())))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(ApiError::Conflict(format!(
            "The mailing is {}; it cannot become {} from there.",
            m.status,
            to.as_str()
        )));
    }
    Ok(())
}

/// What a draft holds, as stored.
pub struct Draft {
    pub name: String,
    pub audience: Audience,
    pub channels: Vec<Channel>,
    pub content: MailingContent,
}

impl Draft {
    pub fn of(m: &mailing::Model) -> Self {
        Draft {
            name: m.name.clone(),
            audience: serde_json::from_str(&m.audience).unwrap_or(Audience::All),
            channels: serde_json::from_str(&m.channels).unwrap_or_default(),
            content: serde_json::from_str(&m.content).unwrap_or_default(),
        }
    }

    /// The draft with each given field replaced.
    pub fn changed(self, changes: MailingChanges) -> Self {
        Draft {
            name: changes.name.unwrap_or(self.name),
            audience: changes.audience.unwrap_or(self.audience),
            channels: changes.channels.unwrap_or(self.channels),
            content: changes.content.unwrap_or(self.content),
        }
    }
}

/// Writes a draft's new name, audience, channels and content; a conflict when it is no
/// longer a draft (a send took it meanwhile).
pub async fn edit_draft(
    db: &impl ConnectionTrait,
    m: &mailing::Model,
    draft: &Draft,
    checked: &Checked,
    now: DateTime<Utc>,
) -> Result<()> {
    let updated = mailing::Entity::update_many()
        .col_expr(mailing::Column::Name, checked.name.clone().into())
        .col_expr(mailing::Column::Audience, encode(&draft.audience)?.into())
        .col_expr(mailing::Column::Channels, encode(&checked.channels)?.into())
        .col_expr(mailing::Column::Content, encode(&draft.content)?.into())
        .col_expr(mailing::Column::UpdatedAt, now.into())
        .filter(mailing::Column::Id.eq(m.id))
        .filter(mailing::Column::Status.eq(MailingStatus::Draft.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(ApiError::Conflict(
            "Only a draft can be changed; this mailing was sent, scheduled or cancelled."
                .to_owned(),
        ));
    }
    Ok(())
}

fn encode(value: &impl serde::Serialize) -> Result<String> {
    Ok(serde_json::to_string(value).map_err(anyhow::Error::from)?)
}

/// Takes a draft for sending; a conflict when it is no longer a draft (sent meanwhile).
pub async fn take_draft(
    db: &impl ConnectionTrait,
    m: &mailing::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    transition(db, m, &[MailingStatus::Draft], MailingStatus::Sending, now).await
}

pub async fn pause(
    db: &impl ConnectionTrait,
    m: &mailing::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    transition(db, m, &[MailingStatus::Sending], MailingStatus::Paused, now).await?;
    queue::hold_ready(db, Source::mailing(m.id)).await?;
    Ok(())
}

pub async fn resume(
    db: &impl ConnectionTrait,
    m: &mailing::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    transition(db, m, &[MailingStatus::Paused], MailingStatus::Sending, now).await?;
    queue::release_held(db, Source::mailing(m.id), now).await?;
    Ok(())
}

/// Cancels what has not been sent and releases exactly its credits, in one guarded
/// statement: a row a worker took meanwhile is not cancelled here, and the worker sets it
/// aside (or, when already sent, counts it sent). Messages already in flight finish.
pub async fn cancel(
    db: &impl ConnectionTrait,
    m: &mailing::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    transition(
        db,
        m,
        &[
            MailingStatus::Draft,
            MailingStatus::Scheduled,
            MailingStatus::Sending,
            MailingStatus::Paused,
        ],
        MailingStatus::Cancelled,
        now,
    )
    .await?;
    settle::cancel_waiting(db, Source::mailing(m.id), now).await?;
    mailing::Entity::update_many()
        .col_expr(mailing::Column::CompletedAt, Some(now).into())
        .filter(mailing::Column::Id.eq(m.id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many recipients of a personalised SMS an estimate renders one by one.
pub const ESTIMATE_SAMPLE: u64 = 10_000;

/// `credits` measured over `measured` recipients, scaled to `total`, rounded up.
fn extrapolate(credits: i64, measured: u64, total: u64) -> i64 {
    if measured == 0 {
        return 0;
    }
    let (numerator, measured) = (
        i128::from(credits) * i128::from(total),
        i128::from(measured),
    );
    let scaled = (numerator + measured - 1) / measured;
    i64::try_from(scaled).unwrap_or(i64::MAX)
}

/// How many customers an audience has and how many each channel reaches, with the credits
/// a send would reserve.
pub async fn estimate(
    db: &impl ConnectionTrait,
    env: Env<'_>,
    merchant_id: Uuid,
    rule: &SegmentRule,
    channels: &[Channel],
    prepared: &Prepared,
) -> Result<MailingEstimate> {
    let (m, ctx) = context(db, merchant_id, env.now).await?;
    let values = RecipientValues::load(db, &m, env.public_url).await?;
    let audience = segments::count(db, rule, &ctx).await?;
    let mut reachable = Vec::new();
    let (mut sms_credits, mut email_credits) = (0i64, 0i64);
    let mut sms_credits_exact = true;
    for &channel in channels {
        let (address, consent) = segments::reachable(channel);
        let condition = segments::condition(rule, &ctx)
            .add(address.is_not_null())
            .add(consent.eq(true));
        let customers = customer::Entity::find()
            .filter(condition.clone())
            .count(db)
            .await?;
        match channel {
            Channel::Sms if prepared.sms_is_personal() => {
                // Render for each recipient, a page at a time, as the fan-out will; past
                // ESTIMATE_SAMPLE recipients the rest are estimated from those, so a live
                // estimate of a large audience costs a bounded walk. The send itself counts
                // every recipient's message.
                let (mut measured, mut credits) = (0u64, 0i64);
                fanout::personal_sms_pages(
                    db,
                    condition.clone(),
                    prepared,
                    &values,
                    ESTIMATE_SAMPLE,
                    async |page: Vec<(Uuid, i32)>| {
                        measured += page.len() as u64;
                        credits += page.iter().map(|(_, c)| i64::from(*c)).sum::<i64>();
                        Ok(())
                    },
                )
                .await?;
                if measured < customers {
                    sms_credits_exact = false;
                    credits = extrapolate(credits, measured, customers);
                }
                sms_credits += credits;
            }
            Channel::Sms => {
                sms_credits += i64::from(prepared.sms_segments(&values.base)) * customers as i64
            }
            Channel::Email => email_credits += customers as i64,
            _ => {}
        }
        reachable.push(ChannelReach { channel, customers });
    }
    let balances = balances::get(db, merchant_id).await?;
    // The values of the first customer of the audience reachable on `channel`.
    let first_values =
        async |channel: Channel| -> Result<Option<loyalcast_delivery::template::TemplateValues>> {
            let (address, consent) = segments::reachable(channel);
            let condition = segments::condition(rule, &ctx)
                .add(address.is_not_null())
                .add(consent.eq(true));
            let first = customer::Entity::find()
                .filter(condition)
                .order_by_asc(customer::Column::Id)
                .one(db)
                .await?;
            Ok(match &first {
                Some(c) => {
                    let cards = values.card_names(db, &[c.id]).await?;
                    Some(values.for_customer(c, cards.get(&c.id)))
                }
                None => None,
            })
        };
    let email_preview = match &prepared.email {
        Some((subject, body)) => first_values(Channel::Email).await?.map(|v| EmailPreview {
            subject: subject.render_text(&v),
            body: body.render_text(&v),
        }),
        None => None,
    };
    let sms_preview = match &prepared.sms {
        Some(template) => {
            let values = first_values(Channel::Sms)
                .await?
                .unwrap_or_else(|| values.base.clone());
            let text = template.render_text(&values);
            let length = loyalcast_delivery::sms::sms_length(&text);
            Some(SmsPreview {
                encoding: match length.encoding {
                    loyalcast_delivery::sms::SmsEncoding::Gsm7 => "gsm7".to_owned(),
                    loyalcast_delivery::sms::SmsEncoding::Ucs2 => "ucs2".to_owned(),
                },
                segments: u32::try_from(length.segments).unwrap_or(u32::MAX),
                units_used: u32::try_from(length.units_used).unwrap_or(u32::MAX),
                units_remaining: u32::try_from(length.units_remaining).unwrap_or(u32::MAX),
                text,
            })
        }
        None => None,
    };
    Ok(MailingEstimate {
        sms_preview,
        email_preview,
        audience,
        reachable,
        sms_credits,
        sms_credits_exact,
        email_credits,
        sms_balance: balances.sms.available,
        email_balance: balances.email.available,
    })
}

/// The messages of mailing `id` that failed, are being retried or are uncertain, oldest
/// first (by delivery), with their customers' names: one page, and how many there are.
pub async fn problems(
    db: &impl ConnectionTrait,
    id: Uuid,
    state: Option<ProblemState>,
    channel: Option<Channel>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<MailingProblem>, u64)> {
    use crate::engine::queue::status;
    use crate::entity::delivery;
    use sea_orm::Condition;
    let source = Source::mailing(id);
    let failed = delivery::Column::Status.eq(status::FAILED);
    let uncertain = delivery::Column::Status.eq(status::UNCERTAIN);
    // A queued row with an error is one whose last attempt failed and that waits for the next.
    let retrying = Condition::all()
        .add(delivery::Column::Status.eq(status::QUEUED))
        .add(delivery::Column::Error.is_not_null());
    let which = match state {
        Some(ProblemState::Failed) => Condition::all().add(failed),
        Some(ProblemState::Uncertain) => Condition::all().add(uncertain),
        Some(ProblemState::Retrying) => retrying,
        None => Condition::any().add(failed).add(uncertain).add(retrying),
    };
    let mut query = delivery::Entity::find()
        .filter(delivery::Column::SourceId.eq(source.id))
        .filter(delivery::Column::SourceKind.eq(source.kind.code()))
        .filter(which);
    if let Some(channel) = channel {
        query = query.filter(delivery::Column::Channel.eq(crate::engine::channel_code(channel)));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(delivery::Column::Id)
        .offset(page.saturating_sub(1).saturating_mul(per_page))
        .limit(per_page)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.customer_id).collect();
    let names: HashMap<Uuid, String> = customer::Entity::find()
        .filter(customer::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| {
            let name = format!("{} {}", c.first_name, c.last_name)
                .trim()
                .to_owned();
            (c.id, name)
        })
        .collect();
    let items = rows
        .into_iter()
        .filter_map(|r| {
            let state = match r.status {
                status::FAILED => ProblemState::Failed,
                status::UNCERTAIN => ProblemState::Uncertain,
                _ => ProblemState::Retrying,
            };
            Some(MailingProblem {
                customer_id: r.customer_id,
                name: names.get(&r.customer_id).cloned().unwrap_or_default(),
                channel: crate::engine::channel_of(r.channel)?,
                state,
                reason: r.error,
                attempts: u32::try_from(r.attempts).unwrap_or(0),
                next_attempt_at: (state == ProblemState::Retrying).then_some(r.next_attempt_at),
                updated_at: r.updated_at,
            })
        })
        .collect();
    Ok((items, total))
}

/// How many of a mailing's failed messages a "resend to failed" would send again.
pub async fn resendable_count(db: &impl ConnectionTrait, id: Uuid) -> Result<u64> {
    Ok(queue::resendable_count(db, Source::mailing(id)).await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_estimate_from_a_sample_scales_up_and_rounds_up() {
        assert_eq!(super::extrapolate(15_000, 10_000, 10_000), 15_000);
        assert_eq!(super::extrapolate(15_000, 10_000, 1_000_000), 1_500_000);
        assert_eq!(super::extrapolate(10_001, 10_000, 20_000), 20_002);
        assert_eq!(super::extrapolate(1, 3, 4), 2);
        assert_eq!(super::extrapolate(0, 0, 5), 0);
        assert_eq!(super::extrapolate(i64::MAX, 1, u64::MAX), i64::MAX);
    }
}
