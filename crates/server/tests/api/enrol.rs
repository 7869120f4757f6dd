//! The card holder's enrolment page, as a phone's browser uses it: the form, a submission
//! with mistakes (nothing is created), a good one (a customer with the consent they ticked,
//! recorded as theirs, and an Apple pass), the signed pass it offers, and the limits.

use loyalcast::entity::{consent_change, customer, pass};
use loyalcast_dto::Card;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{TestApp, json};
use crate::passkit::open_and_verify;

db_tests!(
    config = crate::passkit::with_pass_certificate;
    a_holder_enrols_with_their_own_consent_and_gets_a_pass_that_verifies,
    the_page_refuses_what_it_should,
);

async fn card(app: &TestApp, name: &str) -> (Card, uuid::Uuid) {
    let t = app.tenant(name).await;
    let card: Card = json(
        app.post(
            "/api/v1/cards",
            &t.token,
            &json!({"name": "Bean points", "kind": "points", "description": "A point per coffee",
                    "design": {"background_color": "#112233", "foreground_color": "#ffffff", "label_color": "#eeeeee", "logo_text": name}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    (card, t.session.merchant.id)
}

async fn submit(app: &TestApp, card: &Card, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url(&format!("/join/{}", card.id)))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn customers_of(app: &TestApp, merchant: uuid::Uuid) -> u64 {
    customer::Entity::find()
        .filter(customer::Column::MerchantId.eq(merchant))
        .count(&app.db)
        .await
        .unwrap()
}

async fn a_holder_enrols_with_their_own_consent_and_gets_a_pass_that_verifies(app: &TestApp) {
    let (card, merchant) = card(app, "Enrol Cafe").await;
    let page = app
        .client
        .get(app.url(&format!("/join/{}", card.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Bean points") && html.contains("name=\"consent_sms\""));

    let (status, html) = submit(
        app,
        &card,
        &[
            ("first_name", "Zoë <b>"),
            ("last_name", "Holder"),
            ("phone", "+14155550123"),
            ("email", "zoe@example.com"),
            ("birthday", "1991-02-03"),
            ("consent_sms", "on"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    assert!(html.contains("Welcome, Zoë &lt;b&gt;!"), "escaped: {html}");
    assert!(html.contains("Add to Apple Wallet"));
    assert!(html.contains("Google Wallet is not available yet"));

    let holder = customer::Entity::find()
        .filter(customer::Column::MerchantId.eq(merchant))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder.phone.as_deref(), Some("+14155550123"));
    assert!(holder.sms_consent, "ticked");
    assert!(!holder.email_consent, "not ticked: no consent");
    let changes = consent_change::Entity::find()
        .filter(consent_change::Column::CustomerId.eq(holder.id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].source, "enrolment", "the customer's own consent");
    assert!(changes[0].granted);
    // Enrolling installs a card: the event automations react to.
    let events = loyalcast::entity::customer_event::Entity::find()
        .filter(loyalcast::entity::customer_event::Column::CustomerId.eq(holder.id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        vec!["card_installed"]
    );

    // The button downloads the signed pass; it verifies and names the holder.
    let link = html
        .split("href=\"")
        .map(|s| s.split('"').next().unwrap_or_default())
        .find(|l| l.starts_with("/join/"))
        .unwrap()
        .replace("&amp;", "&");
    let download = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.headers()["content-type"],
        "application/vnd.apple.pkpass"
    );
    let bytes = download.bytes().await.unwrap();
    let wwdr = app.config.apple_wallet.wwdr_pem.clone().unwrap();
    let pass_json = open_and_verify(&bytes, &wwdr);
    let issued = pass::Entity::find()
        .filter(pass::Column::CustomerId.eq(holder.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pass_json["serialNumber"], issued.serial_number);
    assert_eq!(
        pass_json["authenticationToken"],
        issued.authentication_token
    );
    // Another token gets nothing.
    let wrong = link.rsplit_once("token=").unwrap().0.to_owned() + "token=not-it";
    assert_eq!(
        app.client
            .get(app.url(&wrong))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // The QR code of the page's link.
    let qr = app
        .client
        .get(app.url(&format!("/join/{}/qr.svg", card.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.text().await.unwrap().contains("<svg"));
}

async fn the_page_refuses_what_it_should(app: &TestApp) {
    let (card, merchant) = card(app, "Careful Cafe").await;
    // Mistakes: each at its field, and nothing created.
    for (form, expect) in [
        (
            vec![("first_name", ""), ("phone", "+14155550124")],
            "first_name-error",
        ),
        (vec![("first_name", "Ann")], "phone-error"),
        (
            vec![("first_name", "Ann"), ("phone", "not a phone")],
            "phone-error",
        ),
        (
            vec![("first_name", "Ann"), ("email", "nope")],
            "email-error",
        ),
        (
            vec![
                ("first_name", "Ann"),
                ("email", "a@example.com"),
                ("consent_sms", "on"),
            ],
            "phone-error",
        ),
        (
            vec![
                ("first_name", "Ann"),
                ("email", "a@example.com"),
                ("birthday", "1990-13-01"),
            ],
            "birthday-error",
        ),
        (
            vec![
                ("first_name", "Ann"),
                ("email", "a@example.com"),
                ("birthday", "2999-01-01"),
            ],
            "birthday-error",
        ),
    ] {
        let (status, html) = submit(app, &card, &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}");
        assert!(html.contains(expect), "{form:?}: {html}");
        assert!(
            html.contains("value=\"Ann\"") || form[0].1.is_empty(),
            "the form keeps what was typed"
        );
    }
    assert_eq!(customers_of(app, merchant).await, 0);

    // A phone already registered is not given a second card (nor the first one's pass).
    let (status, _) = submit(
        app,
        &card,
        &[("first_name", "Bo"), ("phone", "+14155550125")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, html) = submit(
        app,
        &card,
        &[("first_name", "Eve"), ("phone", "+14155550125")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("already registered"));
    assert!(!html.contains("passes/"), "no pass link");
    assert_eq!(customers_of(app, merchant).await, 1);

    // Unknown cards are a 404; a JSON body is not the form.
    let unknown = app
        .client
        .get(app.url(&format!("/join/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let as_json = app
        .client
        .post(app.url(&format!("/join/{}", card.id)))
        .json(&json!({"first_name": "Jay"}))
        .send()
        .await
        .unwrap();
    assert!(as_json.status().is_client_error(), "{}", as_json.status());

    // Enrolments from one address are limited (ten a minute; nine were made above).
    let mut statuses = Vec::new();
    for i in 0..4 {
        let phone = format!("+1415555013{i}");
        statuses.push(
            submit(app, &card, &[("first_name", "Flood"), ("phone", &phone)])
                .await
                .0,
        );
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}
