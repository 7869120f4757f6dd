use loyalcast_dto::{Card, CreatedApiKey, Customer, Page, Pass, Segment, TeamMember};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, json, problem};

crate::db_tests!(another_merchants_objects_are_404_on_every_route);

pub fn card_body(name: &str) -> Value {
    json!({
        "name": name,
        "kind": "stamp",
        "description": "Ten stamps, one free coffee",
        "design": {"background_color": "#112233", "foreground_color": "#ffffff", "label_color": "#eeeeee", "logo_text": name},
        "apple_pass_type_id": "pass.com.example.stamp"
    })
}

async fn another_merchants_objects_are_404_on_every_route(app: &TestApp) {
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;

    let card: Card = json(
        app.post("/api/v1/cards", &a.token, &card_body("Alpha Stamps"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let customer: Customer = json(
        app.post("/api/v1/customers", &a.token, &json!({"first_name": "Ann", "phone": "+14155552671", "email": "ann@alpha.example.com"})).await,
        StatusCode::CREATED,
    )
    .await;
    let pass: Pass = json(
        app.post(
            "/api/v1/passes",
            &a.token,
            &json!({"card_id": card.id, "customer_id": customer.id, "platform": "apple"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let segment: Segment = json(
        app.post(
            "/api/v1/segments",
            &a.token,
            &json!({"name": "Alpha fans", "rule": {"type": "holds_card", "card_id": card.id}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(segment.customers, 1);
    let member: TeamMember = json(
        app.post(
            "/api/v1/team",
            &a.token,
            &json!({"name": "Al", "email": format!("al-{}@alpha.example.com", uuid::Uuid::new_v4().simple()), "password": PASSWORD, "role": "agent"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let key: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &a.token,
            &json!({"name": "Alpha POS", "scopes": loyalcast_dto::Scope::ALL}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/cards/{}", card.id), None),
        (
            Method::PUT,
            format!("/api/v1/cards/{}", card.id),
            Some(card_body("Stolen")),
        ),
        (Method::DELETE, format!("/api/v1/cards/{}", card.id), None),
        (
            Method::GET,
            format!("/api/v1/customers/{}", customer.id),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/customers/{}", customer.id),
            Some(json!({"first_name": "Eve"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/customers/{}", customer.id),
            None,
        ),
        (Method::GET, format!("/api/v1/passes/{}", pass.id), None),
        (Method::DELETE, format!("/api/v1/passes/{}", pass.id), None),
        (
            Method::GET,
            format!("/api/v1/segments/{}", segment.id),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/segments/{}/count", segment.id),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/segments/{}", segment.id),
            Some(json!({"name": "Mine", "rule": {"type": "and", "rules": []}})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/segments/{}", segment.id),
            None,
        ),
        (Method::DELETE, format!("/api/v1/team/{}", member.id), None),
        (
            Method::DELETE,
            format!("/api/v1/api-keys/{}", key.key.id),
            None,
        ),
    ];
    let b_key: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &b.token,
            &json!({"name": "Beta", "scopes": loyalcast_dto::Scope::ALL}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    for (method, path, body) in &calls {
        for token in [&b.token, &b_key.secret] {
            let mut request = app.request(method.clone(), path, Some(token));
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            // Keys never manage keys or members, whoever's: a 403 that names no object.
            let expected = if token == &b_key.secret
                && (path.starts_with("/api/v1/team/") || path.starts_with("/api/v1/api-keys/"))
            {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(response.status(), expected, "{method} {path}");
            problem(response, expected).await;
        }
    }

    // Ids in bodies and filters do not reach across either.
    let cross = app
        .post(
            "/api/v1/passes",
            &b.token,
            &json!({"card_id": card.id, "customer_id": customer.id, "platform": "google"}),
        )
        .await;
    let cross = problem(cross, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(cross.errors[0].code, "not_found");
    let count = app
        .post(
            "/api/v1/segments/count",
            &b.token,
            &json!({"rule": {"type": "holds_card", "card_id": card.id}}),
        )
        .await;
    problem(count, StatusCode::UNPROCESSABLE_ENTITY).await;
    let passes: Page<Pass> = json(
        app.get(
            &format!("/api/v1/passes?customer_id={}", customer.id),
            &b.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(passes.total, 0);
    let customers: Page<Customer> =
        json(app.get("/api/v1/customers", &b.token).await, StatusCode::OK).await;
    assert_eq!(customers.total, 0);
    // Beta may use Alpha's phone number for its own customer: uniqueness is per merchant.
    let same_phone = app
        .post(
            "/api/v1/customers",
            &b.token,
            &json!({"first_name": "Ann", "phone": "+14155552671"}),
        )
        .await;
    assert_eq!(same_phone.status(), StatusCode::CREATED);

    // Alpha's objects are untouched.
    let card_now: Card = json(
        app.get(&format!("/api/v1/cards/{}", card.id), &a.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(card_now.name, "Alpha Stamps");
    let customer_now: Customer = json(
        app.get(&format!("/api/v1/customers/{}", customer.id), &a.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(customer_now.first_name, "Ann");
    assert_eq!(
        app.get(&format!("/api/v1/passes/{}", pass.id), &a.token)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/segments/{}", segment.id), &a.token)
            .await
            .status(),
        StatusCode::OK
    );
    let team: Vec<TeamMember> = json(app.get("/api/v1/team", &a.token).await, StatusCode::OK).await;
    assert_eq!(team.len(), 2);
    assert_eq!(
        app.get("/api/v1/me", &key.secret).await.status(),
        StatusCode::OK
    );
}
