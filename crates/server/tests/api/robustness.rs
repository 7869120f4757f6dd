//! Everything anyone can send without credentials (provider webhooks, the links in messages)
//! and the parsers behind a signed-in request (the CSV import, JSON bodies), fed garbage:
//! each answer is a clear problem (or the documented answer), nothing in the database
//! changes, and the server still answers afterwards.

use loyalcast::config::Config;
use loyalcast::engine::links::{LinkSigner, Purpose};
use loyalcast::engine::status;
use loyalcast::engine::worker::WorkerConfig;
use loyalcast::entity::delivery;
use loyalcast_delivery::twilio::webhook::SignatureVerifier;
use loyalcast_dto::{ImportReport, Mailing, Problem};
use reqwest::header::HeaderValue;
use reqwest::{Response, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{JWT_SECRET, Tenant, TestApp, json, problem};
use crate::mailings::{Senders, customers, drain, top_up, worker};

mod twilio {
    use super::*;

    crate::db_tests!(
        config = super::with_twilio;
        a_twilio_webhook_without_a_genuine_signature_is_forbidden_and_changes_nothing,
        a_twilio_webhook_that_is_not_a_form_is_unsupported_and_changes_nothing,
        a_twilio_webhook_body_over_its_limit_is_too_large_and_changes_nothing,
        a_twilio_form_that_cannot_be_decoded_is_a_bad_request_and_changes_nothing,
        a_signed_twilio_form_with_missing_or_repeated_fields_is_a_bad_request_and_changes_nothing,
        a_signed_status_callback_with_a_garbled_delivery_id_is_a_bad_request_and_changes_nothing,
    );
}

mod import_limit {
    use super::*;

    crate::db_tests!(
        config = super::with_small_import_limit;
        an_import_just_over_the_size_limit_is_too_large_and_writes_nothing,
    );
}

crate::db_tests!(
    twilio_webhooks_are_not_found_while_twilio_is_not_configured,
    unsubscribe_and_open_links_with_malformed_or_forged_tokens_are_not_found_and_change_nothing,
    links_of_a_deleted_delivery_are_not_found_and_change_nothing,
    a_token_spliced_from_another_merchants_delivery_is_not_found_and_changes_nothing,
    an_excel_csv_with_a_byte_order_mark_and_crlf_lines_imports_every_row,
    lines_ended_by_a_lone_cr_import_and_errors_name_the_right_line,
    an_import_with_bytes_that_are_not_utf8_is_refused_naming_the_line_and_writes_nothing,
    an_import_with_a_nul_byte_is_refused_naming_the_line_and_writes_nothing,
    an_import_with_an_unbalanced_quote_is_refused_naming_the_line_and_writes_nothing,
    an_empty_file_a_header_alone_and_100000_empty_lines_write_nothing,
    a_header_of_100000_columns_is_refused_and_a_row_of_100000_values_is_reported,
    a_20_mb_field_is_reported_or_ignored_and_the_server_keeps_answering,
    a_header_naming_one_field_twice_is_refused_and_writes_nothing,
    deeply_nested_json_is_a_bad_request_and_the_server_keeps_answering,
    huge_numbers_in_json_are_bad_requests_and_change_nothing,
    sending_a_draft_with_a_garbled_or_oversized_body_is_a_problem_and_changes_nothing,
);

// ---------------------------------------------------------------------------------------
// Shared

const TWILIO_TOKEN: &str = "twilio-robustness-token";
const PUBLIC_URL: &str = "https://loyalcast.example.com";
const STATUS: &str = "/api/v1/webhooks/twilio/status";
const INBOUND: &str = "/api/v1/webhooks/twilio/inbound";
const FORM: &str = "application/x-www-form-urlencoded";

fn with_twilio(config: &mut Config) {
    config.public_url = PUBLIC_URL.to_owned();
    config.delivery.sms = serde_json::from_value(json!({
        "provider": "twilio",
        "base_url": "http://127.0.0.1:9",
        "account_sid": "AC00000000000000000000000000000000",
        "auth_token": TWILIO_TOKEN,
        "sender": {"from": "+15005550006"}
    }))
    .unwrap();
}

const SMALL_IMPORT_LIMIT: usize = 4096;

fn with_small_import_limit(config: &mut Config) {
    config.max_import_bytes = SMALL_IMPORT_LIMIT;
}

/// Checks the problem's status and media type, and that its detail (or a field error)
/// says `needle`, so the answer helps whoever sent the request.
async fn refused(response: Response, expected: StatusCode, needle: &str) -> Problem {
    let problem = problem(response, expected).await;
    let mut text = problem.detail.clone().unwrap_or_default();
    for error in &problem.errors {
        text.push_str(&format!(
            " {}: {} ({})",
            error.field, error.message, error.code
        ));
    }
    assert!(
        text.to_lowercase().contains(&needle.to_lowercase()),
        "expected {needle:?} in the problem: {text}"
    );
    problem
}

/// A merchant whose three customers were sent one mailing by SMS (all three) and email
/// (two of them): deliveries in the `sent` state that a forged or garbled request could move.
async fn sent_mailing(app: &TestApp, name: &str) -> (Tenant, Vec<delivery::Model>) {
    let t = app.tenant(name).await;
    top_up(app, &t, "sms", 100).await;
    top_up(app, &t, "email", 100).await;
    customers(app, &t, 3).await;
    let body = json!({
        "name": "Robust", "audience": {"type": "all"}, "channels": ["sms", "email"],
        "content": {"sms": {"body": "Hi"}, "email": {"subject": "Hi", "body": "Leave: {unsubscribe_url}"}}
    });
    let m: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    drain(&worker(app, &Senders::new(None), WorkerConfig::default())).await;
    let deliveries = delivery::Entity::find()
        .filter(delivery::Column::SourceId.eq(m.id))
        .order_by_asc(delivery::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 5);
    assert!(deliveries.iter().all(|d| d.status == status::SENT));
    (t, deliveries)
}

// ---------------------------------------------------------------------------------------
// Twilio webhooks

fn twilio_signature(path_and_query: &str, form: &[(&str, &str)]) -> String {
    SignatureVerifier::new(SecretString::from(TWILIO_TOKEN))
        .signature(&format!("{PUBLIC_URL}{path_and_query}"), form)
}

/// Posts a webhook the way Twilio would, with whatever content type, body and signature
/// header the case needs (`None`: no such header).
async fn twilio_post(
    app: &TestApp,
    path_and_query: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
    signature: Option<HeaderValue>,
) -> Response {
    let mut request = app.client.post(app.url(path_and_query)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    request.send().await.unwrap()
}

/// A form Twilio signed, as it would post it.
async fn signed_form(app: &TestApp, path_and_query: &str, form: &[(&str, &str)]) -> Response {
    let signature = HeaderValue::from_str(&twilio_signature(path_and_query, form)).unwrap();
    let body = serde_urlencoded::to_string(form).unwrap();
    twilio_post(app, path_and_query, Some(FORM), body, Some(signature)).await
}

/// Form parameters, in order.
type Form<'a> = Vec<(&'a str, &'a str)>;

fn stop_form(from: &str) -> Form<'_> {
    vec![
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("From", from),
        ("To", "+15005550006"),
        ("Body", "STOP"),
    ]
}

fn delivered_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("MessageSid", "SM00000000000000000000000000000002"),
        ("MessageStatus", "delivered"),
    ]
}

async fn a_twilio_webhook_without_a_genuine_signature_is_forbidden_and_changes_nothing(
    app: &TestApp,
) {
    let (_, deliveries) = sent_mailing(app, "Forged Webhook Cafe").await;
    let before = app.snapshot().await;
    let status_path = format!("{STATUS}?delivery_id={}", deliveries[0].id);
    let other_path = format!("{STATUS}?delivery_id={}", deliveries[1].id);
    let stop = stop_form("+14152000000");
    let delivered = delivered_form();
    let huge = "A".repeat(64 * 1024);
    let signatures: Vec<(&str, Option<HeaderValue>)> = vec![
        ("no header", None),
        ("an empty header", Some(HeaderValue::from_static(""))),
        (
            "not base64",
            Some(HeaderValue::from_static("!!not*base64!!")),
        ),
        (
            "base64 of the wrong length",
            Some(HeaderValue::from_static("bm90IGl0")),
        ),
        (
            "bytes that are not text",
            Some(HeaderValue::from_bytes(b"\xff\xfe\x80sig").unwrap()),
        ),
        ("64 KiB", Some(HeaderValue::from_str(&huge).unwrap())),
    ];
    for (path, form) in [(INBOUND, &stop), (status_path.as_str(), &delivered)] {
        let body = serde_urlencoded::to_string(form).unwrap();
        for (case, signature) in &signatures {
            let response =
                twilio_post(app, path, Some(FORM), body.clone(), signature.clone()).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case} on {path}");
            refused(response, StatusCode::FORBIDDEN, "X-Twilio-Signature").await;
        }
    }
    // Genuine signatures of something else: another body, another delivery's URL.
    let tampered = {
        let mut form = stop.clone();
        form[3] = ("Body", "HELLO");
        twilio_signature(INBOUND, &form)
    };
    let body = serde_urlencoded::to_string(&stop).unwrap();
    let response = twilio_post(
        app,
        INBOUND,
        Some(FORM),
        body,
        Some(HeaderValue::from_str(&tampered).unwrap()),
    )
    .await;
    refused(response, StatusCode::FORBIDDEN, "does not match").await;
    let elsewhere = twilio_signature(&other_path, &delivered);
    let body = serde_urlencoded::to_string(&delivered).unwrap();
    let response = twilio_post(
        app,
        &status_path,
        Some(FORM),
        body,
        Some(HeaderValue::from_str(&elsewhere).unwrap()),
    )
    .await;
    refused(response, StatusCode::FORBIDDEN, "does not match").await;
    // An empty body, unsigned.
    let response = twilio_post(app, INBOUND, Some(FORM), "", None).await;
    refused(response, StatusCode::FORBIDDEN, "X-Twilio-Signature").await;

    assert_eq!(
        app.snapshot().await,
        before,
        "no forged request changed anything"
    );
    app.assert_healthy().await;
    // The same requests, genuinely signed, do what they say: the refusals above were the
    // signature's doing.
    assert_eq!(
        signed_form(app, &status_path, &delivered).await.status(),
        StatusCode::OK
    );
    assert_ne!(app.snapshot().await, before);
}

async fn a_twilio_webhook_that_is_not_a_form_is_unsupported_and_changes_nothing(app: &TestApp) {
    let (_, deliveries) = sent_mailing(app, "Wrong Type Webhook Cafe").await;
    let before = app.snapshot().await;
    let status_path = format!("{STATUS}?delivery_id={}", deliveries[0].id);
    let delivered = delivered_form();
    let signature = HeaderValue::from_str(&twilio_signature(&status_path, &delivered)).unwrap();
    let body = serde_urlencoded::to_string(&delivered).unwrap();
    for content_type in [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded; charset=latin1"),
        Some("garbage;;;==="),
    ] {
        let response = twilio_post(
            app,
            &status_path,
            content_type,
            body.clone(),
            Some(signature.clone()),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        refused(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/x-www-form-urlencoded",
        )
        .await;
    }
    // JSON of the same fields is no form either.
    let response = twilio_post(
        app,
        INBOUND,
        Some("application/json"),
        json!({"MessageSid": "SM1", "From": "+14152000000", "To": "+15005550006", "Body": "STOP"})
            .to_string(),
        Some(HeaderValue::from_str(&twilio_signature(INBOUND, &[])).unwrap()),
    )
    .await;
    refused(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "form").await;
    // The charset Twilio names is fine.
    let response = twilio_post(
        app,
        &status_path,
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        body,
        Some(signature),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let after = app.snapshot().await;
    assert_eq!(after.customers, before.customers);
    assert_eq!(
        after.deliveries[0].status,
        status::DELIVERED,
        "only the well-typed report moved it"
    );
    assert_eq!(after.deliveries[1..], before.deliveries[1..]);
    app.assert_healthy().await;
}

async fn a_twilio_webhook_body_over_its_limit_is_too_large_and_changes_nothing(app: &TestApp) {
    sent_mailing(app, "Huge Webhook Cafe").await;
    let before = app.snapshot().await;
    // A genuine-looking form whose Body holds a megabyte; signed, so only its size is wrong.
    let body_text = "STOP ".repeat(200_000);
    let mut form = stop_form("+14152000000");
    form[3] = ("Body", &body_text);
    let signature = HeaderValue::from_str(&twilio_signature(INBOUND, &form)).unwrap();
    let response = twilio_post(
        app,
        INBOUND,
        Some(FORM),
        serde_urlencoded::to_string(&form).unwrap(),
        Some(signature),
    )
    .await;
    refused(response, StatusCode::PAYLOAD_TOO_LARGE, "KiB").await;
    // The same sent in chunks, without a length up front.
    let chunk = format!("Body={}", "A".repeat(32 * 1024));
    let mut request = format!(
        "POST {INBOUND} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM}\r\n\
         X-Twilio-Signature: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        twilio_signature(INBOUND, &[])
    )
    .into_bytes();
    for _ in 0..8 {
        request.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (code, answer) = app.raw(request).await;
    assert_eq!(code, 413, "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
}

async fn a_twilio_form_that_cannot_be_decoded_is_a_bad_request_and_changes_nothing(app: &TestApp) {
    sent_mailing(app, "Garbled Webhook Cafe").await;
    let before = app.snapshot().await;
    let valid = "MessageSid=SM1&From=%2B14152000000&To=%2B15005550006&Body=";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a % without two hex digits",
            format!("{valid}STOP%zz").into_bytes(),
            "percent",
        ),
        (
            "a % at the end",
            format!("{valid}STOP%").into_bytes(),
            "percent",
        ),
        (
            "percent-encoded bytes that are not UTF-8",
            format!("{valid}%FF%FE%80").into_bytes(),
            "UTF-8",
        ),
        (
            "raw bytes that are not UTF-8",
            [valid.as_bytes(), b"\xc3\x28STOP"].concat(),
            "UTF-8",
        ),
        (
            "binary garbage",
            (0u8..=255).cycle().take(4096).collect(),
            "could not be read",
        ),
    ];
    for (case, body, needle) in cases {
        for signature in [
            None,
            Some(HeaderValue::from_str(&twilio_signature(INBOUND, &[])).unwrap()),
        ] {
            let unsigned = signature.is_none();
            let response = twilio_post(app, INBOUND, Some(FORM), body.clone(), signature).await;
            if unsigned {
                // Without a signature there is nothing to check the body against.
                refused(response, StatusCode::FORBIDDEN, "X-Twilio-Signature").await;
            } else {
                let status = response.status();
                assert_eq!(status, StatusCode::BAD_REQUEST, "{case}");
                refused(response, StatusCode::BAD_REQUEST, needle).await;
            }
        }
    }
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
}

async fn a_signed_twilio_form_with_missing_or_repeated_fields_is_a_bad_request_and_changes_nothing(
    app: &TestApp,
) {
    let (_, deliveries) = sent_mailing(app, "Incomplete Webhook Cafe").await;
    let before = app.snapshot().await;
    let status_path = format!("{STATUS}?delivery_id={}", deliveries[0].id);
    let long_code = "9".repeat(5000);
    let status_cases: Vec<(&str, Form, &str)> = vec![
        ("an empty form", vec![], "MessageSid"),
        (
            "no status",
            vec![("MessageSid", "SM00000000000000000000000000000002")],
            "MessageStatus",
        ),
        (
            "an empty status",
            vec![("MessageSid", "SM1"), ("MessageStatus", "")],
            "MessageStatus",
        ),
        (
            "two statuses",
            vec![
                ("MessageSid", "SM1"),
                ("MessageStatus", "failed"),
                ("MessageStatus", "delivered"),
            ],
            "MessageStatus",
        ),
        (
            "an error code that is not a number",
            vec![
                ("MessageSid", "SM1"),
                ("MessageStatus", "failed"),
                ("ErrorCode", "thirty"),
            ],
            "ErrorCode",
        ),
        (
            "an error code of 5,000 digits",
            vec![
                ("MessageSid", "SM1"),
                ("MessageStatus", "failed"),
                ("ErrorCode", &long_code),
            ],
            "ErrorCode",
        ),
    ];
    for (case, form, needle) in &status_cases {
        let response = signed_form(app, &status_path, form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let problem = refused(response, StatusCode::BAD_REQUEST, needle).await;
        assert!(
            problem.detail.unwrap_or_default().len() < 300,
            "{case}: the answer does not echo the input at length"
        );
    }
    let inbound_cases: Vec<(&str, Form, &str)> = vec![
        ("an empty form", vec![], "From"),
        (
            "no sender",
            vec![
                ("MessageSid", "SM1"),
                ("To", "+15005550006"),
                ("Body", "STOP"),
            ],
            "From",
        ),
        (
            "a sender that is no phone number",
            vec![
                ("MessageSid", "SM1"),
                ("From", "'; DROP TABLE customers; --"),
                ("To", "+15005550006"),
                ("Body", "STOP"),
            ],
            "From",
        ),
        (
            "two senders",
            vec![
                ("MessageSid", "SM1"),
                ("From", "+14152000000"),
                ("From", "+14152000001"),
                ("To", "+15005550006"),
                ("Body", "STOP"),
            ],
            "From",
        ),
        (
            "two bodies",
            vec![
                ("MessageSid", "SM1"),
                ("From", "+14152000000"),
                ("To", "+15005550006"),
                ("Body", "hello"),
                ("Body", "STOP"),
            ],
            "Body",
        ),
    ];
    for (case, form, needle) in &inbound_cases {
        let response = signed_form(app, INBOUND, form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        refused(response, StatusCode::BAD_REQUEST, needle).await;
    }
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
    // Documented answers: a report without a delivery id, or for a delivery that does not
    // exist, is acknowledged (Twilio would retry otherwise) and changes nothing.
    for path in [
        STATUS.to_owned(),
        format!("{STATUS}?delivery_id=999999"),
        format!("{STATUS}?delivery_id=-1"),
    ] {
        let response = signed_form(app, &path, &delivered_form()).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "text/xml");
    }
    assert_eq!(app.snapshot().await, before);
    // And a complete STOP is still honoured.
    let response = signed_form(app, INBOUND, &stop_form("+14152000000")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let after = app.snapshot().await;
    assert_eq!(after.customers.iter().filter(|c| !c.sms_consent).count(), 1);
}

async fn a_signed_status_callback_with_a_garbled_delivery_id_is_a_bad_request_and_changes_nothing(
    app: &TestApp,
) {
    let (_, deliveries) = sent_mailing(app, "Garbled Id Webhook Cafe").await;
    let before = app.snapshot().await;
    let id = deliveries[0].id;
    let delivered = delivered_form();
    for query in [
        "delivery_id=abc".to_owned(),
        "delivery_id=99999999999999999999999".to_owned(),
        format!("delivery_id={id}&delivery_id={}", deliveries[1].id),
        "delivery_id=%FF".to_owned(),
        format!("delivery_id={id}.5"),
    ] {
        let path = format!("{STATUS}?{query}");
        // Unsigned, it is refused for the signature before anything else is looked at.
        let body = serde_urlencoded::to_string(&delivered).unwrap();
        let response = twilio_post(app, &path, Some(FORM), body, None).await;
        refused(response, StatusCode::FORBIDDEN, "X-Twilio-Signature").await;
        let response = signed_form(app, &path, &delivered).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        refused(response, StatusCode::BAD_REQUEST, "delivery_id").await;
    }
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
}

async fn twilio_webhooks_are_not_found_while_twilio_is_not_configured(app: &TestApp) {
    let before = app.snapshot().await;
    for path in [STATUS, INBOUND] {
        let form = stop_form("+14152000000");
        let response = signed_form(app, path, &form).await;
        refused(response, StatusCode::NOT_FOUND, "No such resource").await;
        let response = twilio_post(app, path, Some("text/plain"), vec![0u8; 1 << 20], None).await;
        refused(response, StatusCode::NOT_FOUND, "No such resource").await;
    }
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
}

// ---------------------------------------------------------------------------------------
// Unsubscribe and open links

fn signer() -> LinkSigner {
    LinkSigner::new(&SecretString::from(JWT_SECRET))
}

/// Asks for the unsubscribe page, confirms it, and loads the open pixel with `token` (as
/// it goes in the path, already percent-encoded where it needs to be): the first two are
/// 404 problems, the pixel is the pixel.
async fn assert_no_such_link(app: &TestApp, token: &str) {
    let label: String = token.chars().take(60).collect();
    let page = app
        .client
        .get(app.url(&format!("/u/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND, "GET /u/{label}");
    refused(page, StatusCode::NOT_FOUND, "No such resource").await;
    let confirm = app
        .client
        .post(app.url(&format!("/u/{token}")))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), StatusCode::NOT_FOUND, "POST /u/{label}");
    refused(confirm, StatusCode::NOT_FOUND, "No such resource").await;
    // A broken image in a mail app helps nobody: the pixel is answered whatever the token.
    let pixel = app
        .client
        .get(app.url(&format!("/o/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(pixel.status(), StatusCode::OK, "GET /o/{label}");
    assert_eq!(
        pixel.headers()["content-type"],
        "image/gif",
        "GET /o/{label}"
    );
}

async fn unsubscribe_and_open_links_with_malformed_or_forged_tokens_are_not_found_and_change_nothing(
    app: &TestApp,
) {
    let (_, deliveries) = sent_mailing(app, "Forged Link Cafe").await;
    let email = deliveries
        .iter()
        .find(|d| d.channel == loyalcast::engine::channel_code(loyalcast_delivery::Channel::Email))
        .unwrap();
    let before = app.snapshot().await;
    let genuine = signer().token(Purpose::Unsubscribe, email.id);
    let (id, mac) = genuine.split_once('-').unwrap();
    let open_mac = signer().token(Purpose::Open, email.id);
    let open_mac = open_mac.split_once('-').unwrap().1;
    let tokens: Vec<String> = vec![
        String::new(),
        "1".to_owned(),
        "x".repeat(10_000),
        format!("{id}-{}", "f".repeat(10_000)),
        "!!!!%20~~~".to_owned(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "MTIzLWFiY2RlZg==".to_owned(),
        format!("{id}-{}", "0".repeat(24)),
        format!("{id}-{}", mac.to_uppercase()),
        format!("{id}-{}", &mac[..23]),
        format!("{id}-{mac}0"),
        format!("+{id}-{mac}"),
        format!("0{id}-{mac}"),
        format!("{id}-{mac}%00"),
        format!("{id}-{mac}/extra"),
        format!("-{id}-{mac}"),
        format!("99999999999999999999-{mac}"),
        "%FF%FE%C0%80".to_owned(),
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned(),
        "%".to_owned(),
        "%%%25".to_owned(),
        "<script>alert(1)</script>".to_owned(),
    ];
    for token in &tokens {
        assert_no_such_link(app, token).await;
    }
    // A genuine token for the other purpose: the open pixel's on the unsubscribe page, the
    // unsubscribe link's as a pixel.
    let open_token = format!("{id}-{open_mac}");
    for request in [
        app.client.get(app.url(&format!("/u/{open_token}"))),
        app.client.post(app.url(&format!("/u/{open_token}"))),
    ] {
        refused(
            request.send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "No such resource",
        )
        .await;
    }
    let pixel = app
        .client
        .get(app.url(&format!("/o/{genuine}")))
        .send()
        .await
        .unwrap();
    assert_eq!(pixel.headers()["content-type"], "image/gif");
    assert_eq!(
        app.snapshot().await,
        before,
        "no bad token changed anything"
    );
    app.assert_healthy().await;
    // The genuine token still works: the 404s were the token's doing.
    let done = app
        .client
        .post(app.url(&format!("/u/{genuine}")))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
}

async fn links_of_a_deleted_delivery_are_not_found_and_change_nothing(app: &TestApp) {
    let (_, deliveries) = sent_mailing(app, "Deleted Link Cafe").await;
    let email_code = loyalcast::engine::channel_code(loyalcast_delivery::Channel::Email);
    let gone = deliveries.iter().find(|d| d.channel == email_code).unwrap();
    delivery::Entity::delete_by_id(gone.id)
        .exec(&app.db)
        .await
        .unwrap();
    let before = app.snapshot().await;
    let unsubscribe = signer().token(Purpose::Unsubscribe, gone.id);
    let page = app
        .client
        .get(app.url(&format!("/u/{unsubscribe}")))
        .send()
        .await
        .unwrap();
    refused(page, StatusCode::NOT_FOUND, "No such resource").await;
    let confirm = app
        .client
        .post(app.url(&format!("/u/{unsubscribe}")))
        .send()
        .await
        .unwrap();
    refused(confirm, StatusCode::NOT_FOUND, "No such resource").await;
    let open = signer().token(Purpose::Open, gone.id);
    let pixel = app
        .client
        .get(app.url(&format!("/o/{open}")))
        .send()
        .await
        .unwrap();
    assert_eq!(pixel.status(), StatusCode::OK);
    assert_eq!(pixel.headers()["content-type"], "image/gif");
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
}

async fn a_token_spliced_from_another_merchants_delivery_is_not_found_and_changes_nothing(
    app: &TestApp,
) {
    let email_code = loyalcast::engine::channel_code(loyalcast_delivery::Channel::Email);
    let (_, ours) = sent_mailing(app, "Our Link Cafe").await;
    let (_, theirs) = sent_mailing(app, "Their Link Cafe").await;
    let ours = ours.iter().find(|d| d.channel == email_code).unwrap();
    let theirs = theirs.iter().find(|d| d.channel == email_code).unwrap();
    let before = app.snapshot().await;
    for purpose in [Purpose::Unsubscribe, Purpose::Open] {
        let our_token = signer().token(purpose, ours.id);
        let our_mac = our_token.split_once('-').unwrap().1;
        let their_token = signer().token(purpose, theirs.id);
        let their_mac = their_token.split_once('-').unwrap().1;
        // Their delivery with our signature, and ours with theirs.
        for spliced in [
            format!("{}-{our_mac}", theirs.id),
            format!("{}-{their_mac}", ours.id),
        ] {
            if purpose == Purpose::Unsubscribe {
                assert_no_such_link(app, &spliced).await;
            } else {
                let pixel = app
                    .client
                    .get(app.url(&format!("/o/{spliced}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(pixel.headers()["content-type"], "image/gif");
            }
        }
    }
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
}

// ---------------------------------------------------------------------------------------
// CSV import

async fn customer_count(app: &TestApp) -> usize {
    app.snapshot().await.customers.len()
}

async fn an_excel_csv_with_a_byte_order_mark_and_crlf_lines_imports_every_row(app: &TestApp) {
    let t = app.tenant("Excel Cafe").await;
    // What Excel's "CSV UTF-8" writes: a byte order mark, then CRLF lines (on which csv's
    // own line count puts every row a line early).
    let file = "\u{feff}first_name,last_name,email\r\nAnn,Lee,ann@example.com\r\n\
                Bob,Ng,bob@example.com\r\n\"Cara\r\nMaria\",Diaz,cara@example.com\r\nDan,Wu,\r\n";
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert!(
        report.ignored_columns.is_empty(),
        "{:?}",
        report.ignored_columns
    );
    // Cara's name spans two lines inside quotes: refused for its line break, reported at
    // the line it starts on; Dan (line 6) imports.
    assert_eq!((report.rows, report.created), (4, 3), "{:?}", report.errors);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 4);
    let snapshot = app.snapshot().await;
    let mut names: Vec<&str> = snapshot
        .customers
        .iter()
        .map(|c| c.first_name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["Ann", "Bob", "Dan"]);
    assert!(
        snapshot
            .customers
            .iter()
            .all(|c| !c.last_name.ends_with('\r')),
        "no carriage return is left in a value"
    );
    app.assert_healthy().await;
}

async fn lines_ended_by_a_lone_cr_import_and_errors_name_the_right_line(app: &TestApp) {
    let t = app.tenant("Old Mac Cafe").await;
    // Classic Mac OS line endings: a lone CR. The bad birthday is on line 3.
    let file = "first_name,birthday\rAnn,1990-01-02\rBob,1990-13-40\rCara,\r";
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!((report.rows, report.created), (3, 2));
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3]);
    // A lone CR in the middle of LF lines ends a line too.
    let file = "first_name,points\nDan,1\rEve,x\nFinn,2\n";
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!(report.created, 2);
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3]);
    assert_eq!(customer_count(app).await, 4);
    app.assert_healthy().await;
}

async fn an_import_with_bytes_that_are_not_utf8_is_refused_naming_the_line_and_writes_nothing(
    app: &TestApp,
) {
    let t = app.tenant("Latin Cafe").await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "in the header",
            b"first_name,nom\xe9\nAnn,x\n".to_vec(),
            "line 1",
        ),
        (
            "in a value",
            b"first_name,last_name\nAnn,Lee\nRen\xe9e,Dupont\nBob,Ng\n".to_vec(),
            "line 3",
        ),
        (
            "a truncated sequence at the very end",
            b"first_name,last_name\nAnn,Lee\nBob,\xc3".to_vec(),
            "line 3",
        ),
        (
            "UTF-16, as Excel's \"Unicode text\" writes",
            [
                &b"\xff\xfe"[..],
                &"first_name\r\nAnn\r\n"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<u8>>(),
            ]
            .concat(),
            "UTF-16",
        ),
    ];
    for (case, file, needle) in cases {
        let response = app.import_csv(&t.token, file).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        refused(response, StatusCode::BAD_REQUEST, needle).await;
        let again = app.import_csv(&t.token, "first_name\n").await;
        assert_eq!(again.status(), StatusCode::OK);
    }
    assert_eq!(
        customer_count(app).await,
        0,
        "a refused file writes nothing"
    );
    app.assert_healthy().await;
}

async fn an_import_with_a_nul_byte_is_refused_naming_the_line_and_writes_nothing(app: &TestApp) {
    let t = app.tenant("Nul Cafe").await;
    for (file, needle) in [
        (&b"first_name,last_name\nAnn,Lee\nB\0b,Ng\n"[..], "line 3"),
        (&b"first_name,tags\nAnn,vip\0\n"[..], "line 2"),
        (&b"first_name\0,last_name\nAnn,Lee\n"[..], "line 1"),
        (&b"\0\0\0\0"[..], "line 1"),
    ] {
        let response = app.import_csv(&t.token, file.to_vec()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{needle}");
        refused(response, StatusCode::BAD_REQUEST, needle).await;
    }
    assert_eq!(customer_count(app).await, 0);
    app.assert_healthy().await;
}

async fn an_import_with_an_unbalanced_quote_is_refused_naming_the_line_and_writes_nothing(
    app: &TestApp,
) {
    let t = app.tenant("Quote Cafe").await;
    // Line 3 opens a quote that never closes: read as csv reads it, every later line would
    // be folded into Bob's last name.
    let file = "first_name,last_name\nAnn,Lee\nBob,\"Ng\nCara,Diaz\nDan,Wu\n";
    let response = app.import_csv(&t.token, file).await;
    refused(response, StatusCode::BAD_REQUEST, "line 3").await;
    // In the header.
    let response = app
        .import_csv(&t.token, "\"first_name,last_name\nAnn,Lee\n")
        .await;
    refused(response, StatusCode::BAD_REQUEST, "line 1").await;
    // A quote inside an unquoted value is a character like any other, and a doubled quote
    // inside a quoted one is a quote: both import.
    let file = "first_name,last_name\nAnn,O\"Lee\n\"Bob \"\"Bobby\"\"\",Ng\n";
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!(report.created, 2, "{:?}", report.errors);
    assert_eq!(customer_count(app).await, 2);
    app.assert_healthy().await;
}

async fn an_empty_file_a_header_alone_and_100000_empty_lines_write_nothing(app: &TestApp) {
    let t = app.tenant("Empty Cafe").await;
    let response = app.import_csv(&t.token, "").await;
    refused(response, StatusCode::UNPROCESSABLE_ENTITY, "empty").await;
    for file in [
        "first_name,last_name".to_owned(),
        "first_name,last_name\n".to_owned(),
        format!("first_name,last_name\n{}", "\n".repeat(100_000)),
        format!("first_name,last_name\r\n{}", "\r\n".repeat(100_000)),
    ] {
        let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
        assert_eq!((report.rows, report.created, report.merged), (0, 0, 0));
        assert!(report.errors.is_empty());
    }
    // Lines of nothing but separators are empty rows too.
    let file = format!("first_name,last_name\n{}", ",\n".repeat(100_000));
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!((report.created, report.errors.len()), (0, 0));
    // No header at all: only empty lines.
    let response = app.import_csv(&t.token, "\n".repeat(100_000)).await;
    refused(response, StatusCode::UNPROCESSABLE_ENTITY, "first_name").await;
    assert_eq!(customer_count(app).await, 0);
    app.assert_healthy().await;
}

async fn a_header_of_100000_columns_is_refused_and_a_row_of_100000_values_is_reported(
    app: &TestApp,
) {
    let t = app.tenant("Wide Cafe").await;
    let wide_header: String = (1..100_000).map(|i| format!(",c{i}")).collect();
    let file = format!("first_name{wide_header}\nAnn\n");
    let response = app.import_csv(&t.token, file).await;
    refused(response, StatusCode::UNPROCESSABLE_ENTITY, "100000 columns").await;
    let file = format!("first_name{}\nAnn\n", ",".repeat(99_999));
    let response = app.import_csv(&t.token, file).await;
    refused(response, StatusCode::UNPROCESSABLE_ENTITY, "line 1").await;
    assert_eq!(customer_count(app).await, 0);

    // A normal header, then a row with 100,000 values: that row is reported, the rest
    // imports.
    let wide_row: String = (0..100_000).map(|i| format!(",v{i}")).collect();
    let file = format!("first_name,last_name\nAnn,Lee\nBob{wide_row}\nCara,Diaz\n");
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!(report.created, 2);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 3);
    assert_eq!(report.errors[0].errors[0].code, "too_many_values");
    // Empty values past the header's end are what spreadsheets write: they are fine.
    let file = format!("first_name,last_name\nDan,Wu{}\n", ",".repeat(100_000));
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!((report.created, report.errors.len()), (1, 0));
    assert_eq!(customer_count(app).await, 3);
    app.assert_healthy().await;
}

async fn a_20_mb_field_is_reported_or_ignored_and_the_server_keeps_answering(app: &TestApp) {
    let t = app.tenant("Big Field Cafe").await;
    let big = "x".repeat(20_000_000);
    // As a first name: too long, reported at its line.
    let file = format!("first_name,last_name\nAnn,Lee\n{big},Ng\n");
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!(report.created, 1);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 3);
    assert_eq!(report.errors[0].errors[0].field, "first_name");
    // As tags: millions of them, which no customer may hold.
    let tags = "a;".repeat(9_000_000);
    let file = format!("first_name,tags\nBob,{tags}\n");
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!(report.created, 0);
    assert_eq!(report.errors[0].errors[0].field, "tags");
    // In a column the import does not read: the row imports.
    let file = format!("first_name,notes\nCara,{big}\n");
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!(report.created, 1);
    // As a column name: ignored, and not sent back in full.
    let file = format!("first_name,{big}\nDan,x\n");
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!(report.created, 1);
    assert_eq!(report.ignored_columns.len(), 1);
    assert!(report.ignored_columns[0].len() < 200);
    assert_eq!(customer_count(app).await, 3);
    app.assert_healthy().await;
}

async fn a_header_naming_one_field_twice_is_refused_and_writes_nothing(app: &TestApp) {
    let t = app.tenant("Twice Cafe").await;
    // Read in order, the second column would silently overwrite the first: the mobile's
    // blank would erase the phone.
    for (header, needle) in [
        ("first_name,phone,mobile", "phone"),
        ("first_name,First Name", "first_name"),
        ("name,first_name", "first_name"),
        ("first_name,email,E-Mail", "email"),
    ] {
        let file = format!("{header}\nAnn,+14155552671,\n");
        let response = app.import_csv(&t.token, file).await;
        let problem = refused(response, StatusCode::UNPROCESSABLE_ENTITY, needle).await;
        assert_eq!(problem.errors[0].code, "duplicate_column", "{header}");
    }
    assert_eq!(customer_count(app).await, 0);
    // A full name with a separate last name column is not a duplicate: the last name column
    // wins, in either order.
    for header in ["name,last_name", "last_name,name"] {
        let file = if header.starts_with("name") {
            format!("{header}\nAnn Marie,Lee\n")
        } else {
            format!("{header}\nLee,Ann Marie\n")
        };
        let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
        assert_eq!(
            report.created + report.merged,
            1,
            "{header}: {:?}",
            report.errors
        );
    }
    let snapshot = app.snapshot().await;
    assert!(snapshot.customers.iter().all(|c| c.last_name == "Lee"));
    app.assert_healthy().await;
}

async fn an_import_just_over_the_size_limit_is_too_large_and_writes_nothing(app: &TestApp) {
    let t = app.tenant("Limit Cafe").await;
    let mut file = String::from("first_name,last_name\n");
    while file.len() + 12 <= SMALL_IMPORT_LIMIT {
        file.push_str("Ann,Leeeeee\n");
    }
    file.push_str(&"\n".repeat(SMALL_IMPORT_LIMIT - file.len()));
    assert_eq!(file.len(), SMALL_IMPORT_LIMIT);
    let over = format!("{file}\n");
    let response = app.import_csv(&t.token, over.clone()).await;
    refused(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        &SMALL_IMPORT_LIMIT.to_string(),
    )
    .await;
    // The same without a length up front (chunked), so only counting can tell.
    let mut request = format!(
        "POST /api/v1/customers/import HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        t.token
    )
    .into_bytes();
    for piece in over.as_bytes().chunks(1000) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (code, answer) = app.raw(request).await;
    assert_eq!(code, 413, "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert_eq!(
        customer_count(app).await,
        0,
        "a refused file writes nothing"
    );
    app.assert_healthy().await;
    // At the limit exactly, it imports.
    let rows = file.lines().filter(|l| !l.is_empty()).count() as u64 - 1;
    let report: ImportReport = json(app.import_csv(&t.token, file).await, StatusCode::OK).await;
    assert_eq!((report.rows, report.created), (rows, rows));
}

// ---------------------------------------------------------------------------------------
// JSON bodies

async fn post_raw_json(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn deeply_nested_json_is_a_bad_request_and_the_server_keeps_answering(app: &TestApp) {
    let t = app.tenant("Nested Cafe").await;
    let before = app.snapshot().await;
    let arrays = "[".repeat(100_000);
    let objects = format!("{}1{}", "{\"a\":".repeat(40_000), "}".repeat(40_000));
    let in_a_field = format!("{{\"first_name\": {}}}", "[".repeat(100_000));
    // Within serde's nesting limit but far beyond what a rule may hold: 60 groups deep.
    let mut rule = json!({"type": "visits", "cmp": "gte", "value": 1});
    for _ in 0..60 {
        rule = json!({"type": "and", "rules": [rule]});
    }
    let deep_rule = json!({ "rule": rule }).to_string();
    let mut too_deep_rule = String::from("{\"rule\":");
    for _ in 0..10_000 {
        too_deep_rule.push_str("{\"type\":\"and\",\"rules\":[");
    }
    let routes: [(&str, Option<&str>); 4] = [
        ("/api/v1/segments/count", Some(&t.token)),
        ("/api/v1/customers", Some(&t.token)),
        ("/api/v1/auth/login", None),
        ("/api/v1/signup", None),
    ];
    for (path, token) in routes {
        for (case, body) in [
            ("100,000 [", &arrays),
            ("40,000 {\"a\":", &objects),
            ("100,000 [ in a field", &in_a_field),
            ("10,000 groups", &too_deep_rule),
        ] {
            let response = post_raw_json(app, path, token, body.clone()).await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{case} to {path}"
            );
            refused(response, StatusCode::BAD_REQUEST, "JSON").await;
            app.assert_healthy().await;
        }
        // Past the JSON limit: refused for its size before it is parsed.
        let response = post_raw_json(app, path, token, "{\"a\":".repeat(100_000)).await;
        refused(response, StatusCode::PAYLOAD_TOO_LARGE, "too large").await;
        for (case, body) in [
            ("an empty body", Vec::new()),
            (
                "bytes that are not UTF-8",
                b"{\"first_name\": \"\xff\xfe\"}".to_vec(),
            ),
            (
                "a truncated document",
                b"{\"rule\": {\"type\": \"and\", \"rules\": [".to_vec(),
            ),
        ] {
            let response = post_raw_json(app, path, token, body).await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{case} to {path}"
            );
            refused(response, StatusCode::BAD_REQUEST, "JSON").await;
        }
    }
    // Parseable, but deeper than a rule may be: a field problem naming the limit.
    let response = post_raw_json(app, "/api/v1/segments/count", Some(&t.token), deep_rule).await;
    refused(response, StatusCode::UNPROCESSABLE_ENTITY, "nested").await;
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
}

async fn huge_numbers_in_json_are_bad_requests_and_change_nothing(app: &TestApp) {
    let t = app.tenant("Numbers Cafe").await;
    let before = app.snapshot().await;
    let digits = "9".repeat(200_000);
    for points in [
        "1e999999".to_owned(),
        "-1e999999".to_owned(),
        "123456789012345678901234567890".to_owned(),
        "-9223372036854775809".to_owned(),
        "9223372036854775808".to_owned(),
        digits.clone(),
        format!("0.{digits}"),
        "1.5".to_owned(),
        "NaN".to_owned(),
        "Infinity".to_owned(),
    ] {
        let label: String = points.chars().take(30).collect();
        let body = format!("{{\"first_name\": \"Ann\", \"points\": {points}}}");
        let response = post_raw_json(app, "/api/v1/customers", Some(&t.token), body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "points {label}");
        refused(response, StatusCode::BAD_REQUEST, "JSON").await;
        let rule = format!(
            "{{\"rule\": {{\"type\": \"visits\", \"cmp\": \"gte\", \"value\": {points}}}}}"
        );
        let response = post_raw_json(app, "/api/v1/segments/count", Some(&t.token), rule).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "rule value {label}"
        );
        refused(response, StatusCode::BAD_REQUEST, "JSON").await;
    }
    assert_eq!(app.snapshot().await, before);
    app.assert_healthy().await;
}

async fn sending_a_draft_with_a_garbled_or_oversized_body_is_a_problem_and_changes_nothing(
    app: &TestApp,
) {
    let t = app.tenant("Draft Body Cafe").await;
    top_up(app, &t, "email", 100).await;
    customers(app, &t, 3).await;
    let body = json!({
        "name": "Draft", "audience": {"type": "all"}, "channels": ["email"], "draft": true,
        "content": {"email": {"subject": "Hi", "body": "Hello"}}
    });
    let draft: Mailing = json(
        app.post("/api/v1/mailings", &t.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/mailings/{}/send", draft.id);
    let before = app.snapshot().await;
    for (case, body) in [
        ("100,000 [", "[".repeat(100_000)),
        ("40,000 {\"a\":", "{\"a\":".repeat(40_000)),
        (
            "a huge number",
            format!("{{\"send_at\": {}}}", "9".repeat(100_000)),
        ),
    ] {
        let response = post_raw_json(app, &path, Some(&t.token), body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        refused(response, StatusCode::BAD_REQUEST, "JSON").await;
    }
    // Over the JSON limit (it was bounded by the far larger import limit, and refused in
    // plain text past that): refused for its size, with or without a length up front.
    let oversized = format!(
        "{{\"send_at\": \"{}\"}}",
        "x".repeat(app.config.max_json_bytes)
    );
    let response = post_raw_json(app, &path, Some(&t.token), oversized.clone()).await;
    refused(response, StatusCode::PAYLOAD_TOO_LARGE, "too large").await;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        t.token
    )
    .into_bytes();
    for piece in oversized.as_bytes().chunks(16 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (code, answer) = app.raw(request).await;
    assert_eq!(code, 413, "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert_eq!(app.snapshot().await, before);
    let still: Mailing = json(
        app.get(&format!("/api/v1/mailings/{}", draft.id), &t.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(still.status, loyalcast_dto::MailingStatus::Draft);
    app.assert_healthy().await;
}
