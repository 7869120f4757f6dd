//! Customer events from integrations: recorded once per event ID (a replay, even two at
//! once, changes nothing), all or none per batch, and the customer's visits, last visit and
//! points kept true.

use loyalcast_dto::{Card, Customer, EventsRecorded, Pass};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, fields, json, problem};

crate::db_tests!(
    events_are_recorded_once_and_keep_the_customer_true,
    a_batch_that_cannot_be_recorded_records_nothing,
    a_thousand_events_at_once_and_the_same_batch_twice_at_once,
);

async fn customer(app: &TestApp, t: &Tenant, phone: &str) -> Customer {
    json(
        app.post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Eve", "last_name": "Vents", "phone": phone, "points": 100}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

async fn read(app: &TestApp, t: &Tenant, id: uuid::Uuid) -> Customer {
    json(
        app.get(&format!("/api/v1/customers/{id}"), &t.token).await,
        StatusCode::OK,
    )
    .await
}

async fn post(app: &TestApp, token: &str, events: Value) -> reqwest::Response {
    app.post("/api/v1/events", token, &json!({ "events": events }))
        .await
}

async fn events_are_recorded_once_and_keep_the_customer_true(app: &TestApp) {
    let t = app.tenant("Eventful Cafe").await;
    let c = customer(app, &t, "+14155550101").await;
    let card: Card = json(
        app.post(
            "/api/v1/cards",
            &t.token,
            &json!({"name": "Points", "kind": "points", "description": "A point per coffee",
                    "design": {"background_color": "#112233", "foreground_color": "#ffffff", "label_color": "#eeeeee", "logo_text": "Eventful"}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let pass: Pass = json(
        app.post(
            "/api/v1/passes",
            &t.token,
            &json!({"card_id": card.id, "customer_id": c.id, "platform": "google"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    // Installing a pass is an event of its own, recorded by the server.
    {
        use loyalcast::entity::customer_event;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let installed = customer_event::Entity::find()
            .filter(customer_event::Column::CustomerId.eq(c.id))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(
            installed
                .iter()
                .map(|e| (e.kind.as_str(), e.pass_id))
                .collect::<Vec<_>>(),
            vec![("card_installed", Some(pass.id))]
        );
    }
    let key: loyalcast_dto::CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &t.token,
            &json!({"name": "POS", "scopes": ["events:write"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let batch = json!([
        {"id": "r-1", "kind": "visit", "customer_id": c.id, "occurred_at": "2026-11-01T10:00:00Z"},
        {"id": "r-2", "kind": "purchase", "pass_id": pass.id, "amount": 1250, "occurred_at": "2026-11-20T10:00:00Z"},
        {"id": "r-3", "kind": "points_changed", "customer_id": c.id, "points": -30},
        {"id": "r-4", "kind": "review_sent", "customer_id": c.id},
        {"id": "r-1", "kind": "visit", "customer_id": c.id},
    ]);
    let first: EventsRecorded =
        json(post(app, &key.secret, batch.clone()).await, StatusCode::OK).await;
    assert_eq!((first.recorded, first.replayed), (4, 1));
    assert_eq!(
        first.events.iter().map(|e| e.recorded).collect::<Vec<_>>(),
        vec![true, true, true, true, false],
        "the same ID again in one batch is a replay"
    );
    let after = read(app, &t, c.id).await;
    assert_eq!((after.visits, after.points), (2, 70));
    assert_eq!(
        after.last_visit_at.map(|t| t.to_rfc3339()),
        Some("2026-11-20T10:00:00+00:00".to_owned())
    );

    // Read back, latest first; the replayed ID is there once.
    let listed: loyalcast_dto::Page<loyalcast_dto::CustomerEvent> = json(
        app.get(&format!("/api/v1/customers/{}/events", c.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.total, 5, "four sent, and the card installed");
    assert_eq!(listed.items.iter().filter(|e| e.id == "r-1").count(), 1);
    assert!(
        listed
            .items
            .windows(2)
            .all(|w| w[0].occurred_at >= w[1].occurred_at)
    );
    let purchase = listed.items.iter().find(|e| e.id == "r-2").unwrap();
    assert_eq!(
        (purchase.amount, purchase.pass_id),
        (Some(1250), Some(pass.id))
    );

    // The same batch again: every event a replay, nothing moves.
    let again: EventsRecorded = json(post(app, &key.secret, batch).await, StatusCode::OK).await;
    assert_eq!((again.recorded, again.replayed), (0, 5));
    let unchanged = read(app, &t, c.id).await;
    assert_eq!(
        (unchanged.visits, unchanged.points, unchanged.last_visit_at),
        (2, 70, after.last_visit_at)
    );

    // A visit that arrives late counts, but does not move the last visit back.
    let late: EventsRecorded = json(
        post(app, &key.secret, json!([{"id": "r-0", "kind": "visit", "customer_id": c.id, "occurred_at": "2026-10-01T10:00:00Z"}])).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(late.recorded, 1);
    let later = read(app, &t, c.id).await;
    assert_eq!(
        (later.visits, later.last_visit_at),
        (3, after.last_visit_at)
    );

    // IDs are the merchant's own: another merchant may use the same ones.
    let other = app.tenant("Other Eventful Cafe").await;
    let theirs = customer(app, &other, "+14155550102").await;
    let elsewhere: EventsRecorded = json(
        post(
            app,
            &other.token,
            json!([{"id": "r-1", "kind": "visit", "customer_id": theirs.id}]),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(elsewhere.recorded, 1);
    problem(
        app.get(&format!("/api/v1/customers/{}/events", c.id), &other.token)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // A key without the scope is refused.
    let reader: loyalcast_dto::CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &t.token,
            &json!({"name": "R", "scopes": ["customers:read"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    problem(
        post(
            app,
            &reader.secret,
            json!([{"id": "x", "kind": "visit", "customer_id": c.id}]),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn a_batch_that_cannot_be_recorded_records_nothing(app: &TestApp) {
    let t = app.tenant("Careful Cafe").await;
    let other = app.tenant("Careless Cafe").await;
    let c = customer(app, &t, "+14155550111").await;
    let foreign = customer(app, &other, "+14155550112").await;
    let before = app.snapshot().await;
    let ok = json!({"id": "fine", "kind": "visit", "customer_id": c.id});
    let refused: Vec<(Value, &str)> = vec![
        (
            json!({"id": "b", "kind": "visit", "customer_id": foreign.id}),
            "events[1].customer_id",
        ),
        (
            json!({"id": "b", "kind": "visit", "pass_id": uuid::Uuid::now_v7()}),
            "events[1].pass_id",
        ),
        (json!({"id": "b", "kind": "visit"}), "events[1].customer_id"),
        (
            json!({"id": "b", "kind": "visit", "customer_id": c.id, "pass_id": uuid::Uuid::now_v7()}),
            "events[1].customer_id",
        ),
        (
            json!({"id": "", "kind": "visit", "customer_id": c.id}),
            "events[1].id",
        ),
        (
            json!({"id": "has space", "kind": "visit", "customer_id": c.id}),
            "events[1].id",
        ),
        (
            json!({"id": "x".repeat(129), "kind": "visit", "customer_id": c.id}),
            "events[1].id",
        ),
        (
            json!({"id": "b", "kind": "visit", "customer_id": c.id, "occurred_at": "2099-01-01T00:00:00Z"}),
            "events[1].occurred_at",
        ),
        (
            json!({"id": "b", "kind": "visit", "customer_id": c.id, "occurred_at": "1999-12-31T23:59:59Z"}),
            "events[1].occurred_at",
        ),
        (
            json!({"id": "b", "kind": "visit", "customer_id": c.id, "amount": 5}),
            "events[1].amount",
        ),
        (
            json!({"id": "b", "kind": "purchase", "customer_id": c.id, "amount": -1}),
            "events[1].amount",
        ),
        (
            json!({"id": "b", "kind": "purchase", "customer_id": c.id, "amount": 1_000_000_000_001i64}),
            "events[1].amount",
        ),
        (
            json!({"id": "b", "kind": "points_changed", "customer_id": c.id}),
            "events[1].points",
        ),
        (
            json!({"id": "b", "kind": "points_changed", "customer_id": c.id, "points": 0}),
            "events[1].points",
        ),
        (
            json!({"id": "b", "kind": "points_changed", "customer_id": c.id, "points": 1_000_000_001i64}),
            "events[1].points",
        ),
        (
            json!({"id": "b", "kind": "visit", "customer_id": c.id, "points": 3}),
            "events[1].points",
        ),
    ];
    for (bad, field) in refused {
        let p = problem(
            post(app, &t.token, json!([ok, bad])).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(fields(&p), vec![field.to_owned()], "{bad}");
    }
    // Not the API's shape: an unknown kind or field, no events, too many.
    for body in [
        json!({"events": [{"id": "b", "kind": "teleported", "customer_id": c.id}]}),
        json!({"events": [{"id": "b", "kind": "visit", "customer_id": c.id, "extra": 1}]}),
        json!({"events": "visit"}),
    ] {
        problem(
            app.post("/api/v1/events", &t.token, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let too_many: Vec<Value> = (0..1_001)
        .map(|i| json!({"id": format!("e{i}"), "kind": "visit", "customer_id": c.id}))
        .collect();
    for events in [json!([]), Value::Array(too_many)] {
        let p = problem(
            post(app, &t.token, events).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(fields(&p), vec!["events".to_owned()]);
    }
    assert_eq!(app.snapshot().await, before, "nothing was recorded");
    {
        use sea_orm::{EntityTrait, PaginatorTrait};
        let stored = loyalcast::entity::customer_event::Entity::find()
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(stored, 0, "no event row was written");
    }
    let still = read(app, &t, c.id).await;
    assert_eq!(still.visits, 0);
}

/// The largest batch, then two identical ones at once: each event once.
async fn a_thousand_events_at_once_and_the_same_batch_twice_at_once(app: &TestApp) {
    let t = app.tenant("Busy Cafe").await;
    let a = customer(app, &t, "+14155550121").await;
    let b = customer(app, &t, "+14155550122").await;
    let batch = |prefix: &str| -> Value {
        Value::Array(
            (0..1_000)
                .map(|i| {
                    let who = if i % 2 == 0 { a.id } else { b.id };
                    json!({"id": format!("{prefix}-{i}"), "kind": "visit", "customer_id": who})
                })
                .collect(),
        )
    };
    let big: EventsRecorded = json(post(app, &t.token, batch("big")).await, StatusCode::OK).await;
    assert_eq!(big.recorded, 1_000);
    let (x, y) = tokio::join!(
        post(app, &t.token, batch("twice")),
        post(app, &t.token, batch("twice"))
    );
    let x: EventsRecorded = json(x, StatusCode::OK).await;
    let y: EventsRecorded = json(y, StatusCode::OK).await;
    assert_eq!(x.recorded + y.recorded, 1_000, "each event of the two once");
    assert_eq!(x.replayed + y.replayed, 1_000);
    assert_eq!(read(app, &t, a.id).await.visits, 1_000);
    assert_eq!(read(app, &t, b.id).await.visits, 1_000);
}
