//! The request and response bodies keep the contract the OpenAPI document states: unknown
//! fields and meaningless `null`s are refused, formats are read as declared, limits count
//! what was sent, and timestamps go out with at most microseconds.

use loyalcast_dto::{Card, Customer, Page, Pass, Problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fields, json, problem};
use crate::tenancy::card_body;

crate::db_tests!(
    an_unknown_field_is_a_400_problem_and_nothing_is_written,
    null_is_refused_where_it_means_nothing,
    timestamps_carry_at_most_six_fractional_digits,
    formats_are_read_as_declared,
    limits_count_the_text_as_sent,
    a_timestamp_past_year_9999_in_utc_is_still_rfc_3339,
    whole_numbers_written_as_floats_are_integers_and_tags_stay_tags,
    tagged_unions_refuse_index_tags_and_fields_they_do_not_have,
);

async fn whole_numbers_written_as_floats_are_integers_and_tags_stay_tags(app: &TestApp) {
    let t = app.tenant("Float Cafe").await;
    // JSON Schema calls 3.0 an integer, and many encoders write whole numbers so.
    let created: Customer = json(
        app.post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Flo", "visits": 3.0, "points": 120.0, "tags": ["Ärger", "VIP"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!((created.visits, created.points), (3, 120));
    assert_eq!(created.tags, vec!["vip".to_owned(), "ärger".to_owned()]);
    for body in [
        json!({"first_name": "Flo", "visits": 3.5}),
        json!({"first_name": "Flo", "points": -1e300}),
        // A letter whose lower case is no tag letter (İ becomes i and a combining dot).
        json!({"first_name": "Flo", "tags": ["İstanbul"]}),
    ] {
        let response = app.post("/api/v1/customers", &t.token, &body).await;
        assert!(response.status().is_client_error(), "{body}");
    }
    let count: loyalcast_dto::SegmentCount = json(
        app.post(
            "/api/v1/segments/count",
            &t.token,
            &json!({"rule": {"type": "visits", "cmp": "gte", "value": 3.0}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(count.customers, 1);
    assert_eq!(customers(app, &t.token).await, 1);
}

async fn tagged_unions_refuse_index_tags_and_fields_they_do_not_have(app: &TestApp) {
    let t = app.tenant("Union Cafe").await;
    for rule in [
        json!({"type": 0, "rules": []}),
        json!({"type": "or", "rules": [{"type": 0, "rules": []}]}),
        json!({"type": "birthday_today", "month": 3}),
    ] {
        let refused = problem(
            app.post("/api/v1/segments/count", &t.token, &json!({ "rule": rule }))
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(refused.detail.is_some(), "{rule}");
    }
    // One past the smallest 64-bit integer (what serde_json reads as a float of -2^63).
    let below = app
        .request(
            reqwest::Method::POST,
            "/api/v1/segments/count",
            Some(&t.token),
        )
        .header("content-type", "application/json")
        .body(r#"{"rule": {"type": "points", "cmp": "eq", "value": -9223372036854775809}}"#)
        .send()
        .await
        .unwrap();
    problem(below, StatusCode::BAD_REQUEST).await;
    let audience = app
        .post(
            "/api/v1/mailings/estimate",
            &t.token,
            &json!({"audience": {"type": "all", "segment_id": "x"}, "channels": ["email"], "content": {"email": {"subject": "Hi", "body": "Hello"}}}),
        )
        .await;
    problem(audience, StatusCode::BAD_REQUEST).await;
}

fn bad_request_naming(problem: &Problem, what: &str) {
    assert!(
        problem.detail.as_deref().is_some_and(|d| d.contains(what)),
        "{:?} does not name {what}",
        problem.detail
    );
}

async fn customers(app: &TestApp, token: &str) -> u64 {
    let page: Page<Customer> =
        json(app.get("/api/v1/customers", token).await, StatusCode::OK).await;
    page.total
}

async fn an_unknown_field_is_a_400_problem_and_nothing_is_written(app: &TestApp) {
    let t = app.tenant("Typo Cafe").await;
    let typo = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Ann", "frist_name": "Ann"}),
        )
        .await;
    let typo = problem(typo, StatusCode::BAD_REQUEST).await;
    bad_request_naming(&typo, "frist_name");
    assert_eq!(customers(app, &t.token).await, 0);

    // Nested request objects refuse them too.
    let nested = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Ann", "consent": {"sms": true, "email": true, "telegram": true, "messenger": true, "fax": true}}),
        )
        .await;
    bad_request_naming(&problem(nested, StatusCode::BAD_REQUEST).await, "fax");
    let mut card = card_body("Typo Stamps");
    card["design"]["logo_colour"] = json!("#000000");
    let card = app.post("/api/v1/cards", &t.token, &card).await;
    bad_request_naming(&problem(card, StatusCode::BAD_REQUEST).await, "logo_colour");
    let cards: Page<Card> = json(app.get("/api/v1/cards", &t.token).await, StatusCode::OK).await;
    assert_eq!(cards.total, 0);

    let ann: Customer = json(
        app.post("/api/v1/customers", &t.token, &json!({"first_name": "Ann"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let patch = app
        .patch(
            &format!("/api/v1/customers/{}", ann.id),
            &t.token,
            &json!({"first_name": "Anna", "points_balance": 5}),
        )
        .await;
    bad_request_naming(
        &problem(patch, StatusCode::BAD_REQUEST).await,
        "points_balance",
    );
    let unchanged: Customer = json(
        app.get(&format!("/api/v1/customers/{}", ann.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(unchanged.first_name, "Ann");

    let mailing = app
        .post(
            "/api/v1/mailings",
            &t.token,
            &json!({"name": "Typo", "audience": {"type": "all"}, "channels": ["sms"], "content": {"sms": {"body": "Hi", "sender": "x"}}, "draft": true}),
        )
        .await;
    bad_request_naming(&problem(mailing, StatusCode::BAD_REQUEST).await, "sender");
}

async fn null_is_refused_where_it_means_nothing(app: &TestApp) {
    let t = app.tenant("Null Cafe").await;
    let ann: Customer = json(
        app.post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "tags": ["vip"], "points": 5}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/customers/{}", ann.id);
    for field in [
        "first_name",
        "last_name",
        "tags",
        "consent",
        "visits",
        "points",
    ] {
        let mut body = json!({"first_name": "Changed"});
        body[field] = Value::Null;
        let refused = app.patch(&path, &t.token, &body).await;
        let refused = problem(refused, StatusCode::BAD_REQUEST).await;
        bad_request_naming(&refused, "`null` is not accepted");
    }
    let unchanged: Customer = json(app.get(&path, &t.token).await, StatusCode::OK).await;
    assert_eq!(
        (
            unchanged.first_name.as_str(),
            unchanged.points,
            unchanged.tags.len()
        ),
        ("Ann", 5, 1)
    );
    // Where null means "none", it still clears.
    let cleared: Customer = json(
        app.patch(&path, &t.token, &json!({"email": null})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared.email, None);
    // And on creation, a default is asked for by leaving the field out, not with null.
    let consent = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Bob", "consent": null}),
        )
        .await;
    problem(consent, StatusCode::BAD_REQUEST).await;
    let merchant = app
        .patch("/api/v1/merchant", &t.token, &json!({"name": null}))
        .await;
    problem(merchant, StatusCode::BAD_REQUEST).await;
    assert_eq!(customers(app, &t.token).await, 1);
}

/// The fractional digits of an RFC 3339 timestamp, or `None` when it is not one.
fn fraction_digits(value: &Value) -> Option<usize> {
    let text = value.as_str()?;
    let after_seconds = text.get(19..)?;
    Some(match after_seconds.strip_prefix('.') {
        Some(rest) => rest.chars().take_while(char::is_ascii_digit).count(),
        None => 0,
    })
}

async fn timestamps_carry_at_most_six_fractional_digits(app: &TestApp) {
    let t = app.tenant("Micro Cafe").await;
    let created = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Ann", "last_visit_at": "2026-01-02T03:04:05.123456789Z"}),
        )
        .await;
    let created: Value = json(created, StatusCode::CREATED).await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let read: Value = json(
        app.get(&format!("/api/v1/customers/{id}"), &t.token).await,
        StatusCode::OK,
    )
    .await;
    for body in [&created, &read] {
        for field in ["created_at", "updated_at", "last_visit_at"] {
            let digits = fraction_digits(&body[field]);
            assert!(
                digits.is_some_and(|d| d <= 6),
                "{field} = {} has more than microseconds",
                body[field]
            );
        }
        assert_eq!(body["last_visit_at"], "2026-01-02T03:04:05.123456Z");
    }
}

async fn formats_are_read_as_declared(app: &TestApp) {
    let t = app.tenant("Format Cafe").await;
    // chrono alone would read these; the document's `date` and `date-time` formats do not.
    for body in [
        json!({"first_name": "Ann", "birthday": "1990-4-12"}),
        json!({"first_name": "Ann", "birthday": " 1990-04-12"}),
        json!({"first_name": "Ann", "last_visit_at": "2026-01-02 03:04:05Z"}),
    ] {
        let response = app.post("/api/v1/customers", &t.token, &body).await;
        problem(response, StatusCode::BAD_REQUEST).await;
    }
    let pass = app
        .post(
            "/api/v1/passes",
            &t.token,
            &json!({"card_id": "0193a1b27c3d7e4f8a9b0c1d2e3f4a5b", "customer_id": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "platform": "apple"}),
        )
        .await;
    problem(pass, StatusCode::BAD_REQUEST).await;
    // Shapes the document declares with a pattern or format are taken as sent.
    let invalid = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Ann", "email": " ann@example.com", "telegram_chat_id": "", "tags": ["\tvip"]}),
        )
        .await;
    assert_eq!(
        fields(&problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["email", "tags", "telegram_chat_id"]
    );
    let mut card = card_body("Format Stamps");
    card["design"]["background_color"] = json!(" #112233");
    card["apple_pass_type_id"] = json!("");
    let card = app.post("/api/v1/cards", &t.token, &card).await;
    assert_eq!(
        fields(&problem(card, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["design.background_color", "apple_pass_type_id"]
    );
    let merchant = app
        .patch(
            "/api/v1/merchant",
            &t.token,
            &json!({"time_zone": "europe/berlin", "default_country": "de"}),
        )
        .await;
    assert_eq!(
        fields(&problem(merchant, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["time_zone", "default_country"]
    );
    // What the document allows, the server takes: letters of any script in tags,
    // surrounding spaces around names.
    let ann: Customer = json(
        app.post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "  Zoë ", "tags": [" Stammgäste", "VIP"], "birthday": "1990-04-12"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(ann.first_name, "Zoë");
    assert_eq!(ann.tags, ["stammgäste", "vip"]);
    assert_eq!(customers(app, &t.token).await, 1);
}

async fn limits_count_the_text_as_sent(app: &TestApp) {
    let t = app.tenant("Limit Cafe").await;
    let longest = "a".repeat(100);
    let padded = format!(" {longest}");
    let too_long = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": padded}),
        )
        .await;
    assert_eq!(
        fields(&problem(too_long, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["first_name"]
    );
    let fits = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": longest}),
        )
        .await;
    assert_eq!(fits.status(), StatusCode::CREATED);
}

async fn a_timestamp_past_year_9999_in_utc_is_still_rfc_3339(app: &TestApp) {
    let t = app.tenant("Far Future Cafe").await;
    let card: Card = json(
        app.post("/api/v1/cards", &t.token, &card_body("Far Stamps"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let ann: Customer = json(
        app.post("/api/v1/customers", &t.token, &json!({"first_name": "Ann"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    // Valid RFC 3339, but 10000-01-01T04:00Z in UTC.
    let body = json!({"card_id": card.id, "customer_id": ann.id, "platform": "google", "installed_at": "9999-12-31T23:00:00-05:00"});
    let created: Value = json(
        app.post("/api/v1/passes", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["installed_at"], "9999-12-31T04:01:00.000000-23:59");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let read: Pass = json(
        app.get(&format!("/api/v1/passes/{id}"), &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        read.installed_at.to_rfc3339(),
        "+10000-01-01T04:00:00+00:00"
    );
}
