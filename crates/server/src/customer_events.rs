//! Customer events from integrations: checked as a batch (all or none), recorded once per
//! the integration's own ID, and the customer's visits, last visit and points kept true.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use loyalcast_domain::Fields;
use loyalcast_dto::{EventBatch, EventKind, EventOutcome, EventsRecorded, NewEvent};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::engine::automate::{self, Occurred};
use crate::entity::{customer, customer_event, pass};
use crate::error::Result;

/// The most events one request records.
pub const MAX_BATCH: usize = 1_000;
/// How far ahead of the server's clock an event may say it happened.
const AHEAD: i64 = 5 * 60;
const MAX_AMOUNT: i64 = 1_000_000_000_000;
const MAX_POINTS: i64 = 1_000_000_000;

fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// An event checked, with the customer it is for.
struct Checked<'a> {
    event: &'a NewEvent,
    customer_id: Uuid,
    occurred_at: DateTime<Utc>,
}

/// Checks a batch: every field of every event, and that each names a customer (or a pass) of
/// this merchant. Nothing is written.
async fn check<'a>(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    batch: &'a EventBatch,
    now: DateTime<Utc>,
) -> Result<Vec<Checked<'a>>> {
    if batch.events.is_empty() || batch.events.len() > MAX_BATCH {
        return Err(crate::error::ApiError::field(
            "events",
            "count",
            format!("send 1 to {MAX_BATCH} events at a time"),
        ));
    }
    let mut fields = Fields::new();
    let customer_ids: Vec<Uuid> = batch.events.iter().filter_map(|e| e.customer_id).collect();
    let pass_ids: Vec<Uuid> = batch.events.iter().filter_map(|e| e.pass_id).collect();
    let mut known: HashSet<Uuid> = HashSet::new();
    for chunk in customer_ids.chunks(500) {
        known.extend(
            customer::Entity::find()
                .filter(customer::Column::MerchantId.eq(merchant_id))
                .filter(customer::Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|c| c.id),
        );
    }
    let mut holders: HashMap<Uuid, Uuid> = HashMap::new();
    for chunk in pass_ids.chunks(500) {
        holders.extend(
            pass::Entity::find()
                .filter(pass::Column::MerchantId.eq(merchant_id))
                .filter(pass::Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|p| (p.id, p.customer_id)),
        );
    }
    let mut checked = Vec::with_capacity(batch.events.len());
    for (i, event) in batch.events.iter().enumerate() {
        let at = |field: &str| format!("events[{i}].{field}");
        let id_ok = (1..=128).contains(&event.id.len())
            && event.id.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !id_ok {
            fields.push(
                at("id"),
                "invalid",
                "1 to 128 printable ASCII characters, no spaces",
            );
        }
        let customer_id = match (event.customer_id, event.pass_id) {
            (Some(id), None) if known.contains(&id) => Some(id),
            (Some(_), None) => {
                fields.push(at("customer_id"), "not_found", "no such customer");
                None
            }
            (None, Some(id)) => match holders.get(&id) {
                Some(customer_id) => Some(*customer_id),
                None => {
                    fields.push(at("pass_id"), "not_found", "no such pass");
                    None
                }
            },
            _ => {
                fields.push(
                    at("customer_id"),
                    "one_of",
                    "give customer_id or pass_id, one of them",
                );
                None
            }
        };
        let occurred_at = event.occurred_at.unwrap_or(now);
        if occurred_at > now + Duration::seconds(AHEAD) {
            fields.push(
                at("occurred_at"),
                "in_the_future",
                "must not be more than 5 minutes ahead",
            );
        } else if occurred_at < earliest() {
            fields.push(at("occurred_at"), "too_early", "must be in 2000 or later");
        }
        match (event.kind, event.amount) {
            (EventKind::Purchase, Some(a)) if !(0..=MAX_AMOUNT).contains(&a) => fields.push(
                at("amount"),
                "out_of_range",
                "0 to 1,000,000,000,000 minor units",
            ),
            (EventKind::Purchase, _) | (_, None) => {}
            (_, Some(_)) => fields.push(at("amount"), "not_allowed", "only for a purchase"),
        }
        match (event.kind, event.points) {
            (EventKind::PointsChanged, Some(p)) if p != 0 && p.abs() <= MAX_POINTS => {}
            (EventKind::PointsChanged, _) => fields.push(
                at("points"),
                "required",
                "the change, -1,000,000,000 to 1,000,000,000, not 0",
            ),
            (_, None) => {}
            (_, Some(_)) => fields.push(at("points"), "not_allowed", "only for points_changed"),
        }
        if let Some(customer_id) = customer_id {
            checked.push(Checked {
                event,
                customer_id,
                occurred_at,
            });
        }
    }
    fields.finish()?;
    Ok(checked)
}

/// What recorded events change on one customer.
#[derive(Default)]
struct Stats {
    visits: i32,
    last_visit: Option<DateTime<Utc>>,
    points: i64,
}

/// Records a batch in `txn`: each event once (a replay changes nothing, even when two
/// requests send it at once), and the customers' visits, last visit and points with it.
pub async fn record(
    txn: &impl ConnectionTrait,
    merchant_id: Uuid,
    batch: &EventBatch,
    now: DateTime<Utc>,
) -> Result<EventsRecorded> {
    let checked = check(txn, merchant_id, batch, now).await?;
    let mut outcomes = Vec::with_capacity(checked.len());
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stats: HashMap<Uuid, Stats> = HashMap::new();
    let mut fresh_events: Vec<Occurred<'_>> = Vec::new();
    for c in &checked {
        let e = c.event;
        let fresh = seen.insert(e.id.as_str())
            && customer_event::Entity::insert(customer_event::ActiveModel {
                merchant_id: Set(merchant_id),
                customer_id: Set(c.customer_id),
                pass_id: Set(e.pass_id),
                kind: Set(e.kind.as_str().to_owned()),
                external_id: Set(e.id.clone()),
                amount: Set(e.amount),
                points: Set(e.points),
                occurred_at: Set(c.occurred_at),
                recorded_at: Set(now),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([
                    customer_event::Column::MerchantId,
                    customer_event::Column::ExternalId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?
                == 1;
        if fresh {
            fresh_events.push(Occurred {
                customer_id: c.customer_id,
                pass_id: e.pass_id,
                kind: e.kind,
                external_id: e.id.as_str(),
                at: c.occurred_at,
            });
            let s = stats.entry(c.customer_id).or_default();
            match e.kind {
                EventKind::Visit | EventKind::Purchase => {
                    s.visits += 1;
                    s.last_visit = Ord::max(s.last_visit, Some(c.occurred_at));
                }
                EventKind::PointsChanged => s.points += e.points.unwrap_or(0),
                _ => {}
            }
        }
        outcomes.push(EventOutcome {
            id: e.id.clone(),
            recorded: fresh,
        });
    }
    // Sorted, so that concurrent batches update shared customers in the same order.
    let mut touched: Vec<(Uuid, Stats)> = stats.into_iter().collect();
    touched.sort_by_key(|(id, _)| *id);
    for (customer_id, s) in touched {
        customer::Entity::update_many()
            .col_expr(
                customer::Column::Visits,
                Expr::col(customer::Column::Visits).add(s.visits),
            )
            .col_expr(
                customer::Column::Points,
                Expr::col(customer::Column::Points).add(s.points),
            )
            .col_expr(customer::Column::UpdatedAt, Expr::value(now))
            .filter(customer::Column::Id.eq(customer_id))
            .exec(txn)
            .await?;
        if let Some(last) = s.last_visit {
            // Only later: an event that arrives late does not move the last visit back.
            customer::Entity::update_many()
                .col_expr(customer::Column::LastVisitAt, Expr::value(Some(last)))
                .filter(customer::Column::Id.eq(customer_id))
                .filter(
                    Condition::any()
                        .add(customer::Column::LastVisitAt.is_null())
                        .add(customer::Column::LastVisitAt.lt(last)),
                )
                .exec(txn)
                .await?;
        }
    }
    // What the new events trigger, in the same transaction: an event recorded is planned.
    automate::plan_events(txn, merchant_id, &fresh_events, now).await?;
    let recorded = outcomes.iter().filter(|o| o.recorded).count() as u64;
    Ok(EventsRecorded {
        recorded,
        replayed: outcomes.len() as u64 - recorded,
        events: outcomes,
    })
}

/// A pass was installed (issued through the API, or by the card holder's enrolment): the
/// `card_installed` event, once per pass (its serial names it), as automations expect.
pub async fn installed(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    customer_id: Uuid,
    pass_id: Option<Uuid>,
    serial_number: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let external_id = format!("loyalcast:installed:{serial_number}");
    let fresh = customer_event::Entity::insert(customer_event::ActiveModel {
        merchant_id: Set(merchant_id),
        customer_id: Set(customer_id),
        pass_id: Set(pass_id),
        kind: Set(EventKind::CardInstalled.as_str().to_owned()),
        external_id: Set(external_id.clone()),
        amount: Set(None),
        points: Set(None),
        occurred_at: Set(at),
        recorded_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            customer_event::Column::MerchantId,
            customer_event::Column::ExternalId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?
        == 1;
    if fresh {
        let event = Occurred {
            customer_id,
            pass_id,
            kind: EventKind::CardInstalled,
            external_id: &external_id,
            at,
        };
        automate::plan_events(db, merchant_id, &[event], now).await?;
    }
    Ok(())
}

/// A customer's events, latest first (by the index on customer and time); a page and the
/// total.
pub async fn of_customer(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    page: u64,
    per_page: u64,
) -> Result<(Vec<loyalcast_dto::CustomerEvent>, u64)> {
    use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
    let query =
        customer_event::Entity::find().filter(customer_event::Column::CustomerId.eq(customer_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(customer_event::Column::OccurredAt)
        .order_by_desc(customer_event::Column::Id)
        .offset(page.saturating_sub(1).saturating_mul(per_page))
        .limit(per_page)
        .all(db)
        .await?;
    let items = rows
        .into_iter()
        .filter_map(|e| {
            Some(loyalcast_dto::CustomerEvent {
                kind: EventKind::parse(&e.kind)?,
                id: e.external_id,
                pass_id: e.pass_id,
                amount: e.amount,
                points: e.points,
                occurred_at: e.occurred_at,
                recorded_at: e.recorded_at,
            })
        })
        .collect();
    Ok((items, total))
}
