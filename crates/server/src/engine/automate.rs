//! Automations as a source of the engine: planning their occurrences and firing them.
//!
//! An occurrence is one row of `automation_runs`, unique on (automation, customer,
//! occurrence): a birthday or an anniversary in a year, a lapse (named by the last visit
//! before it), an event. Planning inserts rows set-based with `ON CONFLICT DO NOTHING`, so
//! planning twice (two processes, a restart, an event replayed) plans once:
//!
//! - the calendar kinds (birthday, anniversary, win-back) are planned by a scan that each
//!   automation gets at most every [`SCAN_EVERY`] (a guarded update elects one process),
//!   through the next day, one `INSERT ... SELECT` per local date and time zone;
//! - feedback requests and custom rules are planned in the transaction that records their
//!   event.
//!
//! Firing takes due rows (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so processes share the
//! work and none waits) and decides each in the customer's local time: skipped when stale,
//! capped, cooling down, without a pass or a device; deferred past quiet hours; otherwise
//! sent. What an automation sends in an hour is one push of the history
//! (`pushes.automation_id`; each round joins it): the message is written to each customer's
//! passes of the card, filled in for them, any reward is granted, and the notifications are
//! queued in the same transaction as the rows' new status. A round that fails rolls back whole, so an occurrence is sent once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use chrono_tz::Tz;
use loyalcast_delivery::template::{Template, TemplateValues};
use loyalcast_domain::schedule::{self, QuietHours};
use loyalcast_dto::{AutomationKind, EventKind, FeedbackAfter, PushStatus, RunStatus, SkipReason};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::error::Result;
use crate::entity::{
    automation, automation_run, card, customer, merchant, pass, pass_registration, push,
    web_push_subscription,
};

/// How often each automation's calendar is scanned.
pub const SCAN_EVERY: Duration = Duration::minutes(10);
/// How far back a scan plans what it missed (downtime): older occurrences are not planned at
/// all; those it plans late are recorded as skipped (stale) when they fire.
pub const CATCH_UP: Duration = Duration::days(31);
/// How far ahead a scan plans.
pub const PLAN_AHEAD: Duration = Duration::hours(36);
/// A birthday added or changed this long before it comes does not fire that year.
pub const BIRTHDAY_SETTLE: Duration = Duration::days(30);
/// Occurrences decided per round.
pub const ROUND: u64 = 200;

/// Why a due occurrence was cancelled rather than skipped.
pub const CANCELLED_DISABLED: &str = "disabled";

/// A merchant's rules for automated messages.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub paused: bool,
    pub quiet: QuietHours,
    pub cap_messages: i64,
    pub cap_days: i64,
    pub staleness: Duration,
    pub time_zone: Tz,
}

impl Rules {
    pub fn of(m: &merchant::Model) -> Rules {
        let minute = |v: i32| u16::try_from(v).unwrap_or(0) % schedule::MINUTES_PER_DAY;
        Rules {
            paused: m.automations_paused,
            quiet: QuietHours {
                start: minute(m.quiet_start),
                end: minute(m.quiet_end),
            },
            cap_messages: i64::from(Ord::max(m.cap_messages, 1)),
            cap_days: i64::from(Ord::max(m.cap_days, 1)),
            staleness: Duration::hours(i64::from(Ord::max(m.staleness_hours, 1))),
            time_zone: m.time_zone.parse().unwrap_or(chrono_tz::UTC),
        }
    }

    /// The zone a customer's times are in: theirs when known, else the merchant's.
    pub fn zone_of(&self, c: &customer::Model) -> Tz {
        c.time_zone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(self.time_zone)
    }
}

fn run_columns() -> [automation_run::Column; 9] {
    use automation_run::Column as R;
    [
        R::MerchantId,
        R::AutomationId,
        R::CustomerId,
        R::Occurrence,
        R::PlannedAt,
        R::DueAt,
        R::Status,
        R::Deferred,
        R::CreatedAt,
    ]
}

fn once() -> OnConflict {
    use automation_run::Column as R;
    OnConflict::columns([R::AutomationId, R::CustomerId, R::Occurrence])
        .do_nothing()
        .to_owned()
}

/// Inserts the occurrences `customers` gives (a sub-select of customer ids), due at `due`
/// (or recorded as skipped for `skipped`): each once.
async fn insert_selected(
    db: &impl ConnectionTrait,
    a: &automation::Model,
    customers: SelectStatement,
    occurrence: Expr,
    due: DateTime<Utc>,
    skipped: Option<SkipReason>,
    now: DateTime<Utc>,
) -> Result<u64> {
    use automation_run::Column as R;
    let (status, reason) = match skipped {
        Some(reason) => (RunStatus::Skipped, Some(reason)),
        None => (RunStatus::Due, None),
    };
    let mut select = Query::select()
        .expr(Expr::val(a.merchant_id))
        .expr(Expr::val(a.id))
        .expr(Expr::col((customer::Entity, customer::Column::Id)))
        .expr(occurrence)
        .expr(Expr::val(due))
        .expr(Expr::val(due))
        .expr(Expr::val(status.as_str()))
        .expr(Expr::val(false))
        .expr(Expr::val(now))
        .expr(Expr::val(reason.map(SkipReason::as_str)))
        .from(customer::Entity)
        .and_where(Expr::col((customer::Entity, customer::Column::Id)).in_subquery(customers))
        .to_owned();
    select.and_where(Expr::col((customer::Entity, customer::Column::MerchantId)).eq(a.merchant_id));
    let mut columns = run_columns().to_vec();
    columns.push(R::Reason);
    let insert = Query::insert()
        .into_table(automation_run::Entity)
        .columns(columns)
        .select_from(select)
        .map_err(|e| anyhow::anyhow!("building the plan: {e}"))?
        .on_conflict(once())
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected())
}

/// That the customer of the row holds a pass of the automation's card: a probe of the
/// passes' customer index per candidate (an `IN` over the card's passes would make SQLite
/// read all of them first).
fn holds_card(a: &automation::Model) -> sea_orm::sea_query::SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(pass::Entity)
            .and_where(
                Expr::col((pass::Entity, pass::Column::CustomerId))
                    .equals((customer::Entity, customer::Column::Id)),
            )
            .and_where(Expr::col((pass::Entity, pass::Column::CardId)).eq(a.card_id))
            .to_owned(),
    )
}

/// Which customers a time zone's plan covers: those in the zone, and for the merchant's own
/// zone those without one (or with a name that is not a zone).
#[derive(Debug, Clone)]
struct Zone {
    tz: Tz,
    /// `None`: the merchant's zone.
    name: Option<String>,
    /// Names that are not zones (the merchant's zone covers them).
    unknown: Vec<String>,
    merchant_zone: String,
}

impl Zone {
    fn condition(&self) -> Condition {
        use customer::Column as C;
        match &self.name {
            Some(name) => Condition::all().add(C::TimeZone.eq(name.clone())),
            None => {
                let mut names = self.unknown.clone();
                names.push(self.merchant_zone.clone());
                Condition::any()
                    .add(C::TimeZone.is_null())
                    .add(C::TimeZone.is_in(names))
            }
        }
    }
}

/// The zones of a merchant's customers: their own where they have one, the merchant's for
/// the rest (read from the partial index of customers with a zone).
async fn zones(db: &impl ConnectionTrait, rules: &Rules, merchant_id: Uuid) -> Result<Vec<Zone>> {
    let names: Vec<String> = customer::Entity::find()
        .select_only()
        .column(customer::Column::TimeZone)
        .distinct()
        .filter(customer::Column::MerchantId.eq(merchant_id))
        .filter(customer::Column::TimeZone.is_not_null())
        .into_tuple::<Option<String>>()
        .all(db)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let merchant_zone = rules.time_zone.name().to_owned();
    let mut unknown = Vec::new();
    let mut out = Vec::new();
    for name in names {
        match name.parse::<Tz>() {
            Ok(tz) if tz != rules.time_zone => out.push(Zone {
                tz,
                name: Some(name),
                unknown: Vec::new(),
                merchant_zone: merchant_zone.clone(),
            }),
            Ok(_) => {}
            Err(_) => unknown.push(name),
        }
    }
    out.push(Zone {
        tz: rules.time_zone,
        name: None,
        unknown,
        merchant_zone,
    });
    Ok(out)
}

/// The local dates (with their send instants) of `zone` whose send time falls in
/// `[from, through)`.
fn send_dates(
    from: DateTime<Utc>,
    through: DateTime<Utc>,
    minute: u16,
    tz: Tz,
) -> Vec<(NaiveDate, DateTime<Utc>)> {
    let mut out = Vec::new();
    let Some(mut date) = schedule::local_date(from, tz).pred_opt() else {
        return out;
    };
    let last = schedule::local_date(through, tz).succ_opt().unwrap_or(date);
    while date <= last {
        let at = schedule::local_instant(date, minute, tz);
        if at >= from && at < through {
            out.push((date, at));
        }
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    out
}

/// Runs the calendar scans that are due, each automation's in its own transaction; the
/// occurrences planned.
pub async fn scan(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> Result<u64> {
    let kinds = [
        AutomationKind::Birthday.as_str(),
        AutomationKind::Anniversary.as_str(),
        AutomationKind::Winback.as_str(),
    ];
    let stale_scan = || {
        Condition::any()
            .add(automation::Column::ScannedAt.is_null())
            .add(automation::Column::ScannedAt.lte(now - SCAN_EVERY))
    };
    let due = automation::Entity::find()
        .filter(automation::Column::Enabled.eq(true))
        .filter(automation::Column::Kind.is_in(kinds))
        .filter(stale_scan())
        .order_by_asc(automation::Column::Id)
        .limit(100)
        .all(db)
        .await?;
    let mut planned = 0;
    for a in due {
        let txn = db.begin().await?;
        let taken = automation::Entity::update_many()
            .col_expr(automation::Column::ScannedAt, Expr::value(Some(now)))
            .filter(automation::Column::Id.eq(a.id))
            .filter(automation::Column::Enabled.eq(true))
            .filter(stale_scan())
            .exec(&txn)
            .await?;
        if taken.rows_affected == 1 {
            planned += plan_calendar(&txn, &a, now).await?;
        }
        txn.commit().await?;
    }
    Ok(planned)
}

/// Plans one calendar automation's occurrences through [`PLAN_AHEAD`] from `now`.
pub async fn plan_calendar(
    db: &impl ConnectionTrait,
    a: &automation::Model,
    now: DateTime<Utc>,
) -> Result<u64> {
    let Some(m) = merchant::Entity::find_by_id(a.merchant_id).one(db).await? else {
        return Ok(0);
    };
    let rules = Rules::of(&m);
    let kind = AutomationKind::parse(&a.kind);
    let from = a.planned_through.unwrap_or(a.armed_at);
    let from = Ord::max(Ord::max(from, a.armed_at), now - CATCH_UP);
    let through = now + PLAN_AHEAD;
    let mut planned = 0;
    match kind {
        Some(AutomationKind::Birthday) | Some(AutomationKind::Anniversary) => {
            let minute = u16::try_from(a.send_minute.unwrap_or(600)).unwrap_or(600);
            let first_install = if kind == Some(AutomationKind::Anniversary) {
                pass::Entity::find()
                    .select_only()
                    .column_as(pass::Column::InstalledAt.min(), "first")
                    .filter(pass::Column::CardId.eq(a.card_id))
                    .into_tuple::<Option<DateTime<Utc>>>()
                    .one(db)
                    .await?
                    .flatten()
            } else {
                None
            };
            for zone in zones(db, &rules, a.merchant_id).await? {
                for (date, at) in send_dates(from, through, minute, zone.tz) {
                    planned += match kind {
                        Some(AutomationKind::Birthday) => {
                            plan_birthdays(db, a, &zone, date, at, now).await?
                        }
                        _ => match first_install {
                            Some(first) => {
                                plan_anniversaries(db, a, &zone, date, at, first, now).await?
                            }
                            None => 0,
                        },
                    };
                }
            }
        }
        Some(AutomationKind::Winback) => {
            planned += plan_lapses(db, a, &rules, now).await?;
        }
        _ => {}
    }
    automation::Entity::update_many()
        .col_expr(
            automation::Column::PlannedThrough,
            Expr::value(Some(if kind == Some(AutomationKind::Winback) {
                now
            } else {
                through
            })),
        )
        .filter(automation::Column::Id.eq(a.id))
        .exec(db)
        .await?;
    Ok(planned)
}

/// Birthdays sent on `date` (local): those `days_before` days later, by the birthday index.
async fn plan_birthdays(
    db: &impl ConnectionTrait,
    a: &automation::Model,
    zone: &Zone,
    date: NaiveDate,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    use customer::Column as C;
    let days = u64::try_from(Ord::max(a.days_before, 0)).unwrap_or(0);
    let Some(birthday) = date.checked_add_days(chrono::Days::new(days)) else {
        return Ok(0);
    };
    let mut on = Condition::any();
    for r in loyalcast_domain::birthday::window(birthday, 1) {
        on = on.add(
            Condition::all()
                .add(C::BirthdayMonth.eq(r.month as i16))
                .add(C::BirthdayDay.between(r.from as i16, r.to as i16)),
        );
    }
    let customers = Query::select()
        .column(C::Id)
        .from(customer::Entity)
        .and_where(C::MerchantId.eq(a.merchant_id))
        .cond_where(on)
        .cond_where(zone.condition())
        .and_where(holds_card(a))
        .to_owned();
    let year = chrono::Datelike::year(&birthday).to_string();
    insert_selected(db, a, customers, Expr::val(year), at, None, now).await
}

/// Anniversaries sent on `date` (local): customers whose pass of the card was installed on
/// that day of an earlier year (28 February also stands for 29 February in common years),
/// read by the passes' install-time index, one range per year.
async fn plan_anniversaries(
    db: &impl ConnectionTrait,
    a: &automation::Model,
    zone: &Zone,
    date: NaiveDate,
    at: DateTime<Utc>,
    first_install: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let years = chrono::Datelike::year(&date) - chrono::Datelike::year(&first_install);
    let days = schedule::anniversary_dates(date, u32::try_from(Ord::max(years, 0)).unwrap_or(0));
    if days.is_empty() {
        return Ok(0);
    }
    // One range of the install-time index per earlier year (an OR of them makes SQLite scan
    // every pass of the card).
    let year = chrono::Datelike::year(&date).to_string();
    let mut planned = 0;
    for day in days {
        let (start, end) = schedule::day_bounds(day, zone.tz);
        let installed = Query::select()
            .column(pass::Column::CustomerId)
            .from(pass::Entity)
            .and_where(pass::Column::CardId.eq(a.card_id))
            .and_where(pass::Column::InstalledAt.gte(start))
            .and_where(pass::Column::InstalledAt.lt(end))
            .to_owned();
        let customers = Query::select()
            .column(customer::Column::Id)
            .from(customer::Entity)
            .and_where(customer::Column::MerchantId.eq(a.merchant_id))
            .cond_where(zone.condition())
            .and_where(customer::Column::Id.in_subquery(installed))
            .to_owned();
        planned +=
            insert_selected(db, a, customers, Expr::val(year.clone()), at, None, now).await?;
    }
    Ok(planned)
}

/// Lapses since the last scan: customers whose last visit is now `lapse_days` old (by the
/// last-visit index), named by that visit so a new visit re-arms it. The first scan takes
/// everyone lapsed; a lapse that passed more than the staleness ago while no scan ran
/// (downtime) is recorded as skipped.
async fn plan_lapses(
    db: &impl ConnectionTrait,
    a: &automation::Model,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Result<u64> {
    use customer::Column as C;
    let lapse = Duration::days(i64::from(Ord::max(a.lapse_days, 1)));
    let lapsed_before = now - lapse;
    let since = a.planned_through.map(|t| Ord::max(t, a.armed_at) - lapse);
    let customers = |from: Option<DateTime<Utc>>, to: DateTime<Utc>| {
        let mut q = Query::select()
            .column(C::Id)
            .from(customer::Entity)
            .and_where(C::MerchantId.eq(a.merchant_id))
            .and_where(C::LastVisitAt.lt(to))
            .and_where(holds_card(a))
            .to_owned();
        if let Some(from) = from {
            q.and_where(C::LastVisitAt.gte(from));
        }
        q
    };
    let occurrence = Expr::col((customer::Entity, C::LastVisitAt)).cast_as("TEXT");
    let mut planned = 0;
    match since {
        // Lapsed since the last scan: on time, or (after downtime) too late.
        Some(since) => {
            let stale_before = lapsed_before - rules.staleness;
            if since < stale_before {
                planned += insert_selected(
                    db,
                    a,
                    customers(Some(since), stale_before),
                    occurrence.clone(),
                    now,
                    Some(SkipReason::Stale),
                    now,
                )
                .await?;
            }
            planned += insert_selected(
                db,
                a,
                customers(Some(Ord::max(since, stale_before)), lapsed_before),
                occurrence,
                now,
                None,
                now,
            )
            .await?;
        }
        None => {
            planned += insert_selected(
                db,
                a,
                customers(None, lapsed_before),
                occurrence,
                now,
                None,
                now,
            )
            .await?;
        }
    }
    Ok(planned)
}

/// An event as the planner reads it.
#[derive(Debug, Clone)]
pub struct Occurred<'a> {
    pub customer_id: Uuid,
    pub pass_id: Option<Uuid>,
    pub kind: EventKind,
    pub external_id: &'a str,
    pub at: DateTime<Utc>,
}

fn follows(a: &automation::Model, kind: EventKind) -> bool {
    match AutomationKind::parse(&a.kind) {
        Some(AutomationKind::Feedback) => a
            .event_kind
            .as_deref()
            .and_then(FeedbackAfter::parse)
            .is_some_and(|after| after.follows(kind)),
        Some(AutomationKind::Custom) => a.event_kind.as_deref() == Some(kind.as_str()),
        _ => false,
    }
}

/// Plans what newly recorded events trigger, in their transaction: for each enabled
/// feedback request or custom rule of the merchant that follows the event's kind, an
/// occurrence for the customer when they hold a pass of its card (the event's own pass
/// when it names one), due the rule's delay after the event. An event whose occurrence
/// would be due more than the staleness ago is history (an integration syncing its past),
/// not an occurrence: it is not planned.
pub async fn plan_events(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    events: &[Occurred<'_>],
    now: DateTime<Utc>,
) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let rules_of = automation::Entity::find()
        .filter(automation::Column::MerchantId.eq(merchant_id))
        .filter(automation::Column::Enabled.eq(true))
        .filter(automation::Column::Kind.is_in([
            AutomationKind::Feedback.as_str(),
            AutomationKind::Custom.as_str(),
        ]))
        .all(db)
        .await?;
    let rules_of: Vec<automation::Model> = rules_of
        .into_iter()
        .filter(|a| events.iter().any(|e| follows(a, e.kind)))
        .collect();
    if rules_of.is_empty() {
        return Ok(0);
    }
    let customer_ids: Vec<Uuid> = {
        let set: HashSet<Uuid> = events.iter().map(|e| e.customer_id).collect();
        set.into_iter().collect()
    };
    let card_ids: Vec<Uuid> = rules_of.iter().map(|a| a.card_id).collect();
    let mut held: HashMap<(Uuid, Uuid), ()> = HashMap::new();
    let mut pass_card: HashMap<Uuid, Uuid> = HashMap::new();
    for chunk in customer_ids.chunks(500) {
        for p in pass::Entity::find()
            .filter(pass::Column::CustomerId.is_in(chunk.to_vec()))
            .filter(pass::Column::CardId.is_in(card_ids.clone()))
            .all(db)
            .await?
        {
            held.insert((p.customer_id, p.card_id), ());
            pass_card.insert(p.id, p.card_id);
        }
    }
    let m = merchant::Entity::find_by_id(merchant_id).one(db).await?;
    let Some(m) = m else { return Ok(0) };
    let rules = Rules::of(&m);
    let mut zones: HashMap<Uuid, Tz> = HashMap::new();
    for chunk in customer_ids.chunks(500) {
        for c in customer::Entity::find()
            .filter(customer::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            zones.insert(c.id, rules.zone_of(&c));
        }
    }
    let mut rows = Vec::new();
    for e in events {
        for a in rules_of.iter().filter(|a| follows(a, e.kind)) {
            let holds = match e.pass_id {
                Some(pass_id) => pass_card.get(&pass_id) == Some(&a.card_id),
                None => held.contains_key(&(e.customer_id, a.card_id)),
            };
            if !holds {
                continue;
            }
            let tz = zones
                .get(&e.customer_id)
                .copied()
                .unwrap_or(rules.time_zone);
            let due = schedule::after_delay(e.at, i64::from(a.delay_minutes), tz);
            if due < now - rules.staleness {
                continue;
            }
            rows.push(automation_run::ActiveModel {
                merchant_id: Set(merchant_id),
                automation_id: Set(a.id),
                customer_id: Set(e.customer_id),
                occurrence: Set(format!("event:{}", e.external_id)),
                planned_at: Set(due),
                due_at: Set(due),
                status: Set(RunStatus::Due.as_str().to_owned()),
                reason: Set(None),
                deferred: Set(false),
                fired_at: Set(None),
                push_id: Set(None),
                created_at: Set(now),
                ..Default::default()
            });
        }
    }
    let mut planned = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<automation_run::ActiveModel> = rows.by_ref().take(500).collect();
        planned += automation_run::Entity::insert_many(chunk)
            .on_conflict(once())
            .exec_without_returning(db)
            .await?;
    }
    Ok(planned)
}

/// What becomes of one due occurrence.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    Cancel,
    Skip(SkipReason),
    Defer(DateTime<Utc>),
    Send,
}

/// What a round knows about one customer.
#[derive(Debug, Default)]
struct Holder {
    /// Their passes of each card: (pass id, notifiable).
    passes: HashMap<Uuid, Vec<(Uuid, bool)>>,
    /// Automated messages sent to them within the cap's window, this round's included.
    recent: i64,
}

/// Fires what is due, one round of up to [`ROUND`] occurrences in one transaction; the
/// number decided (sent, skipped, deferred or cancelled).
pub async fn fire_due(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> Result<u64> {
    use automation_run::Column as R;
    // Most calls find nothing due: answered by the partial index, without a transaction
    // (nor, on SQLite, the write lock a round takes).
    let any = automation_run::Entity::find()
        .select_only()
        .column(R::Id)
        .filter(R::Status.eq(RunStatus::Due.as_str()))
        .filter(R::DueAt.lte(now))
        .into_tuple::<i64>()
        .one(db)
        .await?;
    if any.is_none() {
        return Ok(0);
    }
    let txn = db.begin().await?;
    let decided = fire_round(&txn, now).await?;
    txn.commit().await?;
    Ok(decided)
}

/// One round of [`fire_due`] inside `txn`: nothing of it stays unless `txn` commits.
pub async fn fire_round(txn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64> {
    use automation_run::Column as R;
    if txn.get_database_backend() == DbBackend::Sqlite {
        // Take SQLite's write lock before reading: a transaction that reads first and writes
        // after another process committed cannot write at all ("database is locked", with
        // no wait). A write that matches nothing takes the lock (waiting for it).
        txn.execute_unprepared("UPDATE automation_runs SET deferred = deferred WHERE 1 = 0")
            .await?;
    }
    let mut query = automation_run::Entity::find()
        .filter(R::Status.eq(RunStatus::Due.as_str()))
        .filter(R::DueAt.lte(now))
        .order_by_asc(R::DueAt)
        .order_by_asc(R::Id)
        .limit(ROUND);
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    let due = query.all(txn).await?;
    if due.is_empty() {
        return Ok(0);
    }
    decide_round(txn, due, now).await
}

async fn decide_round(
    txn: &impl ConnectionTrait,
    due: Vec<automation_run::Model>,
    now: DateTime<Utc>,
) -> Result<u64> {
    use automation_run::Column as R;
    let ids = |f: fn(&automation_run::Model) -> Uuid| -> Vec<Uuid> {
        let set: HashSet<Uuid> = due.iter().map(f).collect();
        let mut v: Vec<Uuid> = set.into_iter().collect();
        v.sort();
        v
    };
    let automations: HashMap<Uuid, automation::Model> = automation::Entity::find()
        .filter(automation::Column::Id.is_in(ids(|r| r.automation_id)))
        .all(txn)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let merchants: HashMap<Uuid, merchant::Model> = merchant::Entity::find()
        .filter(merchant::Column::Id.is_in(ids(|r| r.merchant_id)))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let customer_ids = ids(|r| r.customer_id);
    let customers: HashMap<Uuid, customer::Model> = customer::Entity::find()
        .filter(customer::Column::Id.is_in(customer_ids.clone()))
        .all(txn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut holders = holders(txn, &customer_ids, &merchants, now).await?;
    // The feedback requests each customer was last sent, per automation.
    let feedback: Vec<Uuid> = automations
        .values()
        .filter(|a| a.kind == AutomationKind::Feedback.as_str() && a.cooldown_days > 0)
        .map(|a| a.id)
        .collect();
    let mut last_feedback: HashMap<(Uuid, Uuid), DateTime<Utc>> = HashMap::new();
    if !feedback.is_empty() {
        let rows: Vec<(Uuid, Uuid, Option<DateTime<Utc>>)> = automation_run::Entity::find()
            .select_only()
            .column(R::AutomationId)
            .column(R::CustomerId)
            .column_as(R::FiredAt.max(), "last")
            .filter(R::Status.eq(RunStatus::Sent.as_str()))
            .filter(R::AutomationId.is_in(feedback))
            .filter(R::CustomerId.is_in(customer_ids.clone()))
            .group_by(R::AutomationId)
            .group_by(R::CustomerId)
            .into_tuple()
            .all(txn)
            .await?;
        for (a, c, last) in rows {
            if let Some(last) = last {
                last_feedback.insert((a, c), last);
            }
        }
    }

    let mut decided = 0;
    // What is sent, per automation: (run, customer).
    let mut sends: HashMap<Uuid, Vec<(i64, Uuid)>> = HashMap::new();
    let mut touched: HashSet<Uuid> = HashSet::new();
    for run in &due {
        let decision = match (
            automations.get(&run.automation_id),
            merchants.get(&run.merchant_id),
            customers.get(&run.customer_id),
        ) {
            (Some(a), Some(m), Some(c)) if a.enabled => {
                let rules = Rules::of(m);
                let holder = holders.entry(c.id).or_default();
                let decision = decide(run, a, &rules, c, holder, &last_feedback, now);
                if decision == Decision::Send {
                    holder.recent += 1;
                    if a.kind == AutomationKind::Feedback.as_str() {
                        last_feedback.insert((a.id, c.id), now);
                    }
                }
                decision
            }
            _ => Decision::Cancel,
        };
        let guard = automation_run::Entity::update_many()
            .filter(R::Id.eq(run.id))
            .filter(R::Status.eq(RunStatus::Due.as_str()));
        let updated = match &decision {
            Decision::Cancel => guard
                .col_expr(R::Status, Expr::value(RunStatus::Cancelled.as_str()))
                .col_expr(R::Reason, Expr::value(Some(CANCELLED_DISABLED))),
            Decision::Skip(reason) => guard
                .col_expr(R::Status, Expr::value(RunStatus::Skipped.as_str()))
                .col_expr(R::Reason, Expr::value(Some(reason.as_str())))
                .col_expr(R::FiredAt, Expr::value(Some(now))),
            Decision::Defer(at) => guard
                .col_expr(R::DueAt, Expr::value(*at))
                .col_expr(R::Deferred, Expr::value(true)),
            Decision::Send => guard
                .col_expr(R::Status, Expr::value(RunStatus::Sent.as_str()))
                .col_expr(R::FiredAt, Expr::value(Some(now))),
        }
        .exec(txn)
        .await?;
        if updated.rows_affected == 1 {
            decided += 1;
            touched.insert(run.automation_id);
            if decision == Decision::Send {
                sends
                    .entry(run.automation_id)
                    .or_default()
                    .push((run.id, run.customer_id));
            }
        }
    }
    // Sending: per automation, in id order; within one, customers in id order (so that two
    // rounds at once update shared rows in the same order).
    let mut sent: Vec<(Uuid, Vec<(i64, Uuid)>)> = sends.into_iter().collect();
    sent.sort_by_key(|(id, _)| *id);
    for (automation_id, mut runs) in sent {
        let (Some(a), Some(m)) = (
            automations.get(&automation_id),
            automations
                .get(&automation_id)
                .and_then(|a| merchants.get(&a.merchant_id)),
        ) else {
            continue;
        };
        runs.sort_by_key(|(_, c)| *c);
        send(txn, a, m, &runs, &customers, now).await?;
    }
    let mut touched: Vec<Uuid> = touched.into_iter().collect();
    touched.sort();
    for id in touched {
        if let Some(a) = automations.get(&id) {
            crate::feed::record(
                txn,
                &crate::feed::Change::automation(
                    a.merchant_id,
                    a.id,
                    serde_json::json!({"change": "fired"}),
                    now,
                ),
            )
            .await?;
        }
    }
    Ok(decided)
}

/// The round's customers: their passes (and whether each can be notified) and the
/// automated messages sent to them within their merchant's cap window.
async fn holders(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
    merchants: &HashMap<Uuid, merchant::Model>,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Holder>> {
    use automation_run::Column as R;
    let mut out: HashMap<Uuid, Holder> = HashMap::new();
    let passes = pass::Entity::find()
        .filter(pass::Column::CustomerId.is_in(customer_ids.to_vec()))
        .all(db)
        .await?;
    let pass_ids: Vec<Uuid> = passes.iter().map(|p| p.id).collect();
    let mut notifiable: HashSet<Uuid> = HashSet::new();
    for chunk in pass_ids.chunks(500) {
        let registered: Vec<Uuid> = pass_registration::Entity::find()
            .select_only()
            .column(pass_registration::Column::PassId)
            .filter(pass_registration::Column::PassId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        notifiable.extend(registered);
        let subscribed: Vec<Uuid> = web_push_subscription::Entity::find()
            .select_only()
            .column(web_push_subscription::Column::PassId)
            .filter(web_push_subscription::Column::PassId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        notifiable.extend(subscribed);
    }
    for p in passes {
        let can = p.platform == "google" || notifiable.contains(&p.id);
        out.entry(p.customer_id)
            .or_default()
            .passes
            .entry(p.card_id)
            .or_default()
            .push((p.id, can));
    }
    // The widest cap window of the round's merchants bounds what is read; each customer is
    // then counted against their own merchant's window.
    let widest = merchants
        .values()
        .map(|m| i64::from(Ord::max(m.cap_days, 1)))
        .max()
        .unwrap_or(1);
    let sent: Vec<(Uuid, Uuid, Option<DateTime<Utc>>)> = automation_run::Entity::find()
        .select_only()
        .column(R::CustomerId)
        .column(R::MerchantId)
        .column(R::FiredAt)
        .filter(R::Status.eq(RunStatus::Sent.as_str()))
        .filter(R::CustomerId.is_in(customer_ids.to_vec()))
        .filter(R::FiredAt.gt(now - Duration::days(widest)))
        .into_tuple()
        .all(db)
        .await?;
    for (customer_id, merchant_id, fired) in sent {
        let window = merchants
            .get(&merchant_id)
            .map(|m| Duration::days(i64::from(Ord::max(m.cap_days, 1))))
            .unwrap_or(Duration::days(widest));
        if fired.is_some_and(|f| f > now - window) {
            out.entry(customer_id).or_default().recent += 1;
        }
    }
    Ok(out)
}

fn decide(
    run: &automation_run::Model,
    a: &automation::Model,
    rules: &Rules,
    c: &customer::Model,
    holder: &Holder,
    last_feedback: &HashMap<(Uuid, Uuid), DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Decision {
    if rules.paused {
        return Decision::Skip(SkipReason::Paused);
    }
    if now - run.due_at > rules.staleness {
        return Decision::Skip(SkipReason::Stale);
    }
    let allowed = rules.quiet.next_allowed(now, rules.zone_of(c));
    if allowed > now {
        return Decision::Defer(allowed);
    }
    let kind = AutomationKind::parse(&a.kind);
    if kind == Some(AutomationKind::Birthday)
        && c.birthday_changed_at
            .is_some_and(|t| t > run.planned_at - BIRTHDAY_SETTLE)
    {
        return Decision::Skip(SkipReason::BirthdayChanged);
    }
    if kind == Some(AutomationKind::Feedback)
        && a.cooldown_days > 0
        && last_feedback
            .get(&(a.id, c.id))
            .is_some_and(|t| *t > now - Duration::days(i64::from(a.cooldown_days)))
    {
        return Decision::Skip(SkipReason::Cooldown);
    }
    match holder.passes.get(&a.card_id) {
        None => return Decision::Skip(SkipReason::NoPass),
        Some(passes) if !passes.iter().any(|(_, can)| *can) => {
            return Decision::Skip(SkipReason::NoDevice);
        }
        Some(_) => {}
    }
    if holder.recent >= rules.cap_messages {
        return Decision::Skip(SkipReason::Cap);
    }
    Decision::Send
}

/// Sends one automation's occurrences of a round: one push for them, the message filled in
/// on each customer's passes of the card, the reward granted, the notifications queued.
async fn send(
    txn: &impl ConnectionTrait,
    a: &automation::Model,
    m: &merchant::Model,
    runs: &[(i64, Uuid)],
    customers: &HashMap<Uuid, customer::Model>,
    now: DateTime<Utc>,
) -> Result<()> {
    use automation_run::Column as R;
    let card_name = card::Entity::find_by_id(a.card_id)
        .one(txn)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    let template = Template::parse(&a.message).ok();
    // One push per automation and hour in the history: a round joins the hour's push.
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let current = push::Entity::find()
        .filter(push::Column::AutomationId.eq(a.id))
        .filter(push::Column::CreatedAt.gte(hour))
        .filter(
            push::Column::Status
                .is_in([PushStatus::Sending.as_str(), PushStatus::Completed.as_str()]),
        )
        .order_by_desc(push::Column::CreatedAt)
        .one(txn)
        .await?;
    let p = match current {
        Some(p) => p,
        None => {
            push::ActiveModel {
                id: Set(Uuid::now_v7()),
                merchant_id: Set(a.merchant_id),
                card_id: Set(a.card_id),
                segment_id: Set(None),
                message: Set(a.message.clone()),
                status: Set(PushStatus::Sending.as_str().to_owned()),
                scheduled_at: Set(None),
                created_by: Set(None),
                passes: Set(0),
                pending: Set(0),
                created_at: Set(now),
                updated_at: Set(now),
                started_at: Set(Some(now)),
                completed_at: Set(None),
                automation_id: Set(Some(a.id)),
            }
            .insert(txn)
            .await?
        }
    };
    let mut passes = 0i64;
    for (run_id, customer_id) in runs {
        let Some(c) = customers.get(customer_id) else {
            continue;
        };
        let points = c.points.saturating_add(a.reward_points);
        let stamps = c
            .visits
            .saturating_add(c.bonus_stamps)
            .saturating_add(a.reward_stamps);
        let text = match &template {
            Some(t) => t.render_text(&TemplateValues {
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                card_name: card_name.clone(),
                points: points.to_string(),
                visits: stamps.to_string(),
                merchant_name: m.name.clone(),
                ..Default::default()
            }),
            None => a.message.clone(),
        };
        passes += pass::Entity::update_many()
            .col_expr(pass::Column::Message, Expr::value(Some(text)))
            .col_expr(
                pass::Column::UpdateTag,
                crate::wallet::apple::next_tag_expr(now),
            )
            .col_expr(pass::Column::UpdatedAt, Expr::value(now))
            .filter(pass::Column::CardId.eq(a.card_id))
            .filter(pass::Column::CustomerId.eq(c.id))
            .exec(txn)
            .await?
            .rows_affected as i64;
        if a.reward_points > 0 || a.reward_stamps > 0 {
            customer::Entity::update_many()
                .col_expr(
                    customer::Column::Points,
                    Expr::col(customer::Column::Points).add(a.reward_points),
                )
                .col_expr(
                    customer::Column::BonusStamps,
                    Expr::col(customer::Column::BonusStamps).add(a.reward_stamps),
                )
                .col_expr(customer::Column::UpdatedAt, Expr::value(now))
                .filter(customer::Column::Id.eq(c.id))
                .exec(txn)
                .await?;
        }
        automation_run::Entity::update_many()
            .col_expr(R::PushId, Expr::value(Some(p.id)))
            .filter(R::Id.eq(*run_id))
            .exec(txn)
            .await?;
    }
    // This round's customers (the hour's push may hold earlier rounds').
    let run_ids: Vec<i64> = runs.iter().map(|(id, _)| *id).collect();
    let holders = || {
        Query::select()
            .column(R::CustomerId)
            .from(automation_run::Entity)
            .and_where(Expr::col(R::Id).is_in(run_ids.clone()))
            .to_owned()
    };
    let devices = super::fanout::notify_holders(txn, &p, holders, passes, now).await?;
    tracing::info!(automation = %a.id, push = %p.id, customers = runs.len(), passes, devices, "automation fired");
    Ok(())
}

/// Cancels what an automation has due (it was disabled, or its timing changed); the number
/// cancelled.
pub async fn cancel_due(
    db: &impl ConnectionTrait,
    automation_id: Uuid,
    reason: &str,
) -> Result<u64> {
    use automation_run::Column as R;
    Ok(automation_run::Entity::update_many()
        .col_expr(R::Status, Expr::value(RunStatus::Cancelled.as_str()))
        .col_expr(R::Reason, Expr::value(Some(reason)))
        .filter(R::AutomationId.eq(automation_id))
        .filter(R::Status.eq(RunStatus::Due.as_str()))
        .exec(db)
        .await?
        .rows_affected)
}

/// Moves what an event-triggered automation has due to its new delay, from each
/// occurrence's event; the calendar kinds are re-planned instead (see
/// [`crate::automations`]).
pub async fn redo_delays(
    db: &impl ConnectionTrait,
    a: &automation::Model,
    old_delay_minutes: i32,
) -> Result<()> {
    use automation_run::Column as R;
    let Some(m) = merchant::Entity::find_by_id(a.merchant_id).one(db).await? else {
        return Ok(());
    };
    let rules = Rules::of(&m);
    let due = automation_run::Entity::find()
        .filter(R::AutomationId.eq(a.id))
        .filter(R::Status.eq(RunStatus::Due.as_str()))
        .all(db)
        .await?;
    for run in due {
        let tz = match customer::Entity::find_by_id(run.customer_id)
            .one(db)
            .await?
        {
            Some(c) => rules.zone_of(&c),
            None => rules.time_zone,
        };
        // The event's time: the plan minus the old delay (whole days on the calendar).
        let event_at = if old_delay_minutes % 1440 == 0 && old_delay_minutes > 0 {
            let local = run.planned_at.with_timezone(&tz);
            let date = local.date_naive() - Duration::days(i64::from(old_delay_minutes / 1440));
            let minute = u16::try_from(
                local
                    .time()
                    .signed_duration_since(chrono::NaiveTime::MIN)
                    .num_minutes(),
            )
            .unwrap_or(0);
            schedule::local_instant(date, minute, tz)
        } else {
            run.planned_at - Duration::minutes(i64::from(old_delay_minutes))
        };
        let planned = schedule::after_delay(event_at, i64::from(a.delay_minutes), tz);
        automation_run::Entity::update_many()
            .col_expr(R::PlannedAt, Expr::value(planned))
            .col_expr(R::DueAt, Expr::value(planned))
            .col_expr(R::Deferred, Expr::value(false))
            .filter(R::Id.eq(run.id))
            .filter(R::Status.eq(RunStatus::Due.as_str()))
            .exec(db)
            .await?;
    }
    Ok(())
}
