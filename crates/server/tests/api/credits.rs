//! Credits come only from the operator: merchants' credentials cannot make them, a top-up
//! happens once per reference, the merchant reads a ledger that names what each movement was
//! for; sign-up is off unless the operator turns it on; `/metrics` is the operator's.

use loyalcast_dto::{
    Balances, CreatedApiKey, CreditsPurchase, LedgerEntry, LedgerEntryKind, LedgerSourceKind,
    Mailing, Page, Pass, TopUpReceipt,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{METRICS_TOKEN, OPERATOR_TOKEN, Tenant, TestApp, json, problem};
use crate::mailings::{Senders, customers, drain, top_up, worker};
use crate::tenancy::card_body;

db_tests!(
    merchants_credentials_never_make_credits,
    a_top_up_happens_once_per_reference,
    parallel_top_ups_with_one_reference_add_once,
    the_ledger_names_what_each_movement_was_for,
    metrics_are_served_only_with_the_metrics_token,
    serial_numbers_are_the_merchants_own,
);

fn top_up_path(t: &Tenant) -> String {
    format!(
        "/api/v1/operator/merchants/{}/top-ups",
        t.session.merchant.id
    )
}

async fn operator_top_up(
    app: &TestApp,
    t: &Tenant,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(&top_up_path(t))).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn balances(app: &TestApp, t: &Tenant) -> Balances {
    json(app.get("/api/v1/balances", &t.token).await, StatusCode::OK).await
}

async fn merchants_credentials_never_make_credits(app: &TestApp) {
    let t = app.tenant("Free Credits Cafe").await;
    let body = json!({"kind": "sms", "amount": 10_000_000, "reference": "free"});
    // The merchant's old top-up route is gone, for the owner as for anyone.
    let old = app.post("/api/v1/balances/top-up", &t.token, &body).await;
    assert!(
        matches!(
            old.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ),
        "{}",
        old.status()
    );
    let key: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &t.token,
            &json!({"name": "POS", "scopes": loyalcast_dto::Scope::ALL}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let admin = app.member(&t, "admin").await;
    // Neither the owner's session, an admin's, an API key, nothing or a near miss of the
    // operator's token opens the operator's API.
    let near_miss = format!("{}x", &OPERATOR_TOKEN[..OPERATOR_TOKEN.len() - 1]);
    for token in [
        Some(t.token.as_str()),
        Some(admin.as_str()),
        Some(key.secret.as_str()),
        Some(near_miss.as_str()),
        Some(&OPERATOR_TOKEN[..20]),
        None,
    ] {
        let p = problem(
            operator_top_up(app, &t, token, &body).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert!(p.detail.unwrap_or_default().contains("operator"));
    }
    let r = app.get("/api/v1/operator/merchants", &t.token).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b = balances(app, &t).await;
    assert_eq!(
        (b.sms.available, b.email.available),
        (0, 0),
        "no credits made"
    );
    let ledger: Page<LedgerEntry> = json(
        app.get("/api/v1/balances/ledger", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ledger.total, 0);
}

async fn a_top_up_happens_once_per_reference(app: &TestApp) {
    let t = app.tenant("Invoice Cafe").await;
    let other = app.tenant("Other Cafe").await;
    let body = json!({"kind": "sms", "amount": 10_000_000, "reference": "  INV-1  "});
    let first: TopUpReceipt = json(
        operator_top_up(app, &t, Some(OPERATOR_TOKEN), &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        (
            first.replayed,
            first.reference.as_str(),
            first.balances.sms.available
        ),
        (false, "INV-1", 10_000_000)
    );
    let again: TopUpReceipt = json(
        operator_top_up(app, &t, Some(OPERATOR_TOKEN), &body).await,
        StatusCode::OK,
    )
    .await;
    assert!(again.replayed);
    assert_eq!(
        (again.created_at, again.amount),
        (first.created_at, first.amount)
    );
    // Another amount under the same reference is refused and changes nothing.
    let p = problem(
        operator_top_up(
            app,
            &t,
            Some(OPERATOR_TOKEN),
            &json!({"kind": "sms", "amount": 5, "reference": "INV-1"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(p.detail.unwrap_or_default().contains("10,000,000"));
    // The reference is per kind and per merchant.
    json::<TopUpReceipt>(
        operator_top_up(
            app,
            &t,
            Some(OPERATOR_TOKEN),
            &json!({"kind": "email", "amount": 7, "reference": "INV-1"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    json::<TopUpReceipt>(
        operator_top_up(app, &other, Some(OPERATOR_TOKEN), &body).await,
        StatusCode::CREATED,
    )
    .await;
    let b = balances(app, &t).await;
    assert_eq!((b.sms.available, b.email.available), (10_000_000, 7));
    // Out of range, blank or too long: 422 and nothing added.
    for (bad, field) in [
        (
            json!({"kind": "sms", "amount": 0, "reference": "a"}),
            "amount",
        ),
        (
            json!({"kind": "sms", "amount": 10_000_001, "reference": "a"}),
            "amount",
        ),
        (
            json!({"kind": "sms", "amount": 1, "reference": "   "}),
            "reference",
        ),
        (
            json!({"kind": "sms", "amount": 1, "reference": "r".repeat(201)}),
            "reference",
        ),
    ] {
        let p = problem(
            operator_top_up(app, &t, Some(OPERATOR_TOKEN), &bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(crate::helpers::fields(&p), vec![field.to_owned()], "{bad}");
    }
    let missing = problem(
        operator_top_up(
            app,
            &t,
            Some(OPERATOR_TOKEN),
            &json!({"kind": "sms", "amount": 1}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(missing.detail.unwrap_or_default().contains("reference"));
    // An unknown merchant is a 404.
    let r = app
        .client
        .post(app.url(&format!(
            "/api/v1/operator/merchants/{}/top-ups",
            uuid::Uuid::now_v7()
        )))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(balances(app, &t).await, b, "nothing changed");
    // The operator sees every merchant with its balances.
    let listed: Page<loyalcast_dto::OperatorMerchant> = json(
        app.client
            .get(app.url("/api/v1/operator/merchants?per_page=100"))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let mine = listed
        .items
        .iter()
        .find(|m| m.id == t.session.merchant.id)
        .unwrap();
    assert_eq!(mine.balances, b);
}

async fn parallel_top_ups_with_one_reference_add_once(app: &TestApp) {
    let t = app.tenant("Race Cafe").await;
    let body = json!({"kind": "sms", "amount": 250, "reference": "INV-RACE"});
    let statuses = futures::future::join_all(
        (0..12).map(|_| operator_top_up(app, &t, Some(OPERATOR_TOKEN), &body)),
    )
    .await
    .into_iter()
    .map(|r| r.status())
    .collect::<Vec<_>>();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let replayed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((created, replayed), (1, 11), "{statuses:?}");
    assert_eq!(balances(app, &t).await.sms.available, 250);
    let ledger: Page<LedgerEntry> = json(
        app.get("/api/v1/balances/ledger", &t.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ledger.total, 1);
}

async fn the_ledger_names_what_each_movement_was_for(app: &TestApp) {
    let t = app.tenant("Ledger Cafe").await;
    let other = app.tenant("Nosy Cafe").await;
    top_up(app, &t, "sms", 100).await;
    customers(app, &t, 7).await; // 6 opted in to SMS
    let m: Mailing = json(
        app.post(
            "/api/v1/mailings",
            &t.token,
            &json!({
                "name": "Ledger news",
                "audience": {"type": "all"},
                "channels": ["sms"],
                "content": {"sms": {"body": "Hello"}}
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    drain(&worker(app, &Senders::new(None), Default::default())).await;
    let ledger: Page<LedgerEntry> = json(
        app.get("/api/v1/balances/ledger?kind=sms", &t.token).await,
        StatusCode::OK,
    )
    .await;
    let lines: Vec<(LedgerEntryKind, i64, Option<uuid::Uuid>)> = ledger
        .items
        .iter()
        .map(|e| (e.entry, e.amount, e.source.map(|s| s.id)))
        .collect();
    // Newest first.
    assert_eq!(
        lines,
        vec![
            (LedgerEntryKind::Spend, 6, Some(m.id)),
            (LedgerEntryKind::Reserve, 6, Some(m.id)),
            (LedgerEntryKind::TopUp, 100, None),
        ]
    );
    assert!(
        ledger
            .items
            .iter()
            .filter_map(|e| e.source)
            .all(|s| s.kind == LedgerSourceKind::Mailing)
    );
    let email: Page<LedgerEntry> = json(
        app.get("/api/v1/balances/ledger?kind=email", &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(email.total, 0);
    // Another merchant's ledger is its own (empty).
    let theirs: Page<LedgerEntry> = json(
        app.get("/api/v1/balances/ledger", &other.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(theirs.total, 0);
    // The ledger cannot be written through the API.
    let r = app
        .post(
            "/api/v1/balances/ledger",
            &t.token,
            &json!({"kind": "sms", "amount": 5}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let bad = app.get("/api/v1/balances/ledger?kind=fax", &t.token).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

async fn metrics_are_served_only_with_the_metrics_token(app: &TestApp) {
    let get = |token: Option<&str>| {
        let mut r = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            r = r.bearer_auth(token);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some(OPERATOR_TOKEN)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let t = app.tenant("Metrics Cafe").await;
    assert_eq!(
        get(Some(&t.token)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = get(Some(METRICS_TOKEN)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("loyalcast_"));
}

/// A merchant's serial numbers are its own: another merchant may use the same one, and
/// learns nothing from trying.
async fn serial_numbers_are_the_merchants_own(app: &TestApp) {
    let mut passes = Vec::new();
    for name in ["Serial A", "Serial B"] {
        let t = app.tenant(name).await;
        let card: loyalcast_dto::Card = json(
            app.post("/api/v1/cards", &t.token, &card_body("Stamps"))
                .await,
            StatusCode::CREATED,
        )
        .await;
        let c: loyalcast_dto::Customer = json(
            app.post("/api/v1/customers", &t.token, &json!({"first_name": "Sam"}))
                .await,
            StatusCode::CREATED,
        )
        .await;
        let body = json!({"card_id": card.id, "customer_id": c.id, "platform": "apple", "serial_number": "CARD-0001"});
        let pass: Pass = json(
            app.post("/api/v1/passes", &t.token, &body).await,
            StatusCode::CREATED,
        )
        .await;
        passes.push(pass);
        // The same merchant cannot use it twice.
        problem(
            app.post("/api/v1/passes", &t.token, &body).await,
            StatusCode::CONFLICT,
        )
        .await;
    }
    assert_eq!(passes[0].serial_number, passes[1].serial_number);
    assert_ne!(passes[0].id, passes[1].id);
}

mod configured {
    use super::*;
    use crate::helpers::Backend;
    use crate::helpers::spawn_with;

    fn operator_settings(config: &mut loyalcast::config::Config) {
        config.trial_sms_credits = 25;
        config.trial_email_credits = 0;
        config.credits_purchase_url = Some("https://billing.example.com/credits".to_owned());
        config.credits_purchase_text = Some("  ".to_owned());
    }

    db_tests!(
        config = super::operator_settings;
        a_new_merchant_starts_with_the_operators_trial_and_is_told_how_to_buy,
    );

    async fn a_new_merchant_starts_with_the_operators_trial_and_is_told_how_to_buy(app: &TestApp) {
        let t = app.tenant("Trial Cafe").await;
        let b = balances(app, &t).await;
        assert_eq!((b.sms.available, b.email.available), (25, 0));
        let ledger: Page<LedgerEntry> = json(
            app.get("/api/v1/balances/ledger", &t.token).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(ledger.total, 1);
        assert_eq!(
            (
                ledger.items[0].entry,
                ledger.items[0].amount,
                ledger.items[0].reference.as_str()
            ),
            (LedgerEntryKind::TopUp, 25, "trial")
        );
        let purchase: CreditsPurchase = json(
            app.get("/api/v1/balances/purchase", &t.token).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            purchase,
            CreditsPurchase {
                url: Some("https://billing.example.com/credits".to_owned()),
                text: None
            }
        );
    }

    /// The defaults: no sign-up, no operator API, no metrics, no trial.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn by_default_nobody_signs_up_and_the_operator_api_and_metrics_are_closed() {
        let defaults = loyalcast::config::Config::defaults().unwrap();
        assert!(!defaults.signup_enabled);
        assert_eq!(
            (defaults.trial_sms_credits, defaults.trial_email_credits),
            (0, 0)
        );
        let app = spawn_with(Backend::Sqlite, |c| {
            c.signup_enabled = false;
            c.operator_token = None;
            c.metrics_token = None;
        })
        .await
        .unwrap();
        let r = app
            .client
            .post(app.url("/api/v1/signup"))
            .json(&json!({
                "merchant_name": "Stranger", "owner_name": "S", "email": "s@stranger.example.com",
                "password": crate::helpers::PASSWORD
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = app
            .client
            .get(app.url("/api/v1/operator/merchants"))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap();
        let p = problem(r, StatusCode::UNAUTHORIZED).await;
        assert!(p.detail.unwrap_or_default().contains("not enabled"));
        let r = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        app.cleanup().await;
    }

    #[test]
    fn a_short_secret_is_refused_at_start() {
        let mut config = loyalcast::config::Config::defaults().unwrap();
        assert!(config.check().is_ok());
        config.operator_token = Some(secrecy::SecretString::from("x".repeat(31)));
        let err = config.check().unwrap_err().to_string();
        assert!(err.contains("operator_token"), "{err}");
        config.operator_token = Some(secrecy::SecretString::from("x".repeat(32)));
        assert!(config.check().is_ok());
        config.link_previous_secrets = vec![secrecy::SecretString::from("short")];
        assert!(config.check().is_err());
    }
}
