use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::helpers::{Backend, spawn};

fn checked_in_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json")
}

#[test]
fn the_checked_in_openapi_document_is_current() {
    let generated = loyalcast::openapi::to_json().unwrap();
    let checked_in = std::fs::read_to_string(checked_in_path()).unwrap_or_default();
    assert!(
        generated == checked_in,
        "openapi/openapi.json is stale: run `make openapi` and commit the result"
    );
}

#[test]
fn every_operation_is_documented_with_its_errors() {
    let doc: serde_json::Value =
        serde_json::from_str(&loyalcast::openapi::to_json().unwrap()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            let secured = operation.get("security").is_some();
            if secured {
                assert!(
                    responses.keys().any(|code| code.starts_with('4')),
                    "{method} {path} documents no error"
                );
            }
        }
    }
    for expected in [
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/logout",
        "POST /api/v1/signup",
        "GET /api/v1/me",
        "PATCH /api/v1/merchant",
        "GET /api/v1/team",
        "POST /api/v1/team",
        "DELETE /api/v1/team/{id}",
        "GET /api/v1/api-keys",
        "POST /api/v1/api-keys",
        "DELETE /api/v1/api-keys/{id}",
        "GET /api/v1/figures",
        "GET /api/v1/cards",
        "POST /api/v1/cards",
        "GET /api/v1/cards/{id}",
        "PUT /api/v1/cards/{id}",
        "DELETE /api/v1/cards/{id}",
        "GET /api/v1/customers",
        "POST /api/v1/customers",
        "POST /api/v1/customers/import",
        "GET /api/v1/customers/{id}",
        "PATCH /api/v1/customers/{id}",
        "DELETE /api/v1/customers/{id}",
        "GET /api/v1/tags",
        "GET /api/v1/passes",
        "POST /api/v1/passes",
        "GET /api/v1/passes/{id}",
        "DELETE /api/v1/passes/{id}",
        "GET /api/v1/segments",
        "POST /api/v1/segments",
        "POST /api/v1/segments/count",
        "GET /api/v1/segments/{id}",
        "GET /api/v1/segments/{id}/count",
        "PUT /api/v1/segments/{id}",
        "DELETE /api/v1/segments/{id}",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /api/v1/mailings",
        "POST /api/v1/mailings",
        "POST /api/v1/mailings/estimate",
        "GET /api/v1/mailings/{id}",
        "POST /api/v1/mailings/{id}/cancel",
        "POST /api/v1/mailings/{id}/resend-failed",
        "GET /api/v1/balances",
        "GET /api/v1/balances/ledger",
        "GET /api/v1/balances/purchase",
        "GET /api/v1/operator/merchants",
        "GET /api/v1/operator/merchants/{merchant_id}/balances",
        "POST /api/v1/operator/merchants/{merchant_id}/top-ups",
        "POST /api/v1/webhooks/twilio/inbound",
        "POST /api/v1/webhooks/twilio/status",
        "GET /u/{token}",
        "POST /u/{token}",
        "GET /o/{token}",
    ] {
        assert!(
            operations.contains(expected),
            "{expected} missing from the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn the_served_document_and_docs_ui_work() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let served = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let served: serde_json::Value = served.json().await.unwrap();
    let generated: serde_json::Value =
        serde_json::from_str(&loyalcast::openapi::to_json().unwrap()).unwrap();
    assert_eq!(served, generated);
    let ui = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.unwrap().contains("swagger"));
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.cleanup().await;
}

/// The patterns are written out in the DTO attributes (utoipa takes only literals there);
/// each must be one of `loyalcast_dto::text`'s, which the validation is tested against.
#[test]
fn every_documented_pattern_is_one_the_server_is_tested_against() {
    use loyalcast_dto::text;
    fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("pattern", serde_json::Value::String(p)) => out.push(p.clone()),
                        _ => collect(value, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let doc: serde_json::Value =
        serde_json::from_str(&loyalcast::openapi::to_json().unwrap()).unwrap();
    let mut patterns = Vec::new();
    collect(&doc, &mut patterns);
    let known = [
        text::REQUIRED_LINE.to_owned(),
        text::LINE.to_owned(),
        text::TEMPLATE.to_owned(),
        text::COLOUR.to_owned(),
        text::PASS_TYPE_ID.to_owned(),
        text::SERIAL_NUMBER.to_owned(),
        text::TELEGRAM_CHAT_ID.to_owned(),
        text::MESSENGER_PSID.to_owned(),
        text::IDEMPOTENCY_KEY.to_owned(),
        text::STREAM_TICKET.to_owned(),
        text::EVENT_ID.to_owned(),
        text::PUSH_TEMPLATE.to_owned(),
        text::TIME_OF_DAY.to_owned(),
        text::CHANNEL_LIST.to_owned(),
        text::tag_pattern(),
    ];
    assert!(patterns.len() > 20, "only {} patterns", patterns.len());
    for pattern in &patterns {
        assert!(
            known.contains(pattern),
            "{pattern} is not one of loyalcast_dto::text's"
        );
    }
}
