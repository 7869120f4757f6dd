//! Least privilege: every operation of the OpenAPI document, called by every role, by no one,
//! and by API keys with and without the scope it needs, against the matrix below (which is
//! the README's "Roles and API-key scopes", written out per route). A route the document
//! gains without a line here fails the test, so nothing new is served unclassified.
//!
//! Also: keys carry scopes, an expiry and a last-used time; agents and keys without
//! `consent:write` cannot record consent.

use std::collections::BTreeMap;

use chrono::Duration;
use loyalcast::clock::{Clock, ManualClock};
use loyalcast_dto::{ApiKey, CreatedApiKey, Customer, Me, Scope, Session};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db_tests;
use crate::helpers::{Backend, PASSWORD, Tenant, TestApp, fields, json, problem, spawn_clocked};

db_tests!(
    every_route_admits_exactly_the_roles_and_scopes_of_the_matrix,
    keys_are_created_with_scopes_and_an_optional_expiry,
    only_admins_and_consent_keys_record_consent,
    a_path_written_another_way_gets_the_same_rule,
);

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum May {
    /// Checked by the route itself (a signature, a ticket, a link); no credentials.
    Public,
    /// A configured token (operator, metrics): no merchant credential works.
    Token,
    /// Team members from this role up; no API key.
    Members(u8),
    /// Team members from this role up, and keys with this scope (`None`: any key).
    Callers(u8, Option<Scope>),
}

const AGENT: u8 = 0;
const ADMIN: u8 = 1;
const OWNER: u8 = 2;

/// The matrix: one line per operation of the document.
fn matrix() -> BTreeMap<&'static str, May> {
    use May::*;
    use Scope::*;
    BTreeMap::from([
        ("POST /api/v1/auth/login", Public),
        ("POST /api/v1/signup", Public),
        ("POST /api/v1/auth/logout", Members(AGENT)),
        ("POST /api/v1/auth/password", Members(AGENT)),
        ("POST /api/v1/auth/sign-out-everywhere", Members(AGENT)),
        ("GET /api/v1/me", Callers(AGENT, None)),
        ("PATCH /api/v1/merchant", Members(OWNER)),
        ("GET /api/v1/team", Members(ADMIN)),
        ("POST /api/v1/team", Members(ADMIN)),
        ("DELETE /api/v1/team/{id}", Members(ADMIN)),
        ("PATCH /api/v1/team/{id}", Members(ADMIN)),
        ("GET /api/v1/team/invitations", Members(ADMIN)),
        ("POST /api/v1/team/invitations", Members(ADMIN)),
        ("DELETE /api/v1/team/invitations/{id}", Members(ADMIN)),
        ("GET /api/v1/invitations/{token}", Public),
        ("POST /api/v1/invitations/{token}/accept", Public),
        ("GET /api/v1/api-keys", Members(ADMIN)),
        ("POST /api/v1/api-keys", Members(ADMIN)),
        ("DELETE /api/v1/api-keys/{id}", Members(ADMIN)),
        ("GET /api/v1/figures", Callers(AGENT, Some(BalancesRead))),
        ("GET /api/v1/balances", Callers(AGENT, Some(BalancesRead))),
        (
            "GET /api/v1/balances/ledger",
            Callers(ADMIN, Some(BalancesRead)),
        ),
        (
            "GET /api/v1/balances/purchase",
            Callers(ADMIN, Some(BalancesRead)),
        ),
        ("GET /api/v1/cards", Callers(AGENT, Some(CardsRead))),
        ("GET /api/v1/cards/{id}", Callers(AGENT, Some(CardsRead))),
        ("POST /api/v1/cards", Callers(ADMIN, Some(CardsWrite))),
        ("PUT /api/v1/cards/{id}", Callers(ADMIN, Some(CardsWrite))),
        (
            "DELETE /api/v1/cards/{id}",
            Callers(ADMIN, Some(CardsWrite)),
        ),
        ("GET /api/v1/customers", Callers(AGENT, Some(CustomersRead))),
        (
            "GET /api/v1/customers/{id}",
            Callers(AGENT, Some(CustomersRead)),
        ),
        (
            "GET /api/v1/customers/{id}/consent",
            Callers(AGENT, Some(CustomersRead)),
        ),
        (
            "GET /api/v1/customers/{id}/messages",
            Callers(AGENT, Some(CustomersRead)),
        ),
        ("GET /api/v1/tags", Callers(AGENT, Some(CustomersRead))),
        ("POST /api/v1/events", Callers(AGENT, Some(EventsWrite))),
        (
            "GET /api/v1/customers/{id}/events",
            Callers(AGENT, Some(CustomersRead)),
        ),
        (
            "POST /api/v1/customers",
            Callers(AGENT, Some(CustomersWrite)),
        ),
        (
            "PATCH /api/v1/customers/{id}",
            Callers(AGENT, Some(CustomersWrite)),
        ),
        (
            "DELETE /api/v1/customers/{id}",
            Callers(ADMIN, Some(CustomersWrite)),
        ),
        (
            "POST /api/v1/customers/import",
            Callers(ADMIN, Some(CustomersWrite)),
        ),
        ("GET /api/v1/passes", Callers(AGENT, Some(PassesRead))),
        ("GET /api/v1/passes/{id}", Callers(AGENT, Some(PassesRead))),
        ("POST /api/v1/passes", Callers(AGENT, Some(PassesWrite))),
        (
            "DELETE /api/v1/passes/{id}",
            Callers(ADMIN, Some(PassesWrite)),
        ),
        ("GET /api/v1/segments", Callers(AGENT, Some(SegmentsRead))),
        (
            "GET /api/v1/segments/{id}",
            Callers(AGENT, Some(SegmentsRead)),
        ),
        (
            "GET /api/v1/segments/{id}/count",
            Callers(AGENT, Some(SegmentsRead)),
        ),
        (
            "POST /api/v1/segments/count",
            Callers(AGENT, Some(SegmentsRead)),
        ),
        ("POST /api/v1/segments", Callers(ADMIN, Some(SegmentsWrite))),
        (
            "PUT /api/v1/segments/{id}",
            Callers(ADMIN, Some(SegmentsWrite)),
        ),
        (
            "DELETE /api/v1/segments/{id}",
            Callers(ADMIN, Some(SegmentsWrite)),
        ),
        ("GET /api/v1/mailings", Callers(AGENT, Some(MailingsRead))),
        (
            "GET /api/v1/mailings/{id}",
            Callers(AGENT, Some(MailingsRead)),
        ),
        (
            "GET /api/v1/mailings/{id}/problems",
            Callers(AGENT, Some(MailingsRead)),
        ),
        (
            "POST /api/v1/mailings/estimate",
            Callers(ADMIN, Some(MailingsRead)),
        ),
        ("POST /api/v1/mailings", Callers(ADMIN, Some(MailingsSend))),
        (
            "PATCH /api/v1/mailings/{id}",
            Callers(ADMIN, Some(MailingsSend)),
        ),
        (
            "POST /api/v1/mailings/{id}/send",
            Callers(ADMIN, Some(MailingsSend)),
        ),
        (
            "POST /api/v1/mailings/{id}/pause",
            Callers(ADMIN, Some(MailingsSend)),
        ),
        (
            "POST /api/v1/mailings/{id}/resume",
            Callers(ADMIN, Some(MailingsSend)),
        ),
        (
            "POST /api/v1/mailings/{id}/cancel",
            Callers(ADMIN, Some(MailingsSend)),
        ),
        (
            "POST /api/v1/mailings/{id}/resend-failed",
            Callers(ADMIN, Some(MailingsSend)),
        ),
        ("GET /api/v1/automations", Callers(AGENT, Some(PushesRead))),
        (
            "GET /api/v1/automations/{id}",
            Callers(AGENT, Some(PushesRead)),
        ),
        (
            "GET /api/v1/automations/{id}/runs",
            Callers(AGENT, Some(PushesRead)),
        ),
        ("POST /api/v1/automations", Callers(ADMIN, Some(PushesSend))),
        (
            "PATCH /api/v1/automations/{id}",
            Callers(ADMIN, Some(PushesSend)),
        ),
        (
            "DELETE /api/v1/automations/{id}",
            Callers(ADMIN, Some(PushesSend)),
        ),
        (
            "GET /api/v1/automation-settings",
            Callers(AGENT, Some(PushesRead)),
        ),
        (
            "PUT /api/v1/automation-settings",
            Callers(ADMIN, Some(PushesSend)),
        ),
        ("GET /api/v1/pushes", Callers(AGENT, Some(PushesRead))),
        ("GET /api/v1/pushes/{id}", Callers(AGENT, Some(PushesRead))),
        (
            "POST /api/v1/pushes/estimate",
            Callers(ADMIN, Some(PushesRead)),
        ),
        ("POST /api/v1/pushes", Callers(ADMIN, Some(PushesSend))),
        (
            "POST /api/v1/pushes/{id}/cancel",
            Callers(ADMIN, Some(PushesSend)),
        ),
        (
            "POST /api/v1/changes/tickets",
            Callers(AGENT, Some(ChangesRead)),
        ),
        ("GET /api/v1/changes/stream", Public),
        ("GET /api/v1/operator/merchants", Token),
        (
            "GET /api/v1/operator/merchants/{merchant_id}/balances",
            Token,
        ),
        (
            "POST /api/v1/operator/merchants/{merchant_id}/top-ups",
            Token,
        ),
        ("GET /metrics", Token),
        ("GET /healthz", Public),
        ("GET /readyz", Public),
        ("POST /api/v1/webhooks/twilio/inbound", Public),
        ("POST /api/v1/webhooks/twilio/status", Public),
        ("GET /u/{token}", Public),
        ("POST /u/{token}", Public),
        ("POST /r/{token}", Public),
        ("GET /o/{token}", Public),
        (
            "POST /passkit/v1/devices/{device}/registrations/{pass_type_id}/{serial}",
            Public,
        ),
        (
            "DELETE /passkit/v1/devices/{device}/registrations/{pass_type_id}/{serial}",
            Public,
        ),
        (
            "GET /passkit/v1/devices/{device}/registrations/{pass_type_id}",
            Public,
        ),
        ("GET /passkit/v1/passes/{pass_type_id}/{serial}", Public),
        ("HEAD /passkit/v1/passes/{pass_type_id}/{serial}", Public),
        ("POST /passkit/v1/log", Public),
        ("GET /join/{card_id}", Public),
        ("POST /join/{card_id}", Public),
        ("GET /join/{card_id}/passes/{serial}", Public),
        ("GET /join/{card_id}/qr.svg", Public),
        ("GET /join/{card_id}/logo.png", Public),
        ("GET /join/{card_id}/passes/{serial}/google", Public),
        ("POST /join/{card_id}/passes/{serial}/web-push", Public),
        ("GET /join/sw.js", Public),
    ])
}

/// Every operation of the served document, as "METHOD /path".
async fn operations(app: &TestApp) -> Vec<String> {
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "patch", "delete", "head"].contains(&method.as_str()) {
                operations.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    operations
}

/// A caller of the test: a member with a role, a key with scopes, or nobody.
#[derive(Debug, Clone)]
enum Caller {
    Member(u8, String),
    Key(Vec<Scope>, String),
    Nobody,
}

impl Caller {
    fn token(&self) -> Option<&str> {
        match self {
            Caller::Member(_, t) | Caller::Key(_, t) => Some(t),
            Caller::Nobody => None,
        }
    }

    /// What the matrix says of this caller on an operation: `Some(true)` let in, `Some(false)`
    /// refused with a 403, `None` refused as unauthenticated (401).
    fn admitted(&self, may: May) -> Option<bool> {
        match (self, may) {
            (Caller::Nobody, _) => None,
            (_, May::Public | May::Token) => None,
            (Caller::Member(role, _), May::Members(least) | May::Callers(least, _)) => {
                Some(*role >= least)
            }
            (Caller::Key(..), May::Members(_)) => Some(false),
            (Caller::Key(..), May::Callers(_, None)) => Some(true),
            (Caller::Key(held, _), May::Callers(_, Some(scope))) => Some(held.contains(&scope)),
        }
    }
}

async fn key(app: &TestApp, t: &Tenant, scopes: &[Scope]) -> String {
    let created: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &t.token,
            &json!({"name": "matrix", "scopes": scopes}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    created.secret
}

/// A member of `role` with a session of their own, signed in again for each call that ends
/// its session (sign-out, sign-out everywhere).
async fn fresh_session(app: &TestApp, t: &Tenant, role: u8) -> String {
    let role = ["agent", "admin", "owner"][role as usize];
    let email = format!("{role}-{}@matrix.example.com", Uuid::new_v4().simple());
    let created = app
        .post(
            "/api/v1/team",
            &t.token,
            &json!({"name": role, "email": email, "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let session: Session = json(app.login(&email, PASSWORD).await, StatusCode::OK).await;
    session.token
}

async fn call(app: &TestApp, operation: &str, token: Option<&str>) -> reqwest::Response {
    let (method, template) = operation.split_once(' ').unwrap();
    // Every path parameter names something that does not exist: a caller let in gets a 404
    // (or a 400/422 for the empty body), never a 2xx that changes anything of substance.
    let path = template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                Uuid::new_v4().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
    let mut request = app.request(method, &path, token);
    if body {
        request = request.json(&json!({}));
    }
    request.send().await.unwrap()
}

async fn every_route_admits_exactly_the_roles_and_scopes_of_the_matrix(app: &TestApp) {
    let t = app.tenant("Matrix Bakery").await;
    let matrix = matrix();
    let documented = operations(app).await;
    let unclassified: Vec<&String> = documented
        .iter()
        .filter(|op| !matrix.contains_key(op.as_str()))
        .collect();
    assert!(
        unclassified.is_empty(),
        "operations the matrix does not classify: {unclassified:?}"
    );
    let stale: Vec<&&str> = matrix
        .keys()
        .filter(|op| !documented.iter().any(|d| d == *op))
        .collect();
    assert!(stale.is_empty(), "matrix lines for no operation: {stale:?}");

    let mut callers = vec![
        Caller::Nobody,
        Caller::Member(OWNER, t.token.clone()),
        Caller::Member(ADMIN, app.member(&t, "admin").await),
        Caller::Member(AGENT, app.member(&t, "agent").await),
        Caller::Key(Scope::ALL.to_vec(), key(app, &t, &Scope::ALL).await),
    ];
    // Each scope alone, and everything but it: a key is let in by its scope and by nothing
    // else.
    for scope in Scope::ALL {
        callers.push(Caller::Key(vec![scope], key(app, &t, &[scope]).await));
        let others: Vec<Scope> = Scope::ALL.into_iter().filter(|s| *s != scope).collect();
        let secret = key(app, &t, &others).await;
        callers.push(Caller::Key(others, secret));
    }

    let ends_session = [
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/sign-out-everywhere",
    ];
    let mut checked = 0;
    for (operation, may) in &matrix {
        for caller in &callers {
            let mut caller = caller.clone();
            if let Caller::Member(role, _) = caller
                && ends_session.contains(operation)
            {
                caller = Caller::Member(role, fresh_session(app, &t, role).await);
            }
            let response = call(app, operation, caller.token()).await;
            let status = response.status();
            match caller.admitted(*may) {
                Some(true) => assert!(
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN
                        && !status.is_server_error(),
                    "{operation} should admit {caller:?}, answered {status}"
                ),
                Some(false) => {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{operation} should refuse {caller:?}"
                    );
                    let refusal = problem(response, StatusCode::FORBIDDEN).await;
                    assert!(
                        refusal.detail.is_some(),
                        "{operation} refuses {caller:?} without saying why"
                    );
                }
                // A route that takes no merchant credentials lets none of them do anything
                // either: a token route refuses them, a public one checks its own.
                None if *may == May::Token => assert!(
                    matches!(
                        status,
                        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
                    ),
                    "{operation} answered {status} to {caller:?}"
                ),
                None if *may == May::Public => {}
                None => assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{operation} without credentials"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, matrix.len() * callers.len());
    app.assert_healthy().await;
}

/// Percent-encoding an unreserved character names the same route to the router: it must
/// name the same rule to the guard (found by trying: `/api/v1/api%2Dkeys` once listed the
/// API keys to a key that may only read customers).
async fn a_path_written_another_way_gets_the_same_rule(app: &TestApp) {
    let t = app.tenant("Encoded Paths Inn").await;
    let reader = key(app, &t, &[Scope::CustomersRead]).await;
    let agent = app.member(&t, "agent").await;
    for (path, token) in [
        ("/api/v1/api%2Dkeys", &reader),
        ("/api/v1/api%2dkeys", &reader),
        ("/api/v1/%61pi-keys", &reader),
        ("/api/v1/segment%73", &reader),
        ("/api/v1/te%61m", &reader),
        ("/api/v1/api%2Dkeys", &agent),
        ("/api/v1/balances/ledge%72", &agent),
    ] {
        let response = app.get(path, token).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Written another way, a route is still itself for whoever may call it.
    let listed = app.get("/api/v1/api%2Dkeys", &t.token).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let read = app.get("/api/v1/customer%73", &reader).await;
    assert_eq!(read.status(), StatusCode::OK);
}

async fn keys_are_created_with_scopes_and_an_optional_expiry(app: &TestApp) {
    let t = app.tenant("Scoped Keys Deli").await;
    let now = chrono::Utc::now();
    let created: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &t.token,
            &json!({"name": "POS", "scopes": ["customers:write", "customers:read"], "expires_at": now + Duration::days(30)}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        created.key.scopes,
        vec![Scope::CustomersRead, Scope::CustomersWrite]
    );
    assert!(created.key.expires_at.is_some());
    assert_eq!(created.key.last_used_at, None);
    let me: Me = json(app.get("/api/v1/me", &created.secret).await, StatusCode::OK).await;
    assert_eq!(me.role, None);
    assert_eq!(
        me.scopes,
        Some(vec![Scope::CustomersRead, Scope::CustomersWrite])
    );
    let listed: Vec<ApiKey> =
        json(app.get("/api/v1/api-keys", &t.token).await, StatusCode::OK).await;
    assert!(
        listed[0].last_used_at.is_some(),
        "the use is noted: {listed:?}"
    );
    // The scope it lacks is named.
    let refused = problem(
        app.get("/api/v1/segments", &created.secret).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        refused.detail.unwrap_or_default().contains("segments:read"),
        "the missing scope is named"
    );

    let before = app.snapshot().await;
    for (body, status, field) in [
        (json!({"name": "none", "scopes": []}), 422, Some("scopes")),
        (
            json!({"name": "twice", "scopes": ["cards:read", "cards:read"]}),
            422,
            Some("scopes"),
        ),
        (json!({"name": "unknown", "scopes": ["cards:*"]}), 400, None),
        (json!({"name": "no scopes"}), 400, None),
        (
            json!({"name": "a role", "scopes": ["cards:read"], "role": "admin"}),
            400,
            None,
        ),
        (
            json!({"name": "past", "scopes": ["cards:read"], "expires_at": now - Duration::minutes(1)}),
            422,
            Some("expires_at"),
        ),
        (
            json!({"name": "far", "scopes": ["cards:read"], "expires_at": now + Duration::days(3700)}),
            422,
            Some("expires_at"),
        ),
    ] {
        let status = StatusCode::from_u16(status).unwrap();
        let refused = problem(app.post("/api/v1/api-keys", &t.token, &body).await, status).await;
        if let Some(field) = field {
            assert_eq!(fields(&refused), vec![field.to_owned()], "{body}");
        }
    }
    let listed: Vec<ApiKey> =
        json(app.get("/api/v1/api-keys", &t.token).await, StatusCode::OK).await;
    assert_eq!(listed.len(), 1, "no refused key was made");
    assert_eq!(app.snapshot().await, before);
}

async fn only_admins_and_consent_keys_record_consent(app: &TestApp) {
    let t = app.tenant("Consent Rights Bar").await;
    let agent = app.member(&t, "agent").await;
    let contact_key = key(app, &t, &[Scope::CustomersRead, Scope::CustomersWrite]).await;
    let consent_key = key(
        app,
        &t,
        &[
            Scope::CustomersWrite,
            Scope::ConsentWrite,
            Scope::CustomersRead,
        ],
    )
    .await;
    let with_consent = json!({"first_name": "Ada", "phone": "+12025550101", "consent": {"sms": true, "email": false, "telegram": false, "messenger": false}});
    for token in [&agent, &contact_key] {
        let refused = problem(
            app.post("/api/v1/customers", token, &with_consent).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(refused.detail.is_some());
    }
    // Without consent they serve the customer as before.
    let plain: Customer = json(
        app.post(
            "/api/v1/customers",
            &agent,
            &json!({"first_name": "Bea", "phone": "+12025550102"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/customers/{}", plain.id);
    let on =
        json!({"consent": {"sms": true, "email": false, "telegram": false, "messenger": false}});
    for token in [&agent, &contact_key] {
        problem(app.patch(&path, token, &on).await, StatusCode::FORBIDDEN).await;
    }
    // Sending the consent the customer has is no change, and other fields change freely.
    let unchanged = json!({"last_name": "Lovelace", "consent": plain.consent});
    let patched: Customer = json(app.patch(&path, &agent, &unchanged).await, StatusCode::OK).await;
    assert_eq!(patched.last_name, "Lovelace");
    assert!(!patched.consent.sms);
    // The owner and a key with consent:write record it.
    let consented: Customer = json(app.patch(&path, &consent_key, &on).await, StatusCode::OK).await;
    assert!(consented.consent.sms);
    json::<Customer>(
        app.post("/api/v1/customers", &t.token, &with_consent).await,
        StatusCode::CREATED,
    )
    .await;

    // An import that records consent (a column or a declaration) needs the right too.
    let before = app.snapshot().await;
    let columns = "first_name,phone,sms_opt_in\nCy,+12025550103,yes\n";
    problem(
        app.import_csv(&contact_key, columns).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.import_csv_with(
            &contact_key,
            "consent=sms&legal_basis=signed%20up%20in%20store",
            "first_name,phone\nDi,+12025550104\n",
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(app.snapshot().await, before, "nothing was imported");
    let imported = app
        .import_csv(&contact_key, "first_name,phone\nEd,+12025550105\n")
        .await;
    assert_eq!(imported.status(), StatusCode::OK);
    let imported = app.import_csv(&consent_key, columns).await;
    assert_eq!(imported.status(), StatusCode::OK);
}

async fn an_expired_key_stops_working(backend: Backend) {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let Some(app) = spawn_clocked(backend, clock.shared()).await else {
        return;
    };
    let t = app.tenant("Expiring Keys Shop").await;
    let created: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &t.token,
            &json!({"name": "trial", "scopes": ["customers:read"], "expires_at": clock.now() + Duration::hours(1)}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/customers", &created.secret).await.status(),
        StatusCode::OK
    );
    let ticket = app
        .post("/api/v1/changes/tickets", &created.secret, &json!({}))
        .await;
    assert_eq!(ticket.status(), StatusCode::FORBIDDEN, "no changes:read");
    clock.advance(Duration::hours(1));
    let refused = problem(
        app.get("/api/v1/customers", &created.secret).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(refused.detail.unwrap_or_default().contains("expired"));
    // The time of last use is the server's clock, not the host's.
    let listed: Vec<ApiKey> =
        json(app.get("/api/v1/api-keys", &t.token).await, StatusCode::OK).await;
    let used = listed[0].last_used_at.unwrap();
    assert!(used <= clock.now() - Duration::hours(1) + Duration::seconds(1));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_stops_working_sqlite() {
    an_expired_key_stops_working(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_stops_working_postgres() {
    an_expired_key_stops_working(Backend::Postgres).await;
}
