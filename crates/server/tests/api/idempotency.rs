use loyalcast_dto::{Customer, Page};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, json, problem};

crate::db_tests!(a_replayed_create_returns_the_first_answer_and_creates_once);

async fn a_replayed_create_returns_the_first_answer_and_creates_once(app: &TestApp) {
    let t = app.tenant("Idempotent Cafe").await;
    let body = json!({"first_name": "Ida", "email": "ida@example.com"});
    let send = |key: &'static str, body: serde_json::Value| {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&t.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first: Customer = json(
        send("key-1", body.clone()).await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let replay = send("key-1", body.clone()).await.unwrap();
    assert_eq!(
        replay
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let second: Customer = json(replay, StatusCode::CREATED).await;
    assert_eq!(first, second);
    let page: Page<Customer> =
        json(app.get("/api/v1/customers", &t.token).await, StatusCode::OK).await;
    assert_eq!(page.total, 1);
    // The same key with another body is refused.
    let other = send("key-1", json!({"first_name": "Someone else"}))
        .await
        .unwrap();
    problem(other, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Without a key, the second identical request is a duplicate email.
    let duplicate = app.post("/api/v1/customers", &t.token, &body).await;
    let duplicate = problem(duplicate, StatusCode::CONFLICT).await;
    assert_eq!(duplicate.errors[0].code, "taken");
    // Keys belong to a merchant: another merchant's identical key is independent.
    let u = app.tenant("Other Idempotent Cafe").await;
    let theirs = app
        .client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&u.token)
        .header("Idempotency-Key", "key-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let theirs: Customer = json(theirs, StatusCode::CREATED).await;
    assert_ne!(theirs.id, first.id);
}
