use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use loyalcast_dto::{
    ApiKey, CreatedApiKey, Me, NewApiKey, NewTeamMember, Role, Scope, Session, TeamMember,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, JWT_SECRET, PASSWORD, TestApp, json, problem, spawn_with};

crate::db_tests!(
    a_member_signs_in_and_the_token_works,
    a_wrong_password_is_a_problem_and_no_token,
    missing_and_garbage_credentials_are_401,
    expired_forged_and_unsigned_tokens_are_rejected,
    sign_out_revokes_the_token,
    api_keys_are_shown_once_work_and_can_be_revoked,
    roles_limit_what_members_may_do,
    a_removed_member_loses_access_at_once,
);

async fn a_member_signs_in_and_the_token_works(app: &TestApp) {
    let tenant = app.tenant("Sign In Cafe").await;
    let response = app
        .login(&tenant.session.member.email.to_uppercase(), PASSWORD)
        .await;
    let session: Session = json(response, StatusCode::OK).await;
    assert!(session.expires_at > Utc::now());
    assert!(session.expires_at <= Utc::now() + Duration::minutes(app.config.jwt_ttl_minutes + 1));
    let me: Me = json(app.get("/api/v1/me", &session.token).await, StatusCode::OK).await;
    assert_eq!(me.merchant.id, tenant.session.merchant.id);
    assert_eq!(me.role, Some(Role::Owner));
    assert_eq!(
        me.member.map(|m| m.email),
        Some(tenant.session.member.email)
    );
}

async fn a_wrong_password_is_a_problem_and_no_token(app: &TestApp) {
    let tenant = app.tenant("Wrong Password Cafe").await;
    let response = app
        .login(&tenant.session.member.email, "not the password")
        .await;
    let problem = problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem.kind, "https://loyalcast.dev/problems/unauthorized");
    // The same answer for an account that does not exist: no enumeration of emails.
    let unknown = app
        .login("nobody@nowhere.example.com", "whatever it is")
        .await;
    let unknown = crate::helpers::problem(unknown, StatusCode::UNAUTHORIZED).await;
    assert_eq!(unknown.detail, problem.detail);
}

async fn missing_and_garbage_credentials_are_401(app: &TestApp) {
    for token in [
        None,
        Some("garbage"),
        Some("lc_0011223344556677aa_notasecret"),
    ] {
        let response = app
            .request(Method::GET, "/api/v1/customers", token)
            .send()
            .await
            .unwrap();
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    let response = app
        .client
        .get(app.url("/api/v1/me"))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNAUTHORIZED).await;
}

async fn expired_forged_and_unsigned_tokens_are_rejected(app: &TestApp) {
    let tenant = app.tenant("Token Cafe").await;
    let claims = |exp: i64, aud: &str| {
        json!({
            "sub": tenant.session.member.id,
            "mid": tenant.session.merchant.id,
            "iss": "loyalcast",
            "aud": aud,
            "iat": Utc::now().timestamp() - 7200,
            "exp": exp,
            "jti": "test-jti",
        })
    };
    let sign = |claims: &serde_json::Value, secret: &str, alg: Algorithm| {
        encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let valid = sign(
        &claims(Utc::now().timestamp() + 600, "loyalcast-api"),
        JWT_SECRET,
        Algorithm::HS256,
    );
    assert_eq!(
        app.get("/api/v1/me", &valid).await.status(),
        StatusCode::OK,
        "the control token must work"
    );

    let expired = sign(
        &claims(Utc::now().timestamp() - 60, "loyalcast-api"),
        JWT_SECRET,
        Algorithm::HS256,
    );
    let wrong_key = sign(
        &claims(Utc::now().timestamp() + 600, "loyalcast-api"),
        "some-other-secret-entirely",
        Algorithm::HS256,
    );
    let wrong_audience = sign(
        &claims(Utc::now().timestamp() + 600, "someone-else"),
        JWT_SECRET,
        Algorithm::HS256,
    );
    let other_alg = sign(
        &claims(Utc::now().timestamp() + 600, "loyalcast-api"),
        JWT_SECRET,
        Algorithm::HS512,
    );
    let payload = valid.split('.').nth(1).unwrap();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        payload
    );
    let tampered = {
        let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        let mut body: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        body["mid"] = json!(uuid::Uuid::now_v7());
        parts[1] = URL_SAFE_NO_PAD.encode(body.to_string());
        parts.join(".")
    };
    for (name, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("wrong audience", wrong_audience),
        ("HS512", other_alg),
        ("alg none", unsigned),
        ("tampered", tampered),
    ] {
        let response = app.get("/api/v1/me", &token).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{name} token accepted"
        );
    }
}

async fn sign_out_revokes_the_token(app: &TestApp) {
    let tenant = app.tenant("Logout Cafe").await;
    let response = app
        .request(Method::POST, "/api/v1/auth/logout", Some(&tenant.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    problem(
        app.get("/api/v1/me", &tenant.token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // A new sign-in works again.
    let session: Session = json(
        app.login(&tenant.session.member.email, PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/me", &session.token).await.status(),
        StatusCode::OK
    );
}

async fn api_keys_are_shown_once_work_and_can_be_revoked(app: &TestApp) {
    let tenant = app.tenant("Key Cafe").await;
    let created: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &tenant.token,
            &NewApiKey {
                name: "POS".into(),
                scopes: vec![Scope::CustomersRead],
                expires_at: None,
            },
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(created.secret.starts_with(&created.key.prefix));
    let listed: Vec<ApiKey> = json(
        app.get("/api/v1/api-keys", &tenant.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.len(), 1);
    let listed_text = serde_json::to_string(&listed).unwrap();
    assert!(
        !listed_text.contains(&created.secret),
        "the secret must never be listed"
    );

    let me: Me = json(app.get("/api/v1/me", &created.secret).await, StatusCode::OK).await;
    assert_eq!(me.merchant.id, tenant.session.merchant.id);
    assert_eq!(me.role, None);
    assert_eq!(me.scopes, Some(vec![Scope::CustomersRead]));
    assert_eq!(me.api_key.as_deref(), Some("POS"));
    let via_header = app
        .client
        .get(app.url("/api/v1/me"))
        .header("X-Api-Key", &created.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status(), StatusCode::OK);
    // A key acts with its scopes: a reading key cannot make keys.
    let refused = app
        .post(
            "/api/v1/api-keys",
            &created.secret,
            &NewApiKey {
                name: "x".into(),
                scopes: vec![Scope::CustomersRead],
                expires_at: None,
            },
        )
        .await;
    problem(refused, StatusCode::FORBIDDEN).await;
    // Nor can a key with every scope: keys and members are managed by people signed in.
    let admin: CreatedApiKey = json(
        app.post(
            "/api/v1/api-keys",
            &tenant.token,
            &NewApiKey {
                name: "Back office".into(),
                scopes: Scope::ALL.to_vec(),
                expires_at: None,
            },
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    for response in [
        app.post(
            "/api/v1/api-keys",
            &admin.secret,
            &NewApiKey {
                name: "minted".into(),
                scopes: Scope::ALL.to_vec(),
                expires_at: None,
            },
        )
        .await,
        app.get("/api/v1/api-keys", &admin.secret).await,
        app.delete(&format!("/api/v1/api-keys/{}", admin.key.id), &admin.secret)
            .await,
        app.post(
            "/api/v1/team",
            &admin.secret,
            &serde_json::json!({"name": "Mallory", "email": "mallory@example.com", "password": crate::helpers::PASSWORD, "role": "admin"}),
        )
        .await,
    ] {
        problem(response, StatusCode::FORBIDDEN).await;
    }
    let keys: Vec<ApiKey> = json(
        app.get("/api/v1/api-keys", &tenant.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys.len(), 2, "nothing minted");
    assert!(keys.iter().all(|k| k.revoked_at.is_none()));
    // A wrong secret with the right prefix fails.
    let forged = format!("{}_{}", created.key.prefix, "A".repeat(43));
    problem(
        app.get("/api/v1/me", &forged).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let revoked = app
        .delete(
            &format!("/api/v1/api-keys/{}", created.key.id),
            &tenant.token,
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    problem(
        app.get("/api/v1/me", &created.secret).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // A key has no role: asking for one (even `owner`) is an unknown field.
    let owner_key = app
        .post(
            "/api/v1/api-keys",
            &tenant.token,
            &serde_json::json!({"name": "x", "scopes": ["cards:read"], "role": "owner"}),
        )
        .await;
    problem(owner_key, StatusCode::BAD_REQUEST).await;
}

async fn roles_limit_what_members_may_do(app: &TestApp) {
    let tenant = app.tenant("Roles Cafe").await;
    let agent_email = format!("agent-{}@roles.example.com", uuid::Uuid::new_v4().simple());
    let agent: TeamMember = json(
        app.post(
            "/api/v1/team",
            &tenant.token,
            &NewTeamMember {
                name: "Agent".into(),
                email: agent_email.clone(),
                password: PASSWORD.into(),
                role: Role::Agent,
            },
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(agent.role, Role::Agent);
    let session: Session = json(app.login(&agent_email, PASSWORD).await, StatusCode::OK).await;
    // Agents read and work with customers, but do not manage cards, keys or the team.
    assert_eq!(
        app.get("/api/v1/customers", &session.token).await.status(),
        StatusCode::OK
    );
    problem(
        app.get("/api/v1/api-keys", &session.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let card = json!({"name":"X","kind":"stamp","design":{"background_color":"#000000","foreground_color":"#ffffff","label_color":"#ffffff","logo_text":"X"}});
    problem(
        app.post("/api/v1/cards", &session.token, &card).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let promote = NewTeamMember {
        name: "Boss".into(),
        email: "boss@roles.example.com".into(),
        password: PASSWORD.into(),
        role: Role::Owner,
    };
    problem(
        app.post("/api/v1/team", &session.token, &promote).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        app.patch(
            "/api/v1/merchant",
            &session.token,
            &json!({"name": "Mine now"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Emails sign in to one merchant only.
    let taken = NewTeamMember {
        name: "Dup".into(),
        email: agent_email,
        password: PASSWORD.into(),
        role: Role::Agent,
    };
    let problem = problem(
        app.post("/api/v1/team", &tenant.token, &taken).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem.errors[0].code, "taken");
}

async fn a_removed_member_loses_access_at_once(app: &TestApp) {
    let tenant = app.tenant("Removal Cafe").await;
    let email = format!(
        "leaver-{}@removal.example.com",
        uuid::Uuid::new_v4().simple()
    );
    let member: TeamMember = json(
        app.post(
            "/api/v1/team",
            &tenant.token,
            &NewTeamMember {
                name: "Leaver".into(),
                email: email.clone(),
                password: PASSWORD.into(),
                role: Role::Admin,
            },
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let session: Session = json(app.login(&email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(
        app.get("/api/v1/me", &session.token).await.status(),
        StatusCode::OK
    );
    let removed = app
        .delete(&format!("/api/v1/team/{}", member.id), &tenant.token)
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    problem(
        app.get("/api/v1/me", &session.token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // The owner cannot remove themself.
    let own = app
        .delete(
            &format!("/api/v1/team/{}", tenant.session.member.id),
            &tenant.token,
        )
        .await;
    problem(own, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_account() {
    let app = spawn_with(Backend::Sqlite, |c| c.login_failures_per_account = 3)
        .await
        .unwrap();
    let tenant = app.tenant("Throttle Cafe").await;
    let email = tenant.session.member.email.clone();
    for _ in 0..3 {
        problem(
            app.login(&email, "wrong password!").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Even the right password waits now.
    let response = app.login(&email, PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    // Another account is not affected.
    let other = app.tenant("Other Cafe").await;
    assert_eq!(
        app.login(&other.session.member.email, PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    app.cleanup().await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_address() {
    let app = spawn_with(Backend::Sqlite, |c| c.login_failures_per_address = 4)
        .await
        .unwrap();
    for i in 0..4 {
        let response = app
            .login(&format!("user{i}@spray.example.com"), "guess guess guess")
            .await;
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    problem(
        app.login("user9@spray.example.com", "guess guess guess")
            .await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    app.cleanup().await;
}

#[tokio::test]
async fn sign_up_can_be_switched_off() {
    let app = spawn_with(Backend::Sqlite, |c| c.signup_enabled = false)
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/signup"))
        .json(&json!({"merchant_name":"X","owner_name":"Y","email":"x@y.example.com","password":PASSWORD}))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::FORBIDDEN).await;
    app.cleanup().await;
}

mod signin;
