//! Automations end to end: set up through the API, planned and fired by the engine at times
//! the tests choose (the engine's functions take the time; nothing sleeps), on SQLite and on
//! PostgreSQL. Birthdays across the year end and on 29 February, in the customer's own zone
//! and across daylight-saving changes; anniversaries of the install; win-back once per lapse;
//! feedback with its cool-down; custom rules from events posted with an API key; quiet
//! hours, the frequency cap, staleness after downtime, disabling, two processes at once and
//! a round that dies before it commits.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use loyalcast::clock::ManualClock;
use loyalcast::engine::automate;
use loyalcast::entity::{automation_run, customer, pass, pass_registration, push};
use loyalcast_dto::{
    Automation, Card, Customer, EventBatch, EventKind, NewEvent, Page, Push, RunStatus, SkipReason,
};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{self, Backend, Tenant, TestApp, json, problem};

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Backend::Sqlite, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Backend::Postgres, super::$name).await;
                }
            )*
        }
    };
}

tests!(
    birthdays_and_anniversaries_fire_once_in_local_time,
    quiet_hours_defer_and_the_cap_holds_back,
    win_back_fires_once_per_lapse_and_feedback_cools_down,
    downtime_skips_what_is_stale_and_disabling_cancels_what_is_due,
    two_processes_and_a_dead_round_fire_each_occurrence_once,
    automations_are_checked_and_tenant_scoped,
);

async fn run<F>(backend: Backend, test: F)
where
    F: AsyncFnOnce(&TestApp, &ManualClock),
{
    let clock = ManualClock::starting_at(Utc::now());
    let Some(app) = helpers::spawn_full(backend, |_| {}, clock.shared()).await else {
        return;
    };
    test(&app, &clock).await;
    app.cleanup().await;
}

/// A merchant (Europe/Berlin) with a points card.
struct Shop {
    t: Tenant,
    card: Uuid,
    merchant: Uuid,
}

async fn shop(app: &TestApp, name: &str) -> Shop {
    let t = app.tenant(name).await;
    let card: Card = json(
        app.post(
            "/api/v1/cards",
            &t.token,
            &json!({"name": "Coffee points", "kind": "points", "description": "A point per coffee",
                    "design": {"background_color": "#112233", "foreground_color": "#ffffff", "label_color": "#eeeeee", "logo_text": name}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let merchant = t.session.merchant.id;
    Shop {
        card: card.id,
        merchant,
        t,
    }
}

/// How a holder's pass can be reached.
#[derive(Clone, Copy, PartialEq)]
enum Device {
    /// A Google pass: always notifiable.
    Google,
    /// An Apple pass with a registered iPhone.
    Iphone,
    /// An Apple pass no device registered for.
    None,
}

/// A customer created through the API, holding a pass of the shop's card.
async fn holder(app: &TestApp, shop: &Shop, body: serde_json::Value, device: Device) -> Uuid {
    let c: Customer = json(
        app.post("/api/v1/customers", &shop.t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let now = Utc::now();
    let id = Uuid::now_v7();
    pass::ActiveModel {
        id: Set(id),
        merchant_id: Set(shop.merchant),
        card_id: Set(shop.card),
        customer_id: Set(c.id),
        serial_number: Set(format!("S{}", id.simple())),
        authentication_token: Set(format!("tok{}", id.simple())),
        platform: Set(if device == Device::Google {
            "google"
        } else {
            "apple"
        }
        .to_owned()),
        installed_at: Set(now),
        expires_at: Set(None),
        updated_at: Set(now),
        update_tag: Set(now.timestamp_micros()),
        message: Set(None),
        fetched_tag: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    if device == Device::Iphone {
        pass_registration::ActiveModel {
            id: Set(Some(Uuid::now_v7())),
            pass_id: Set(id),
            device_library_id: Set(format!("device-{}", id.simple())),
            push_token: Set(format!("push-{}", id.simple())),
            pushed_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    c.id
}

async fn automation(app: &TestApp, shop: &Shop, body: serde_json::Value) -> Automation {
    let mut body = body;
    body["card_id"] = json!(shop.card);
    json(
        app.post("/api/v1/automations", &shop.t.token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

async fn figures(app: &TestApp, shop: &Shop, id: Uuid) -> Automation {
    json(
        app.get(&format!("/api/v1/automations/{id}"), &shop.t.token)
            .await,
        StatusCode::OK,
    )
    .await
}

async fn settings(app: &TestApp, shop: &Shop, body: serde_json::Value) {
    let mut full = json!({"paused": false, "quiet_start": "21:00", "quiet_end": "08:00",
                          "cap_messages": 3, "cap_days": 7, "staleness_hours": 24});
    for (k, v) in body.as_object().unwrap() {
        full[k] = v.clone();
    }
    let response = app
        .put("/api/v1/automation-settings", &shop.t.token, &full)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Fires until nothing is due at `at`; the occurrences decided.
async fn fire(db: &DatabaseConnection, at: DateTime<Utc>) -> u64 {
    let mut decided = 0;
    loop {
        let n = automate::fire_due(db, at).await.unwrap();
        decided += n;
        if n == 0 {
            return decided;
        }
    }
}

/// (customer, status, reason, due) of an automation's occurrences, by customer.
async fn occurrences(
    db: &DatabaseConnection,
    automation: Uuid,
) -> Vec<(Uuid, String, Option<String>, DateTime<Utc>)> {
    automation_run::Entity::find()
        .filter(automation_run::Column::AutomationId.eq(automation))
        .order_by_asc(automation_run::Column::CustomerId)
        .order_by_asc(automation_run::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.customer_id, r.status, r.reason, r.due_at))
        .collect()
}

async fn pass_of(db: &DatabaseConnection, customer: Uuid) -> pass::Model {
    pass::Entity::find()
        .filter(pass::Column::CustomerId.eq(customer))
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap()
}

/// The first 1 January at least 40 days away, and the first 28 February of a common year
/// after it.
fn dates_ahead() -> (NaiveDate, NaiveDate) {
    let soon = Utc::now().date_naive() + Duration::days(40);
    let mut year = soon.year();
    if NaiveDate::from_ymd_opt(year, 1, 1).unwrap() < soon {
        year += 1;
    }
    let new_year = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
    let mut common = year;
    while NaiveDate::from_ymd_opt(common, 2, 29).is_some() {
        common += 1;
    }
    (new_year, NaiveDate::from_ymd_opt(common, 2, 28).unwrap())
}

/// Makes an automation as if it had been created an hour before `at` (its scans plan from
/// then), and scans at `at`.
async fn scan_as_new(app: &TestApp, id: Uuid, at: DateTime<Utc>) -> u64 {
    use loyalcast::entity::automation;
    automation::Entity::update_many()
        .col_expr(
            automation::Column::ArmedAt,
            sea_orm::sea_query::Expr::value(at - Duration::hours(1)),
        )
        .col_expr(
            automation::Column::PlannedThrough,
            sea_orm::sea_query::Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(
            automation::Column::ScannedAt,
            sea_orm::sea_query::Expr::value(None::<DateTime<Utc>>),
        )
        .filter(automation::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    automate::scan(&app.db, at).await.unwrap()
}

/// The present to the second (what the databases keep, to the microsecond, compares equal).
fn now_s() -> DateTime<Utc> {
    use chrono::DurationRound;
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

async fn birthdays_and_anniversaries_fire_once_in_local_time(app: &TestApp, _clock: &ManualClock) {
    let shop = shop(app, "Birthday Cafe").await;
    let (new_year, feb_28) = dates_ahead();
    let y = new_year.year();
    let born = |d: NaiveDate| json!(format!("1990-{:02}-{:02}", d.month(), d.day()));
    // New Year's Eve and New Year's Day birthdays, sent a day before.
    let eve = holder(
        app,
        &shop,
        json!({"first_name": "Eve", "birthday": "1990-12-31"}),
        Device::Google,
    )
    .await;
    let ann = holder(
        app,
        &shop,
        json!({"first_name": "Ann", "birthday": born(new_year)}),
        Device::Iphone,
    )
    .await;
    // In New York: 09:00 there.
    let nat = holder(
        app,
        &shop,
        json!({"first_name": "Nat", "birthday": born(new_year)}),
        Device::Google,
    )
    .await;
    // Their own zone, through the API (a zone that is not one is refused).
    let zoned = app
        .patch(
            &format!("/api/v1/customers/{nat}"),
            &shop.t.token,
            &json!({"time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(zoned.status(), StatusCode::OK);
    let refused = problem(
        app.patch(
            &format!("/api/v1/customers/{nat}"),
            &shop.t.token,
            &json!({"time_zone": "Mars/Olympus"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(helpers::fields(&refused), vec!["time_zone"]);
    // Born on 29 February: the 28th in common years.
    let leo = holder(
        app,
        &shop,
        json!({"first_name": "Leo", "birthday": "2000-02-29"}),
        Device::Google,
    )
    .await;
    // No device to notify; and a birthday that changed 10 days before.
    let ned = holder(
        app,
        &shop,
        json!({"first_name": "Ned", "birthday": born(new_year)}),
        Device::None,
    )
    .await;
    let dan = holder(
        app,
        &shop,
        json!({"first_name": "Dan", "birthday": born(new_year)}),
        Device::Google,
    )
    .await;
    let ten_days_before =
        Utc.from_utc_datetime(&new_year.and_hms_opt(0, 0, 0).unwrap()) - Duration::days(10);
    customer::Entity::update_many()
        .col_expr(
            customer::Column::BirthdayChangedAt,
            sea_orm::sea_query::Expr::value(Some(ten_days_before)),
        )
        .filter(customer::Column::Id.eq(dan))
        .exec(&app.db)
        .await
        .unwrap();

    let birthday = automation(
        app,
        &shop,
        json!({"trigger": {"type": "birthday", "days_before": 1, "send_time": "09:00"},
               "message": "Happy birthday tomorrow, {first_name}! {points} points now.", "reward_points": 50}),
    )
    .await;

    // 30 December, noon in Berlin, an hour after the automation was set up: the scan plans
    // the 31st's sends (Ann, Nat, Ned, Dan: born on 1 January). Eve's (born on the 31st)
    // was due this morning, before the automation existed: not planned.
    let dec_30 = at(y - 1, 12, 30, 11, 0);
    let planned = scan_as_new(app, birthday.id, dec_30).await;
    assert!(planned >= 4, "{planned}");
    let runs = occurrences(&app.db, birthday.id).await;
    let due_of = |c: Uuid| {
        runs.iter()
            .filter(|r| r.0 == c && r.1 == "due")
            .map(|r| r.3)
            .collect::<Vec<_>>()
    };
    // 09:00 in Berlin (UTC+1) and 09:00 in New York (UTC-5) on 31 December.
    assert_eq!(due_of(ann), vec![at(y - 1, 12, 31, 8, 0)]);
    assert_eq!(due_of(nat), vec![at(y - 1, 12, 31, 14, 0)]);
    assert_eq!(runs.iter().filter(|r| r.0 == ann).count(), 1);
    // A second scan (another process, or this one later) plans nothing new.
    automate::scan(&app.db, dec_30 + Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!(occurrences(&app.db, birthday.id).await.len(), runs.len());

    // Nothing fires before its time.
    assert_eq!(fire(&app.db, at(y - 1, 12, 31, 7, 59)).await, 0);
    // 09:00 Berlin: Ann is sent, Ned has no device, Dan's birthday is too recent.
    fire(&app.db, at(y - 1, 12, 31, 8, 0)).await;
    let outcome = |runs: &[(Uuid, String, Option<String>, DateTime<Utc>)], c: Uuid| {
        runs.iter()
            .filter(|r| r.0 == c)
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect::<Vec<_>>()
    };
    let runs = occurrences(&app.db, birthday.id).await;
    assert_eq!(outcome(&runs, ann), vec![("sent".to_owned(), None)]);
    assert_eq!(
        outcome(&runs, ned),
        vec![("skipped".to_owned(), Some("no_device".to_owned()))]
    );
    assert_eq!(
        outcome(&runs, dan),
        vec![("skipped".to_owned(), Some("birthday_changed".to_owned()))]
    );
    assert_eq!(
        outcome(&runs, nat),
        vec![("due".to_owned(), None)],
        "New York is still asleep"
    );
    // The message is on Ann's pass, filled in for her, with the reward granted.
    let ann_pass = pass_of(&app.db, ann).await;
    assert_eq!(
        ann_pass.message.as_deref(),
        Some("Happy birthday tomorrow, Ann! 50 points now.")
    );
    let ann_row = customer::Entity::find_by_id(ann)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ann_row.points, 50);
    // 09:00 in New York; then firing again sends nothing more.
    fire(&app.db, at(y - 1, 12, 31, 14, 0)).await;
    assert_eq!(fire(&app.db, at(y - 1, 12, 31, 15, 0)).await, 0);
    let runs = occurrences(&app.db, birthday.id).await;
    assert_eq!(outcome(&runs, nat), vec![("sent".to_owned(), None)]);

    // The figures say so; the push history shows two automated pushes, named.
    let f = figures(app, &shop, birthday.id).await.figures;
    assert_eq!(f.sent, 2);
    let skipped: Vec<(SkipReason, u64)> = f.skipped.iter().map(|s| (s.reason, s.count)).collect();
    assert!(skipped.contains(&(SkipReason::NoDevice, 1)), "{skipped:?}");
    assert!(
        skipped.contains(&(SkipReason::BirthdayChanged, 1)),
        "{skipped:?}"
    );
    assert_eq!(f.last_fired_at, Some(at(y - 1, 12, 31, 14, 0)));
    let history: Page<Push> = json(
        app.get("/api/v1/pushes", &shop.t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history.total, 2);
    assert!(
        history
            .items
            .iter()
            .all(|p| p.automation_id == Some(birthday.id)
                && p.automation_name.as_deref() == Some("Birthday"))
    );
    // Ann's wallet push is in her messages, marked as the automation's.
    let messages: serde_json::Value = json(
        app.get(&format!("/api/v1/customers/{ann}/messages"), &shop.t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(messages["items"][0]["source"], "automation");
    assert_eq!(messages["items"][0]["source_name"], "Birthday");

    // Through the year end: the scan of the 31st plans Eve's for next year (her birthday
    // on the 31st is sent on the 30th, which has passed) and nobody twice.
    automate::scan(&app.db, at(y - 1, 12, 31, 20, 0))
        .await
        .unwrap();
    assert!(outcome(&occurrences(&app.db, birthday.id).await, eve).is_empty());

    // 29 February in a common year is celebrated on the 28th: sent on the 27th (one day
    // before); in the leap year itself on the 28th, for the 29th.
    let feb_27 = feb_28.pred_opt().unwrap();
    let scan_at =
        Utc.from_utc_datetime(&feb_27.and_hms_opt(0, 30, 0).unwrap()) - Duration::hours(12);
    scan_as_new(app, birthday.id, scan_at).await;
    let leo_due = |runs: &[(Uuid, String, Option<String>, DateTime<Utc>)]| {
        runs.iter()
            .filter(|r| r.0 == leo)
            .map(|r| r.3)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        leo_due(&occurrences(&app.db, birthday.id).await),
        vec![Utc.from_utc_datetime(&feb_27.and_hms_opt(8, 0, 0).unwrap())],
        "09:00 Berlin on the 27th, for a 29 February birthday in a common year"
    );
    let mut leap = y;
    while NaiveDate::from_ymd_opt(leap, 2, 29).is_none() {
        leap += 1;
    }
    let leap_28 = NaiveDate::from_ymd_opt(leap, 2, 28).unwrap();
    let noon_before = |d: NaiveDate| {
        Utc.from_utc_datetime(&d.and_hms_opt(0, 30, 0).unwrap()) - Duration::hours(12)
    };
    // The scan that plans the 27th's sends (for 28 February birthdays) leaves Leo out...
    scan_as_new(app, birthday.id, noon_before(leap_28.pred_opt().unwrap())).await;
    assert_eq!(leo_due(&occurrences(&app.db, birthday.id).await).len(), 1);
    // ...and the next day's plans his, for the 29th.
    scan_as_new(app, birthday.id, noon_before(leap_28)).await;
    let all = leo_due(&occurrences(&app.db, birthday.id).await);
    assert!(
        all.contains(&Utc.from_utc_datetime(&leap_28.and_hms_opt(8, 0, 0).unwrap())),
        "in a leap year, the day before the 29th: {all:?}"
    );
    assert_eq!(all.len(), 2);

    // The anniversary of joining: Ann's pass was installed on 29 February 2024, so in a
    // common year it comes on the 28th; and 09:00 local is 07:00 UTC after Berlin's spring
    // change, 08:00 before.
    pass::Entity::update_many()
        .col_expr(
            pass::Column::InstalledAt,
            sea_orm::sea_query::Expr::value(at(2024, 2, 29, 10, 0)),
        )
        .filter(pass::Column::CustomerId.eq(ann))
        .exec(&app.db)
        .await
        .unwrap();
    let anniversary = automation(
        app,
        &shop,
        json!({"trigger": {"type": "anniversary", "send_time": "09:00"}, "message": "A year with us, {first_name}!"}),
    )
    .await;
    automate::plan_calendar(
        &app.db,
        &loyalcast::entity::automation::Entity::find_by_id(anniversary.id)
            .one(&app.db)
            .await
            .unwrap()
            .map(|mut a| {
                a.armed_at = scan_at;
                a
            })
            .unwrap(),
        scan_at + Duration::days(1),
    )
    .await
    .unwrap();
    let runs = occurrences(&app.db, anniversary.id).await;
    assert_eq!(
        runs.iter().map(|r| (r.0, r.3)).collect::<Vec<_>>(),
        vec![(
            ann,
            Utc.from_utc_datetime(&feb_28.and_hms_opt(8, 0, 0).unwrap())
        )]
    );
    // A birthday the clocks' change separates: 09:00 Berlin is 07:00 UTC in summer time.
    let summer = automate_local(
        app,
        &shop,
        NaiveDate::from_ymd_opt(feb_28.year(), 4, 2).unwrap(),
    )
    .await;
    assert_eq!(
        summer,
        Utc.from_utc_datetime(
            &NaiveDate::from_ymd_opt(feb_28.year(), 4, 2)
                .unwrap()
                .and_hms_opt(7, 0, 0)
                .unwrap()
        )
    );
}

/// When a birthday on `day` is sent by a birthday automation at 09:00 (days before: 0):
/// planned for a fresh customer born on that day, by a scan the day before.
async fn automate_local(app: &TestApp, shop: &Shop, day: NaiveDate) -> DateTime<Utc> {
    let c = holder(
        app,
        shop,
        json!({"first_name": "Sam", "birthday": format!("1985-{:02}-{:02}", day.month(), day.day())}),
        Device::Google,
    )
    .await;
    let second = json(
        app.post(
            "/api/v1/cards",
            &shop.t.token,
            &json!({"name": "Summer card", "kind": "points", "description": "x",
                    "design": {"background_color": "#112233", "foreground_color": "#ffffff", "label_color": "#eeeeee", "logo_text": "S"}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let card: Card = second;
    let moved = pass::Entity::update_many()
        .col_expr(
            pass::Column::CardId,
            sea_orm::sea_query::Expr::value(card.id),
        )
        .filter(pass::Column::CustomerId.eq(c))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(moved.rows_affected, 1);
    let a: Automation = json(
        app.post(
            "/api/v1/automations",
            &shop.t.token,
            &json!({"card_id": card.id, "trigger": {"type": "birthday", "days_before": 0, "send_time": "09:00"}, "message": "Hi {first_name}"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let the_day_before =
        Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap()) - Duration::hours(12);
    let mut model = loyalcast::entity::automation::Entity::find_by_id(a.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    model.armed_at = the_day_before - Duration::days(1);
    automate::plan_calendar(&app.db, &model, the_day_before)
        .await
        .unwrap();
    let runs = occurrences(&app.db, a.id).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].3
}

fn event(id: &str, kind: EventKind, customer: Uuid, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        kind,
        customer_id: Some(customer),
        pass_id: None,
        occurred_at: Some(at),
        amount: None,
        points: None,
    }
}

async fn record(app: &TestApp, shop: &Shop, events: Vec<NewEvent>, now: DateTime<Utc>) {
    let txn = app.db.begin().await.unwrap();
    loyalcast::customer_events::record(&txn, shop.merchant, &EventBatch { events }, now)
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

async fn quiet_hours_defer_and_the_cap_holds_back(app: &TestApp, _clock: &ManualClock) {
    let shop = shop(app, "Quiet Cafe").await;
    let ada = holder(app, &shop, json!({"first_name": "Ada"}), Device::Google).await;
    let rule = automation(
        app,
        &shop,
        json!({"name": "Thanks for the review", "trigger": {"type": "event", "event": "review_sent", "delay": {"amount": 0, "unit": "minutes"}},
               "message": "Thank you, {first_name}!"}),
    )
    .await;
    assert_eq!(rule.name, "Thanks for the review");
    settings(app, &shop, json!({"cap_messages": 2, "cap_days": 7})).await;

    // An API key with the events scope posts a review at 22:30 Berlin (21:30 UTC in
    // winter), an hour ago; replaying it records nothing.
    let key: serde_json::Value = json(
        app.post(
            "/api/v1/api-keys",
            &shop.t.token,
            &json!({"name": "reviews", "scopes": ["events:write"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let key = key["secret"].as_str().unwrap().to_owned();
    let now = Utc::now();
    let night = {
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let local = (now - Duration::days(1))
            .with_timezone(&berlin)
            .date_naive();
        loyalcast_domain::schedule::local_instant(local, 22 * 60 + 30, berlin)
    };
    for _ in 0..2 {
        let response = app
            .post(
                "/api/v1/events",
                &key,
                &json!({"events": [{"id": "review-1", "kind": "review_sent", "customer_id": ada, "occurred_at": night}]}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let runs = occurrences(&app.db, rule.id).await;
    assert_eq!(runs.len(), 1, "a replayed event plans once");
    assert_eq!(runs[0].3, night);

    // Fired at 22:31: deferred to 08:00, not dropped and not sent at night.
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let morning = loyalcast_domain::schedule::local_instant(
        night
            .with_timezone(&berlin)
            .date_naive()
            .succ_opt()
            .unwrap(),
        8 * 60,
        berlin,
    );
    fire(&app.db, night + Duration::minutes(1)).await;
    let runs = occurrences(&app.db, rule.id).await;
    assert_eq!((runs[0].1.as_str(), runs[0].3), ("due", morning));
    assert_eq!(fire(&app.db, morning - Duration::minutes(1)).await, 0);
    fire(&app.db, morning).await;
    assert_eq!(occurrences(&app.db, rule.id).await[0].1, "sent");
    let f = figures(app, &shop, rule.id).await.figures;
    assert_eq!((f.sent, f.deferred), (1, 1));

    // Two more reviews that morning: the cap (2 in 7 days) lets one through and records
    // the other as held back.
    record(
        app,
        &shop,
        vec![
            event(
                "review-2",
                EventKind::ReviewSent,
                ada,
                morning + Duration::hours(1),
            ),
            event(
                "review-3",
                EventKind::ReviewSent,
                ada,
                morning + Duration::hours(1),
            ),
        ],
        morning + Duration::hours(1),
    )
    .await;
    fire(&app.db, morning + Duration::hours(1)).await;
    let f = figures(app, &shop, rule.id).await.figures;
    assert_eq!(f.sent, 2);
    assert_eq!(
        f.skipped
            .iter()
            .map(|s| (s.reason, s.count))
            .collect::<Vec<_>>(),
        vec![(SkipReason::Cap, 1)]
    );
    // A week later the cap has room again.
    record(
        app,
        &shop,
        vec![event(
            "review-4",
            EventKind::ReviewSent,
            ada,
            morning + Duration::days(8),
        )],
        morning + Duration::days(8),
    )
    .await;
    fire(&app.db, morning + Duration::days(8)).await;
    assert_eq!(figures(app, &shop, rule.id).await.figures.sent, 3);
    // The rule's occurrences, through the API.
    let page: Page<loyalcast_dto::AutomationRun> = json(
        app.get(
            &format!("/api/v1/automations/{}/runs?status=skipped", rule.id),
            &shop.t.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page.total, 1);
    assert_eq!(
        (page.items[0].status, page.items[0].reason),
        (RunStatus::Skipped, Some(SkipReason::Cap))
    );
    assert_eq!(page.items[0].customer_name, "Ada");
}

async fn win_back_fires_once_per_lapse_and_feedback_cools_down(
    app: &TestApp,
    _clock: &ManualClock,
) {
    let shop = shop(app, "Lapse Cafe").await;
    settings(
        app,
        &shop,
        json!({"quiet_start": "00:00", "quiet_end": "00:00", "cap_messages": 100}),
    )
    .await;
    let now = Utc::now();
    let gone = holder(
        app,
        &shop,
        json!({"first_name": "Gus", "visits": 3, "last_visit_at": now - Duration::days(40)}),
        Device::Google,
    )
    .await;
    let recent = holder(
        app,
        &shop,
        json!({"first_name": "Rita", "visits": 3, "last_visit_at": now - Duration::days(5)}),
        Device::Google,
    )
    .await;
    let never = holder(app, &shop, json!({"first_name": "Nia"}), Device::Google).await;
    let winback = automation(
        app,
        &shop,
        json!({"trigger": {"type": "winback", "lapse_days": 30}, "message": "We miss you, {first_name}!"}),
    )
    .await;
    let count = |runs: &[(Uuid, String, Option<String>, DateTime<Utc>)], c: Uuid, status: &str| {
        runs.iter().filter(|r| r.0 == c && r.1 == status).count()
    };
    // Daily scans for 60 days; Gus visits again on day 3 and lapses again 30 days later.
    for day in 0..60 {
        let t = now + Duration::days(day) + Duration::minutes(1);
        if day == 3 {
            record(
                app,
                &shop,
                vec![event("visit-gus", EventKind::Visit, gone, t)],
                t,
            )
            .await;
        }
        automate::scan(&app.db, t).await.unwrap();
        fire(&app.db, t).await;
    }
    let runs = occurrences(&app.db, winback.id).await;
    assert_eq!(count(&runs, gone, "sent"), 2, "once per lapse: {runs:?}");
    // Rita lapsed on day 25, once.
    assert_eq!(count(&runs, recent, "sent"), 1);
    assert_eq!(count(&runs, never, "sent") + count(&runs, never, "due"), 0);

    // Feedback two hours after a visit, not again within 30 days.
    let feedback = automation(
        app,
        &shop,
        json!({"trigger": {"type": "feedback", "after": "visit", "delay": {"amount": 2, "unit": "hours"}, "cooldown_days": 30},
               "message": "How was your visit, {first_name}?"}),
    )
    .await;
    let t0 = Utc::now() + Duration::minutes(1);
    record(
        app,
        &shop,
        vec![
            event("v1", EventKind::Visit, recent, t0),
            event("p1", EventKind::Purchase, recent, t0),
        ],
        t0,
    )
    .await;
    assert_eq!(fire(&app.db, t0 + Duration::minutes(119)).await, 0);
    fire(&app.db, t0 + Duration::hours(2)).await;
    record(
        app,
        &shop,
        vec![event(
            "v2",
            EventKind::Visit,
            recent,
            t0 + Duration::days(1),
        )],
        t0 + Duration::days(1),
    )
    .await;
    fire(&app.db, t0 + Duration::days(1) + Duration::hours(2)).await;
    let runs = occurrences(&app.db, feedback.id).await;
    let statuses: Vec<(String, Option<String>)> =
        runs.iter().map(|r| (r.1.clone(), r.2.clone())).collect();
    assert_eq!(
        statuses,
        vec![
            ("sent".to_owned(), None),
            ("skipped".to_owned(), Some("cooldown".to_owned()))
        ],
        "once per visit (a purchase is not a visit here), then the cool-down"
    );
}

async fn downtime_skips_what_is_stale_and_disabling_cancels_what_is_due(
    app: &TestApp,
    _clock: &ManualClock,
) {
    let shop = shop(app, "Downtime Cafe").await;
    settings(
        app,
        &shop,
        json!({"quiet_start": "00:00", "quiet_end": "00:00"}),
    )
    .await;
    let ben = holder(app, &shop, json!({"first_name": "Ben"}), Device::Iphone).await;
    let rule = automation(
        app,
        &shop,
        json!({"trigger": {"type": "event", "event": "referral_added", "delay": {"amount": 1, "unit": "hours"}},
               "message": "Thanks for the referral!", "reward_stamps": 2}),
    )
    .await;
    let t0 = Utc::now();
    record(
        app,
        &shop,
        vec![event("ref-1", EventKind::ReferralAdded, ben, t0)],
        t0,
    )
    .await;
    // The server is down for a day: 25 hours after it was due, it is skipped, not sent.
    fire(&app.db, t0 + Duration::hours(26)).await;
    let runs = occurrences(&app.db, rule.id).await;
    assert_eq!(
        (runs[0].1.as_str(), runs[0].2.as_deref()),
        ("skipped", Some("stale"))
    );
    assert_eq!(
        push::Entity::find().count(&app.db).await.unwrap(),
        0,
        "nothing sent days late"
    );

    // Disabling cancels what is due; enabling again does not bring it back.
    let t1 = Utc::now();
    record(
        app,
        &shop,
        vec![event("ref-2", EventKind::ReferralAdded, ben, t1)],
        t1,
    )
    .await;
    let off = app
        .patch(
            &format!("/api/v1/automations/{}", rule.id),
            &shop.t.token,
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    let on = app
        .patch(
            &format!("/api/v1/automations/{}", rule.id),
            &shop.t.token,
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(on.status(), StatusCode::OK);
    fire(&app.db, t1 + Duration::hours(2)).await;
    let runs = occurrences(&app.db, rule.id).await;
    assert_eq!(
        runs.iter()
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("skipped".to_owned(), Some("stale".to_owned())),
            ("cancelled".to_owned(), Some("disabled".to_owned()))
        ]
    );
    // A new delay moves what is due; firing then grants the stamps and queues the iPhone's
    // notification.
    let t2 = now_s() + Duration::seconds(1);
    record(
        app,
        &shop,
        vec![event("ref-3", EventKind::ReferralAdded, ben, t2)],
        t2,
    )
    .await;
    let changed: Automation = json(
        app.patch(
            &format!("/api/v1/automations/{}", rule.id),
            &shop.t.token,
            &json!({"trigger": {"type": "event", "event": "referral_added", "delay": {"amount": 3, "unit": "hours"}}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed.figures.next_due, vec![t2 + Duration::hours(3)]);
    assert_eq!(fire(&app.db, t2 + Duration::hours(2)).await, 0);
    fire(&app.db, t2 + Duration::hours(3)).await;
    let ben_row = customer::Entity::find_by_id(ben)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ben_row.bonus_stamps, 2);
    let p = push::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert_eq!(p.automation_id, Some(rule.id));
    assert_eq!(p.pending, 1, "one notification for Ben's iPhone");

    // Pausing every automation: what comes due is skipped as paused.
    settings(
        app,
        &shop,
        json!({"paused": true, "quiet_start": "00:00", "quiet_end": "00:00"}),
    )
    .await;
    let t3 = Utc::now() + Duration::seconds(2);
    record(
        app,
        &shop,
        vec![event("ref-4", EventKind::ReferralAdded, ben, t3)],
        t3,
    )
    .await;
    fire(&app.db, t3 + Duration::hours(4)).await;
    let last = occurrences(&app.db, rule.id).await.pop().unwrap();
    assert_eq!(
        (last.1.as_str(), last.2.as_deref()),
        ("skipped", Some("paused"))
    );
}

async fn two_processes_and_a_dead_round_fire_each_occurrence_once(
    app: &TestApp,
    _clock: &ManualClock,
) {
    let shop = shop(app, "Busy Cafe").await;
    settings(
        app,
        &shop,
        json!({"quiet_start": "00:00", "quiet_end": "00:00"}),
    )
    .await;
    let rule = automation(
        app,
        &shop,
        json!({"trigger": {"type": "event", "event": "card_installed", "delay": {"amount": 0, "unit": "minutes"}},
               "message": "Welcome, {first_name}!"}),
    )
    .await;
    let n = 260;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            holder(
                app,
                &shop,
                json!({"first_name": format!("C{i}")}),
                Device::Google,
            )
            .await,
        );
    }
    let t = now_s() + Duration::seconds(1);
    let events: Vec<NewEvent> = ids
        .iter()
        .enumerate()
        .map(|(i, c)| event(&format!("install-{i}"), EventKind::CardInstalled, *c, t))
        .collect();
    record(app, &shop, events, t).await;

    // A round that dies before it commits (the process is killed) leaves everything due.
    {
        let txn = app.db.begin().await.unwrap();
        let decided = automate::fire_round(&txn, t).await.unwrap();
        assert_eq!(decided, automate::ROUND);
        drop(txn);
    }
    assert_eq!(
        occurrences(&app.db, rule.id)
            .await
            .iter()
            .filter(|r| r.1 == "due")
            .count(),
        n
    );
    // Two processes fire at once.
    let other = app.other_connection().await;
    let (a, b) = tokio::join!(fire(&app.db, t), fire(&other, t));
    assert_eq!(a + b, n as u64);
    let runs = occurrences(&app.db, rule.id).await;
    assert_eq!(runs.iter().filter(|r| r.1 == "sent").count(), n);
    // One delivery per Google pass, however the rounds were shared.
    let deliveries = loyalcast::entity::delivery::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(deliveries, n as u64);
    let pushes = push::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(
        pushes.iter().map(|p| p.pending as u64).sum::<u64>(),
        n as u64
    );
    assert_eq!(
        pushes.iter().map(|p| p.passes as u64).sum::<u64>(),
        n as u64
    );
    // The rounds of an hour join one push (one per process that started one at once).
    assert!((1..=2).contains(&pushes.len()), "{} pushes", pushes.len());
    assert_eq!(
        pass_of(&app.db, ids[7]).await.message.as_deref(),
        Some("Welcome, C7!")
    );
}

async fn automations_are_checked_and_tenant_scoped(app: &TestApp, _clock: &ManualClock) {
    let shop = shop(app, "Checked Cafe").await;
    let other = shop_other(app).await;
    let bad = problem(
        app.post(
            "/api/v1/automations",
            &shop.t.token,
            &json!({"card_id": other, "trigger": {"type": "birthday", "days_before": 31, "send_time": "25:00"},
                    "message": "Hi {unsubscribe_url}", "reward_points": 1000001}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut fields = helpers::fields(&bad);
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "card_id",
            "message",
            "reward_points",
            "trigger.days_before",
            "trigger.send_time"
        ]
    );
    let delay = problem(
        app.post(
            "/api/v1/automations",
            &shop.t.token,
            &json!({"card_id": shop.card, "trigger": {"type": "event", "event": "visit", "delay": {"amount": 367, "unit": "days"}}, "message": "Hi"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(helpers::fields(&delay), vec!["trigger.delay.amount"]);
    // One birthday automation per card.
    let body = json!({"card_id": shop.card, "trigger": {"type": "birthday", "days_before": 0, "send_time": "10:00"}, "message": "Happy birthday!"});
    assert_eq!(
        app.post("/api/v1/automations", &shop.t.token, &body)
            .await
            .status(),
        StatusCode::CREATED
    );
    let second = app.post("/api/v1/automations", &shop.t.token, &body).await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    let list: Vec<Automation> = json(
        app.get("/api/v1/automations", &shop.t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.len(), 1);
    // Its kind stays.
    let kind = problem(
        app.patch(
            &format!("/api/v1/automations/{}", list[0].id),
            &shop.t.token,
            &json!({"trigger": {"type": "winback", "lapse_days": 30}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(helpers::fields(&kind), vec!["trigger.type"]);
    // Another merchant sees none of it.
    let stranger = app.tenant("Stranger").await;
    for path in [
        format!("/api/v1/automations/{}", list[0].id),
        format!("/api/v1/automations/{}/runs", list[0].id),
    ] {
        assert_eq!(
            app.get(&path, &stranger.token).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        app.delete(
            &format!("/api/v1/automations/{}", list[0].id),
            &stranger.token
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let theirs: Vec<Automation> = json(
        app.get("/api/v1/automations", &stranger.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(theirs.is_empty());
    // An agent reads, and may not change.
    let agent = app.member(&shop.t, "agent").await;
    assert_eq!(
        app.get("/api/v1/automations", &agent).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.patch(
            &format!("/api/v1/automations/{}", list[0].id),
            &agent,
            &json!({"enabled": false})
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    // Settings are checked.
    let bad = problem(
        app.put(
            "/api/v1/automation-settings",
            &shop.t.token,
            &json!({"paused": false, "quiet_start": "9:00", "quiet_end": "08:00", "cap_messages": 0, "cap_days": 366, "staleness_hours": 0}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut fields = helpers::fields(&bad);
    fields.sort();
    assert_eq!(
        fields,
        vec!["cap_days", "cap_messages", "quiet_start", "staleness_hours"]
    );
    // Deleting removes it and what it had due.
    assert_eq!(
        app.delete(
            &format!("/api/v1/automations/{}", list[0].id),
            &shop.t.token
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/automations/{}", list[0].id),
            &shop.t.token
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
}

/// Another merchant's card.
async fn shop_other(app: &TestApp) -> Uuid {
    shop(app, "Other Cafe").await.card
}
