use loyalcast_dto::{Customer, CustomerDetail, Page, Pass};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, json, problem};
use crate::tenancy::card_body;

crate::db_tests!(
    customers_are_created_normalised_and_found_by_name_phone_and_email,
    the_list_pages_and_sorts,
    a_patch_changes_only_what_it_names_and_null_clears,
    deleting_a_customer_removes_their_passes,
);

async fn customers_are_created_normalised_and_found_by_name_phone_and_email(app: &TestApp) {
    let t = app.tenant("Search Cafe").await;
    let ann: Customer = json(
        app.post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Ann", "last_name": "Lee", "phone": "(415) 555-2671", "email": "Ann.Lee@Example.com", "tags": ["VIP"], "birthday": "1990-03-14"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(ann.phone.as_deref(), Some("+14155552671"));
    assert_eq!(ann.email.as_deref(), Some("ann.lee@example.com"));
    assert_eq!(ann.tags, vec!["vip"]);
    assert_eq!(
        ann.consent,
        loyalcast_dto::Consent::default(),
        "nothing is on unless given"
    );
    for (first, email) in [
        ("Bob", "bob@example.com"),
        ("Annika", "annika@example.org"),
        ("Carl", "carl@example.net"),
    ] {
        let response = app
            .post(
                "/api/v1/customers",
                &t.token,
                &json!({"first_name": first, "email": email}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let names = |page: Page<Customer>| {
        page.items
            .into_iter()
            .map(|c| c.first_name)
            .collect::<Vec<_>>()
    };
    let by_name: Page<Customer> = json(
        app.get("/api/v1/customers?q=ann", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        names(by_name),
        ["Annika", "Ann"],
        "sorted by last name, then first"
    );
    let by_phone: Page<Customer> = json(
        app.get("/api/v1/customers?q=(415)%20555-26", &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(by_phone), ["Ann"]);
    let by_email: Page<Customer> = json(
        app.get("/api/v1/customers?q=EXAMPLE.NET", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(by_email), ["Carl"]);
    let two_words: Page<Customer> = json(
        app.get("/api/v1/customers?q=lee%20ann", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(two_words), ["Ann"]);
    let wildcard: Page<Customer> = json(
        app.get("/api/v1/customers?q=%25", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(wildcard.total, 4, "a lone % is no wildcard trick");
    let by_tag: Page<Customer> = json(
        app.get("/api/v1/customers?tag=VIP", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(by_tag), ["Ann"]);
    // A NUL byte (which PostgreSQL's text cannot hold) in a search or a tag matches as if it
    // were not there, or no one; never a server error.
    let nul_tag: Page<Customer> = json(
        app.get("/api/v1/customers?tag=V%00IP", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(nul_tag.total, 0);
    let nul_search: Page<Customer> = json(
        app.get("/api/v1/customers?q=An%00n", &t.token).await,
        StatusCode::OK,
    )
    .await;
    let plain: Page<Customer> = json(
        app.get("/api/v1/customers?q=Ann", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(nul_search), names(plain));
    let tags: Vec<String> = json(app.get("/api/v1/tags", &t.token).await, StatusCode::OK).await;
    assert_eq!(tags, ["vip"]);
    let taken = app
        .post(
            "/api/v1/customers",
            &t.token,
            &json!({"first_name": "Dup", "phone": "+1 415 555 2671"}),
        )
        .await;
    let taken = problem(taken, StatusCode::CONFLICT).await;
    assert_eq!(
        (
            taken.errors[0].field.as_str(),
            taken.errors[0].code.as_str()
        ),
        ("phone", "taken")
    );
}

async fn the_list_pages_and_sorts(app: &TestApp) {
    let t = app.tenant("Paging Sort Cafe").await;
    for i in 0..23 {
        let body = json!({"first_name": format!("P{i:02}"), "last_name": "Same", "visits": i, "points": 100 - i});
        assert_eq!(
            app.post("/api/v1/customers", &t.token, &body)
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let page: Page<Customer> = json(
        app.get("/api/v1/customers?per_page=10&page=3", &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((page.total, page.items.len(), page.page), (23, 3, 3));
    assert_eq!(page.items[0].first_name, "P20");
    let by_visits: Page<Customer> = json(
        app.get(
            "/api/v1/customers?sort=visits&order=desc&per_page=2",
            &t.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        by_visits.items.iter().map(|c| c.visits).collect::<Vec<_>>(),
        [22, 21]
    );
    let by_points: Page<Customer> = json(
        app.get("/api/v1/customers?sort=points&per_page=1", &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_points.items[0].points, 78);
    let beyond: Page<Customer> = json(
        app.get("/api/v1/customers?page=99", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 23);
}

async fn a_patch_changes_only_what_it_names_and_null_clears(app: &TestApp) {
    let t = app.tenant("Patch Cafe").await;
    let c: Customer = json(
        app.post("/api/v1/customers", &t.token, &json!({"first_name": "Pat", "phone": "+14155550100", "email": "pat@example.com", "points": 5})).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/customers/{}", c.id);
    let updated: Customer = json(
        app.patch(
            &path,
            &t.token,
            &json!({"email": null, "points": 50, "tags": ["regular"]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated.email, None);
    assert_eq!(updated.phone.as_deref(), Some("+14155550100"));
    assert_eq!(updated.points, 50);
    assert_eq!(updated.tags, ["regular"]);
    assert_eq!(updated.first_name, "Pat");
    let bad = app
        .patch(
            &path,
            &t.token,
            &json!({"phone": "nonsense", "first_name": "Changed"}),
        )
        .await;
    problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let now: CustomerDetail = json(app.get(&path, &t.token).await, StatusCode::OK).await;
    assert_eq!(
        now.customer.first_name, "Pat",
        "a refused patch changes nothing"
    );
}

async fn deleting_a_customer_removes_their_passes(app: &TestApp) {
    let t = app.tenant("Delete Cafe").await;
    let card: loyalcast_dto::Card = json(
        app.post("/api/v1/cards", &t.token, &card_body("Stamps"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let c: Customer = json(
        app.post("/api/v1/customers", &t.token, &json!({"first_name": "Del"}))
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
    let detail: CustomerDetail = json(
        app.get(&format!("/api/v1/customers/{}", c.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail.passes, vec![pass.clone()]);
    // A card with installed passes cannot be deleted.
    problem(
        app.delete(&format!("/api/v1/cards/{}", card.id), &t.token)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        app.delete(&format!("/api/v1/customers/{}", c.id), &t.token)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.get(&format!("/api/v1/passes/{}", pass.id), &t.token)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        app.delete(&format!("/api/v1/cards/{}", card.id), &t.token)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}
