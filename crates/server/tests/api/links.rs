use loyalcast::engine::links::{LinkSigner, Purpose};
use loyalcast::engine::worker::WorkerConfig;
use loyalcast_delivery::Channel;
use loyalcast_delivery::twilio::webhook::SignatureVerifier;
use loyalcast_dto::{Customer, Mailing, Page};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{Backend, JWT_SECRET, TestApp, json, problem, spawn_with};
use crate::mailings::{Senders, customers, drain, top_up, worker};

crate::db_tests!(
    unsubscribe_links_and_the_open_pixel_update_consent_and_the_report,
    sandbox_messages_are_confirmed_as_a_provider_would
);

async fn unsubscribe_links_and_the_open_pixel_update_consent_and_the_report(app: &TestApp) {
    let t = app.tenant("Links Cafe").await;
    top_up(app, &t, "email", 100).await;
    customers(app, &t, 3).await; // two with email
    let body = json!({
        "name": "Links", "audience": {"type": "all"}, "channels": ["email"],
        "content": {"email": {"subject": "Hi {first_name}", "body": "Unsubscribe: {unsubscribe_url}"}}
    });
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let senders = Senders::new(None);
    drain(&worker(app, &senders, WorkerConfig::default())).await;
    let sent = senders.sent(Channel::Email);
    assert_eq!(sent.len(), 2);
    let link = sent[0]
        .2
        .rsplit("Unsubscribe: ")
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let path = link.strip_prefix("http://127.0.0.1:9").unwrap().to_owned();
    let token = path.strip_prefix("/u/").unwrap().to_owned();
    let delivery_id: i64 = token.split('-').next().unwrap().parse().unwrap();

    // Looking at the page changes nothing (mail scanners fetch links).
    let page = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    let before: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(before.counts.unsubscribed, 0);
    // The one-click POST unsubscribes, once.
    for _ in 0..2 {
        let done = app
            .client
            .post(app.url(&path))
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::OK);
    }
    let after: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((after.counts.unsubscribed, after.counts.sent), (1, 2));
    let all: Page<Customer> = json(
        app.get("/api/v1/customers?per_page=10", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        all.items
            .iter()
            .filter(|c| c.email.is_some() && !c.consent.email)
            .count(),
        1
    );
    // A forged token is a 404 and changes nothing.
    let forged = app
        .client
        .post(app.url(&format!("/u/{delivery_id}-000000000000000000000000")))
        .send()
        .await
        .unwrap();
    problem(forged, StatusCode::NOT_FOUND).await;

    let open = LinkSigner::new(&SecretString::from(JWT_SECRET)).token(Purpose::Open, delivery_id);
    for _ in 0..2 {
        let pixel = app
            .client
            .get(app.url(&format!("/o/{open}")))
            .send()
            .await
            .unwrap();
        assert_eq!(pixel.headers()["content-type"], "image/gif");
    }
    let opened: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(opened.counts.opened, 1, "an open counts once");
    // An open is also a delivery, as far as the report goes (sent ⊇ delivered ⊇ opened).
    assert_eq!((opened.counts.sent, opened.counts.delivered), (2, 1));
}

#[tokio::test]
async fn twilio_webhooks_check_the_signature_and_apply_stop_and_delivery_reports() {
    let app = spawn_with(Backend::Sqlite, |c| {
        c.public_url = "https://loyalcast.example.com".to_owned();
        c.delivery.sms = serde_json::from_value(json!({
            "provider": "twilio",
            "base_url": "http://127.0.0.1:9",
            "account_sid": "AC00000000000000000000000000000000",
            "auth_token": "twilio-test-token",
            "sender": {"from": "+15005550006"}
        }))
        .unwrap();
    })
    .await
    .unwrap();
    let t = app.tenant("Stop Cafe").await;
    top_up(&app, &t, "sms", 100).await;
    customers(&app, &t, 2).await;
    // A STOP reaches the customers the merchant texted: a first mailing is queued to both.
    let body = json!({"name": "S", "audience": {"type": "all"}, "channels": ["sms"], "content": {"sms": {"body": "Hello"}}});
    let first: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first.counts.total, 2);
    let verifier = SignatureVerifier::new(SecretString::from("twilio-test-token"));
    let post =
        |path: &'static str, form: Vec<(&'static str, String)>, signature: Option<String>| {
            let url = format!("https://loyalcast.example.com{path}");
            let signature = signature.unwrap_or_else(|| verifier.signature(&url, &form));
            app.client
                .post(app.url(path))
                .header("X-Twilio-Signature", signature)
                .form(&form)
                .send()
        };
    let stop = vec![
        ("MessageSid", "SM1".to_owned()),
        ("From", "+14152000000".to_owned()),
        ("To", "+15005550006".to_owned()),
        ("Body", " stop ".to_owned()),
    ];
    let forged = post(
        "/api/v1/webhooks/twilio/inbound",
        stop.clone(),
        Some("bm90IGl0".to_owned()),
    )
    .await
    .unwrap();
    problem(forged, StatusCode::FORBIDDEN).await;
    let page: Page<Customer> = json(
        app.get("/api/v1/customers?q=cust0", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(page.items[0].consent.sms, "a forged STOP changes nothing");
    let accepted = post("/api/v1/webhooks/twilio/inbound", stop, None)
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let page: Page<Customer> = json(
        app.get("/api/v1/customers?q=cust0", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(!page.items[0].consent.sms, "STOP turns SMS off at once");

    // The remaining customer gets the mailing; Twilio then reports it delivered.
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(m.counts.total, 1, "the opted-out customer is not queued");
    let senders = Senders::new(None);
    drain(&worker(&app, &senders, WorkerConfig::default())).await;
    let delivery_id = loyalcast::entity::delivery::Entity::find()
        .filter(loyalcast::entity::delivery::Column::SourceId.eq(m.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let path: &'static str = Box::leak(
        format!("/api/v1/webhooks/twilio/status?delivery_id={delivery_id}").into_boxed_str(),
    );
    let report = vec![
        ("MessageSid", "SM2".to_owned()),
        ("MessageStatus", "delivered".to_owned()),
    ];
    assert_eq!(
        post(path, report.clone(), None).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        post(path, report, None).await.unwrap().status(),
        StatusCode::OK
    );
    let done: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((done.counts.sent, done.counts.delivered), (1, 1));
    app.cleanup().await;
}

/// The sandbox plays the provider's part: what it accepted is confirmed delivered (and every
/// third email opened) once, and messages of real providers are left alone.
async fn sandbox_messages_are_confirmed_as_a_provider_would(app: &TestApp) {
    use loyalcast::engine::events::confirm_sandbox;
    use loyalcast_delivery::sandbox::SandboxSender;
    use loyalcast_delivery::{ChannelRouter, retry::RetryPolicy};
    use std::sync::Arc;

    let t = app.tenant("Sandbox Cafe").await;
    top_up(app, &t, "email", 100).await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 30).await; // 20 with email, 26 with SMS consent, 10 on Telegram
    let body = json!({
        "name": "Sandboxed", "audience": {"type": "all"}, "channels": ["sms", "email", "telegram"],
        "content": {"sms": {"body": "Hi"}, "email": {"subject": "Hi", "body": "Hello"}, "telegram": {"text": "Hi"}}
    });
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let mut router = ChannelRouter::new();
    for sender in SandboxSender::for_every_channel() {
        router = router.with(Arc::new(sender));
    }
    let sandbox = loyalcast::engine::worker::Worker::new(
        app.db.clone(),
        Arc::new(router),
        RetryPolicy::default(),
        LinkSigner::new(&SecretString::from(JWT_SECRET)),
        "http://127.0.0.1:9".into(),
        WorkerConfig::default(),
    );
    drain(&sandbox).await;
    // A second mailing through a real (recording) provider is not the sandbox's to confirm.
    let real: Mailing = json(
        app.post(
            "/api/v1/mailings",
            &t.token,
            &json!({
                "name": "Real", "audience": {"type": "all"}, "channels": ["telegram"],
                "content": {"telegram": {"text": "Hi"}}
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    drain(&worker(app, &Senders::new(None), WorkerConfig::default())).await;

    let now = chrono::Utc::now();
    let hour_ago = now - chrono::Duration::hours(1);
    // Messages are confirmed only once they have been out for a moment.
    let too_soon = confirm_sandbox(
        &app.db,
        now - chrono::Duration::seconds(60),
        hour_ago,
        1_000,
        now,
    )
    .await
    .unwrap();
    assert_eq!(too_soon, 0);
    let later = now + chrono::Duration::seconds(1);
    let moved = confirm_sandbox(&app.db, later, hour_ago, 1_000, now)
        .await
        .unwrap();
    assert_eq!(moved, 26 + 20 + 10);
    assert_eq!(
        confirm_sandbox(&app.db, later, hour_ago, 1_000, now)
            .await
            .unwrap(),
        0
    );

    let done: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", m.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let report = |channel: Channel| {
        done.per_channel
            .iter()
            .find(|r| r.channel == channel)
            .map(|r| (r.counts.sent, r.counts.delivered, r.counts.opened))
            .unwrap()
    };
    assert_eq!(report(Channel::Sms), (26, 26, 0));
    assert_eq!(report(Channel::Telegram), (10, 10, 0));
    let (sent, delivered, opened) = report(Channel::Email);
    assert_eq!((sent, delivered), (20, 20));
    assert!((5..=8).contains(&opened), "about a third opened: {opened}");
    let untouched: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", real.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((untouched.counts.sent, untouched.counts.delivered), (10, 0));

    // Operations see the same figures, summed over mailings.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(crate::helpers::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = |channel: &str, state: &str| -> u64 {
        let key = format!("loyalcast_deliveries{{channel=\"{channel}\",state=\"{state}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("{key} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(gauge("email", "opened"), opened);
    assert_eq!(gauge("telegram", "sent"), 20);
    assert_eq!(gauge("telegram", "delivered"), 10);
    assert_eq!(gauge("sms", "queued"), 0);
}
