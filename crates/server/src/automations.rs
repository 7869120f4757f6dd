//! Automations as the merchant manages them: checking and storing the built-in kinds and
//! custom rules, their figures (from their occurrences), their occurrences one by one, and
//! the merchant's rules for all of them (pause, quiet hours, frequency cap, staleness).
//! Planning and firing are the engine's (`engine::automate`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalcast_delivery::template::{Template, TemplateErrors, Variable};
use loyalcast_domain::Fields;
use loyalcast_domain::schedule::{parse_time_of_day, time_of_day};
use loyalcast_dto::{
    AUTOMATION_MESSAGE_MAX, Automation, AutomationChanges, AutomationFigures, AutomationKind,
    AutomationRun, AutomationSettings, DELAY_MAX_MINUTES, Delay, NewAutomation, REWARD_POINTS_MAX,
    REWARD_STAMPS_MAX, RULES_PER_CARD_MAX, RunStatus, SkipCount, SkipReason, Trigger,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::engine::automate;
use crate::entity::{automation, automation_run, card, customer, merchant};
use crate::error::{ApiError, Result};

/// The columns a trigger sets.
#[derive(Debug, Clone, Default, PartialEq)]
struct Timing {
    event_kind: Option<String>,
    send_minute: Option<i32>,
    days_before: i32,
    delay_minutes: i32,
    cooldown_days: i32,
    lapse_days: i32,
}

fn check_delay(fields: &mut Fields, field: &str, delay: Delay) -> i32 {
    match delay.minutes() {
        Some(m) => i32::try_from(m).unwrap_or(0),
        None => {
            fields.push(
                format!("{field}.amount"),
                "out_of_range",
                format!(
                    "A delay is at most a year ({} days, {} hours or {} minutes).",
                    DELAY_MAX_MINUTES / 1440,
                    DELAY_MAX_MINUTES / 60,
                    DELAY_MAX_MINUTES
                ),
            );
            0
        }
    }
}

fn check_trigger(fields: &mut Fields, trigger: &Trigger) -> Timing {
    let mut timing = Timing::default();
    let send_time = |fields: &mut Fields, text: &str| match parse_time_of_day(text) {
        Some(m) => Some(i32::from(m)),
        None => {
            fields.push(
                "trigger.send_time",
                "invalid",
                "Give a time of day as HH:MM, from 00:00 to 23:59.",
            );
            None
        }
    };
    match trigger {
        Trigger::Birthday {
            days_before,
            send_time: at,
        } => {
            if *days_before > 30 {
                fields.push(
                    "trigger.days_before",
                    "out_of_range",
                    "Send at most 30 days before the birthday.",
                );
            }
            timing.days_before = i32::try_from(*days_before).unwrap_or(0);
            timing.send_minute = send_time(fields, at);
        }
        Trigger::Anniversary { send_time: at } => {
            timing.send_minute = send_time(fields, at);
        }
        Trigger::Feedback {
            after,
            delay,
            cooldown_days,
        } => {
            timing.event_kind = Some(after.as_str().to_owned());
            timing.delay_minutes = check_delay(fields, "trigger.delay", *delay);
            if *cooldown_days > 365 {
                fields.push(
                    "trigger.cooldown_days",
                    "out_of_range",
                    "A cool-down is 0 to 365 days.",
                );
            }
            timing.cooldown_days = i32::try_from(*cooldown_days).unwrap_or(0);
        }
        Trigger::Winback { lapse_days } => {
            if !(7..=730).contains(lapse_days) {
                fields.push(
                    "trigger.lapse_days",
                    "out_of_range",
                    "A customer lapses after 7 to 730 days without a visit.",
                );
            }
            timing.lapse_days = i32::try_from(*lapse_days).unwrap_or(0);
        }
        Trigger::Event { event, delay } => {
            timing.event_kind = Some(event.as_str().to_owned());
            timing.delay_minutes = check_delay(fields, "trigger.delay", *delay);
        }
    }
    timing
}

/// A wallet message template: one line, known variables, no unsubscribe link.
pub fn check_message(fields: &mut Fields, field: &str, message: &str) -> Option<String> {
    let text = fields.text(field, message, AUTOMATION_MESSAGE_MAX)?;
    match Template::parse(&text) {
        Ok(t) if t.uses(Variable::UnsubscribeUrl) => {
            fields.push(
                field,
                "invalid_template",
                "A wallet message has no unsubscribe link: remove {unsubscribe_url}.",
            );
            None
        }
        Ok(_) => Some(text),
        Err(TemplateErrors { errors }) => {
            for e in errors {
                fields.push(field, "invalid_template", e.to_string());
            }
            None
        }
    }
}

fn check_name(fields: &mut Fields, name: Option<&str>) -> String {
    name.and_then(|n| fields.line("name", n, 80))
        .unwrap_or_default()
}

fn check_rewards(fields: &mut Fields, points: u32, stamps: u32) {
    if points > REWARD_POINTS_MAX {
        fields.push(
            "reward_points",
            "out_of_range",
            "Grant 0 to 1,000,000 points.",
        );
    }
    if stamps > REWARD_STAMPS_MAX {
        fields.push("reward_stamps", "out_of_range", "Grant 0 to 100 stamps.");
    }
}

async fn find_card(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    card_id: Uuid,
) -> Result<Option<card::Model>> {
    Ok(card::Entity::find_by_id(card_id)
        .filter(card::Column::MerchantId.eq(merchant_id))
        .one(db)
        .await?)
}

/// Creates an automation: 422 for its fields, 409 for a second of a built-in kind on the
/// card or a 51st custom rule.
pub async fn create(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    input: &NewAutomation,
    now: DateTime<Utc>,
) -> Result<Automation> {
    let mut fields = Fields::new();
    let name = check_name(&mut fields, input.name.as_deref());
    let message = check_message(&mut fields, "message", &input.message);
    let timing = check_trigger(&mut fields, &input.trigger);
    check_rewards(&mut fields, input.reward_points, input.reward_stamps);
    let card = find_card(db, merchant_id, input.card_id).await?;
    if card.is_none() {
        fields.push("card_id", "not_found", "No such card.");
    }
    fields.finish()?;
    let (Some(message), Some(card)) = (message, card) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "an automation passed its checks without a message or card"
        )));
    };
    let kind = input.trigger.kind();
    let same_kind = automation::Entity::find()
        .filter(automation::Column::CardId.eq(card.id))
        .filter(automation::Column::Kind.eq(kind.as_str()))
        .count(db)
        .await?;
    if kind != AutomationKind::Custom && same_kind > 0 {
        return Err(ApiError::Conflict(format!(
            "The card has a {} automation already: change that one.",
            kind.label().to_lowercase()
        )));
    }
    if kind == AutomationKind::Custom && same_kind >= RULES_PER_CARD_MAX {
        return Err(ApiError::Conflict(format!(
            "A card has at most {RULES_PER_CARD_MAX} custom rules."
        )));
    }
    let id = Uuid::now_v7();
    automation::ActiveModel {
        id: Set(id),
        merchant_id: Set(merchant_id),
        card_id: Set(card.id),
        kind: Set(kind.as_str().to_owned()),
        name: Set(name),
        enabled: Set(input.enabled),
        trigger_json: Set(serde_json::to_string(&input.trigger).map_err(anyhow::Error::from)?),
        event_kind: Set(timing.event_kind),
        send_minute: Set(timing.send_minute),
        days_before: Set(timing.days_before),
        delay_minutes: Set(timing.delay_minutes),
        cooldown_days: Set(timing.cooldown_days),
        lapse_days: Set(timing.lapse_days),
        message: Set(message),
        reward_points: Set(i64::from(input.reward_points)),
        reward_stamps: Set(i32::try_from(input.reward_stamps).unwrap_or(0)),
        armed_at: Set(now),
        planned_through: Set(None),
        scanned_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    changed(db, merchant_id, id, "created", now).await?;
    get(db, merchant_id, id).await
}

async fn changed(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    id: Uuid,
    change: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    crate::feed::record(
        db,
        &crate::feed::Change::automation(
            merchant_id,
            id,
            serde_json::json!({"change": change}),
            now,
        ),
    )
    .await?;
    Ok(())
}

pub async fn find(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    id: Uuid,
) -> Result<automation::Model> {
    automation::Entity::find_by_id(id)
        .filter(automation::Column::MerchantId.eq(merchant_id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Changes an automation. Disabling cancels what is due; enabling again reacts from now on;
/// a new timing re-plans what is due (calendar kinds) or moves it to the new delay (events);
/// a new message or reward applies to what fires next.
pub async fn update(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    id: Uuid,
    changes: &AutomationChanges,
    now: DateTime<Utc>,
) -> Result<Automation> {
    let current = find(db, merchant_id, id).await?;
    let mut fields = Fields::new();
    let name = changes
        .name
        .as_deref()
        .map(|n| check_name(&mut fields, Some(n)));
    let message = match &changes.message {
        Some(m) => check_message(&mut fields, "message", m),
        None => None,
    };
    let kind = AutomationKind::parse(&current.kind);
    let timing = match &changes.trigger {
        Some(t) => {
            if Some(t.kind()) != kind {
                fields.push(
                    "trigger.type",
                    "immutable",
                    "An automation keeps its kind: create another one instead.",
                );
            }
            Some((check_trigger(&mut fields, t), t))
        }
        None => None,
    };
    check_rewards(
        &mut fields,
        changes.reward_points.unwrap_or(0),
        changes.reward_stamps.unwrap_or(0),
    );
    fields.finish()?;
    let mut row: automation::ActiveModel = current.clone().into();
    if let Some(name) = name {
        row.name = Set(name);
    }
    if let Some(message) = message {
        row.message = Set(message);
    }
    if let Some(points) = changes.reward_points {
        row.reward_points = Set(i64::from(points));
    }
    if let Some(stamps) = changes.reward_stamps {
        row.reward_stamps = Set(i32::try_from(stamps).unwrap_or(0));
    }
    let mut retimed = false;
    let mut retriggered = false;
    if let Some((timing, trigger)) = &timing {
        let before = Timing {
            event_kind: current.event_kind.clone(),
            send_minute: current.send_minute,
            days_before: current.days_before,
            delay_minutes: current.delay_minutes,
            cooldown_days: current.cooldown_days,
            lapse_days: current.lapse_days,
        };
        retimed = before.send_minute != timing.send_minute
            || before.days_before != timing.days_before
            || before.delay_minutes != timing.delay_minutes
            || before.lapse_days != timing.lapse_days;
        retriggered = before.event_kind != timing.event_kind;
        row.trigger_json = Set(serde_json::to_string(trigger).map_err(anyhow::Error::from)?);
        row.event_kind = Set(timing.event_kind.clone());
        row.send_minute = Set(timing.send_minute);
        row.days_before = Set(timing.days_before);
        row.delay_minutes = Set(timing.delay_minutes);
        row.cooldown_days = Set(timing.cooldown_days);
        row.lapse_days = Set(timing.lapse_days);
    }
    let enabled = changes.enabled.unwrap_or(current.enabled);
    row.enabled = Set(enabled);
    let calendar = matches!(
        kind,
        Some(AutomationKind::Birthday | AutomationKind::Anniversary | AutomationKind::Winback)
    );
    if enabled && !current.enabled {
        // Back on: it reacts from now, and the calendar is planned afresh.
        row.armed_at = Set(now);
        row.planned_through = Set(None);
        row.scanned_at = Set(None);
    } else if enabled && retimed && calendar {
        row.planned_through = Set(Some(now));
        row.scanned_at = Set(None);
    }
    row.updated_at = Set(now);
    let updated = row.update(db).await?;
    if current.enabled && !enabled {
        automate::cancel_due(db, id, automate::CANCELLED_DISABLED).await?;
    } else if enabled && retimed && calendar {
        // What is due is planned again at the new time by the next scan.
        use automation_run::Column as R;
        automation_run::Entity::delete_many()
            .filter(R::AutomationId.eq(id))
            .filter(R::Status.eq(RunStatus::Due.as_str()))
            .exec(db)
            .await?;
        if kind == Some(AutomationKind::Winback) {
            // A new lapse length: lapses are found again from the new length.
            automation::Entity::update_many()
                .col_expr(
                    automation::Column::PlannedThrough,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .col_expr(automation::Column::ArmedAt, Expr::value(now))
                .filter(automation::Column::Id.eq(id))
                .exec(db)
                .await?;
        }
    } else if enabled && retriggered {
        automate::cancel_due(db, id, "changed").await?;
    } else if enabled && retimed {
        automate::redo_delays(db, &updated, current.delay_minutes).await?;
    }
    changed(db, merchant_id, id, "updated", now).await?;
    get(db, merchant_id, id).await
}

/// Deletes an automation and its occurrences (the pushes it sent stay in the history).
pub async fn delete(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let a = find(db, merchant_id, id).await?;
    automation_run::Entity::delete_many()
        .filter(automation_run::Column::AutomationId.eq(a.id))
        .exec(db)
        .await?;
    automation::Entity::delete_by_id(a.id).exec(db).await?;
    changed(db, merchant_id, id, "deleted", now).await?;
    Ok(())
}

/// What an automation is called: a custom rule's name, or its kind's label.
pub fn display_name(a: &automation::Model) -> String {
    match AutomationKind::parse(&a.kind) {
        Some(kind) if a.name.is_empty() => kind.label().to_owned(),
        _ => a.name.clone(),
    }
}

/// The names of automations, by ID (for the pushes they sent).
pub async fn names(db: &impl ConnectionTrait, ids: Vec<Uuid>) -> Result<HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(automation::Entity::find()
        .filter(automation::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, display_name(&a)))
        .collect())
}

pub async fn get(db: &impl ConnectionTrait, merchant_id: Uuid, id: Uuid) -> Result<Automation> {
    let a = find(db, merchant_id, id).await?;
    views(db, vec![a]).await?.pop().ok_or(ApiError::NotFound)
}

/// The merchant's automations (of one card, when given): the built-in kinds first, then
/// custom rules, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    card_id: Option<Uuid>,
) -> Result<Vec<Automation>> {
    let mut query =
        automation::Entity::find().filter(automation::Column::MerchantId.eq(merchant_id));
    if let Some(card_id) = card_id {
        query = query.filter(automation::Column::CardId.eq(card_id));
    }
    let mut models = query
        .order_by_asc(automation::Column::CreatedAt)
        .order_by_asc(automation::Column::Id)
        .all(db)
        .await?;
    let rank = |k: &str| {
        AutomationKind::ALL
            .iter()
            .position(|x| x.as_str() == k)
            .unwrap_or(usize::MAX)
    };
    models.sort_by_key(|a| (rank(&a.kind), a.created_at, a.id));
    views(db, models).await
}

async fn views(
    db: &impl ConnectionTrait,
    models: Vec<automation::Model>,
) -> Result<Vec<Automation>> {
    use automation_run::Column as R;
    let ids: Vec<Uuid> = models.iter().map(|a| a.id).collect();
    let card_ids: Vec<Uuid> = models.iter().map(|a| a.card_id).collect();
    let cards: HashMap<Uuid, String> = card::Entity::find()
        .filter(card::Column::Id.is_in(card_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let mut figures: HashMap<Uuid, AutomationFigures> = HashMap::new();
    if !ids.is_empty() {
        let counts: Vec<(Uuid, String, Option<String>, i64)> = automation_run::Entity::find()
            .select_only()
            .column(R::AutomationId)
            .column(R::Status)
            .column(R::Reason)
            .column_as(R::Id.count(), "n")
            .filter(R::AutomationId.is_in(ids.clone()))
            .group_by(R::AutomationId)
            .group_by(R::Status)
            .group_by(R::Reason)
            .into_tuple()
            .all(db)
            .await?;
        for (id, status, reason, n) in counts {
            let f = figures.entry(id).or_default();
            let n = u64::try_from(n).unwrap_or(0);
            match RunStatus::parse(&status) {
                Some(RunStatus::Sent) => f.sent += n,
                Some(RunStatus::Due) => f.due += n,
                Some(RunStatus::Cancelled) => f.cancelled += n,
                Some(RunStatus::Skipped) => {
                    if let Some(reason) = reason.as_deref().and_then(SkipReason::parse) {
                        f.skipped.push(SkipCount { reason, count: n });
                    }
                }
                None => {}
            }
        }
        let deferred: Vec<(Uuid, i64)> = automation_run::Entity::find()
            .select_only()
            .column(R::AutomationId)
            .column_as(R::Id.count(), "n")
            .filter(R::AutomationId.is_in(ids.clone()))
            .filter(R::Deferred.eq(true))
            .filter(R::Status.is_in([RunStatus::Due.as_str(), RunStatus::Sent.as_str()]))
            .group_by(R::AutomationId)
            .into_tuple()
            .all(db)
            .await?;
        for (id, n) in deferred {
            figures.entry(id).or_default().deferred = u64::try_from(n).unwrap_or(0);
        }
        let last: Vec<(Uuid, Option<DateTime<Utc>>)> = automation_run::Entity::find()
            .select_only()
            .column(R::AutomationId)
            .column_as(R::FiredAt.max(), "last")
            .filter(R::AutomationId.is_in(ids.clone()))
            .filter(R::Status.eq(RunStatus::Sent.as_str()))
            .group_by(R::AutomationId)
            .into_tuple()
            .all(db)
            .await?;
        for (id, at) in last {
            figures.entry(id).or_default().last_fired_at = at;
        }
        for id in &ids {
            let f = figures.entry(*id).or_default();
            if f.due > 0 {
                f.next_due = automation_run::Entity::find()
                    .select_only()
                    .column(R::DueAt)
                    .filter(R::AutomationId.eq(*id))
                    .filter(R::Status.eq(RunStatus::Due.as_str()))
                    .order_by_asc(R::DueAt)
                    .limit(5)
                    .into_tuple()
                    .all(db)
                    .await?;
            }
            f.skipped.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then(a.reason.as_str().cmp(b.reason.as_str()))
            });
        }
    }
    let mut out = Vec::with_capacity(models.len());
    for a in models {
        let kind = AutomationKind::parse(&a.kind).unwrap_or(AutomationKind::Custom);
        let trigger: Trigger =
            serde_json::from_str(&a.trigger_json).unwrap_or_else(|_| Trigger::default_for(kind));
        out.push(Automation {
            id: a.id,
            card_id: a.card_id,
            card_name: cards.get(&a.card_id).cloned().unwrap_or_default(),
            kind,
            name: display_name(&a),
            enabled: a.enabled,
            trigger,
            message: a.message,
            reward_points: u32::try_from(a.reward_points).unwrap_or(0),
            reward_stamps: u32::try_from(a.reward_stamps).unwrap_or(0),
            figures: figures.remove(&a.id).unwrap_or_default(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        });
    }
    Ok(out)
}

/// An automation's occurrences, latest due first, of one status when given; a page and the
/// total.
pub async fn runs(
    db: &impl ConnectionTrait,
    a: &automation::Model,
    status: Option<RunStatus>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<AutomationRun>, u64)> {
    use automation_run::Column as R;
    let mut query = automation_run::Entity::find().filter(R::AutomationId.eq(a.id));
    if let Some(status) = status {
        query = query.filter(R::Status.eq(status.as_str()));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(R::DueAt)
        .order_by_desc(R::Id)
        .offset((page - 1).saturating_mul(per_page))
        .limit(per_page)
        .all(db)
        .await?;
    let customer_ids: Vec<Uuid> = rows.iter().map(|r| r.customer_id).collect();
    let names: HashMap<Uuid, String> = customer::Entity::find()
        .filter(customer::Column::Id.is_in(customer_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| {
            (
                c.id,
                format!("{} {}", c.first_name, c.last_name)
                    .trim()
                    .to_owned(),
            )
        })
        .collect();
    let items = rows
        .into_iter()
        .map(|r| AutomationRun {
            id: r.id,
            customer_id: r.customer_id,
            customer_name: names.get(&r.customer_id).cloned().unwrap_or_default(),
            occurrence: r.occurrence,
            status: RunStatus::parse(&r.status).unwrap_or(RunStatus::Cancelled),
            reason: r.reason.as_deref().and_then(SkipReason::parse),
            planned_at: r.planned_at,
            due_at: r.due_at,
            deferred: r.deferred,
            fired_at: r.fired_at,
            push_id: r.push_id,
        })
        .collect();
    Ok((items, total))
}

pub fn settings_of(m: &merchant::Model) -> AutomationSettings {
    let minute = |v: i32| u16::try_from(v).unwrap_or(0);
    AutomationSettings {
        paused: m.automations_paused,
        quiet_start: time_of_day(minute(m.quiet_start)),
        quiet_end: time_of_day(minute(m.quiet_end)),
        cap_messages: u32::try_from(m.cap_messages).unwrap_or(1),
        cap_days: u32::try_from(m.cap_days).unwrap_or(1),
        staleness_hours: u32::try_from(m.staleness_hours).unwrap_or(24),
    }
}

pub async fn settings(db: &impl ConnectionTrait, merchant_id: Uuid) -> Result<AutomationSettings> {
    let m = merchant::Entity::find_by_id(merchant_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(settings_of(&m))
}

/// Stores the merchant's automation rules; every field is checked at once.
pub async fn set_settings(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    input: &AutomationSettings,
    now: DateTime<Utc>,
) -> Result<AutomationSettings> {
    let mut fields = Fields::new();
    let mut time = |field: &str, text: &str| match parse_time_of_day(text) {
        Some(m) => Some(i32::from(m)),
        None => {
            fields.push(
                field,
                "invalid",
                "Give a time of day as HH:MM, from 00:00 to 23:59.",
            );
            None
        }
    };
    let start = time("quiet_start", &input.quiet_start);
    let end = time("quiet_end", &input.quiet_end);
    if !(1..=100).contains(&input.cap_messages) {
        fields.push("cap_messages", "out_of_range", "Allow 1 to 100 messages.");
    }
    if !(1..=365).contains(&input.cap_days) {
        fields.push("cap_days", "out_of_range", "Count over 1 to 365 days.");
    }
    if !(1..=168).contains(&input.staleness_hours) {
        fields.push(
            "staleness_hours",
            "out_of_range",
            "Skip what is 1 to 168 hours late.",
        );
    }
    fields.finish()?;
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "quiet hours passed unparsed"
        )));
    };
    let n = |v: u32| i32::try_from(v).unwrap_or(1);
    merchant::Entity::update_many()
        .col_expr(
            merchant::Column::AutomationsPaused,
            Expr::value(input.paused),
        )
        .col_expr(merchant::Column::QuietStart, Expr::value(start))
        .col_expr(merchant::Column::QuietEnd, Expr::value(end))
        .col_expr(
            merchant::Column::CapMessages,
            Expr::value(n(input.cap_messages)),
        )
        .col_expr(merchant::Column::CapDays, Expr::value(n(input.cap_days)))
        .col_expr(
            merchant::Column::StalenessHours,
            Expr::value(n(input.staleness_hours)),
        )
        .filter(merchant::Column::Id.eq(merchant_id))
        .exec(db)
        .await?;
    crate::feed::record(
        db,
        &crate::feed::Change {
            merchant_id,
            topic: crate::feed::Topic::Automation,
            subject: None,
            body: serde_json::json!({"change": "settings"}),
            at: now,
        },
    )
    .await?;
    settings(db, merchant_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_wallet_template_pattern_is_the_check() {
        let pattern =
            regex::Regex::new(loyalcast_dto::text::PUSH_TEMPLATE).unwrap_or_else(|e| panic!("{e}"));
        let valid = |text: &str| check_message(&mut Fields::new(), "message", text).is_some();
        let pieces = [
            "",
            "a",
            " ",
            "\n",
            "\t",
            "\u{85}",
            "\u{3000}",
            "{",
            "}",
            "{{",
            "}}",
            "{first_name}",
            "{unsubscribe_url}",
            "{firstname}",
            "{}",
            "é",
            "🎉",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}{c}");
                    assert_eq!(pattern.is_match(&text), valid(&text), "{text:?}");
                }
            }
        }
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32).step_by(7) {
            for text in [c.to_string(), format!("{c}a"), format!("a{c}")] {
                assert_eq!(pattern.is_match(&text), valid(&text), "{text:?}");
            }
        }
    }
}
