//! Bounded work per request: rules, paging and the requests that once took the server down.

use loyalcast_dto::{Page, SegmentCount};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json, problem};

crate::db_tests!(
    a_rule_of_three_thousand_empty_groups_is_refused_and_the_server_keeps_serving,
    the_largest_accepted_rule_counts_on_the_database,
    paging_out_of_range_is_a_400_and_the_largest_page_answers,
    an_undocumented_method_on_a_documented_path_is_a_405_with_allow,
);

async fn an_undocumented_method_on_a_documented_path_is_a_405_with_allow(app: &TestApp) {
    let tenant = app.tenant("Methods").await;
    for (method, path, allow) in [
        ("TRACE", "/healthz", "GET"),
        ("DELETE", "/api/v1/cards", "GET, POST"),
        (
            "PATCH",
            "/api/v1/segments/01a23565-ecb5-74c0-b9ea-029e37f6dc5c",
            "DELETE, GET, PUT",
        ),
        ("GET", "/api/v1/segments/count", "POST"),
        ("PUT", "/u/sometoken", "GET, POST"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .request(method.clone(), path, Some(&tenant.token))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
    // An unknown path is still a 404, and a documented method still answers.
    problem(
        app.get("/api/v1/nothing-here", &tenant.token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

fn empty_groups(n: usize) -> Value {
    json!({"rule": {"type": "and", "rules": vec![json!({"type": "and", "rules": []}); n]}})
}

async fn a_rule_of_three_thousand_empty_groups_is_refused_and_the_server_keeps_serving(
    app: &TestApp,
) {
    let tenant = app.tenant("Wide Rules").await;
    let agent = app.member(&tenant, "agent").await;
    for n in [3_000, 1_000, 51] {
        let refused = problem(
            app.post("/api/v1/segments/count", &agent, &empty_groups(n))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(refused.errors[0].field, "rule.rules", "{refused:?}");
        assert_eq!(refused.errors[0].code, "too_many_items");
    }
    // Fifty groups of one empty group each: every width is fine, the total is not.
    let nested = json!({"rule": {"type": "or", "rules": vec![json!({"type": "and", "rules": [{"type": "and", "rules": []}]}); 50]}});
    let refused = problem(
        app.post("/api/v1/segments/count", &agent, &nested).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused.errors[0].code, "too_large");
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let count: SegmentCount = json(
        app.post("/api/v1/segments/count", &agent, &empty_groups(50))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(count.customers, 0);
}

async fn the_largest_accepted_rule_counts_on_the_database(app: &TestApp) {
    let tenant = app.tenant("Big Rules").await;
    for (first, visits) in [("Ann", 3), ("Bob", 12)] {
        let response = app
            .post(
                "/api/v1/customers",
                &tenant.token,
                &json!({"first_name": first, "visits": visits, "email": format!("{first}@example.com")}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // 1 + 49 groups + 50 conditions = 100 parts, each group an `and` of one condition, as
    // wide and as large as a rule may be. Only Bob has more than ten visits.
    let mut rules =
        vec![json!({"type": "and", "rules": [{"type": "visits", "cmp": "gt", "value": 10}]}); 49];
    rules.push(json!({"type": "has_email", "value": true}));
    let all_of = json!({"rule": {"type": "and", "rules": rules.clone()}});
    let count: SegmentCount = json(
        app.post("/api/v1/segments/count", &tenant.token, &all_of)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(count.customers, 1);
    let any_of = json!({"rule": {"type": "or", "rules": rules}});
    let count: SegmentCount = json(
        app.post("/api/v1/segments/count", &tenant.token, &any_of)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(count.customers, 2);
    // Saved, the segment list counts it with the others in one pass.
    for (name, body) in [("All of", &all_of), ("Any of", &any_of)] {
        let response = app
            .post(
                "/api/v1/segments",
                &tenant.token,
                &json!({"name": name, "rule": body["rule"]}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let list: Page<loyalcast_dto::Segment> = json(
        app.get("/api/v1/segments", &tenant.token).await,
        StatusCode::OK,
    )
    .await;
    let counts: Vec<(String, u64)> = list
        .items
        .into_iter()
        .map(|s| (s.name, s.customers))
        .collect();
    assert_eq!(
        counts,
        vec![("All of".to_owned(), 1), ("Any of".to_owned(), 2)]
    );
}

async fn paging_out_of_range_is_a_400_and_the_largest_page_answers(app: &TestApp) {
    let tenant = app.tenant("Paging").await;
    for list in [
        "/api/v1/customers",
        "/api/v1/mailings",
        "/api/v1/cards",
        "/api/v1/segments",
        "/api/v1/passes",
    ] {
        for query in [
            "page=18446744073709551615",
            "page=9223372036854775807",
            "page=1000001",
            "page=0",
            "per_page=0",
            "per_page=101",
            "per_page=18446744073709551615",
            "page=-1",
            "page=1.5",
        ] {
            let path = format!("{list}?{query}");
            let refused =
                problem(app.get(&path, &tenant.token).await, StatusCode::BAD_REQUEST).await;
            assert!(refused.detail.is_some(), "{path}");
        }
        let last: Page<Value> = json(
            app.get(&format!("{list}?page=1000000&per_page=100"), &tenant.token)
                .await,
            StatusCode::OK,
        )
        .await;
        assert!(last.items.is_empty(), "{list}");
        assert_eq!((last.page, last.per_page), (1_000_000, 100));
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
