use loyalcast_dto::{Customer, Page};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, fields, json, problem};

crate::db_tests!(
    bad_customer_input_is_a_field_problem_and_changes_nothing,
    malformed_bodies_are_problems_not_500s,
    unknown_routes_and_bad_ids_are_404_problems,
    paging_is_capped,
    bad_card_and_segment_input_is_reported_per_field,
);

async fn bad_customer_input_is_a_field_problem_and_changes_nothing(app: &TestApp) {
    let t = app.tenant("Validation Cafe").await;
    let response = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": " ", "phone": "12345", "email": "not-an-email", "birthday": "2999-01-01", "tags": ["ok", "bad;tag"], "points": -5}),
        )
        .await;
    let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        fields(&problem),
        ["first_name", "phone", "email", "birthday", "tags", "points"]
    );
    assert!(problem.errors.iter().all(|e| !e.message.is_empty()));
    let page: Page<Customer> =
        json(app.get("/api/v1/customers", &t.token).await, StatusCode::OK).await;
    assert_eq!(page.total, 0);
}

async fn malformed_bodies_are_problems_not_500s(app: &TestApp) {
    let t = app.tenant("Malformed Cafe").await;
    let broken = app
        .client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body("{\"first_name\": ")
        .send()
        .await
        .unwrap();
    problem(broken, StatusCode::BAD_REQUEST).await;
    let wrong_type = app
        .post("/api/v1/customers", &t.token, &json!({"first_name": 42}))
        .await;
    problem(wrong_type, StatusCode::BAD_REQUEST).await;
    let not_json = app
        .client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&t.token)
        .header("content-type", "text/plain")
        .body("first_name=Ann")
        .send()
        .await
        .unwrap();
    problem(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let huge = json!({"first_name": "A".repeat(app.config.max_json_bytes + 10)});
    problem(
        app.post("/api/v1/customers", &t.token, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let bad_query = app.get("/api/v1/customers?page=minus-one", &t.token).await;
    problem(bad_query, StatusCode::BAD_REQUEST).await;
    let bad_sort = app.get("/api/v1/customers?sort=shoe_size", &t.token).await;
    problem(bad_sort, StatusCode::BAD_REQUEST).await;
    let bad_rule = app
        .post(
            "/api/v1/segments/count",
            &t.token,
            &json!({"rule": {"type": "shoe_size"}}),
        )
        .await;
    problem(bad_rule, StatusCode::BAD_REQUEST).await;
}

async fn unknown_routes_and_bad_ids_are_404_problems(app: &TestApp) {
    let t = app.tenant("Routes Cafe").await;
    problem(
        app.get("/api/v1/no-such-thing", &t.token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get("/api/nothing-here", &t.token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get("/api/v1/customers/not-a-uuid", &t.token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get(
            &format!("/api/v1/customers/{}", uuid::Uuid::now_v7()),
            &t.token,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn paging_is_capped(app: &TestApp) {
    let t = app.tenant("Paging Cafe").await;
    // Out of range is refused rather than clamped: the client learns of its mistake.
    problem(
        app.get("/api/v1/customers?per_page=100000", &t.token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        app.get("/api/v1/customers?page=0", &t.token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let page: Page<Customer> = json(
        app.get("/api/v1/customers?per_page=100", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((page.page, page.per_page), (1, 100));
}

async fn bad_card_and_segment_input_is_reported_per_field(app: &TestApp) {
    let t = app.tenant("Card Rules Cafe").await;
    let card = json!({
        "name": "",
        "kind": "stamp",
        "design": {"background_color": "red", "foreground_color": "#fff", "label_color": "#123456", "logo_text": "x"},
        "apple_pass_type_id": "com.example",
        "membership_period_days": 30
    });
    let problem_doc = problem(
        app.post("/api/v1/cards", &t.token, &card).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        fields(&problem_doc),
        [
            "name",
            "design.background_color",
            "design.foreground_color",
            "apple_pass_type_id",
            "membership_period_days"
        ]
    );
    let segment = json!({"name": "Bad", "rule": {"type": "or", "rules": [{"type": "birthday_month", "month": 13}, {"type": "has_tag", "tag": ""}]}});
    let problem_doc = problem(
        app.post("/api/v1/segments", &t.token, &segment).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        fields(&problem_doc),
        ["rule.rules[0].month", "rule.rules[1].tag"]
    );
}
